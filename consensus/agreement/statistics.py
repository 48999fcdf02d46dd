"""The arithmetic behind :mod:`consensus.agreement`: tables in, coefficients out.

Every count-table coefficient here is a function of *column sums of a per-item table*,
built once as an :class:`ItemSums`: per-item columns (n_items, c) and ``finish``, which
turns sums (n_draws, c) into values (n_draws,). One code path serves every use:

- the point estimate finishes the plain sums (a row of ones times the columns);
- a bootstrap replicate finishes ``weights @ columns``, ``weights`` a row of item
  multiplicities, so a block of replicates is a matrix product;
- a jackknife value finishes the sums with one item taken out, ``total - row``.

Building the table a statistic needs (``label_counts``, :func:`.pairs.pair_tables`)
is kept apart from the statistic, as in ``statsmodels.stats.inter_rater``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..data.votes import VoteMatrix

#: Cells per block of bootstrap weights, leave-one-out sums or pair sums (8 bytes each).
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


@dataclass(frozen=True, eq=False)
class ItemSums:
    """A coefficient that is a function of the column sums of a per-item table.

    Attributes
    ----------
    parts : tuple of ndarray of float64, each (n_items, c_j)
        What each item adds to the sums, in one or more blocks of columns, each
        summed by its own product (so that every coefficient adds its sums in the same
        order as when it was a separate product, and estimates stay bit for bit);
        zero rows for items that do not take part.
    finish : callable
        Sums of shape (n_draws, sum c_j), the parts side by side, to values (n_draws,).
    """

    parts: tuple[np.ndarray, ...]
    finish: Callable[[np.ndarray], np.ndarray]

    @property
    def n_items(self) -> int:
        return int(self.parts[0].shape[0])

    def __call__(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Values for a block of weights (n_draws, n_items); the estimate, (1,), for None."""
        if weights is None:
            weights = np.ones((1, self.n_items))
        return self.finish(np.hstack([weights @ part for part in self.parts]))

    def leave_one_out(self) -> Iterator[np.ndarray]:
        """The coefficient without each item in turn, item order, in blocks of items."""
        ones = np.ones((1, self.n_items))
        total = np.hstack([ones @ part for part in self.parts])  # the estimate's sums
        step = max(1, BLOCK_CELLS // total.shape[1])
        for start in range(0, self.n_items, step):
            rows = np.hstack([part[start : start + step] for part in self.parts])
            yield self.finish(total - rows)


def joint_values(
    many: list[ItemSums], counts: np.ndarray
) -> Callable[[np.ndarray], list[np.ndarray]]:
    """Several count-table coefficients from one small product per block of weights.

    Every column of a count-table coefficient is a function of the item's row of
    ``counts`` (n_items, K), and crowd data has few distinct rows (four with three
    votes and two classes). So a block of weights is first summed per distinct row,
    one ``bincount`` per draw, then multiplied by the distinct rows' columns of all
    the coefficients side by side. Reading the weights once beats a product per
    coefficient with (n_items, c) columns, whose re-reading dominated at a million
    items. Returns ``weights (n_draws, n_items) -> [values (n_draws,), ...]``.
    """
    types, first = count_types(counts)
    columns = np.hstack([part[first] for one in many for part in one.parts])
    edges = np.cumsum([0] + [sum(part.shape[1] for part in one.parts) for one in many])

    def values(weights: np.ndarray) -> list[np.ndarray]:
        per_type = [np.bincount(types, weights=row, minlength=first.shape[0]) for row in weights]
        sums = np.vstack(per_type) @ columns
        return [one.finish(sums[:, edges[j] : edges[j + 1]]) for j, one in enumerate(many)]

    return values


def count_types(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each item's index among the distinct rows of ``counts``, and an item of each row.

    Returns ``(types, first)``, shapes (n_items,) and (n_types,). The rows are whole
    numbers, so each is read as one integer in base ``max + 1`` when that fits.
    """
    base = float(counts.max(initial=0.0)) + 1.0
    if base ** counts.shape[1] < 2.0**53:
        key = counts @ (base ** np.arange(counts.shape[1]))
    else:
        row = np.dtype((np.void, counts.dtype.itemsize * counts.shape[1]))
        key = np.ascontiguousarray(counts).view(row).ravel()
    _, first, types = np.unique(key, return_index=True, return_inverse=True)
    return types.ravel(), first


# ----------------------------------------------------------- count-table statistics
def _agreement_columns(counts: np.ndarray) -> list[np.ndarray]:
    """Each item's share of agreeing vote pairs (0 below two votes), and whether it has two.

    Each item counts once whatever its number of votes (Fleiss 1971; Gwet 2014, ch. 2).
    """
    n = counts.sum(axis=1)
    pairable = n >= 2
    pairs = np.where(pairable, n * (n - 1.0), 1.0)
    share = np.where(pairable, (counts * (counts - 1.0)).sum(axis=1) / pairs, 0.0)
    return [share, pairable.astype(np.float64)]


def _share_columns(counts: np.ndarray) -> list[np.ndarray]:
    """Each item's share of votes per class (K columns), and whether it has a vote.

    Their means are Gwet's ``pi_k``: single-vote items count here (they say how
    common a class is) though they cannot count towards observed agreement.
    """
    n = counts.sum(axis=1)
    voted = n > 0
    shares = counts / np.where(voted, n, 1.0)[:, None]
    return [shares, voted.astype(np.float64)]


def _observed_and_shares(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The columns of observed agreement (2) and of Gwet's class shares (K + 1)."""
    return np.column_stack(_agreement_columns(counts)), np.column_stack(_share_columns(counts))


def _observed(sums: np.ndarray) -> np.ndarray:
    """Mean over items with >= 2 votes of the share of agreeing pairs, from columns 0-1."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return sums[:, 0] / sums[:, 1]


def _class_shares(sums: np.ndarray, k: int) -> np.ndarray:
    """Gwet's ``pi_k``, (n_draws, K), from columns 2..2+K (shares) and 2+K (voted)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return sums[:, 2 : 2 + k] / sums[:, 2 + k : 3 + k]


def _fleiss_finish(sums: np.ndarray, k: int) -> np.ndarray:
    shares = _class_shares(sums, k)
    return chance_corrected(_observed(sums), (shares**2).sum(axis=1))


def _ac1_finish(sums: np.ndarray, k: int) -> np.ndarray:
    shares = _class_shares(sums, k)
    return chance_corrected(_observed(sums), (shares * (1.0 - shares)).sum(axis=1) / (k - 1))


def _krippendorff_finish(sums: np.ndarray) -> np.ndarray:
    total = sums[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = sums[:, 0] / total
        expected = ((sums[:, 2:] ** 2).sum(axis=1) - total) / (total * (total - 1.0))
    return chance_corrected(observed, expected)


def percent_agreement_sums(counts: np.ndarray) -> ItemSums:
    """Percent agreement of an (n_items, K) count table: mean share of agreeing vote pairs."""
    return ItemSums((np.column_stack(_agreement_columns(counts)),), _observed)


def fleiss_kappa_sums(counts: np.ndarray) -> ItemSums:
    """Fleiss' kappa in Gwet's form for a varying number of votes per item.

    Chance agreement is ``sum_k pi_k**2`` with ``pi_k`` the mean over items of each
    item's share of votes for class k. With the same number of votes on every item
    this is Fleiss (1971) exactly, and ``statsmodels.stats.inter_rater.fleiss_kappa``.
    """
    return ItemSums(_observed_and_shares(counts), partial(_fleiss_finish, k=counts.shape[1]))


def gwet_ac1_sums(counts: np.ndarray) -> ItemSums:
    """Gwet's AC1: chance agreement ``sum_k pi_k (1 - pi_k) / (K - 1)`` (Gwet 2008, 2014).

    ``K`` is every class of the table, voted for or not, as in Gwet's ``q``. Chance
    agreement never exceeds 1/K, so AC1 needs no convention for unanimous data.
    """
    return ItemSums(_observed_and_shares(counts), partial(_ac1_finish, k=counts.shape[1]))


def krippendorff_alpha_sums(counts: np.ndarray) -> ItemSums:
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
    return ItemSums((np.column_stack([within, kept.sum(axis=1), kept]),), _krippendorff_finish)


def percent_agreement_from_counts(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Percent agreement per row of weights (n_draws, n_items); see the ``_sums`` builder."""
    return percent_agreement_sums(counts)(weights)


def fleiss_kappa_from_counts(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fleiss' kappa per row of weights (n_draws, n_items); see :func:`fleiss_kappa_sums`."""
    return fleiss_kappa_sums(counts)(weights)


def gwet_ac1_from_counts(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Gwet's AC1 per row of weights (n_draws, n_items); see :func:`gwet_ac1_sums`."""
    return gwet_ac1_sums(counts)(weights)


def krippendorff_alpha_from_counts(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Krippendorff's alpha per row of weights; see :func:`krippendorff_alpha_sums`."""
    return krippendorff_alpha_sums(counts)(weights)


# -------------------------------------------------------------------- per annotator
def item_annotator_runs(votes: VoteMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Votes ordered by item, then annotator, and where each (item, annotator) run starts.

    Returns ``(order, starts)``: ``order`` (n_votes,) sorts the votes by (item,
    annotator), in no particular order within a run of repeated votes; ``starts``
    (n_runs,) indexes ``order`` at each run's start. An unstable sort is about three
    times faster than a stable one on millions of keys; who needs the first of
    repeated votes takes the smallest vote index of its run.
    """
    key = votes.item_codes.astype(np.int64) * max(votes.n_annotators, 1) + votes.annotator_codes
    order = np.argsort(key)
    ordered = key[order]
    new = np.empty(ordered.shape[0], dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    return order, np.flatnonzero(new)


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
    size = n_annotators * k
    cell = votes.annotator_codes.astype(np.int64) * k + votes.label_codes
    # All votes on the item, own ones included, then the own ones taken out.
    table = np.column_stack(
        [
            np.bincount(cell, weights=votes.label_counts[:, c][votes.item_codes], minlength=size)
            for c in range(k)
        ]
    )
    order, starts = item_annotator_runs(votes)
    if starts.shape[0] == order.shape[0]:  # no repeats: a vote's own votes are itself
        table[np.arange(size), np.arange(size) % k] -= np.bincount(cell, minlength=size)
        return table.reshape(n_annotators, k, k), votes.votes_per_annotator.copy()
    # A run of an annotator's votes on one item, with label counts own, compares
    # none of them with each other: own[l] * own[c] pairings of (l, c) come off.
    lengths = np.diff(np.append(starts, order.shape[0]))
    run = np.repeat(np.arange(starts.shape[0]), lengths)
    cells = run * k + votes.label_codes[order]
    own = np.bincount(cells, minlength=starts.shape[0] * k).reshape(-1, k)
    annotator = votes.annotator_codes[order[starts]]
    for c in range(k):
        for label in range(k):
            table[label::k, c] -= np.bincount(
                annotator, weights=own[:, label] * own[:, c], minlength=n_annotators
            )
    return table.reshape(n_annotators, k, k), np.bincount(annotator, minlength=n_annotators)
