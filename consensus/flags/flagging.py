"""Flag items and votes a reviewer should look at, ranked by how likely they are wrong.

Every flag is read off ``aggregate``'s fitted model and its reported (honest)
confidence; nothing is refitted per item. A row is a candidate only when its
flag holds (below), so ``top`` caps the output and never stretches it to everything.

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
#: No class takes more than this many times its share of the items among flags.
MAX_CLASS_RATIO = 2.0
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
    n_items, n_votes : int
        Items and votes in the data.
    n_candidate_items, n_candidate_votes : int
        Items with an item flag, and votes with ``likely_error``, before the ``top`` cut.
    top : float
        The cut as given: below 1 a fraction of the items (and of the votes), else a
        count of each.
    reason_counts : dict
        Flagged rows per reason, after the cut.
    moved_by_class_caps : int
        Places that went to other classes because a class had reached twice its share.
    """

    table: pd.DataFrame
    per_class: pd.DataFrame
    n_items: int
    n_votes: int
    n_candidate_items: int
    n_candidate_votes: int
    top: float
    reason_counts: dict[str, int]
    moved_by_class_caps: int = 0

    @property
    def n_flagged_items(self) -> int:
        """Items flagged themselves (rows with an empty annotator)."""
        return int((self.table["annotator"] == "").sum())

    @property
    def n_flagged_votes(self) -> int:
        return int((self.table["annotator"] != "").sum())

    def summary(self, max_rows: int | None = 20) -> str:
        cut = (f"the top {100 * self.top:g}% of each" if self.top < 1
               else f"at most {int(self.top):,} of each")
        lines = [
            f"{plural(self.n_flagged_items, 'item')} and {plural(self.n_flagged_votes, 'vote')} "
            f"flagged of {self.n_items:,} items and {self.n_votes:,} votes ({cut}; "
            f"{self.n_candidate_items:,} items and {self.n_candidate_votes:,} votes had a flag)",
            "flags: " + ", ".join(f"{name} {n:,}" for name, n in self.reason_counts.items() if n),
            "per class (consensus): share of items, of flagged items, of flagged votes; "
            "items' flag rate",
        ]
        shares = self.per_class
        for name, items, flags, votes, rate in zip(
                shares["class"], shares["item_share"], shares["flag_share"],
                shares["vote_flag_share"], shares["flag_rate"], strict=True):
            lines.append(f"  {name!s:<12} {items:6.1%} {flags:6.1%} {votes:6.1%} {rate:6.1%}")
        if self.moved_by_class_caps:
            lines.append(f"  ({plural(self.moved_by_class_caps, 'place')} went to other classes: "
                         f"no class takes more than twice its share of the flags)")
        shown = self.table[["item", "annotator", "label", "consensus", "confidence", "score",
                            "reasons", "votes"]]
        lines.append(text_table(shown, max_rows, "the -o file"))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_items": self.n_items,
            "n_votes": self.n_votes,
            "n_candidate_items": self.n_candidate_items,
            "n_candidate_votes": self.n_candidate_votes,
            "n_flagged_items": self.n_flagged_items,
            "n_flagged_votes": self.n_flagged_votes,
            "top": self.top,
            "reason_counts": self.reason_counts,
            "moved_by_class_caps": self.moved_by_class_caps,
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
        item_flags["gold_conflict"] = conflict
        item_score = np.where(conflict, np.maximum(wrong, item_doubt(result)), wrong)
    model_label = None
    if result.predictions is not None:
        model_label = result.predictions.label_codes
        sure = np.nan_to_num(result.predictions.confidence, nan=0.0) >= CONFIDENT_MODEL
        item_flags["model_disagrees"] = sure & (model_label >= 0) & (model_label != codes)

    any_item_flag = np.logical_or.reduce(list(item_flags.values()))
    error = vote_error_probability(posteriors, votes) if votes.n_votes else np.zeros(0)
    vote_flag = crowd & (error >= MIN_ERROR)

    # two rankings, each cut at `top`: items by the doubt about their consensus, votes by
    # the probability that they are wrong
    class_items = np.bincount(codes, minlength=votes.n_classes)
    item_candidates = np.flatnonzero(any_item_flag)
    item_order = selection_order(item_candidates, item_score, codes, class_items)
    item_rows, items_moved = within_class_caps(item_order, codes, class_items, keep_n)
    vote_candidates = np.flatnonzero(vote_flag)
    vote_class = codes[votes.item_codes]
    vote_order = selection_order(vote_candidates, error, vote_class, class_items)
    vote_rows, votes_moved = within_class_caps(vote_order, vote_class, class_items,
                                               n_to_keep(top, int(crowd.sum())))

    # Text only for the items kept: building it for every item cost most of the run.
    vote_items = votes.item_codes[vote_rows]
    shown = np.union1d(item_rows, vote_items)
    kept = np.zeros(votes.n_items, dtype=bool)
    kept[shown] = True
    evidence = votes_text(crowd_votes.take_items(kept)).to_numpy()
    split = split_classes(posteriors[item_rows], votes.classes, SPLIT_SHARE).to_numpy()
    reasons = pd.Series("", index=range(len(item_rows)), dtype=object)
    for name in FLAGS:
        if name in item_flags:
            hit = item_flags[name][item_rows]
            reasons = reasons.where(~hit, reasons.where(reasons == "", reasons + ";") + name)
    item_table = pd.DataFrame({
        "item": votes.item_ids[item_rows],
        "annotator": "",
        "label": votes.classes[codes[item_rows]],
        "consensus": votes.classes[codes[item_rows]],
        "confidence": confidence[item_rows],
        "score": item_score[item_rows],
        "reasons": reasons.to_numpy(),
        "votes": evidence[np.searchsorted(shown, item_rows)],
        "split": np.where(item_flags["ambiguous"][item_rows], split, ""),
        "_kind": 0,
    })
    vote_table = pd.DataFrame({
        "item": votes.item_ids[vote_items],
        "annotator": votes.annotator_ids[votes.annotator_codes[vote_rows]],
        "label": votes.classes[votes.label_codes[vote_rows]],
        "consensus": votes.classes[codes[vote_items]],
        "confidence": confidence[vote_items],
        "score": error[vote_rows],
        "reasons": "likely_error",
        "votes": evidence[np.searchsorted(shown, vote_items)],
        "split": "",
        "_kind": 1,
    })
    table = pd.concat([item_table, vote_table], ignore_index=True)
    if model_label is not None:
        item_codes_of = np.concatenate([item_rows, vote_items])
        predicted = model_label[item_codes_of]
        names = votes.classes.astype(str)
        table["model_prediction"] = np.where(predicted >= 0, names[np.maximum(predicted, 0)], "")
    table = table.sort_values(["score", "_kind"], ascending=[False, True], kind="stable")
    table = table.drop(columns="_kind").reset_index(drop=True)
    counts = {name: int(table["reasons"].str.contains(rf"(?:^|;){name}(?:;|$)").sum())
              for name in FLAGS}
    per_class = class_shares(codes, item_rows, vote_class[vote_rows], votes.classes)
    return FlagReport(table, per_class, votes.n_items, int(crowd.sum()), len(item_candidates),
                      len(vote_candidates), float(top), counts, items_moved + votes_moved)


