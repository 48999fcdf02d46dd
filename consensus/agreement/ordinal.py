"""Agreement on an ordered scale: Krippendorff's alpha (ordinal, interval), weighted kappa.

On a scale, two annotators who say 4 and 5 disagree less than two who say 1 and 5.
Krippendorff's alpha weighs each disagreeing pair of values by a squared distance
(Krippendorff 2011): *interval*, ``(v_c - v_k)**2`` on the labels' numbers (or the
levels 0, 1, ... when the labels are not numbers), and *ordinal*, the squared number of
votes lying between the two values, ``(sum_{g=c..k} n_g - (n_c + n_k) / 2)**2``, which
needs only the order. Weighted kappa (Cohen 1968) gives each pair of annotators
``1 - observed / expected`` weighted disagreement, with *linear* ``|i - j|`` or
*quadratic* ``(i - j)**2`` weights on the levels, averaged over the annotator pairs
that share enough items (as :func:`consensus.agreement.cohen_kappa_mean`).

Votes for a class declared nominal (outside the scale, e.g. "broken link") are left
out: none of these distances is defined for them. Intervals resample items as the
other statistics do (:mod:`consensus.agreement.intervals`); alpha also has the
delete-one jackknife for data too large to bootstrap in seconds, weighted kappa only
the bootstrap. Both match the ``krippendorff`` package and
``statsmodels.stats.inter_rater.cohens_kappa`` (tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data.votes import VoteMatrix
from ..exceptions import InputError
from ..models.ordinal import scale_positions
from ..wording import plural
from . import intervals, pairs
from .results import AgreementResult
from .statistics import ItemSums

#: Distances of Krippendorff's alpha on a scale.
METRICS: tuple[str, ...] = ("ordinal", "interval")
#: Weights of weighted kappa.
KAPPA_WEIGHTS: tuple[str, ...] = ("linear", "quadratic")


# ------------------------------------------------------------------- the scale
def scale_votes(votes: VoteMatrix, nominal: Any = ()) -> tuple[VoteMatrix, np.ndarray, int]:
    """The votes on the scale, each scale class's level (NaN: nominal), votes left out."""
    positions = scale_positions(votes.classes, nominal)
    kept = np.isfinite(positions)[votes.label_codes]
    dropped = int(votes.n_votes - np.count_nonzero(kept))
    return (votes.take_votes(kept) if dropped else votes), positions, dropped


