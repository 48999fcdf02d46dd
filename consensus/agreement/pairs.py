"""Mean pairwise Cohen's kappa: the annotator pairs' tables, and the mean from their sums.

Each (item, annotator pair) that both annotators labelled is a *case*. A pair's
Cohen table needs only sums over its cases: agreements and both annotators' label
counts. As for the count-table statistics in :mod:`.statistics`, the estimate, a
bootstrap replicate and a jackknife value all finish such sums: plain counts,
``design @ weights.T``, or the counts less the one case an item adds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from ..data.votes import VoteMatrix
from .statistics import BLOCK_CELLS, item_annotator_runs

#: Draws per sparse product: a case's weights for 16 draws are two cache lines, read
#: almost as fast as one draw's, so each draw costs a third of what it costs alone.
PRODUCT_DRAWS = 16


def first_votes(votes: VoteMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One vote per (item, annotator), the first in vote order, sorted by item then annotator.

    Cohen's kappa compares two raters' labels of the same item, so a repeated vote
    has no place in its table; the first is kept, as ``duplicates="first"`` would.
    """
    order, starts = item_annotator_runs(votes)
    first = (
        order[starts] if starts.shape[0] == order.shape[0] else np.minimum.reduceat(order, starts)
    )
    return votes.item_codes[first], votes.annotator_codes[first], votes.label_codes[first]


@dataclass(frozen=True, eq=False)
class PairTables:
    """The cases of the annotator pairs that count, from which every Cohen table is summed.

    Attributes
    ----------
    first, second : ndarray of int, shape (n_pairs,)
        Annotator codes of each pair, ``first < second``, in that order.
    shared : ndarray of int, shape (n_pairs,)
        Items both annotators labelled.
    case_pair, case_item : ndarray of int, shape (n_cases,)
        Pair index and item of each case, sorted by item.
    case_first, case_second : ndarray of int, shape (n_cases,)
        The pair's first and second annotator's label on the item.
    n_classes : int
    n_columns : int
        Items of the votes (the width of bootstrap weights), whether shared or not.
    """

    first: np.ndarray
    second: np.ndarray
    shared: np.ndarray
    case_pair: np.ndarray
    case_item: np.ndarray
    case_first: np.ndarray
    case_second: np.ndarray
    n_classes: int
    n_columns: int

    @property
    def n_pairs(self) -> int:
        return int(self.first.shape[0])

    @property
    def width(self) -> int:
        """Sums per pair: agreements, then the first's label counts, then the second's."""
        return 1 + 2 * self.n_classes

    @property
    def n_items(self) -> int:
        """Items shared by at least one pair that counts."""
        items = self.case_item
        return int(items.shape[0] > 0) + int(np.count_nonzero(items[1:] != items[:-1]))

    def _cells(self) -> tuple[np.ndarray, np.ndarray]:
        """Per case, its sum cells ``pair * width + slot`` (agreement only if agreeing)."""
        k = self.n_classes
        q = self.case_pair.astype(np.int64) * self.width
        agree = self.case_first == self.case_second
        cells = np.concatenate([q[agree], q + 1 + self.case_first, q + 1 + k + self.case_second])
        items = np.concatenate([self.case_item[agree], self.case_item, self.case_item])
        return cells, items

    @cached_property
    def design(self) -> sp.csr_matrix:
        """``(n_pairs * width, n_columns)``: ``design @ weights.T`` sums every pair's table.

        Built only for the bootstrap. CSR times a dense block is about twice as fast as
        the transpose.
        """
        cells, items = self._cells()
        return sp.csr_matrix(
            (np.ones(cells.shape[0]), (cells, items)),
            shape=(self.n_pairs * self.width, self.n_columns),
        )

    @cached_property
    def sums(self) -> np.ndarray:
        """Every pair's table sums on all its shared items, exact counts, (n_pairs, width).

        Read-only: the estimate, the notes and the jackknife all start from it.
        """
        cells, _ = self._cells()
        counts = np.bincount(cells, minlength=self.n_pairs * self.width)
        sums = counts.reshape(self.n_pairs, self.width).astype(np.float64)
        sums.setflags(write=False)
        return sums


