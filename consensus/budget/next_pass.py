"""Which items should get one more vote: the expected gain in being right, per label spent.

For an item whose (honest) posterior is ``p``, one more vote from annotator ``a``
leaves the consensus right with probability ``sum_l max_k p_k C[a, k, l]`` (the
posterior after each possible answer ``l``, weighed by how likely that answer is);
the gain is that minus ``max_k p_k``, never negative. A vote from the pool averages
this over annotators by their share of the work. When it is known who can answer
(named available annotators, minus those who already labelled the item; or a
queue's assignments) each item gets the available annotator with the largest gain,
so an item only a spammer could answer ranks low however uncertain it is: that is
where this beats picking the least confident items. The items with the largest gains
take the budget, one label each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import InputError
from ..report.text import records, text_table
from ..wording import plural
from .crowd import Crowd

#: A vote from the pool is averaged over at most this many of the busiest annotators
#: (renormalised): beyond them the work share left is negligible and the cost is not.
POOL_LIMIT = 300
#: Items x annotators x classes x labels computed at once.
CHUNK_CELLS = 20_000_000


def expected_right_after(posteriors: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """(n, A): P(consensus right after one more vote from each annotator), for each item."""
    n, k = posteriors.shape
    a, _, l_ = confusion.shape
    out = np.empty((n, a))
    step = max(1, CHUNK_CELLS // max(a * k * l_, 1))
    for start in range(0, n, step):
        p = posteriors[start:start + step]
        joint = p[:, None, :, None] * confusion[None]  # (n, A, K, L)
        out[start:start + step] = joint.max(axis=2).sum(axis=2)
    return out


def pool_expected_right_after(posteriors: np.ndarray, confusion: np.ndarray,
                              weight: np.ndarray) -> np.ndarray:
    """(n,): ``expected_right_after(posteriors, confusion) @ weight``, never holding the
    (n, A) table: by chunks of items, or at once for two classes (below)."""
    n, k = posteriors.shape
    if k == 2:
        return _two_class_pool(posteriors[:, 1], confusion, weight)
    out = np.empty(n)
    a, _, l_ = confusion.shape
    step = max(1, CHUNK_CELLS // max(a * k * l_, 1))
    for start in range(0, n, step):
        out[start:start + step] = expected_right_after(posteriors[start:start + step],
                                                       confusion) @ weight
    return out


def _two_class_pool(p: np.ndarray, confusion: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """With two classes each (annotator, answer) term ``w max((1 - p) c0, p c1)`` is
    ``w (1 - p) c0`` below ``t = c0 / (c0 + c1)`` and ``w p c1`` from it on: the sum
    over terms is two prefix sums over the terms sorted by ``t``, found per item by
    binary search: O((n + A L) log(A L)) instead of n A L."""
    c0 = (confusion[:, 0, :] * weight[:, None]).ravel()
    c1 = (confusion[:, 1, :] * weight[:, None]).ravel()
    used = (c0 + c1) > 0
    c0, c1 = c0[used], c1[used]
    t = c0 / (c0 + c1)
    order = np.argsort(t, kind="stable")
    t, c0, c1 = t[order], c0[order], c1[order]
    below0 = np.concatenate([[0.0], np.cumsum(c0)])  # sums over the terms with t <= p
    below1 = np.concatenate([[0.0], np.cumsum(c1)])
    j = np.searchsorted(t, p, side="right")
    return (1.0 - p) * (below0[-1] - below0[j]) + p * below1[j]


def right_after_pairs(posteriors: np.ndarray, confusion: np.ndarray, items: np.ndarray,
                      annotators: np.ndarray) -> np.ndarray:
    """P(consensus right after one more vote) for each (item, annotator) pair."""
    k, n_labels = confusion.shape[1], confusion.shape[2]
    after = np.empty(len(items))
    step = max(1, CHUNK_CELLS // max(k * n_labels, 1))
    for start in range(0, len(items), step):
        i, a = items[start:start + step], annotators[start:start + step]
        joint = posteriors[i][:, :, None] * confusion[a]  # (pairs, K, L)
        after[start:start + step] = joint.max(axis=1).sum(axis=1)
    return after


def best_available(posteriors: np.ndarray, confusion: np.ndarray,
                   available: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """Per item, P(right after one more vote) from its best available annotator, and who.

    ``available`` (n_items, A) marks who can answer which item; an item nobody can
    answer keeps its current chance (``posteriors.max``) and annotator -1.
    """
    pairs = sp.coo_matrix(available)
    items, annotators = pairs.row.astype(np.int64), pairs.col.astype(np.int64)
    after = right_after_pairs(posteriors, confusion, items, annotators)
    best_after = posteriors.max(axis=1).copy()
    best = np.full(len(posteriors), -1, dtype=np.int64)
    order = np.lexsort((annotators, -after, items))  # per item, its best pair first
    first = order[np.r_[True, items[order][1:] != items[order][:-1]]] if len(order) else order
    best_after[items[first]] = np.maximum(after[first], best_after[items[first]])
    best[items[first]] = annotators[first]
    return best_after, best


def pool_right_after(posteriors: np.ndarray, crowd: Crowd,
                     voted: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """P(right after one more vote from the pool), the pool drawn by share of the work
    from the busiest POOL_LIMIT annotators, less those who already labelled the item."""
    order = np.argsort(-crowd.share, kind="stable")[:POOL_LIMIT]
    order = order[crowd.share[order] > 0]
    weight = np.zeros(crowd.n_annotators)
    weight[order] = crowd.share[order] / crowd.share[order].sum()
    after = pool_expected_right_after(posteriors, crowd.confusion[order], weight[order])
    if voted is None:
        return after
    items, annotators = (np.asarray(codes, dtype=np.int64) for codes in voted)
    pairs = np.unique(items * crowd.n_annotators + annotators)  # a repeated vote once
    items, annotators = pairs // crowd.n_annotators, pairs % crowd.n_annotators
    keep = weight[annotators] > 0
    items, annotators = items[keep], annotators[keep]
    gone = np.bincount(items, weight[annotators], minlength=len(posteriors))
    value = np.bincount(items, weight[annotators] * right_after_pairs(
        posteriors, crowd.confusion, items, annotators), minlength=len(posteriors))
    left = 1.0 - gone
    return np.where(left > 1e-9, (after - value) / np.maximum(left, 1e-9),
                    posteriors.max(axis=1))


@dataclass(frozen=True, eq=False)
class NextPass:
    """The items to send for one more vote, best first.

    ``table``: ``rank, item, current_label, confidence, expected_gain`` and, when
    annotators were named, ``suggested_annotator``. ``accuracy_before`` and
    ``accuracy_after`` are the expected share of right consensus labels over all items.
    """

    table: pd.DataFrame
    budget: int
    n_items: int
    accuracy_before: float
    accuracy_after: float

    def summary(self, max_rows: int | None = 15) -> str:
        lines = [
            f"{plural(len(self.table), 'item')} get one more vote (budget "
            f"{plural(self.budget, 'label')}): expected accuracy over all {self.n_items:,} "
            f"items {self.accuracy_before:.2%} → {self.accuracy_after:.2%}",
            text_table(self.table, max_rows, "the -o file"),
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"budget": self.budget, "n_items": self.n_items,
                "accuracy_before": self.accuracy_before, "accuracy_after": self.accuracy_after,
                "items": records(self.table)}


def plan_next_pass(
    crowd: Crowd,
    posteriors: np.ndarray,
    label_codes: np.ndarray,
    item_ids: np.ndarray,
    classes: np.ndarray,
    budget: int,
    *,
    available: sp.spmatrix | None = None,
    annotator_ids: np.ndarray | None = None,
    voted: tuple[np.ndarray, np.ndarray] | None = None,
) -> NextPass:
    """Rank items by the expected gain of one more vote and take ``budget`` of them.

    Parameters
    ----------
    posteriors : ndarray (n_items, K)
        The reported (honest) posteriors, so gains are not shrunk by overconfidence.
    available : sparse matrix (n_items, A), optional
        Who can answer which item now (nonzero = can), for example the named
        annotators who have not labelled the item yet
        (:func:`available_annotators`); by default a vote comes from the pool.
    voted : (item codes, annotator codes), optional
        The votes cast so far (item codes index ``posteriors``): the pool's next vote on
        an item comes from someone who has not labelled it.
    """
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise InputError(f"budget must be a whole number of labels >= 1, not {budget!r}")
    rows = np.arange(len(posteriors))
    now = posteriors[rows, label_codes]
    if available is None:
        after, best = pool_right_after(posteriors, crowd, voted), None
    else:
        after, best = best_available(posteriors, crowd.confusion, available)
    gain = np.maximum(after - posteriors.max(axis=1), 0.0)
    chosen = np.lexsort((rows, -gain))[:budget]
    if best is not None:  # nobody can answer the rest
        chosen = chosen[best[chosen] >= 0]
    table = pd.DataFrame({
        "rank": np.arange(1, len(chosen) + 1),
        "item": item_ids[chosen],
        "current_label": classes[label_codes[chosen]],
        "confidence": now[chosen],
        "expected_gain": gain[chosen],
    })
    if best is not None and annotator_ids is not None:
        table["suggested_annotator"] = annotator_ids[best[chosen]]
    before = float(now.mean())
    return NextPass(table, int(budget), len(posteriors), before,
                    before + float(gain[chosen].sum()) / max(len(posteriors), 1))


def available_annotators(item_codes: np.ndarray, annotator_codes: np.ndarray, n_items: int,
                         n_annotators: int, named: np.ndarray) -> sp.csr_matrix:
    """(n_items, A): the ``named`` annotators (codes) on every item they have not labelled.

    ``item_codes``/``annotator_codes`` are the votes cast so far: a second label from
    the same person is not an independent look.
    """
    named = np.unique(np.asarray(named, dtype=np.int64))
    position = np.full(n_annotators, -1, dtype=np.int64)
    position[named] = np.arange(len(named))
    m = len(named)
    taken = np.zeros(n_items * m, dtype=bool)
    cast = position[annotator_codes] >= 0
    taken[np.asarray(item_codes, dtype=np.int64)[cast] * m + position[annotator_codes[cast]]] = True
    free = np.flatnonzero(~taken)
    return sp.csr_matrix((np.ones(len(free), dtype=np.int8), (free // m, named[free % m])),
                         shape=(n_items, n_annotators))
