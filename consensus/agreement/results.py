"""The result types of :mod:`consensus.agreement`: one frozen type per statistic, one report.

Kept apart from the computation so that how a number is shown (``summary()``, the
JSON form) and how it is computed can change independently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..report.text import json_ready
from .intervals import normal_quantile

#: Statistic keys, in report and JSON order.
STATISTICS: tuple[str, ...] = (
    "percent_agreement",
    "fleiss_kappa",
    "krippendorff_alpha",
    "cohen_kappa_mean",
    "gwet_ac1",
)

TITLES: dict[str, str] = {
    "percent_agreement": "Percent agreement",
    "fleiss_kappa": "Fleiss' kappa",
    "krippendorff_alpha": "Krippendorff's alpha",
    "cohen_kappa_mean": "Mean pairwise Cohen's kappa",
    "gwet_ac1": "Gwet's AC1",
    "krippendorff_alpha_ordinal": "Krippendorff's alpha, ordinal",
    "krippendorff_alpha_interval": "Krippendorff's alpha, interval",
    "weighted_kappa_linear": "Mean weighted kappa, linear",
    "weighted_kappa_quadratic": "Mean weighted kappa, quadratic",
}


@dataclass(frozen=True)
class AgreementResult:
    """One agreement statistic with its interval.

    Attributes
    ----------
    statistic : str
        One of :data:`STATISTICS`.
    estimate : float
        The statistic on all the data. NaN only when it cannot be computed at all,
        and then ``note`` says why.
    ci_low, ci_high : float
        Interval at ``confidence`` over items, by the method in ``interval``. NaN when
        ``n_bootstrap`` is 0.
    n_items : int
        Items that enter the statistic (see the notes in :mod:`consensus.agreement`).
    std_error : float
        Standard deviation of the bootstrap replicates, or the jackknife standard error.
    n_bootstrap : int
        Bootstrap draws requested (0: no interval).
    confidence : float
    note : str
        What the reader needs to interpret this value, e.g. which pairs were averaged.
    interval : str
        ``"bootstrap"`` (percentile interval of ``n_bootstrap`` item resamples),
        ``"jackknife"`` (estimate +- z delete-one jackknife standard errors, used
        for data too large to bootstrap in seconds) or ``"none"``.
    """

    statistic: str
    estimate: float
    ci_low: float
    ci_high: float
    n_items: int
    std_error: float
    n_bootstrap: int
    confidence: float
    note: str = ""
    interval: str = "bootstrap"

    @property
    def title(self) -> str:
        return TITLES.get(self.statistic, self.statistic)

    def estimate_text(self) -> str:
        """The estimate to three decimals, or ``n/a`` when it could not be computed."""
        return "n/a" if math.isnan(self.estimate) else f"{self.estimate:.3f}"

    def interval_text(self) -> str:
        """``[low, high]``, or empty when there is no interval."""
        return "" if math.isnan(self.ci_low) else f"[{self.ci_low:.3f}, {self.ci_high:.3f}]"

    def summary(self) -> str:
        """One line: name, estimate, interval, items, and the note if any."""
        if self.n_bootstrap == 0:
            interval = "no interval (n_bootstrap=0)"
        elif math.isnan(self.ci_low):
            interval = "no interval"
        else:
            method = " (jackknife)" if self.interval == "jackknife" else ""
            interval = f"{self.confidence:.0%} CI {self.interval_text()}{method}"
        text = f"{self.title}: {self.estimate_text()}, {interval}, {self.n_items} items"
        return f"{text}; {self.note}" if self.note else text

    def to_dict(self) -> dict[str, float | int | str | None]:
        """``{"estimate", "ci_low", "ci_high", "n_items", "interval"}``; NaN as None (JSON).

        ``interval`` is ``"bootstrap"``, ``"jackknife"`` or None without an interval.
        """
        return {
            "estimate": json_ready(self.estimate),
            "ci_low": json_ready(self.ci_low),
            "ci_high": json_ready(self.ci_high),
            "n_items": int(self.n_items),
            "interval": None if self.interval == "none" else self.interval,
        }


@dataclass(frozen=True, eq=False)
class AgreementReport:
    """All five statistics and the per-annotator table, as the CLI prints them.

    Attributes
    ----------
    results : dict of str to AgreementResult
        Keyed and ordered as :data:`STATISTICS`.
    annotators : DataFrame
        :func:`annotator_agreement`.
    n_items, n_annotators, n_votes : int
        Size of the votes the report describes.
    interval_note : str
        Why the intervals are not what was asked for, e.g. the jackknife in place of
        bootstrap draws too slow on this many items; empty otherwise.
    """

    results: dict[str, AgreementResult]
    annotators: pd.DataFrame
    n_items: int
    n_annotators: int
    n_votes: int
    interval_note: str = ""

    def summary(self) -> str:
        """A readable table: one row per statistic, its notes, then per-annotator agreement."""
        first = next(iter(self.results.values()))
        level = f"{first.confidence:.0%} CI"
        if first.interval == "jackknife":
            z = normal_quantile(first.confidence)
            method = f"{level}: estimate ± {z:.2f} SE, delete-one jackknife over items"
        elif first.n_bootstrap:
            method = f"{level}: percentile bootstrap over items, {first.n_bootstrap} draws"
        else:
            method = "no intervals: n_bootstrap=0"
        if self.interval_note:
            method += f"; {self.interval_note}"
        width = max([28, *(len(r.title) for r in self.results.values())])
        lines = [
            f"Agreement over {self.n_items} items, {self.n_annotators} annotators, "
            f"{self.n_votes} votes ({method})",
            f"{'statistic':<{width}} {'estimate':>8}  {level:<16} {'items':>6}",
        ]
        for r in self.results.values():
            lines.append(
                f"{r.title:<{width}} {r.estimate_text():>8}  {r.interval_text():<16} "
                f"{r.n_items:>6}"
            )
        notes = [f"  {r.title}: {r.note}" for r in self.results.values() if r.note]
        if notes:
            lines += ["notes:", *notes]
        shares = self.annotators["pairwise_agreement"].dropna()
        if len(shares):
            low, mid, high = np.quantile(shares, [0.25, 0.5, 0.75])
            lines.append(
                f"per annotator: agreement with the others median {mid:.3f} "
                f"(quartiles {low:.3f}, {high:.3f}) over {len(shares)} annotators"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, dict[str, float | int | str | None]]:
        """The JSON form: one object per statistic, in :data:`STATISTICS` order."""
        return {name: result.to_dict() for name, result in self.results.items()}
