"""What to look at next: likely label errors, ambiguous items, and the confusions behind them."""

from .confusions import ConfusionReport, confusion_pairs
from .flagging import FLAGS, FlagReport, flag_items

__all__ = ["FLAGS", "ConfusionReport", "FlagReport", "confusion_pairs", "flag_items"]
