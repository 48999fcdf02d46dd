"""Results into tables and words: the only place sentences are made."""

from .tables import annotator_table, confusion_table, item_table, least_reliable

__all__ = ["annotator_table", "confusion_table", "item_table", "least_reliable"]
