"""The arithmetic behind :mod:`consensus.agreement`: tables in, coefficients out.

Every coefficient here is a function of *weighted sums over items*,
``weights @ per_item_quantities``, with ``weights`` of shape (n_draws, n_items).
The point estimate is one row of ones; a bootstrap replicate is a row of item
multiplicities. One code path serves both, and a block of replicates costs one
matrix product instead of a Python loop over items or draws.

Building the table a statistic needs (``label_counts``, :func:`pair_tables`) is
kept apart from the statistic, as in ``statsmodels.stats.inter_rater``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..data.votes import VoteMatrix

#: Cells per block of bootstrap weights or pair sums (8 bytes each), whatever the data size.
BLOCK_CELLS = 2_000_000


def chance_corrected(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``(observed - expected) / (1 - expected)``, taken as 1 where expected agreement is 1.

    Expected agreement reaches 1 only when every vote in play is one class, and then
    observed agreement is 1 as well: 0/0. We return 1 there, the value the coefficient
    has for every other expected agreement once observed agreement is perfect, so
    unanimous data (or a bootstrap draw of it) reads as perfect agreement instead of
    NaN. Where the inputs are NaN (nothing to compare) the result stays NaN.
    """
    observed = np.asarray(observed, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (observed - expected) / (1.0 - expected)
    return np.where(expected >= 1.0, 1.0, value)


# ----------------------------------------------------------- count-table statistics
def _observed_agreement(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean over items with >= 2 votes of the share of agreeing vote pairs, shape (n_draws,).

    Each item counts once whatever its number of votes (Fleiss 1971; Gwet 2014, ch. 2).
    """
    n = counts.sum(axis=1)
    pairable = n >= 2
    pairs = np.where(pairable, n * (n - 1.0), 1.0)
    share = np.where(pairable, (counts * (counts - 1.0)).sum(axis=1) / pairs, 0.0)
    sums = weights @ np.column_stack([share, pairable.astype(np.float64)])
    with np.errstate(divide="ignore", invalid="ignore"):
        return sums[:, 0] / sums[:, 1]


def _class_shares(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean over items with a vote of each item's share of votes per class, (n_draws, K).

    Gwet's ``pi_k``: single-vote items count here (they say how common a class is)
    though they cannot count towards observed agreement.
    """
    n = counts.sum(axis=1)
    voted = n > 0
    shares = counts / np.where(voted, n, 1.0)[:, None]
    sums = weights @ np.column_stack([shares, voted.astype(np.float64)])
    with np.errstate(divide="ignore", invalid="ignore"):
        return sums[:, :-1] / sums[:, -1:]


def percent_agreement_from_counts(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Percent agreement of an (n_items, K) count table, per row of weights (n_draws, n_items)."""
    return _observed_agreement(counts, weights)


def fleiss_kappa_from_counts(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fleiss' kappa in Gwet's form for a varying number of votes per item.

    Chance agreement is ``sum_k pi_k**2`` with ``pi_k`` from :func:`_class_shares`.
    With the same number of votes on every item this is Fleiss (1971) exactly, and
    ``statsmodels.stats.inter_rater.fleiss_kappa``.
    """
    shares = _class_shares(counts, weights)
    return chance_corrected(_observed_agreement(counts, weights), (shares**2).sum(axis=1))


def gwet_ac1_from_counts(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Gwet's AC1: chance agreement ``sum_k pi_k (1 - pi_k) / (K - 1)`` (Gwet 2008, 2014).

    ``K`` is every class of the table, voted for or not, as in Gwet's ``q``. Chance
    agreement never exceeds 1/K, so AC1 needs no convention for unanimous data.
    """
    shares = _class_shares(counts, weights)
    expected = (shares * (1.0 - shares)).sum(axis=1) / (counts.shape[1] - 1)
    return chance_corrected(_observed_agreement(counts, weights), expected)


def krippendorff_alpha_from_counts(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Krippendorff's alpha, nominal, from the coincidences of an (n_items, K) count table.

    Items with fewer than two votes are not pairable and are left out (Krippendorff
    2011). Observed agreement is ``sum_u sum_c n_uc (n_uc - 1) / (m_u - 1) / n`` and
    expected agreement ``sum_c n_c (n_c - 1) / (n (n - 1))``, over pairable values.
    """
    n = counts.sum(axis=1)
    pairable = n >= 2
    kept = np.where(pairable[:, None], counts, 0.0)
    within = np.where(
        pairable, (kept * (kept - 1.0)).sum(axis=1) / np.where(pairable, n - 1.0, 1.0), 0.0
    )
    sums = weights @ np.column_stack([within, kept.sum(axis=1), kept])
    total = sums[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = sums[:, 0] / total
        expected = ((sums[:, 2:] ** 2).sum(axis=1) - total) / (total * (total - 1.0))
    return chance_corrected(observed, expected)


# ---------------------------------------------------------------- pairwise Cohen
def first_votes(votes: VoteMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One vote per (item, annotator), the first in vote order, sorted by item then annotator.

    Cohen's kappa compares two raters' labels of the same item, so a repeated vote
    has no place in its table; the first is kept, as ``duplicates="first"`` would.
    """
    key = votes.item_codes.astype(np.int64) * max(votes.n_annotators, 1) + votes.annotator_codes
    _, first = np.unique(key, return_index=True)
    return votes.item_codes[first], votes.annotator_codes[first], votes.label_codes[first]


@dataclass(frozen=True, eq=False)
class PairTables:
    """What each item adds to the Cohen tables of the annotator pairs that count.

    Attributes
    ----------
    first, second : ndarray of int, shape (n_pairs,)
        Annotator codes of each pair, ``first < second``.
    shared : ndarray of int, shape (n_pairs,)
        Items both annotators labelled.
    design : csr_matrix, shape (n_pairs * (1 + 2 * n_classes), n_items)
        For pair ``q`` the block of rows starting at ``q * (1 + 2K)`` holds: 1 where
        the two agree, then the first annotator's label one-hot (K rows), then the
        second's. ``design @ weights.T`` therefore gives, for every draw, each pair's
        agreements and both margins: all Cohen's kappa needs. Stored this way round
        because CSR times a dense block is about twice as fast as the transpose.
    n_classes : int
    """

    first: np.ndarray
    second: np.ndarray
    shared: np.ndarray
    design: sp.csr_matrix
    n_classes: int

    @property
    def n_pairs(self) -> int:
        return int(self.first.shape[0])

    @property
    def n_items(self) -> int:
        """Items shared by at least one pair that counts."""
        return int(np.unique(self.design.indices).shape[0])


def pair_tables(votes: VoteMatrix, min_shared_items: int) -> PairTables:
    """Tables of the annotator pairs sharing at least ``min_shared_items`` items.

    Pairs are enumerated per item from the sorted first votes (no loop over items or
    pairs), so the cost grows with the number of co-labelled (item, pair) cases, not
    with ``n_annotators ** 2``.
    """
    items, annotators, labels = first_votes(votes)
    k = votes.n_classes
    width = 1 + 2 * k
    ends = np.searchsorted(items, items, side="right")
    partners = ends - np.arange(items.shape[0]) - 1
    left = np.repeat(np.arange(items.shape[0]), partners)
    starts = np.repeat(np.cumsum(partners) - partners, partners)
    right = left + 1 + (np.arange(left.shape[0]) - starts)
    key = annotators[left].astype(np.int64) * votes.n_annotators + annotators[right]
    pair_keys, pair_of_case, shared = np.unique(key, return_inverse=True, return_counts=True)
    counted = shared >= min_shared_items
    index = np.cumsum(counted) - 1
    case = counted[pair_of_case]
    q = index[pair_of_case[case]].astype(np.int64) * width
    left, right = left[case], right[case]
    agree = labels[left] == labels[right]
    cells = np.concatenate([q[agree], q + 1 + labels[left], q + 1 + k + labels[right]])
    cases = np.concatenate([items[left][agree], items[left], items[right]])
    n_pairs = int(counted.sum())
    design = sp.csr_matrix(
        (np.ones(cells.shape[0]), (cells, cases)), shape=(n_pairs * width, votes.n_items)
    )
    kept = pair_keys[counted]
    return PairTables(
        first=kept // votes.n_annotators,
        second=kept % votes.n_annotators,
        shared=shared[counted],
        design=design,
        n_classes=k,
    )


def _pair_kappas(tables: PairTables, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's Cohen's kappa per draw (NaN where 0/0) and which were drawn; (b, n_pairs)."""
    k = tables.n_classes
    sums = np.asarray(tables.design @ weights.T).T.reshape(weights.shape[0], tables.n_pairs, -1)
    first, second = sums[..., 1 : 1 + k], sums[..., 1 + k :]
    n = first.sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = (first * second).sum(axis=2) / n**2
        kappa = (sums[..., 0] / n - expected) / (1.0 - expected)
    return np.where(expected < 1.0, kappa, np.nan), n > 0


def cohen_kappa_by_pair(tables: PairTables) -> np.ndarray:
    """Cohen's kappa of every pair on all its shared items, NaN where 0/0; (n_pairs,)."""
    return _pair_kappas(tables, np.ones((1, tables.design.shape[1])))[0][0]


def cohen_kappa_mean_from_pairs(tables: PairTables, weights: np.ndarray) -> np.ndarray:
    """Unweighted mean of the pairs' Cohen's kappas (Light 1971), shape (n_draws,).

    A pair whose kappa is 0/0 (both used one and the same class on every shared item)
    is left out of the mean rather than counted as 1 as :func:`chance_corrected` would:
    such pairs are common among small overlaps, and counting them as perfect raised
    the mean on real crowd data by up to 0.2, and further in bootstrap draws, where
    more pairs lose their one disagreement. Only when every drawn pair is like that
    is the mean 1. A pair none of whose shared items is drawn is left out of that
    draw; a draw with no pair left is NaN.
    """
    out = np.full(weights.shape[0], np.nan)
    if tables.n_pairs == 0:
        return out
    step = max(1, BLOCK_CELLS // (tables.n_pairs * (1 + 2 * tables.n_classes)))
    for start in range(0, weights.shape[0], step):
        kappa, drawn = _pair_kappas(tables, weights[start : start + step])
        defined = np.isfinite(kappa)
        used = defined.sum(axis=1)
        mean = np.where(defined, kappa, 0.0).sum(axis=1) / np.maximum(used, 1)
        fallback = np.where(drawn.any(axis=1), 1.0, np.nan)
        out[start : start + step] = np.where(used > 0, mean, fallback)
    return out


# -------------------------------------------------------------------- per annotator
def annotator_tables(votes: VoteMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Each annotator's votes against the other annotators' votes on the same items.

    Returns
    -------
    table : ndarray, shape (n_annotators, K, K)
        ``table[a, l, k]``: pairings of a vote ``l`` by ``a`` with a vote ``k`` by
        someone else on the same item. Every vote counts, repeats included; an
        annotator's own repeats are never compared with each other.
    n_items : ndarray of int, shape (n_annotators,)
        Distinct items each annotator labelled.
    """
    k, n_annotators = votes.n_classes, votes.n_annotators
    cells = votes.item_annotator_label.tocoo()
    item, annotator, label = cells.row, cells.col // k, cells.col % k
    count = cells.data
    group_keys, group = np.unique(
        item.astype(np.int64) * n_annotators + annotator, return_inverse=True
    )
    own = np.zeros((group_keys.shape[0], k))
    np.add.at(own, (group, label), count)
    others = votes.label_counts[item] - own[group]
    table = np.zeros((n_annotators, k, k))
    np.add.at(table, (annotator, label), count[:, None] * others)
    n_items = np.bincount(group_keys % n_annotators, minlength=n_annotators)
    return table, n_items


# ---------------------------------------------------------------------- bootstrap
def bootstrap_weights(n_items: int, n_bootstrap: int, seed: int | None) -> Iterator[np.ndarray]:
    """Blocks of item multiplicities, float64 (b, n_items), ``n_bootstrap`` rows in all.

    Each row counts ``n_items`` draws with replacement, i.e. one multinomial(n, 1/n)
    draw. Drawing indices and counting them is much faster than
    ``Generator.multinomial`` over thousands of categories, and consecutive blocks read
    one stream, so the block size never changes the draws.
    """
    rng = np.random.default_rng(seed)
    step = max(1, BLOCK_CELLS // max(n_items, 1))
    for start in range(0, n_bootstrap, step):
        b = min(step, n_bootstrap - start)
        draws = rng.integers(0, n_items, size=(b, n_items))
        draws += (np.arange(b) * n_items)[:, None]
        counts = np.bincount(draws.ravel(), minlength=b * n_items)
        yield counts.reshape(b, n_items).astype(np.float64)


def percentile_interval(
    replicates: np.ndarray, confidence: float
) -> tuple[float, float, float, int]:
    """Percentile interval and standard error of bootstrap replicates, NaN ones skipped.

    Returns ``(low, high, std_error, n_skipped)``; NaN bounds if under two replicates
    are usable.
    """
    usable = replicates[np.isfinite(replicates)]
    skipped = int(replicates.shape[0] - usable.shape[0])
    if usable.shape[0] < 2:
        return np.nan, np.nan, np.nan, skipped
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(usable, [tail, 1.0 - tail])
    return float(low), float(high), float(usable.std(ddof=1)), skipped
