"""Which items should get one more vote: the expected gain in being right, per label spent.

For an item whose (honest) posterior is ``p``, one more vote from annotator ``a``
leaves the consensus right with probability ``sum_l max_k p_k C[a, k, l]`` (the
posterior after each possible answer ``l``, weighed by how likely that answer is);
the gain is that minus ``max_k p_k``, never negative. A vote from the pool averages
this over annotators by their share of the work; with named available annotators
each item gets the one with the largest gain. The items with the largest gains
take the budget, one label each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

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
    annotators: np.ndarray | None = None,
    annotator_ids: np.ndarray | None = None,
) -> NextPass:
    """Rank items by the expected gain of one more vote and take ``budget`` of them.

    Parameters
    ----------
    posteriors : ndarray (n_items, K)
        The reported (honest) posteriors, so gains are not shrunk by overconfidence.
    annotators : ndarray of int, optional
        Codes of the annotators available now; by default a vote comes from the pool.
    """
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise InputError(f"budget must be a whole number of labels >= 1, not {budget!r}")
    rows = np.arange(len(posteriors))
    now = posteriors[rows, label_codes]
    if annotators is None:
        order = np.argsort(-crowd.share, kind="stable")[:POOL_LIMIT]
        order = order[crowd.share[order] > 0]
        weights = crowd.share[order] / crowd.share[order].sum()
        after = expected_right_after(posteriors, crowd.confusion[order]) @ weights
        best = None
    else:
        per_annotator = expected_right_after(posteriors, crowd.confusion[annotators])
        pick = per_annotator.argmax(axis=1)
        after = per_annotator[rows, pick]
        best = annotators[pick]
    gain = np.maximum(after - posteriors.max(axis=1), 0.0)
    chosen = np.lexsort((rows, -gain))[:budget]
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
