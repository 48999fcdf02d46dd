"""How much annotators agree: percent agreement, kappa, alpha and AC1 with intervals.

Every statistic returns the same frozen :class:`AgreementResult` (estimate, 95%
interval over items, standard error, n, and which interval). The arithmetic lives in
:mod:`consensus.agreement.statistics` and :mod:`consensus.agreement.pairs` as pure
functions of item sums, so the bootstrap is a few matrix products and the jackknife
one pass over the items, never a loop over items or draws.

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
  :func:`consensus.agreement.pairs.cohen_kappa_mean_from_pairs` for why).
- Intervals are percentile intervals of the statistic over ``n_bootstrap`` resamples of
  the items with replacement, drawn from ``numpy.random.default_rng(seed)``; every
  statistic sees the same draws for the same seed. When the items are many enough that
  the draws would take more than seconds (a million items: about 40 s for a thousand
  draws), ``interval="auto"`` uses the delete-one jackknife instead: the
  estimate +- z jackknife standard errors, deterministic, one pass over the items.
  With that many items the two intervals agree (see :mod:`.intervals`); every result
  says which it has.
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
from . import intervals, pairs
from . import statistics as stats
from .results import STATISTICS, TITLES, AgreementReport, AgreementResult


# ------------------------------------------------------------------------ plans
@dataclass(frozen=True)
class _Plan:
    """A statistic ready to evaluate, and what to say about it.

    ``value()`` is the estimate, ``value(weights)`` one value per row of item
    multiplicities (n_draws, n_items), ``value.leave_one_out()`` the values without
    each item in turn, in blocks.
    """

    statistic: str
    value: stats.ItemSums | pairs.CohenKappaMean
    n_items: int
    note: str = ""
    warning: str = ""


#: Count-table statistics, and whether single-vote items take part (in chance agreement).
_COUNT_STATISTICS: dict[str, tuple[Callable[[np.ndarray], stats.ItemSums], bool]] = {
    "percent_agreement": (stats.percent_agreement_sums, False),
    "fleiss_kappa": (stats.fleiss_kappa_sums, True),
    "krippendorff_alpha": (stats.krippendorff_alpha_sums, False),
    "gwet_ac1": (stats.gwet_ac1_sums, True),
}


def _plan(votes: VoteMatrix, statistic: str, min_shared_items: int) -> _Plan:
    if statistic == "cohen_kappa_mean":
        return _cohen_plan(votes, min_shared_items)
    function, all_items = _COUNT_STATISTICS[statistic]
    n_pairable = int(np.count_nonzero(votes.votes_per_item >= 2))
    single = votes.n_items - n_pairable
    plan = partial(_Plan, statistic, function(votes.label_counts))
    if not single:
        return plan(n_pairable)
    if all_items:
        return plan(votes.n_items, f"{plural(single, 'single-vote item')} only in chance agreement")
    return plan(n_pairable, f"{plural(single, 'single-vote item')} left out")


def _cohen_plan(votes: VoteMatrix, min_shared_items: int) -> _Plan:
    tables = pairs.pair_tables(votes, min_shared_items)
    plan = partial(_Plan, "cohen_kappa_mean", pairs.CohenKappaMean(tables))
    if tables.n_pairs == 0:
        note = (
            f"no two annotators share {min_shared_items} or more items; "
            f"lower min_shared_items to average over sparser pairs"
        )
        return plan(0, note, warning=note)
    undefined = int(np.isnan(pairs.cohen_kappa_by_pair(tables)).sum())
    note = (
        f"mean over {plural(tables.n_pairs - undefined, 'annotator pair')} sharing >= "
        f"{min_shared_items} items (median {np.median(tables.shared):g})"
    )
    if undefined:
        note += f"; left out {plural(undefined, 'pair')} that used one class only (0/0)"
    return plan(tables.n_items, note)


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
    votes: VoteMatrix,
    n_bootstrap: int,
    confidence: float,
    seed: int | None,
    min_shared: int,
    interval: str,
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
    if interval not in intervals.INTERVALS:
        raise InputError(
            f"interval must be one of {', '.join(intervals.INTERVALS)}, not {interval!r}"
        )


def _bootstrap(
    plans: Sequence[_Plan], votes: VoteMatrix, n_bootstrap: int, seed: int | None
) -> np.ndarray:
    """Replicates (n_plans, n_bootstrap) of every statistic on one shared set of draws."""
    replicates = np.full((len(plans), n_bootstrap), np.nan)
    if n_bootstrap == 0:
        return replicates
    rows = [row for row, plan in enumerate(plans) if plan.n_items]
    counted = {row: v for row in rows if isinstance(v := plans[row].value, stats.ItemSums)}
    others = [row for row in rows if row not in counted]
    joint = stats.joint_values(list(counted.values()), votes.label_counts) if counted else None
    start = 0
    for weights in intervals.bootstrap_weights(votes.n_items, n_bootstrap, seed):
        block = slice(start, start + weights.shape[0])
        for row, values in zip(counted, joint(weights) if joint else [], strict=True):
            replicates[row, block] = values
        for row in others:
            replicates[row, block] = plans[row].value(weights)
        start += weights.shape[0]
    return replicates


def _interval(
    plan: _Plan, estimate: float, method: str, draws: np.ndarray, confidence: float
) -> tuple[float, float, float, list[str]]:
    """``(low, high, std_error, remarks)`` of one statistic by the chosen method."""
    if method == "jackknife":
        low, high, error, bias, skipped = intervals.jackknife_interval(
            estimate, plan.value.leave_one_out(), confidence
        )
        skipped_text = plural(skipped, "leave-one-out value")
        biased = not math.isnan(low) and abs(bias) > (high - low) / 2
        symptom = (
            f"the jackknife puts the small-sample bias at {bias:+.2g}, "
            f"more than the interval's half-width"
        )
    else:
        low, high, error, skipped = intervals.percentile_interval(draws, confidence)
        skipped_text = f"{skipped} of {draws.shape[0]} bootstrap draws"
        biased = not low <= estimate <= high and not math.isnan(low)
        symptom = "the estimate lies outside its bootstrap interval, a sign of small-sample bias"
    remarks = []
    if skipped and plan.n_items:
        remarks.append(f"{skipped_text} had nothing to compare")
    if biased:
        advice = "; raise min_shared_items" if plan.statistic == "cohen_kappa_mean" else ""
        remarks.append(symptom + advice)
    return low, high, error, remarks


def _evaluate(
    votes: VoteMatrix,
    names: Sequence[str],
    n_bootstrap: int,
    confidence: float,
    seed: int | None,
    min_shared_items: int = 10,
    interval: str = "auto",
) -> dict[str, AgreementResult]:
    """Point estimates and intervals for the named statistics, by one interval method.

    The method depends on the votes and ``n_bootstrap`` only, and the same seed gives
    the same draws whichever statistics are asked for, so a statistic computed alone
    equals the one in :func:`agreement_report`.
    """
    _check(votes, n_bootstrap, confidence, seed, min_shared_items, interval)
    method = intervals.interval_method(votes.votes_per_item, n_bootstrap, interval)
    plans = [_plan(votes, name, min_shared_items) for name in names]
    for plan in plans:
        if plan.warning:
            warnings.warn(f"{TITLES[plan.statistic]}: {plan.warning}", InputWarning, stacklevel=3)
    estimates = [float(plan.value()[0]) for plan in plans]
    draws = _bootstrap(plans, votes, n_bootstrap if method == "bootstrap" else 0, seed)
    results = {}
    for plan, estimate, replicates in zip(plans, estimates, draws, strict=True):
        low, high, error, remarks = _interval(plan, estimate, method, replicates, confidence)
        results[plan.statistic] = AgreementResult(
            statistic=plan.statistic,
            estimate=estimate,
            ci_low=low,
            ci_high=high,
            n_items=plan.n_items,
            std_error=error,
            n_bootstrap=int(n_bootstrap),
            confidence=float(confidence),
            note="; ".join(([plan.note] if plan.note else []) + remarks),
            interval=method,
        )
    return results


# ------------------------------------------------------------------- public API
def percent_agreement(
    votes: VoteMatrix,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    interval: str = "auto",
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
        Level of the interval.
    seed : int or None
        Seed of the ``numpy.random.Generator``; the same seed gives the same interval.
    interval : {"auto", "bootstrap", "jackknife"}
        ``"bootstrap"``: percentile interval of ``n_bootstrap`` resamples of the items.
        ``"jackknife"``: estimate +- z standard errors, the standard error from
        leaving out one item at a time. ``"auto"`` bootstraps unless the data are so
        large that ``n_bootstrap`` draws would take more than seconds (see
        :func:`consensus.agreement.intervals.interval_method`); the result's
        ``interval`` says which was used.
    """
    return _evaluate(
        votes, ["percent_agreement"], n_bootstrap, confidence, seed, interval=interval
    )["percent_agreement"]