def level_values(classes: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Each scale level's number for the interval metric: the labels' own numbers when
    every one is a number, else the levels 0, 1, ... (S,)."""
    names = pd.Series([str(c) for c in np.asarray(classes)[np.isfinite(positions)]])
    numbers = pd.to_numeric(names, errors="coerce").to_numpy(dtype=np.float64)
    return numbers if np.isfinite(numbers).all() else positions[np.isfinite(positions)]


# -------------------------------------------------------- Krippendorff's alpha
def alpha_sums(counts: np.ndarray, values: np.ndarray, metric: str) -> ItemSums:
    """Krippendorff's alpha of an (n_items, S) count table on a scale, as item sums.

    Each pairable item (two votes or more) adds its coincidences
    ``(n_uc n_uk - [c = k] n_uc) / (m_u - 1)`` (S * S columns); the finish turns the
    summed coincidence matrix into ``1 - D_o / D_e``, 1 where expected disagreement is
    0 (every vote one value).
    """
    n = counts.sum(axis=1)
    pairable = n >= 2
    kept = np.where(pairable[:, None], counts, 0.0)
    outer = kept[:, :, None] * kept[:, None, :]
    idx = np.arange(counts.shape[1])
    outer[:, idx, idx] -= kept
    coincidence = outer / np.where(pairable, n - 1.0, 1.0)[:, None, None]
    size = counts.shape[1]
    return ItemSums((coincidence.reshape(-1, size * size),),
                    partial(_alpha_finish, values=values, metric=metric))


def _alpha_finish(sums: np.ndarray, values: np.ndarray, metric: str) -> np.ndarray:
    size = values.shape[0]
    coincidence = sums.reshape(-1, size, size)
    marginal = coincidence.sum(axis=2)  # (d, S)
    total = marginal.sum(axis=1)
    if metric == "interval":
        distance = np.broadcast_to((values[:, None] - values[None, :]) ** 2,
                                   coincidence.shape)
    else:
        cumulative = np.concatenate([np.zeros((marginal.shape[0], 1)),
                                     np.cumsum(marginal, axis=1)], axis=1)
        low = np.minimum.outer(np.arange(size), np.arange(size))
        high = np.maximum.outer(np.arange(size), np.arange(size))
        between = cumulative[:, high + 1] - cumulative[:, low]
        distance = (between - (marginal[:, :, None] + marginal[:, None, :]) / 2.0) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = (coincidence * distance).sum(axis=(1, 2)) / total
        expected = (marginal[:, :, None] * marginal[:, None, :] * distance).sum(
            axis=(1, 2)) / (total * (total - 1.0))
        alpha = 1.0 - observed / expected
    return np.where(expected > 0, alpha, np.where(total > 1, 1.0, np.nan))


# --------------------------------------------------------------- weighted kappa
def kappa_weights(n_levels: int, weights: str) -> np.ndarray:
    """Disagreement weights between levels, (S, S): ``|i - j|`` or ``(i - j)**2``."""
    if weights not in KAPPA_WEIGHTS:
        raise InputError(f"weights must be one of {', '.join(KAPPA_WEIGHTS)}, not {weights!r}")
    steps = np.abs(np.subtract.outer(np.arange(n_levels), np.arange(n_levels))).astype(float)
    return steps if weights == "linear" else steps**2


class WeightedKappaMean:
    """The mean over annotator pairs of weighted kappa, called with item multiplicities.

    Each pair's kappa needs three sums over its cases (items both labelled): the
    weighted disagreement and the two annotators' label counts. ``self(weights)``
    gives one value per row of multiplicities (n_draws, n_items), the estimate for None.
    """

    def __init__(self, tables: pairs.PairTables, disagreement: np.ndarray) -> None:
        self.tables = tables
        self.disagreement = disagreement  # (K, K) on class codes, 0 off the scale
        k = tables.n_classes
        q = tables.case_pair.astype(np.int64) * (1 + 2 * k)
        cells = np.concatenate([q, q + 1 + tables.case_first, q + 1 + k + tables.case_second])
        data = np.concatenate([disagreement[tables.case_first, tables.case_second],
                               np.ones(2 * q.shape[0])])
        items = np.tile(tables.case_item, 3)
        self.design = sp.csr_matrix((data, (cells, items)),
                                    shape=(tables.n_pairs * (1 + 2 * k), tables.n_columns))

    def by_pair(self, sums: np.ndarray) -> np.ndarray:
        """Weighted kappa of every pair from sums (..., n_pairs, 1 + 2K), NaN where 0/0."""
        k = self.tables.n_classes
        first, second = sums[..., 1 : 1 + k], sums[..., 1 + k :]
        n = first.sum(axis=-1)
        expected = np.einsum("...i,ij,...j->...", first, self.disagreement, second)
        with np.errstate(divide="ignore", invalid="ignore"):
            kappa = 1.0 - sums[..., 0] * n / expected
        return np.where(expected > 0, kappa, np.nan)

    def __call__(self, weights: np.ndarray | None = None) -> np.ndarray:
        width = 1 + 2 * self.tables.n_classes
        if weights is None:
            weights = np.ones((1, self.tables.n_columns))
        if self.tables.n_pairs == 0:
            return np.full(weights.shape[0], np.nan)
        sums = np.asarray(self.design @ weights.T).T.reshape(weights.shape[0], -1, width)
        kappa = self.by_pair(sums)
        defined = np.isfinite(kappa)
        with np.errstate(invalid="ignore"):
            mean = np.where(defined, kappa, 0.0).sum(axis=1) / defined.sum(axis=1)
        return np.where(defined.any(axis=1), mean, np.nan)


# ------------------------------------------------------------------- public API
def ordinal_alpha(
    votes: VoteMatrix,
    *,
    metric: str = "ordinal",
    nominal: Any = (),
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    interval: str = "auto",
) -> AgreementResult:
    """Krippendorff's alpha with the ordinal or interval distance, with its interval.

    Parameters
    ----------
    metric : {"ordinal", "interval"}
        ``ordinal`` needs only the class order; ``interval`` takes the labels as
        numbers (levels 0, 1, ... when they are not numbers).
    nominal : label or sequence of labels
        Classes outside the scale; their votes are left out.
    n_bootstrap, confidence, seed, interval
        As in :func:`consensus.agreement.percent_agreement`.
    """
    if metric not in METRICS:
        raise InputError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    on, positions, dropped = scale_votes(votes, nominal)
    scale = np.flatnonzero(np.isfinite(positions))
    counts = on.label_counts[:, scale].astype(np.float64)
    value = alpha_sums(counts, level_values(votes.classes, positions), metric)
    n_items = int(np.count_nonzero(counts.sum(axis=1) >= 2))
    notes = [_dropped_note(dropped)] if dropped else []
    single = int(np.count_nonzero(counts.sum(axis=1) == 1))
    if single:
        notes.append(f"{plural(single, 'single-vote item')} left out")
    return _result(f"krippendorff_alpha_{metric}", value, value.leave_one_out, on, n_items,
                   notes, n_bootstrap, confidence, seed, interval)


def weighted_kappa_mean(
    votes: VoteMatrix,
    *,
    weights: str = "quadratic",
    nominal: Any = (),
    min_shared_items: int = 10,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> AgreementResult:
    """Mean over annotator pairs of Cohen's weighted kappa, with a bootstrap interval.

    Parameters
    ----------
    weights : {"linear", "quadratic"}
        Disagreement weights on the levels. Quadratic weighted kappa is close to the
        intraclass correlation; linear counts every step alike.
    nominal, min_shared_items
        As in :func:`ordinal_alpha` and :func:`consensus.agreement.cohen_kappa_mean`
        (first vote per item and annotator; pairs sharing fewer items left out; a
        pair whose kappa is 0/0 left out of the mean).
    n_bootstrap, confidence, seed
        As in :func:`consensus.agreement.percent_agreement`; the interval is always
        the percentile bootstrap.
    """
    on, positions, dropped = scale_votes(votes, nominal)
    scale = np.flatnonzero(np.isfinite(positions))
    disagreement = np.zeros((votes.n_classes, votes.n_classes))
    disagreement[np.ix_(scale, scale)] = kappa_weights(scale.shape[0], weights)
    tables = pairs.pair_tables(on, min_shared_items)
    value = WeightedKappaMean(tables, disagreement)
    notes = [f"mean over {plural(tables.n_pairs, 'annotator pair')} sharing >= "
             f"{min_shared_items} items"] if tables.n_pairs else [
        f"no two annotators share {min_shared_items} or more items; lower min_shared_items"]
    if dropped:
        notes.append(_dropped_note(dropped))
    return _result(f"weighted_kappa_{weights}", value, None, on, tables.n_items, notes,
                   n_bootstrap, confidence, seed, "bootstrap")


def ordinal_agreement(
    votes: VoteMatrix,
    *,
    nominal: Any = (),
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    min_shared_items: int = 10,
    interval: str = "auto",
) -> dict[str, AgreementResult]:
    """Alpha (ordinal, interval) and mean weighted kappa (linear, quadratic), keyed by
    statistic name, each as its own function computes it with these arguments."""
    shared = {"nominal": nominal, "n_bootstrap": n_bootstrap, "confidence": confidence,
              "seed": seed}
    results = [ordinal_alpha(votes, metric=m, interval=interval, **shared) for m in METRICS]
    results += [weighted_kappa_mean(votes, weights=w, min_shared_items=min_shared_items,
                                    **shared) for w in KAPPA_WEIGHTS]
    return {r.statistic: r for r in results}


# ------------------------------------------------------------------ helpers
def _dropped_note(dropped: int) -> str:
    return f"{plural(dropped, 'vote')} for nominal classes left out"


def _result(
    statistic: str,
    value: Callable[[np.ndarray | None], np.ndarray],
    leave_one_out: Callable[[], Any] | None,
    votes: VoteMatrix,
    n_items: int,
    notes: list[str],
    n_bootstrap: int,
    confidence: float,
    seed: int | None,
    interval: str,
) -> AgreementResult:
    """Estimate and interval of one statistic by the method the votes call for."""
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) \
            or n_bootstrap < 0:
        raise InputError(f"n_bootstrap must be a whole number >= 0, not {n_bootstrap!r}")
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must be between 0 and 1 (e.g. 0.95), not {confidence!r}")
    if interval not in intervals.INTERVALS:
        raise InputError(f"interval must be one of {', '.join(intervals.INTERVALS)}, "
                         f"not {interval!r}")
    estimate = float(value(None)[0])
    method = intervals.interval_method(votes.votes_per_item, n_bootstrap, interval)
    if method == "jackknife" and leave_one_out is None:
        method = "bootstrap"
    low = high = error = math.nan
    if method == "jackknife" and leave_one_out is not None:
        low, high, error, _, _ = intervals.jackknife_interval(estimate, leave_one_out(),
                                                              confidence)
    elif method == "bootstrap":
        draws = np.concatenate([value(block) for block in
                                intervals.bootstrap_weights(votes.n_items, n_bootstrap, seed)])
        low, high, error, skipped = intervals.percentile_interval(draws, confidence)
        if skipped:
            notes.append(f"{skipped} of {n_bootstrap} bootstrap draws had nothing to compare")
    return AgreementResult(statistic=statistic, estimate=estimate, ci_low=low, ci_high=high,
                           n_items=n_items, std_error=error, n_bootstrap=int(n_bootstrap),
                           confidence=float(confidence), note="; ".join(notes),
                           interval=method)
