"""The report as content: sections of figures, sentences, charts and tables, in any format.

:func:`build_page` turns gathered results (:class:`~consensus.workflows.report.ReportData`)
into a :class:`Page`; :mod:`consensus.report.html` and :mod:`consensus.report.markdown`
write the same page as a self-contained HTML file or as Markdown with PNG files, so the
two forms never say different things.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .figures import Chart, style

if TYPE_CHECKING:
    from ..workflows.report import ReportData

#: Section ids, in page order.
SECTIONS = ("overview", "consensus", "agreement", "annotators", "calibration", "fix", "budget")


@dataclass(frozen=True)
class Figures:
    """Key figures: ``(label, value)`` pairs shown large."""

    pairs: list[tuple[str, str]]


@dataclass(frozen=True)
class Text:
    """A sentence or paragraph; ``kind`` is ``"text"``, ``"warning"`` or ``"note"``."""

    text: str
    kind: str = "text"


@dataclass(frozen=True, eq=False)
class Table:
    """Rows to show, already cut to the top of their ranking.

    ``total`` is the number of rows before the cut and ``rest`` says where the others
    are; ``formats`` maps a column to a format spec (``".1%"``, ``",.0f"``, ...).
    """

    key: str
    caption: str
    frame: pd.DataFrame
    total: int | None = None
    rest: str = ""
    formats: dict[str, str] = field(default_factory=dict)

    @property
    def note(self) -> str:
        """``the first 100 of 2,345 rows; the rest ...``, or empty when nothing was cut."""
        if self.total is None or self.total <= len(self.frame):
            return ""
        text = f"the first {len(self.frame):,} of {self.total:,} rows"
        return f"{text}; {self.rest}" if self.rest else text


Block = Figures | Text | Table | Chart


@dataclass(frozen=True)
class Section:
    """One section: an id (its anchor), a title, one sentence on how to read it, blocks."""

    id: str
    title: str
    how_to_read: str
    blocks: list[Block]


@dataclass(frozen=True)
class Page:
    title: str
    subtitle: str
    sections: list[Section]
    footer: str

    @property
    def charts(self) -> list[Chart]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Chart)]


def cell_text(value: Any, spec: str = "") -> str:
    """A table cell as text: ``spec`` when given, else floats to three places and whole
    numbers with thousands separators; NaN and None blank."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)) and not spec:
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        return format(float(value), spec or ".3f")
    return format(value, spec) if spec else str(value)


def cell_number(value: Any) -> float | None:
    """The number a sortable column orders by, or None for text."""
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        return None if math.isnan(number) else number
    return None


def build_page(data: ReportData) -> Page:
    """Every section of the report, from gathered results."""
    from .. import __version__
    from .actions import budget_section, calibration_section, fix_section
    from .crowd import agreement_section, annotators_section, consensus_section, overview_section

    with style():
        sections = [overview_section(data), consensus_section(data), agreement_section(data),
                    annotators_section(data), calibration_section(data), fix_section(data),
                    budget_section(data)]
    result = data.result
    votes = data.votes
    method = str(getattr(result.model, "chosen_", result.method))
    chosen = method if method == result.method else f"{result.method} → {method}"
    subtitle = (f"{votes.n_items:,} items, {votes.n_annotators:,} annotators, "
                f"{votes.n_votes:,} votes, {votes.n_classes} classes; method {chosen}"
                + (f"; {result.n_gold:,} gold items" if result.n_gold else ""))
    footer = (f"Made by consensus {__version__} (seed {data.seed}). Every chart has its "
              f"numbers beside it; the same input and seed give the same file.")
    return Page(f"Consensus report: {data.source}", subtitle, sections, footer)
