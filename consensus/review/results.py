"""What applying a file did, and the audit of reviewers: frozen results with their wording.

Kept apart from the log so that how a result is shown (``summary()``, the JSON
form) can change without touching how it is recorded.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from ..report.text import records, text_table
from ..wording import plural


@dataclass(frozen=True)
class ApplyResult:
    """What one :meth:`ReviewLog.apply` did.

    Attributes
    ----------
    source, sha256 : str
        The file's name and the SHA-256 of its bytes.
    role : {"reviewer", "lead"}
    applied_by : str
        Who applied it (the ``reviewer`` argument).
    n_rows : int
        Data rows in the file.
    recorded : int
        Corrections (reviewer) or verdicts (lead) written to the log.
    unchanged : int
        Reviewer rows whose label already was the item's current label: nothing
        to correct, so nothing is recorded (a confirmation is not a correction).
    skipped : int
        Rows left empty: no change.
    accepted, overturned : int
        Lead files only: verdicts of each kind among ``recorded``.
    already_applied : bool
        The same bytes were applied before; nothing changed this time, and the
        counts are those of the first time.
    applied_at : str
        UTC time of the (first) application.
    """

    source: str
    sha256: str
    role: str
    applied_by: str
    n_rows: int
    recorded: int
    unchanged: int
    skipped: int
    accepted: int = 0
    overturned: int = 0
    already_applied: bool = False
    applied_at: str = ""

    def summary(self) -> str:
        """One line saying what changed in the log."""
        if self.already_applied:
            return (f"{self.source}: already applied on {self.applied_at} by {self.applied_by} "
                    f"(same content, sha256 {self.sha256[:12]}); nothing changed")
        empty = f"{plural(self.skipped, 'row')} left empty"
        if self.role == "lead":
            return (f"{self.source}: {plural(self.recorded, 'verdict')} recorded "
                    f"({self.accepted:,} accepted, {self.overturned:,} overturned); {empty}")
        return (f"{self.source}: {plural(self.recorded, 'correction')} recorded; "
                f"{self.unchanged:,} already the current label; {empty}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class AuditReport:
    """How reviewers' corrections fared when leads checked a sample of them.

    Attributes
    ----------
    reviewers : DataFrame
        One row per reviewer: ``reviewer, corrections, verified, overturned,
        overturn_rate`` (overturned / verified, NaN when none verified),
        ``ci_low, ci_high`` (Wilson interval at ``confidence``) and ``most_new``
        (the label their corrections most often set, with its count: drift
        into one class shows here first).
    matrix : DataFrame
        Each reviewer's corrections as ``reviewer, old_label, new_label, count``,
        most frequent first.
    n_queues, n_corrections, n_verified, n_overturned, n_lead_corrections : int
        Totals over the log; lead corrections are the labels leads set when overturning.
    confidence : float
    """

    reviewers: pd.DataFrame
    matrix: pd.DataFrame
    n_queues: int
    n_corrections: int
    n_verified: int
    n_overturned: int
    n_lead_corrections: int
    confidence: float = 0.95

    def summary(self) -> str:
        """The totals, the reviewer table and each reviewer's old -> new corrections."""
        head = (f"{plural(self.n_queues, 'queue')}, {plural(self.n_corrections, 'correction')} "
                f"by {plural(len(self.reviewers), 'reviewer')}; "
                f"{self.n_verified:,} verified by a lead, {self.n_overturned:,} overturned")
        if not self.n_corrections:
            return head
        lines = [head, f"overturn rate with a {self.confidence:.0%} Wilson interval:",
                 text_table(self.reviewers)]
        lines.append("corrections, old label → new label:")
        for name, rows in self.matrix.groupby("reviewer", sort=False):
            pairs = ", ".join(f"{old} → {new} {n:,}" for old, new, n in
                              zip(rows["old_label"], rows["new_label"], rows["count"],
                                  strict=True))
            lines.append(f"  {name}: {pairs}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Totals, ``reviewers`` and ``matrix`` as lists of records (NaN as null)."""
        return {
            "n_queues": self.n_queues,
            "n_corrections": self.n_corrections,
            "n_verified": self.n_verified,
            "n_overturned": self.n_overturned,
            "n_lead_corrections": self.n_lead_corrections,
            "confidence": self.confidence,
            "reviewers": records(self.reviewers),
            "matrix": records(self.matrix),
        }

    def overturn_rate(self, reviewer: str) -> float:
        """One reviewer's overturn rate (NaN if none of their corrections was verified)."""
        row = self.reviewers.loc[self.reviewers["reviewer"] == reviewer, "overturn_rate"]
        return float(row.iloc[0]) if len(row) else math.nan


def written_text(n: int, noun: str, output: str, detail: str = "") -> str:
    """``12 corrections to verify written to lead.csv (alice 5, bob 7)``."""
    return f"{plural(n, noun)} written to {output}" + (f" ({detail})" if detail else "")


def per_reviewer_text(reviewers: pd.Series) -> str:
    """``alice 5, bob 7``: how many rows each reviewer has, by name."""
    counts = reviewers.value_counts(sort=False).sort_index()
    return ", ".join(f"{name} {n:,}" for name, n in counts.items())