def _pair_index(key: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct keys in order, each case's index among them, and each key's count.

    A dense count over all ``n_keys`` possible pairs is far faster than sorting the
    keys; it is used while its size stays within a few times the number of cases.
    """
    if n_keys <= 4 * key.shape[0] + 2**20:
        counts = np.bincount(key, minlength=n_keys)
        present = np.flatnonzero(counts)
        index = np.zeros(n_keys, dtype=np.int64)
        index[present] = np.arange(present.shape[0])
        return present, index[key], counts[present]
    keys, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return keys, inverse, counts


def pair_tables(votes: VoteMatrix, min_shared_items: int) -> PairTables:
    """The cases of the annotator pairs sharing at least ``min_shared_items`` items.

    Pairs are enumerated per item from the sorted first votes (no loop over items or
    pairs), so the cost grows with the number of cases, not with ``n_annotators ** 2``.
    """
    items, annotators, labels = first_votes(votes)
    n = items.shape[0]
    run_starts = np.flatnonzero(np.diff(items, prepend=-1))
    run_lengths = np.diff(np.append(run_starts, n))
    ends = np.repeat(run_starts + run_lengths, run_lengths)
    partners = ends - np.arange(n) - 1
    left = np.repeat(np.arange(n), partners)
    starts = np.repeat(np.cumsum(partners) - partners, partners)
    right = left + 1 + (np.arange(left.shape[0]) - starts)
    a = max(votes.n_annotators, 1)
    key = annotators[left].astype(np.int64) * a + annotators[right]
    pair_keys, pair_of_case, shared = _pair_index(key, a * a)
    counted = shared >= min_shared_items
    index = np.cumsum(counted) - 1
    case = counted[pair_of_case]
    left, right = left[case], right[case]
    kept = pair_keys[counted]
    return PairTables(
        first=kept // a,
        second=kept % a,
        shared=shared[counted],
        case_pair=index[pair_of_case[case]].astype(np.int32 if kept.shape[0] < 2**31 else np.int64),
        case_item=items[left],
        case_first=labels[left],
        case_second=labels[right],
        n_classes=votes.n_classes,
        n_columns=votes.n_items,
    )


# ------------------------------------------------------------------- the statistic
def _pair_kappas(sums: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cohen's kappa (NaN where 0/0) and whether drawn, from table sums (..., 1 + 2K)."""
    first, second = sums[..., 1 : 1 + k], sums[..., 1 + k :]
    n = first.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = (first * second).sum(axis=-1) / n**2
        kappa = (sums[..., 0] / n - expected) / (1.0 - expected)
    return np.where(expected < 1.0, kappa, np.nan), n > 0


def _mean_of_kappas(kappa: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """Mean over pairs (last axis) of the defined kappas; 1 if none but some pair drawn."""
    defined = np.isfinite(kappa)
    used = defined.sum(axis=-1)
    mean = np.where(defined, kappa, 0.0).sum(axis=-1) / np.maximum(used, 1)
    fallback = np.where(drawn.any(axis=-1), 1.0, np.nan)
    return np.where(used > 0, mean, fallback)


def cohen_kappa_by_pair(tables: PairTables) -> np.ndarray:
    """Cohen's kappa of every pair on all its shared items, NaN where 0/0; (n_pairs,)."""
    return _pair_kappas(tables.sums, tables.n_classes)[0]


def cohen_kappa_mean_from_pairs(
    tables: PairTables, weights: np.ndarray | None = None
) -> np.ndarray:
    """Unweighted mean of the pairs' Cohen's kappas (Light 1971), shape (n_draws,).

    ``weights`` (n_draws, n_columns) are item multiplicities; None gives the estimate,
    from exact counts, shape (1,).

    A pair whose kappa is 0/0 (both used one and the same class on every shared item)
    is left out of the mean rather than counted as 1 as :func:`chance_corrected` would:
    such pairs are common among small overlaps, and counting them as perfect raised
    the mean on real crowd data by up to 0.2, and further in bootstrap draws, where
    more pairs lose their one disagreement. Only when every drawn pair is like that
    is the mean 1. A pair none of whose shared items is drawn is left out of that
    draw; a draw with no pair left is NaN.
    """
    k = tables.n_classes
    if weights is None:
        return _mean_of_kappas(*_pair_kappas(tables.sums[None], k))
    out = np.full(weights.shape[0], np.nan)
    if tables.n_pairs == 0:
        return out
    step = max(1, min(PRODUCT_DRAWS, 8 * BLOCK_CELLS // (tables.n_pairs * tables.width)))
    for start in range(0, weights.shape[0], step):
        block = weights[start : start + step]
        sums = np.asarray(tables.design @ block.T).T.reshape(block.shape[0], tables.n_pairs, -1)
        out[start : start + step] = _mean_of_kappas(*_pair_kappas(sums, k))
    return out


@dataclass(frozen=True, eq=False)
class CohenKappaMean:
    """The mean pairwise kappa of some tables, called as an :class:`.statistics.ItemSums` is.

    ``self(weights)`` gives one value per row of item multiplicities (the estimate for
    None) and ``leave_one_out()`` the values without each item in turn.
    """

    tables: PairTables

    def __call__(self, weights: np.ndarray | None = None) -> np.ndarray:
        return cohen_kappa_mean_from_pairs(self.tables, weights)

    def leave_one_out(self) -> Iterator[np.ndarray]:
        return cohen_leave_one_out(self.tables)


def cohen_leave_one_out(tables: PairTables) -> Iterator[np.ndarray]:
    """The mean pairwise kappa without each item in turn, item order, in blocks of items.

    Taking an item out changes only the tables of the pairs that share it, so each
    value is the full mean corrected by those few pairs' changes: the cost is one
    pass over the cases, whatever the number of items or pairs. A pair that loses
    its last shared item, or whose kappa becomes 0/0, leaves the mean, as it would
    from a bootstrap draw.
    """
    k, n_items = tables.n_classes, tables.n_columns
    if tables.n_pairs == 0:
        yield np.full(n_items, np.nan)
        return
    sums = tables.sums
    kappa, drawn = _pair_kappas(sums, k)
    defined = np.isfinite(kappa)
    counted = np.where(defined, kappa, 0.0)
    total = counted.sum()
    used, n_drawn = int(defined.sum()), int(drawn.sum())
    step = max(1, BLOCK_CELLS * n_items // max(tables.case_item.shape[0] * tables.width, 1))
    bounds = np.searchsorted(tables.case_item, np.arange(0, n_items + step, step))
    for block, start in enumerate(range(0, n_items, step)):
        cases = slice(bounds[block], bounds[block + 1])
        q = tables.case_pair[cases]
        rows = np.arange(q.shape[0])
        less = sums[q]
        less[:, 0] -= (tables.case_first[cases] == tables.case_second[cases]).astype(float)
        less[rows, 1 + tables.case_first[cases]] -= 1.0
        less[rows, 1 + k + tables.case_second[cases]] -= 1.0
        kappa_less, drawn_less = _pair_kappas(less, k)
        defined_less = np.isfinite(kappa_less)
        size = min(step, n_items - start)
        item = tables.case_item[cases] - start
        kept = used + _by_item(item, defined_less.astype(float) - defined[q], size)
        value = total + _by_item(item, np.where(defined_less, kappa_less, 0.0) - counted[q], size)
        left = n_drawn + _by_item(item, drawn_less.astype(float) - drawn[q], size)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = value / np.maximum(kept, 1.0)
        yield np.where(kept > 0, mean, np.where(left > 0, 1.0, np.nan))


def _by_item(item: np.ndarray, change: np.ndarray, size: int) -> np.ndarray:
    """Per-case changes summed per item of a block, (size,)."""
    return np.bincount(item, weights=change, minlength=size)
