"""Plain-text tables and JSON-ready values: how every result is shown.

One copy of each: NaN becomes ``null`` in JSON and a blank cell in a table,
floats show three decimals, numbers align right.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def json_ready(value: Any) -> Any:
    """A JSON-ready scalar: NaN and NA become None, numpy scalars become Python ones."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (NaN as None)."""
    return [{str(k): json_ready(v) for k, v in row.items()} for row in frame.to_dict("records")]


def cell(value: Any) -> str:
    """A table cell: floats to three places; NaN, None and NA blank."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def text_table(frame: pd.DataFrame, max_rows: int | None = None, where: str = "") -> str:
    """A plain aligned table: floats to three places, numbers right-aligned, NaN blank.

    Rows after ``max_rows`` are left out with a line saying how many and ``where`` they are.
    """
    shown = frame if max_rows is None else frame.head(max_rows)
    columns = [str(c) for c in shown.columns]
    cells = [[cell(v) for v in shown[c]] for c in shown.columns]
    numeric = [pd.api.types.is_numeric_dtype(shown[c]) for c in shown.columns]
    widths = [max([len(name), *map(len, col)]) for name, col in zip(columns, cells, strict=True)]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    rows = [line(columns)] + [line(list(row)) for row in zip(*cells, strict=True)]
    if len(shown) < len(frame):
        rows.append(f"... {len(frame) - len(shown)} more (all in {where})")
    return "\n".join(rows)
