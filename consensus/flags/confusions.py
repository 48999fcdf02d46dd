"""Guideline hints: the class pairs annotators confuse most, with who and where.

Expected confusions come from the fitted confusion matrices weighted by how much
each annotator labels: annotator ``a`` gives about ``n[a, k] * confusion[a, k, l]``
``l`` votes on items of true class ``k``, where ``n[a, k]`` is their expected
number of votes on such items. Summed over annotators, the largest off-diagonal
cells are what a lead brings to the guideline update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..models.em import confusion_statistics
from ..report.text import records
from ..wording import plural

if TYPE_CHECKING:
    from ..workflows.aggregation import AggregateResult

#: Annotators named per pair, and example items shown.
TOP_ANNOTATORS, EXAMPLES = 3, 3


@dataclass(frozen=True, eq=False)
class ConfusionReport:
    """The most confused class pairs, worst first.

    ``table`` columns: ``true, given, expected_votes`` (expected votes of ``given`` on
    items whose true class is ``true``), ``items`` (items with that consensus and at
    least one such vote), ``item_share`` (of the items with that consensus),
    ``top_annotators``, ``top_share`` (their share of ``expected_votes``), ``examples``.
    """

    table: pd.DataFrame
    n_annotators: int

    def summary(self) -> str:
        if self.table.empty:
            return "no confusions: every annotator agrees with the consensus"
        lines = ["most confused class pairs (true → given), from the fitted confusion matrices:"]
        for row in self.table.itertuples(index=False):
            named = row.top_annotators.count(",") + 1 if row.top_annotators else 0
            lines.append(
                f"  {row.true} → {row.given}: {plural(int(row.items), 'item')} "
                f"({row.item_share:.0%} of {row.true}), about {row.expected_votes:,.0f} votes, "
                f"{row.top_share:.0%} from {plural(named, 'annotator')} ({row.top_annotators}); "
                f"e.g. {row.examples}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"pairs": records(self.table)}


def confusion_pairs(result: AggregateResult, *, top: int = 10) -> ConfusionReport:
    """The ``top`` class pairs confused most across annotators; see the module docstring."""
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise InputError(f"top must be a whole number of pairs >= 1, not {top!r}")
    votes, model = result.votes, result.model
    k = votes.n_classes
    codes = result.label_codes
    stats = confusion_statistics(
        votes.item_annotator_label, np.ascontiguousarray(result.posteriors.T), k
    )
    expected = stats.sum(axis=2, keepdims=True) * model.confusion_  # (A, K, L)
    total = expected.sum(axis=0)
    np.fill_diagonal(total, 0.0)
    present = votes.label_counts > 0
    affected = np.stack([np.bincount(codes[present[:, g]], minlength=k) for g in range(k)],
                        axis=1)  # (true, given)
    per_class = np.bincount(codes, minlength=k)
    flat = np.argsort(-total, axis=None, kind="stable")
    flat = flat[total.ravel()[flat] > 0][:top]
    rows = []
    names = votes.classes.astype(str)
    confidence = result.posteriors[np.arange(votes.n_items), codes]
    for cell in flat:
        t, g = divmod(int(cell), k)
        share = expected[:, t, g]
        best = np.argsort(-share, kind="stable")[:TOP_ANNOTATORS]
        best = best[share[best] > 0]
        candidates = np.flatnonzero((codes == t) & present[:, g])
        order = np.lexsort((confidence[candidates], -votes.label_counts[candidates, g]))
        rows.append({
            "true": names[t],
            "given": names[g],
            "expected_votes": float(total[t, g]),
            "items": int(affected[t, g]),
            "item_share": float(affected[t, g] / max(per_class[t], 1)),
            "top_annotators": ", ".join(str(a) for a in votes.annotator_ids[best]),
            "top_share": float(share[best].sum() / total[t, g]),
            "examples": ", ".join(str(i) for i in votes.item_ids[candidates[order[:EXAMPLES]]]),
        })
    columns = ["true", "given", "expected_votes", "items", "item_share", "top_annotators",
               "top_share", "examples"]
    return ConfusionReport(pd.DataFrame(rows, columns=columns), votes.n_annotators)
