"""How much annotators agree: percent agreement, kappa, alpha and AC1 with intervals.

Every statistic returns the same frozen :class:`AgreementResult` (estimate, 95%
percentile bootstrap interval over items, standard error, n). The arithmetic lives in
:mod:`consensus.agreement.statistics` as pure functions of weighted item sums, so the
bootstrap is a few matrix products rather than a loop over items or draws.

How the votes enter each statistic
----------------------------------
- Percent agreement, Fleiss' kappa, Krippendorff's alpha and Gwet's AC1 read the
  item x class count table. A repeated (item, annotator) vote counts as one more
  vote, as crowd-kit does; read with ``duplicates="first"`` if repeats are resubmissions.
- Items with one vote cannot show agreement. They are left out of percent agreement
  and Krippendorff's alpha; Fleiss' kappa and AC1 use them only for the class shares
  behind chance agreement, as in Gwet (2014), which reproduces his published values.
- Mean pairwise Cohen's kappa uses one label per (item, annotator), the first, and
  averages over the annotator pairs that share at least ``min_shared_items`` items.
- When expected agreement is 1 (every vote the same class) kappa and alpha are 0/0;
  they are reported as 1, matching percent agreement and AC1 on such data. In the
  Cohen mean a pair whose kappa is 0/0 is left out instead (see
  :func:`consensus.agreement.statistics.cohen_kappa_mean_from_pairs` for why).
- Intervals are percentile intervals of the statistic over ``n_bootstrap`` resamples of
  the items with replacement, drawn from ``numpy.random.default_rng(seed)``; every
  statistic sees the same draws for the same seed.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from ..data.votes import VoteMatrix
from ..exceptions import InputError, InputWarning
from ..wording import plural
from . import statistics as stats
from .results import STATISTICS, TITLES, AgreementReport, AgreementResult


# ------------------------------------------------------------------------ plans
@dataclass(frozen=True)
class _Plan:
    """A statistic ready to evaluate: weights (n_draws, n_items) -> values (n_draws,)."""

    statistic: str
    compute: Callable[[np.ndarray], np.ndarray]
    n_items: int
    note: str = ""
    warning: str = ""


#: Count-table statistics, and whether single-vote items take part (in chance agreement).
_COUNT_STATISTICS: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], bool]] = {
    "percent_agreement": (stats.percent_agreement_from_counts, False),
    "fleiss_kappa": (stats.fleiss_kappa_from_counts, True),
    "krippendorff_alpha": (stats.krippendorff_alpha_from_counts, False),
    "gwet_ac1": (stats.gwet_ac1_from_counts, True),
}


def _plan(votes: VoteMatrix, statistic: str, min_shared_items: int) -> _Plan:
    if statistic == "cohen_kappa_mean":
        return _cohen_plan(votes, min_shared_items)
    function, all_items = _COUNT_STATISTICS[statistic]
    n_pairable = int(np.count_nonzero(votes.votes_per_item >= 2))
    single = votes.n_items - n_pairable
    compute = partial(function, votes.label_counts)
    if not single:
        return _Plan(statistic, compute, n_pairable)
    if all_items:
        note = f"{plural(single, 'single-vote item')} only in chance agreement"
        return _Plan(statistic, compute, votes.n_items, note)
    return _Plan(statistic, compute, n_pairable, f"{plural(single, 'single-vote item')} left out")


def _cohen_plan(votes: VoteMatrix, min_shared_items: int) -> _Plan:
    tables = stats.pair_tables(votes, min_shared_items)
    compute = partial(stats.cohen_kappa_mean_from_pairs, tables)
    if tables.n_pairs == 0:
        note = (
            f"no two annotators share {min_shared_items} or more items; "
            f"lower min_shared_items to average over sparser pairs"
        )
        return _Plan("cohen_kappa_mean", compute, 0, note, warning=note)
    undefined = int(np.isnan(stats.cohen_kappa_by_pair(tables)).sum())
    note = (
        f"mean over {plural(tables.n_pairs - undefined, 'annotator pair')} sharing >= "
        f"{min_shared_items} items (median {np.median(tables.shared):g})"
    )
    if undefined:
        note += f"; left out {plural(undefined, 'pair')} that used one class only (0/0)"
    return _Plan("cohen_kappa_mean", compute, tables.n_items, note)


def _whole(value: object, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"{name} must be a whole number >= {minimum}, not {value!r}")


def _require_votes(votes: object) -> None:
    if not isinstance(votes, VoteMatrix):
        raise InputError(
            f"expected a VoteMatrix, got {type(votes).__name__}; build one with "
            f"VoteMatrix.from_frame(frame) or consensus.read_votes(path)"
        )


def _check(
    votes: VoteMatrix, n_bootstrap: int, confidence: float, seed: int | None, min_shared: int
) -> None:
    _require_votes(votes)
    if not np.any(votes.votes_per_item >= 2):
        raise InputError(
            f"no item has two or more votes ({votes.n_items} items, {votes.n_votes} votes), "
            f"so there is no agreement to measure; each item needs at least two annotators"
        )
    _whole(n_bootstrap, "n_bootstrap", 0)
    _whole(min_shared, "min_shared_items", 1)
    if seed is not None:
        _whole(seed, "seed", 0)
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, numbers.Real)
        or not (0.0 < confidence < 1.0)
    ):
        raise InputError(f"confidence must be between 0 and 1 (e.g. 0.95), not {confidence!r}")


def _evaluate(
    votes: VoteMatrix,
    names: Sequence[str],
    n_bootstrap: int,
    confidence: float,
    seed: int | None,
    min_shared_items: int = 10,
) -> dict[str, AgreementResult]:
    """Point estimates and one shared set of bootstrap draws for the named statistics.

    The same seed gives the same draws whichever statistics are asked for, so a
    statistic computed alone equals the one in :func:`agreement_report`.
    """
    _check(votes, n_bootstrap, confidence, seed, min_shared_items)
    plans = [_plan(votes, name, min_shared_items) for name in names]
    for plan in plans:
        if plan.warning:
            warnings.warn(f"{TITLES[plan.statistic]}: {plan.warning}", InputWarning, stacklevel=3)
    ones = np.ones((1, votes.n_items))
    estimates = [float(plan.compute(ones)[0]) for plan in plans]
    replicates = np.full((len(plans), n_bootstrap), np.nan)
    start = 0
    for weights in stats.bootstrap_weights(votes.n_items, n_bootstrap, seed):
        for row, plan in enumerate(plans):
            if plan.n_items:
                replicates[row, start : start + weights.shape[0]] = plan.compute(weights)
        start += weights.shape[0]
    results = {}
    for plan, estimate, draws in zip(plans, estimates, replicates, strict=True):
        low, high, error, skipped = stats.percentile_interval(draws, confidence)
        remarks = [plan.note] if plan.note else []
        if skipped and plan.n_items:
            remarks.append(f"{skipped} of {n_bootstrap} bootstrap draws had nothing to compare")
        if not low <= estimate <= high and not math.isnan(low):
            remarks.append(
                "the estimate lies outside its bootstrap interval, a sign of small-sample bias"
                + ("; raise min_shared_items" if plan.statistic == "cohen_kappa_mean" else "")
            )
        results[plan.statistic] = AgreementResult(
            statistic=plan.statistic,
            estimate=estimate,
            ci_low=low,
            ci_high=high,
            n_items=plan.n_items,
            std_error=error,
            n_bootstrap=int(n_bootstrap),
            confidence=float(confidence),
            note="; ".join(remarks),
        )
    return results


# ------------------------------------------------------------------- public API
def percent_agreement(
    votes: VoteMatrix, *, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int | None = 0
) -> AgreementResult:
    """Share of agreeing vote pairs within an item, averaged over items with >= 2 votes.

    Not chance-corrected: read it beside a kappa, since two annotators who always pick
    the majority class agree often without telling anything apart.

    Parameters
    ----------
    votes : VoteMatrix
    n_bootstrap : int
        Bootstrap draws over items; 0 for no interval.
    confidence : float
        Level of the percentile interval.
    seed : int or None
        Seed of the ``numpy.random.Generator``; the same seed gives the same interval.
    """
    return _evaluate(votes, ["percent_agreement"], n_bootstrap, confidence, seed)[
        "percent_agreement"
    ]


def fleiss_kappa(
    votes: VoteMatrix, *, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int | None = 0
) -> AgreementResult:
    """Fleiss' kappa, in Gwet's (2014) form that allows a varying number of votes per item.

    Observed agreement as :func:`percent_agreement`; chance agreement from the mean over
    items of each item's class shares. With equal votes per item this is Fleiss (1971)
    and ``statsmodels.stats.inter_rater.fleiss_kappa``. Parameters as
    :func:`percent_agreement`.
    """
    return _evaluate(votes, ["fleiss_kappa"], n_bootstrap, confidence, seed)["fleiss_kappa"]


def krippendorff_alpha(
    votes: VoteMatrix, *, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int | None = 0
) -> AgreementResult:
    """Krippendorff's alpha for nominal labels; missing votes allowed, single-vote items left out.

    Equals the ``krippendorff`` package with ``level_of_measurement="nominal"``, except
    that unanimous data gives 1 rather than an error. Parameters as
    :func:`percent_agreement`.
    """
    return _evaluate(votes, ["krippendorff_alpha"], n_bootstrap, confidence, seed)[
        "krippendorff_alpha"
    ]


def cohen_kappa_mean(
    votes: VoteMatrix,
    *,
    min_shared_items: int = 10,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> AgreementResult:
    """Unweighted mean of Cohen's kappa over annotator pairs (Light's kappa).

    Parameters
    ----------
    min_shared_items : int
        A pair counts only if both annotators labelled at least this many of the same
        items. Crowd data has many pairs sharing two or three items, whose kappa is
        mostly noise (or 0/0); ten keeps the mean about annotators, not about luck.
        Use 1 for a complete design to get Light's kappa over all pairs.

    Other parameters as :func:`percent_agreement`. Each annotator contributes the first
    of repeated votes on an item. A pair whose kappa is 0/0 (both used one and the
    same class on every shared item) is left out of the mean. The bootstrap keeps the
    pairs chosen on the full data and drops, per draw, a pair none of whose shared
    items was drawn. If no pair qualifies the estimate is NaN, with a warning and a
    note saying so.
    """
    return _evaluate(votes, ["cohen_kappa_mean"], n_bootstrap, confidence, seed, min_shared_items)[
        "cohen_kappa_mean"
    ]


def gwet_ac1(
    votes: VoteMatrix, *, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int | None = 0
) -> AgreementResult:
    """Gwet's AC1 (Gwet 2008), stable where kappa collapses on a very common class.

    Chance agreement is ``sum_k pi_k (1 - pi_k) / (K - 1)`` over all ``K`` classes of
    ``votes.classes``, voted for or not (declare the label set to fix ``K``).
    Parameters as :func:`percent_agreement`.
    """
    return _evaluate(votes, ["gwet_ac1"], n_bootstrap, confidence, seed)["gwet_ac1"]


def annotator_agreement(votes: VoteMatrix) -> pd.DataFrame:
    """How often each annotator agrees with the others on the items they share.

    Returns
    -------
    DataFrame, one row per annotator in ``votes.annotator_ids`` order, with columns
        ``annotator``; ``n_votes``; ``n_items`` (distinct items labelled);
        ``n_compared`` (other annotators' votes on those items, each pairing with
        one of this annotator's votes counted once);
        ``pairwise_agreement`` (share of those that equal this annotator's vote);
        ``kappa_vs_others`` (Cohen's kappa of this annotator against the pooled other
        votes, which corrects for an annotator who just follows a common class).
        Both are NaN for an annotator who shares no item with anyone; kappa is 1 when
        the annotator and everyone compared used one class only (0/0, as for the totals).
        Repeated votes all count; an annotator's own repeats are not compared.
    """
    _require_votes(votes)
    table, n_items = stats.annotator_tables(votes)
    compared = table.sum(axis=(1, 2))
    agree = np.trace(table, axis1=1, axis2=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = agree / compared
        expected = (table.sum(axis=2) * table.sum(axis=1)).sum(axis=1) / compared**2
    return pd.DataFrame(
        {
            "annotator": votes.annotator_ids,
            "n_votes": votes.votes_per_annotator.astype(np.int64),
            "n_items": n_items.astype(np.int64),
            "n_compared": compared.astype(np.int64),
            "pairwise_agreement": observed,
            "kappa_vs_others": stats.chance_corrected(observed, expected),
        }
    )


def agreement_report(
    votes: VoteMatrix,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    min_shared_items: int = 10,
) -> AgreementReport:
    """All five statistics on one set of bootstrap draws, and the per-annotator table.

    Each entry of ``results`` equals what the single-statistic function returns with the
    same arguments. Parameters as :func:`percent_agreement` and :func:`cohen_kappa_mean`.
    """
    results = _evaluate(votes, STATISTICS, n_bootstrap, confidence, seed, min_shared_items)
    return AgreementReport(
        results=results,
        annotators=annotator_agreement(votes),
        n_items=votes.n_items,
        n_annotators=votes.n_annotators,
        n_votes=votes.n_votes,
    )
