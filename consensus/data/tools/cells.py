"""Single values of a tool's export: as text, as numbers, shown in messages.

Exports mix ints, text, nulls and NaN in one field; the writers and readers of
every tool read cells the same way, so they share these.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ...exceptions import InputError


def text(value: Any) -> str | None:
    """A scalar as text; None when missing, NaN or blank."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    shown = str(value)
    return shown if shown.strip() else None


def number(value: Any, what: str, item: str) -> float | None:
    """A cell as a float (None when missing or NaN); anything else names the item."""
    if text(value) is None:
        return None
    try:
        found = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} of item {item!r} is {show(value)}, not a number") from None
    return None if math.isnan(found) else found


def show(value: Any, limit: int = 80) -> str:
    """A value as a message quotes it, cut to ``limit`` characters."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def require_columns(frame: pd.DataFrame, names: tuple[str, ...], what: str, hint: str) -> None:
    """InputError naming the columns of ``names`` that ``frame`` lacks, and the ones it has."""
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise InputError(f"{what} has no {', '.join(missing)} column; columns found: "
                         f"{', '.join(map(str, frame.columns))}; {hint}")
