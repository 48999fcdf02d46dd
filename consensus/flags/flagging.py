"""Flag items and votes a reviewer should look at, ranked by how likely they are wrong.

Every flag is read off ``aggregate``'s fitted model and its reported (honest)
confidence; nothing is refitted per item. A row is a candidate only when its
flag holds (below); the ``top`` items by their most suspicious row are kept,
so ``top`` caps the queue and never stretches it to everything.

- ``likely_error`` (a vote): the probability that the vote's label is not the
  true class is at least :data:`MIN_ERROR`.
- ``likely_mislabeled`` (an item): the consensus is wrong with probability at
  least :data:`MIN_MISLABELED`.
- ``ambiguous``: the runner-up class holds at least :data:`AMBIGUOUS_SHARE` of
  the posterior *and* reliable annotators disagree: often the guideline's fault.
- ``low_coverage``: one vote, or no vote from a reliable annotator (at least
  ``MIN_VOTES_TO_RANK`` votes and an accuracy interval above chance).
- ``gold_conflict``: on a gold item, the consensus fitted without that item's
  gold (cross-validation) disagrees with it; scored by that held-out posterior.
- ``model_disagrees``: a model's prediction, at least :data:`CONFIDENT_MODEL`
  sure, differs from the consensus.

Scores are probabilities from the same honest posteriors for every class, so a
rare class is flagged where its items are in doubt, not because it is rare; the
report shows each class's share of items beside its share of flags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..report.tables import MIN_VOTES_TO_RANK
from ..report.text import records, text_table
from ..wording import plural
from .evidence import reliable_voters, split_classes, vote_error_probability, votes_text

if TYPE_CHECKING:
    from ..workflows.aggregation import AggregateResult

#: Flag names, in the order reasons are listed.
FLAGS = ("likely_error", "likely_mislabeled", "ambiguous", "low_coverage", "gold_conflict",
         "model_disagrees")

MIN_ERROR = 0.5
MIN_MISLABELED = 0.3
AMBIGUOUS_SHARE = 0.25
CONFIDENT_MODEL = 0.8
#: Scores above this are all "near certain" when ranking: their differences come from the
#: priors and confusion asymmetries, not from doubt, so ties are shared out among classes
#: in proportion to their items (see :func:`selection_order`).
NEAR_CERTAIN = 0.99
#: Classes holding at least this much of an ambiguous item's posterior are named in ``split``.
SPLIT_SHARE = 0.2
DEFAULT_TOP = 0.05

COLUMNS = ["item", "annotator", "label", "consensus", "confidence", "score", "reasons",
           "votes", "split"]


@dataclass(frozen=True, eq=False)
class FlagReport:
    """Flagged items and votes, most suspicious item first, and how flags fall on classes.

    Attributes
    ----------
    table : DataFrame
        One row per flagged item or vote: ``item, annotator`` (empty for item flags),
        ``label`` (the vote's, or the consensus), ``consensus, confidence, score``
        (probability that the label is wrong), ``reasons`` (``;``-separated), ``votes``
        (``cat×2 dog×1``), ``split`` (classes an ambiguous item is split between) and,
        with predictions, ``model_prediction``.
    per_class : DataFrame
        ``class, items, item_share, flagged_items, flag_share, flag_rate``.
    n_items, n_candidates : int
        Items in the votes; items with at least one flag before the ``top`` cut.
    top : float
        The cut as given (a fraction of the items below 1, else a count).
    reason_counts : dict
        Flagged rows per reason, after the cut.
    """

    table: pd.DataFrame
    per_class: pd.DataFrame
    n_items: int
    n_candidates: int
    top: float
    reason_counts: dict[str, int]

    @property
    def n_flagged_items(self) -> int:
        return int(self.table["item"].nunique())

    def summary(self, max_rows: int | None = 20) -> str:
        kept = self.n_flagged_items
        cut = (f"the top {100 * self.top:g}% of items" if self.top < 1
               else f"at most {int(self.top):,} items")
        lines = [
            f"{plural(kept, 'item')} flagged of {self.n_items:,} ({cut}; "
            f"{plural(self.n_candidates, 'item')} had a flag"
            + ("" if self.n_candidates > kept else ", all shown") + ")",
            "flags: " + ", ".join(f"{name} {n:,}" for name, n in self.reason_counts.items() if n),
            "per class (consensus): share of items, share of flagged items, flag rate",
        ]
        shares = self.per_class
        for name, items, flags, rate in zip(shares["class"], shares["item_share"],
                                            shares["flag_share"], shares["flag_rate"],
                                            strict=True):
            lines.append(f"  {name!s:<12} {items:6.1%} {flags:6.1%} {rate:6.1%}")
        shown = self.table[["item", "annotator", "label", "consensus", "confidence", "score",
                            "reasons", "votes"]]
        lines.append(text_table(shown, max_rows, "the -o file"))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_items": self.n_items,
            "n_candidates": self.n_candidates,
            "n_flagged_items": self.n_flagged_items,
            "top": self.top,
            "reason_counts": self.reason_counts,
            "per_class": records(self.per_class),
            "flags": records(self.table),
        }


def item_doubt(result: AggregateResult) -> np.ndarray:
    """P(the consensus label is wrong) per item (n_items,): one minus its reported
    confidence; on gold items, the cross-validated posterior's doubt about the gold."""
    rows = np.arange(result.votes.n_items)
    doubt = 1.0 - result.posteriors[rows, result.label_codes]
    if result.held_out is not None:
        held = result.held_out
        doubt[held.item_codes] = 1.0 - held.posteriors[np.arange(len(held.truth)), held.truth]
    return doubt


def n_to_keep(top: float, n_items: int) -> int:
    """Items kept: a fraction of the items below 1, else a count; an InputError otherwise."""
    if isinstance(top, bool) or not isinstance(top, (int, float)) or not top > 0 or (
            top >= 1 and top != int(top)) or math.isnan(top):
        raise InputError(f"top must be a fraction in (0, 1) or a whole number of items, "
                         f"not {top!r}")
    return int(top) if top >= 1 else max(1, int(math.ceil(top * n_items)))


def flag_items(result: AggregateResult, *, top: float = DEFAULT_TOP) -> FlagReport:
    """Flag items and votes of a fitted ``aggregate`` result; see the module docstring."""
    keep_n = n_to_keep(top, result.votes.n_items)
    votes, posteriors = result.votes, result.posteriors
    codes = result.label_codes
    rows = np.arange(votes.n_items)
    confidence = posteriors[rows, codes]
    wrong = 1.0 - confidence
    crowd = np.ones(votes.n_votes, dtype=bool)
    annotators = result.annotators
    reliable = ((annotators["n_votes"].to_numpy() >= MIN_VOTES_TO_RANK)
                & (annotators["ci_low"].to_numpy() > 1.0 / votes.n_classes))
    if result.model_annotator is not None:
        model_code = votes.n_annotators - 1
        crowd = votes.annotator_codes != model_code
        reliable[model_code] = False
    crowd_votes = votes.take_votes(crowd)
    n_reliable, n_reliable_labels = reliable_voters(crowd_votes, reliable)
    second = np.sort(posteriors, axis=1)[:, -2]

    item_flags = {
        "likely_mislabeled": wrong >= MIN_MISLABELED,
        "ambiguous": (second >= AMBIGUOUS_SHARE) & (n_reliable_labels >= 2),
        "low_coverage": (crowd_votes.votes_per_item <= 1) | (n_reliable == 0),
    }
    item_score = wrong.copy()
    if result.held_out is not None:
        held = result.held_out
        conflict = np.zeros(votes.n_items, dtype=bool)
        conflict[held.item_codes] = ~held.correct
        doubt = np.zeros(votes.n_items)
        doubt[held.item_codes] = 1.0 - held.posteriors[np.arange(len(held.truth)), held.truth]
        item_flags["gold_conflict"] = conflict
        item_score = np.where(conflict, np.maximum(item_score, doubt), item_score)
    model_label = None
    if result.predictions is not None:
        model_label = result.predictions.label_codes
        sure = np.nan_to_num(result.predictions.confidence, nan=0.0) >= CONFIDENT_MODEL
        item_flags["model_disagrees"] = sure & (model_label >= 0) & (model_label != codes)

    any_item_flag = np.logical_or.reduce(list(item_flags.values()))
    error = vote_error_probability(posteriors, votes) if votes.n_votes else np.zeros(0)
    vote_flag = crowd & (error >= MIN_ERROR)

    # the item's priority is its most suspicious row; keep the top items
    priority = np.where(any_item_flag, item_score, -1.0)
    np.maximum.at(priority, votes.item_codes[vote_flag], error[vote_flag])
    candidates = np.flatnonzero(priority >= 0)
    order = selection_order(candidates, priority, codes)
    chosen = np.zeros(votes.n_items, dtype=bool)
    chosen[order[:keep_n]] = True
    rank = np.empty(votes.n_items, dtype=np.int64)
    rank[order] = np.arange(len(order))

    evidence = votes_text(crowd_votes)
    split = split_classes(posteriors, votes.classes, SPLIT_SHARE)
    item_rows = np.flatnonzero(chosen & any_item_flag)
    reasons = pd.Series("", index=range(votes.n_items), dtype=object)
    for name in FLAGS:
        if name in item_flags:
            hit = item_flags[name]
            reasons = reasons.where(~hit, reasons.where(reasons == "", reasons + ";") + name)
    item_table = pd.DataFrame({
        "item": votes.item_ids[item_rows],
        "annotator": "",
        "label": votes.classes[codes[item_rows]],
        "consensus": votes.classes[codes[item_rows]],
        "confidence": confidence[item_rows],
        "score": item_score[item_rows],
        "reasons": reasons.to_numpy()[item_rows],
        "votes": evidence.to_numpy()[item_rows],
        "split": np.where(item_flags["ambiguous"][item_rows], split.to_numpy()[item_rows], ""),
        "_rank": rank[item_rows],
        "_within": -1.0,
    })
    vote_rows = np.flatnonzero(vote_flag & chosen[votes.item_codes])
    vote_items = votes.item_codes[vote_rows]
    vote_table = pd.DataFrame({
        "item": votes.item_ids[vote_items],
        "annotator": votes.annotator_ids[votes.annotator_codes[vote_rows]],
        "label": votes.classes[votes.label_codes[vote_rows]],
        "consensus": votes.classes[codes[vote_items]],
        "confidence": confidence[vote_items],
        "score": error[vote_rows],
        "reasons": "likely_error",
        "votes": evidence.to_numpy()[vote_items],
        "split": "",
        "_rank": rank[vote_items],
        "_within": -error[vote_rows],
    })
    table = pd.concat([item_table, vote_table], ignore_index=True)
    if model_label is not None:
        item_codes_of = np.concatenate([item_rows, vote_items])
        predicted = model_label[item_codes_of]
        names = votes.classes.astype(str)
        table["model_prediction"] = np.where(predicted >= 0, names[np.maximum(predicted, 0)], "")
    table = table.sort_values(["_rank", "_within"], kind="stable").drop(columns=["_rank",
                                                                                 "_within"])
    table = table.reset_index(drop=True)
    counts = {name: int(table["reasons"].str.contains(rf"(?:^|;){name}(?:;|$)").sum())
              for name in FLAGS}
    return FlagReport(table, class_shares(codes, chosen, votes.classes), votes.n_items,
                      len(candidates), float(top), counts)


def selection_order(candidates: np.ndarray, priority: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Candidate items, most suspicious first, near-certain ones shared out among classes.

    Items are ordered by priority capped at :data:`NEAR_CERTAIN`; within a tie the item
    that is further down its own class's list (its rank among the class's candidates,
    divided by the class's items) goes later, so among near-certain errors every class
    gets flags in proportion to its size, and a class is never flagged for being rare.
    """
    capped = np.minimum(priority[candidates], NEAR_CERTAIN)
    by_class = np.lexsort((candidates, -priority[candidates], codes[candidates]))
    sorted_codes = codes[candidates][by_class]
    starts = np.searchsorted(sorted_codes, sorted_codes, side="left")
    within = np.empty(len(candidates))
    within[by_class] = np.arange(len(candidates)) - starts
    class_items = np.bincount(codes, minlength=int(codes.max(initial=0)) + 1)
    percentile = (within + 1) / class_items[codes[candidates]]
    return candidates[np.lexsort((candidates, percentile, -capped))]


def class_shares(codes: np.ndarray, flagged: np.ndarray, classes: np.ndarray) -> pd.DataFrame:
    """Per consensus class: share of items, share of flagged items, and flag rate."""
    k = len(classes)
    items = np.bincount(codes, minlength=k)
    hits = np.bincount(codes[flagged], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({
            "class": classes,
            "items": items,
            "item_share": items / max(items.sum(), 1),
            "flagged_items": hits,
            "flag_share": hits / max(hits.sum(), 1),
            "flag_rate": np.where(items > 0, hits / np.maximum(items, 1), np.nan),
        })