def fleiss_kappa(
    votes: VoteMatrix,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    interval: str = "auto",
) -> AgreementResult:
    """Fleiss' kappa, in Gwet's (2014) form that allows a varying number of votes per item.

    Observed agreement as :func:`percent_agreement`; chance agreement from the mean over
    items of each item's class shares. With equal votes per item this is Fleiss (1971)
    and ``statsmodels.stats.inter_rater.fleiss_kappa``. Parameters as
    :func:`percent_agreement`.
    """
    return _evaluate(votes, ["fleiss_kappa"], n_bootstrap, confidence, seed, interval=interval)[
        "fleiss_kappa"
    ]


def krippendorff_alpha(
    votes: VoteMatrix,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    interval: str = "auto",
) -> AgreementResult:
    """Krippendorff's alpha for nominal labels; missing votes allowed, single-vote items left out.

    Equals the ``krippendorff`` package with ``level_of_measurement="nominal"``, except
    that unanimous data gives 1 rather than an error. Parameters as
    :func:`percent_agreement`.
    """
    return _evaluate(
        votes, ["krippendorff_alpha"], n_bootstrap, confidence, seed, interval=interval
    )["krippendorff_alpha"]


def cohen_kappa_mean(
    votes: VoteMatrix,
    *,
    min_shared_items: int = 10,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    interval: str = "auto",
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
    same class on every shared item) is left out of the mean. The bootstrap and the
    jackknife keep the pairs chosen on the full data and drop, per draw or left-out
    item, a pair with no shared item left. If no pair qualifies the estimate is NaN,
    with a warning and a note saying so.
    """
    return _evaluate(
        votes, ["cohen_kappa_mean"], n_bootstrap, confidence, seed, min_shared_items, interval
    )["cohen_kappa_mean"]


def gwet_ac1(
    votes: VoteMatrix,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    interval: str = "auto",
) -> AgreementResult:
    """Gwet's AC1 (Gwet 2008), stable where kappa collapses on a very common class.

    Chance agreement is ``sum_k pi_k (1 - pi_k) / (K - 1)`` over all ``K`` classes of
    ``votes.classes``, voted for or not (declare the label set to fix ``K``).
    Parameters as :func:`percent_agreement`.
    """
    return _evaluate(votes, ["gwet_ac1"], n_bootstrap, confidence, seed, interval=interval)[
        "gwet_ac1"
    ]


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
    interval: str = "auto",
) -> AgreementReport:
    """All five statistics on one set of bootstrap draws, and the per-annotator table.

    Each entry of ``results`` equals what the single-statistic function returns with the
    same arguments. Parameters as :func:`percent_agreement` and :func:`cohen_kappa_mean`.
    """
    results = _evaluate(
        votes, STATISTICS, n_bootstrap, confidence, seed, min_shared_items, interval
    )
    switched = interval == "auto" and results[STATISTICS[0]].interval == "jackknife"
    return AgreementReport(
        results=results,
        annotators=annotator_agreement(votes),
        n_items=votes.n_items,
        n_annotators=votes.n_annotators,
        n_votes=votes.n_votes,
        interval_note=(
            f"in place of {n_bootstrap} bootstrap draws, too slow on this many items"
            if switched
            else ""
        ),
    )