def selection_order(
    candidates: np.ndarray, score: np.ndarray, classes: np.ndarray, class_items: np.ndarray
) -> np.ndarray:
    """Candidates (items or votes), most suspicious first, near-certain ones shared out.

    Candidates are ordered by ``score`` capped at :data:`NEAR_CERTAIN`; within a tie the
    one further down its own class's list (its rank among the class's candidates, divided
    by the class's items ``class_items``) goes later, so among near-certain errors every
    class gets flags in proportion to its size, and a class is never flagged for being rare.
    ``classes`` is the consensus class of each row of ``score``.
    """
    mine = score[candidates]
    code = classes[candidates]
    by_class = np.lexsort((candidates, -mine, code))
    sorted_codes = code[by_class]
    starts = np.searchsorted(sorted_codes, sorted_codes, side="left")
    within = np.empty(len(candidates))
    within[by_class] = np.arange(len(candidates)) - starts
    percentile = (within + 1) / np.maximum(class_items[code], 1)
    return candidates[np.lexsort((candidates, percentile, -np.minimum(mine, NEAR_CERTAIN)))]


def within_class_caps(
    order: np.ndarray, classes: np.ndarray, class_items: np.ndarray, n: int
) -> tuple[np.ndarray, int]:
    """The first ``n`` of ``order`` with no class above :data:`MAX_CLASS_RATIO` times its
    share of the items; returns the kept rows (sorted) and how many places the caps moved.

    Honest scores flag a small class more where its labels really are in more doubt, but
    a small class is also where a model is most easily miscalibrated, the classic way a
    rare class floods a review queue; so no class takes more than twice its share, and the
    places go to the next most suspicious rows of the other classes.
    """
    share = class_items / max(class_items.sum(), 1)
    code = classes[order]
    by_class = np.lexsort((np.arange(len(order)), code))
    sorted_codes = code[by_class]
    within = np.empty(len(order), dtype=np.int64)
    within[by_class] = np.arange(len(order)) - np.searchsorted(sorted_codes, sorted_codes)
    size = min(n, len(order))
    while True:  # the caps are shares of what is kept; too few to keep shrinks them
        cap = np.floor(MAX_CLASS_RATIO * share * size + 1e-9).astype(np.int64)
        kept = order[within < cap[code]][:size]
        if len(kept) == size:
            break
        size = len(kept)
    return np.sort(kept), int(np.setdiff1d(order[:n], kept).size)


def class_shares(
    codes: np.ndarray, item_rows: np.ndarray, vote_classes: np.ndarray, classes: np.ndarray
) -> pd.DataFrame:
    """Per consensus class: share of items, of flagged items and of flagged votes, flag rate."""
    k = len(classes)
    items = np.bincount(codes, minlength=k)
    hits = np.bincount(codes[item_rows], minlength=k)
    vote_hits = np.bincount(vote_classes, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({
            "class": classes,
            "items": items,
            "item_share": items / max(items.sum(), 1),
            "flagged_items": hits,
            "flag_share": hits / max(hits.sum(), 1),
            "flag_rate": np.where(items > 0, hits / np.maximum(items, 1), np.nan),
            "flagged_votes": vote_hits,
            "vote_flag_share": vote_hits / max(vote_hits.sum(), 1),
        })
