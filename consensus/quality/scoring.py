"""Scoring annotators, and a consensus, against a golden set.

Every statistic here comes from one count tensor, ``confusion[a, t, g]``: the votes
annotator ``a`` gave with label ``g`` on gold items whose right answer is ``t``. It
is built with a single ``bincount`` over the vote codes, so scoring costs the same
for ten annotators or a hundred thousand; repeated votes count as votes.

Accuracy alone rewards an annotator who always gives the majority class, so each
annotator also gets Cohen's kappa against gold (zero for such an annotator), the
recall of every class and the confusion they make most often. Intervals are Wilson
score intervals: unlike the normal approximation they stay inside [0, 1] and keep
near their nominal coverage for the small counts that gold answers usually are.

On an ordered scale (``ordinal=True``) a miss by one step is not a miss by three: the
same counts also give the mean absolute error in steps and the share within one step
(a nominal class outside the scale counts only when exactly right).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data.gold import GoldSet
from ..data.votes import VoteMatrix
from ..exceptions import InputError
from ..report.text import cell, json_ready, records, text_table

#: Fewest gold answers for an annotator to be ranked. With nine, the 95% Wilson interval is
#: 0.41 wide at accuracy 0.9 and 0.54 at 0.6, and fewer answers give wider ones: ranking
#: such annotators would mostly order noise.
DEFAULT_MIN_GOLD = 10

RANKED, TOO_FEW, NO_GOLD = "ranked", "too few gold", "no gold"

#: Columns of the annotator table that ``ScoreReport.summary`` prints.
SUMMARY_COLUMNS = (
    "annotator", "n_gold", "correct", "accuracy", "ci_low", "ci_high", "kappa", "worst_pair",
    "status",
)  # fmt: skip


# ------------------------------------------------------------ pure statistics
def wilson_interval(
    correct: Any, n: Any, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Wilson score interval for a proportion, NaN where ``n == 0``.

    Parameters
    ----------
    correct, n : array_like of int, same shape
        Successes and trials.
    confidence : float
        Coverage of the interval, in (0, 1).

    Returns
    -------
    low, high : ndarray of float64, the shape of ``n``
    """
    # statsmodels takes most of a second to import; only pay for it when scoring.
    from statsmodels.stats.proportion import proportion_confint

    correct = np.asarray(correct, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    low = np.full(n.shape, np.nan)
    high = np.full(n.shape, np.nan)
    seen = n > 0
    if seen.any():
        low[seen], high[seen] = proportion_confint(
            correct[seen], n[seen], alpha=1.0 - confidence, method="wilson"
        )
    return low, high


def gold_confusion(votes: VoteMatrix, gold: GoldSet) -> np.ndarray:
    """Count each annotator's answers on gold items by (right answer, given answer).

    Returns
    -------
    ndarray of int64, shape (n_annotators, n_classes, n_classes)
        ``[a, t, g]`` is the number of votes annotator ``a`` gave with label ``g``
        on gold items of class ``t``.
    """
    gold.check_matches(votes)
    k = votes.n_classes
    truth = gold.per_item(votes.n_items)[votes.item_codes]
    on_gold = truth >= 0
    flat = (
        votes.annotator_codes[on_gold].astype(np.int64) * (k * k)
        + truth[on_gold].astype(np.int64) * k
        + votes.label_codes[on_gold]
    )
    counts = np.bincount(flat, minlength=votes.n_annotators * k * k)
    return counts.reshape(votes.n_annotators, k, k)


def accuracy_columns(confusion: np.ndarray, confidence: float) -> dict[str, np.ndarray]:
    """``n_gold, correct, accuracy, ci_low, ci_high`` per annotator from their confusion counts.

    Accuracy and the interval are NaN for an annotator with no gold answers.
    """
    n_gold = confusion.sum(axis=(1, 2))
    correct = np.trace(confusion, axis1=1, axis2=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where(n_gold > 0, correct / n_gold, np.nan)
    low, high = wilson_interval(correct, n_gold, confidence)
    return {
        "n_gold": n_gold,
        "correct": correct,
        "accuracy": accuracy,
        "ci_low": low,
        "ci_high": high,
    }


def kappa_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Cohen's kappa of given answers against gold, one per leading index.

    Parameters
    ----------
    confusion : ndarray, shape (..., n_classes, n_classes)
        Counts ``[..., true, given]``.

    Returns
    -------
    ndarray of float64, shape (...)
        NaN where there are no answers, or where chance agreement is already 1
        (every gold item and every answer in one class), so kappa says nothing.
    """
    n = confusion.sum(axis=(-2, -1)).astype(np.float64)
    observed = np.trace(confusion, axis1=-2, axis2=-1)
    expected = (confusion.sum(axis=-1) * confusion.sum(axis=-2)).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_o = observed / n
        p_e = expected / (n * n)
        kappa = (p_o - p_e) / (1.0 - p_e)
    return np.where((n > 0) & (p_e < 1.0), kappa, np.nan)


def class_recall(confusion: np.ndarray) -> np.ndarray:
    """Share of gold items of each class answered right, shape (..., n_classes); NaN if none."""
    support = confusion.sum(axis=-1)
    hits = np.diagonal(confusion, axis1=-2, axis2=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(support > 0, hits / support, np.nan)


def worst_confusion(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The most frequent wrong (true, given) pair per annotator.

    Ties go to the lower true class, then the lower given class. Returns
    ``(true, given, count)`` arrays of shape (n_annotators,); count 0 means no errors.
    """
    k = confusion.shape[-1]
    errors = confusion * (1 - np.eye(k, dtype=confusion.dtype))
    flat = errors.reshape(len(errors), k * k)
    where = flat.argmax(axis=1)
    return where // k, where % k, flat[np.arange(len(flat)), where]


def scale_steps(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which (true, given) class pairs are both on the scale, and their distance in steps.

    Both (K, K), from each class's level (NaN for a nominal class); the distance is 0
    where either class is nominal.
    """
    on = np.isfinite(positions)
    level = np.nan_to_num(positions)
    return on[:, None] & on[None, :], np.abs(level[:, None] - level[None, :])


def ordinal_columns(confusion: np.ndarray, positions: np.ndarray) -> dict[str, np.ndarray]:
    """Ordinal errors from counts ``[..., true, given]`` and each class's scale level.

    ``positions`` (K,) are the levels, NaN for nominal classes
    (:func:`consensus.models.ordinal.scale_positions`). Returns ``n_on_scale`` (answers
    whose truth and answer are both on the scale), ``mae`` (their mean absolute
    distance in steps, NaN without any) and ``within_one`` (share of all answers at
    most one step off; an answer involving a nominal class counts only if exact).
    """
    both, steps = scale_steps(positions)
    close = np.where(both, steps <= 1, np.eye(len(positions), dtype=bool))
    n_on = (confusion * both).sum(axis=(-2, -1)).astype(np.float64)
    total = confusion.sum(axis=(-2, -1)).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mae = np.where(n_on > 0, (confusion * np.where(both, steps, 0.0)).sum(axis=(-2, -1))
                       / n_on, np.nan)
        within = np.where(total > 0, (confusion * close).sum(axis=(-2, -1)) / total, np.nan)
    return {"n_on_scale": n_on, "mae": mae, "within_one": within}


# ----------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class ConsensusScore:
    """How well a consensus matches gold, overall and per class.

    ``per_class`` has one row per class: ``class, gold`` (gold items of the class),
    ``predicted`` (gold items the consensus put in it), ``correct, precision, recall``.
    """

    n_gold: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float
    kappa: float
    confidence: float
    per_class: pd.DataFrame

    def summary(self) -> str:
        head = (
            f"Consensus on gold: accuracy {self.accuracy:.3f} "
            f"[{self.ci_low:.3f}, {self.ci_high:.3f}] ({self.correct}/{self.n_gold}, "
            f"{self.confidence:.0%} Wilson), kappa {cell(self.kappa)}"
        )
        return head + "\n" + text_table(self.per_class)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_gold": self.n_gold,
            "correct": self.correct,
            "accuracy": json_ready(self.accuracy),
            "ci_low": json_ready(self.ci_low),
            "ci_high": json_ready(self.ci_high),
            "kappa": json_ready(self.kappa),
            "confidence": self.confidence,
            "per_class": records(self.per_class),
        }


@dataclass(frozen=True, eq=False)
class OrdinalScore:
    """How far a consensus is from gold on an ordered scale, beside exact accuracy.

    ``mae`` is the mean absolute error in steps over the ``n_on_scale`` gold items whose
    truth and consensus are both on the scale (normal interval); ``within_one`` the share
    of all ``n_gold`` items at most one step off (Wilson interval), a nominal class
    counting only when exact; ``off_scale_errors`` the items wrong with a nominal class
    on either side.
    """

    n_gold: int
    accuracy: float
    n_on_scale: int
    mae: float
    mae_low: float
    mae_high: float
    within_one: float
    within_low: float
    within_high: float
    off_scale_errors: int
    confidence: float

    def summary(self) -> str:
        return (
            f"On the scale: mean absolute error {cell(self.mae)} steps "
            f"[{cell(self.mae_low)}, {cell(self.mae_high)}] over {self.n_on_scale} items, "
            f"within one step {cell(self.within_one)} [{cell(self.within_low)}, "
            f"{cell(self.within_high)}], exact {cell(self.accuracy)}"
            + (f"; {self.off_scale_errors} errors involve a nominal class"
               if self.off_scale_errors else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return {name: json_ready(value) if isinstance(value, float) else value
                for name, value in vars(self).items()}


@dataclass(frozen=True, eq=False)
class ScoreReport:
    """Annotators scored against gold, worst first; see :func:`score_annotators`.

    Attributes
    ----------
    annotators : DataFrame
        One row per annotator: ``annotator, n_votes, n_gold, correct, accuracy,
        ci_low, ci_high, kappa, worst_pair, recall_<class>..., status``.
    overall : ConsensusScore or None
        The consensus against gold, when consensus labels were given.
    uncovered_classes : tuple
        Classes with no gold item, whose recall cannot be measured.
    """

    annotators: pd.DataFrame
    overall: ConsensusScore | None
    classes: tuple[Any, ...]
    n_gold_items: int
    uncovered_classes: tuple[Any, ...]
    min_gold: int
    confidence: float
    #: The consensus on the scale (``ordinal=True`` with consensus labels), else None.
    ordinal: OrdinalScore | None = None

    def summary(self, max_rows: int | None = 25) -> str:
        """A terminal table, worst annotators first, cut after ``max_rows`` rows."""
        table = self.annotators
        status = table["status"].value_counts()
        lines = [
            f"{len(table)} annotators against {self.n_gold_items} gold items "
            f"({self.confidence:.0%} Wilson intervals).",
            f"Ranked, worst first by the upper end of the interval: {status.get(RANKED, 0)} "
            f"with at least {self.min_gold} gold answers. Not ranked: "
            f"{status.get(TOO_FEW, 0)} with fewer, {status.get(NO_GOLD, 0)} with none.",
        ]
        lines.append(text_table(table[list(SUMMARY_COLUMNS)], max_rows, ".annotators"))
        if self.uncovered_classes:
            lines.append(
                f"The gold set has no item of class {', '.join(map(str, self.uncovered_classes))}:"
                f" recall there is not measured; add some."
            )
        if self.overall is not None:
            lines.append(self.overall.summary())
        if self.ordinal is not None:
            lines.append(self.ordinal.summary())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_gold_items": self.n_gold_items,
            "classes": [str(c) for c in self.classes],
            "uncovered_classes": [str(c) for c in self.uncovered_classes],
            "min_gold": self.min_gold,
            "confidence": self.confidence,
            "annotators": records(self.annotators),
            "overall": None if self.overall is None else self.overall.to_dict(),
            **({} if self.ordinal is None else {"ordinal": self.ordinal.to_dict()}),
        }


# ------------------------------------------------------------------- scoring
def score_annotators(
    votes: VoteMatrix,
    gold: GoldSet,
    *,
    consensus_labels: Any = None,
    min_gold: int = DEFAULT_MIN_GOLD,
    confidence: float = 0.95,
    ordinal: bool = False,
    nominal: Any = (),
) -> ScoreReport:
    """Score every annotator on the gold items they answered.

    Parameters
    ----------
    votes : VoteMatrix
    gold : GoldSet
        Matched to ``votes`` (:func:`consensus.data.read_gold`).
    consensus_labels : array_like of int, shape (n_items,), optional
        Consensus class codes per item, e.g. a model's ``labels_``. Fit that model
        *without* the gold set, or its accuracy on gold is trivially perfect.
    min_gold : int
        Annotators with fewer gold answers get status ``"too few gold"`` (``"no
        gold"`` for none) and are listed after the ranked ones, most answers first.
    confidence : float
        Coverage of the Wilson intervals.
    ordinal : bool
        The classes are ordered (class order, without ``nominal``): annotators also get
        ``mae`` and ``within_one`` (:func:`ordinal_columns`), and the consensus an
        :class:`OrdinalScore` as ``ordinal``.
    nominal : label or sequence of labels
        With ``ordinal``, classes outside the scale.

    Returns
    -------
    ScoreReport
        Ranked annotators come first, sorted by ``ci_high`` ascending: an annotator
        whose best plausible accuracy is low is the surest problem, so 60/200 right
        is listed before 3/10 right although both are 0.3.
    """
    _check_options(min_gold, confidence)
    confusion = gold_confusion(votes, gold)
    accuracy = accuracy_columns(confusion, confidence)
    n_gold, high = accuracy["n_gold"], accuracy["ci_high"]
    true, given, count = worst_confusion(confusion)
    names = pd.Series(votes.classes.astype(str))
    worst = (
        names.iloc[true].reset_index(drop=True)
        + " → "
        + names.iloc[given].reset_index(drop=True)
        + " ("
        + pd.Series(count).astype(str)
        + ")"
    )
    status = np.where(n_gold >= min_gold, RANKED, np.where(n_gold > 0, TOO_FEW, NO_GOLD))
    table = pd.DataFrame(
        {
            "annotator": votes.annotator_ids,
            "n_votes": votes.votes_per_annotator,
            **accuracy,
            "kappa": kappa_from_confusion(confusion),
            "worst_pair": worst.where(count > 0, ""),
        }
    )
    positions = _scale(votes, nominal) if ordinal else None
    if positions is not None:
        errors = ordinal_columns(confusion, positions)
        table["mae"], table["within_one"] = errors["mae"], errors["within_one"]
    recall = class_recall(confusion)
    for k, name in enumerate(names):
        table[f"recall_{name}"] = recall[:, k]
    table["status"] = status
    group = np.select([status == RANKED, status == TOO_FEW], [0, 1], 2)
    order = np.lexsort((-n_gold, np.where(group == 0, high, np.nan), group))
    table = table.iloc[order].reset_index(drop=True)

    counts = gold.class_counts()
    overall = on_scale = None
    if consensus_labels is not None:
        overall = consensus_score(consensus_labels, votes, gold, confidence=confidence)
        if ordinal:
            on_scale = ordinal_score(consensus_labels, votes, gold, nominal=nominal,
                                     confidence=confidence)
    return ScoreReport(
        annotators=table,
        overall=overall,
        classes=tuple(votes.classes),
        n_gold_items=gold.n_items,
        uncovered_classes=tuple(votes.classes[counts == 0]),
        min_gold=min_gold,
        confidence=confidence,
        ordinal=on_scale,
    )


def consensus_score(
    consensus_labels: Any, votes: VoteMatrix, gold: GoldSet, *, confidence: float = 0.95
) -> ConsensusScore:
    """Accuracy, kappa and per-class precision/recall of consensus labels on gold items."""
    confusion = _consensus_confusion(consensus_labels, votes, gold)
    correct = int(np.trace(confusion))
    low, high = wilson_interval(correct, gold.n_items, confidence)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    hits = np.diagonal(confusion)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, hits / predicted, np.nan)
    per_class = pd.DataFrame(
        {
            "class": votes.classes,
            "gold": support,
            "predicted": predicted,
            "correct": hits,
            "precision": precision,
            "recall": class_recall(confusion),
        }
    )
    return ConsensusScore(
        n_gold=gold.n_items,
        correct=correct,
        accuracy=correct / gold.n_items if gold.n_items else math.nan,
        ci_low=float(low),
        ci_high=float(high),
        kappa=float(kappa_from_confusion(confusion)),
        confidence=confidence,
        per_class=per_class,
    )


def ordinal_score(
    consensus_labels: Any,
    votes: VoteMatrix,
    gold: GoldSet,
    *,
    nominal: Any = (),
    confidence: float = 0.95,
) -> OrdinalScore:
    """Mean absolute error and share within one step of consensus labels on gold items.

    The scale is the class order without ``nominal``; see :class:`OrdinalScore`.
    """
    from statistics import NormalDist

    confusion = _consensus_confusion(consensus_labels, votes, gold)
    positions = _scale(votes, nominal)
    errors = {name: float(value) for name, value in ordinal_columns(confusion, positions).items()}
    n_on = int(errors["n_on_scale"])
    both, steps = scale_steps(positions)
    spread = math.nan
    if n_on > 1:
        second = float((confusion * np.where(both, steps, 0.0) ** 2).sum()) / n_on
        spread = math.sqrt(max(second - errors["mae"] ** 2, 0.0) * n_on / (n_on - 1))
    half = NormalDist().inv_cdf(0.5 + confidence / 2.0) * spread / math.sqrt(max(n_on, 1))
    n = int(confusion.sum())
    within = errors["within_one"]
    low, high = wilson_interval(round(within * n) if n else 0, n, confidence)
    correct = int(np.trace(confusion))
    return OrdinalScore(
        n_gold=n,
        accuracy=correct / n if n else math.nan,
        n_on_scale=n_on,
        mae=errors["mae"],
        mae_low=errors["mae"] - half,
        mae_high=errors["mae"] + half,
        within_one=within,
        within_low=float(low),
        within_high=float(high),
        off_scale_errors=int(confusion[~both].sum() - np.trace(confusion * ~both)),
        confidence=confidence,
    )


def missed_gold(votes: VoteMatrix, gold: GoldSet) -> pd.DataFrame:
    """Every wrong answer on a gold item, with the note that explains the right one.

    Returns
    -------
    DataFrame
        ``annotator, item, given, gold, note, difficulty``, grouped by annotator:
        the feedback to send each annotator.
    """
    gold.check_matches(votes)
    truth = gold.per_item(votes.n_items)[votes.item_codes]
    wrong = np.flatnonzero((truth >= 0) & (truth != votes.label_codes))
    wrong = wrong[np.argsort(votes.annotator_codes[wrong], kind="stable")]
    row_of = np.full(votes.n_items, -1, dtype=np.int64)
    row_of[gold.item_codes] = np.arange(gold.n_items)
    rows = row_of[votes.item_codes[wrong]]
    empty = np.full(len(wrong), None, dtype=object)
    return pd.DataFrame(
        {
            "annotator": votes.annotator_ids[votes.annotator_codes[wrong]],
            "item": votes.item_ids[votes.item_codes[wrong]],
            "given": votes.classes[votes.label_codes[wrong]],
            "gold": votes.classes[truth[wrong]],
            "note": empty if gold.notes is None else gold.notes[rows],
            "difficulty": empty if gold.difficulty is None else gold.difficulty[rows],
        }
    )


# ------------------------------------------------------------------ helpers
def _consensus_confusion(consensus_labels: Any, votes: VoteMatrix, gold: GoldSet) -> np.ndarray:
    """Gold items counted by (gold class, consensus class), (K, K), labels checked."""
    labels = np.asarray(consensus_labels)
    if labels.shape != (votes.n_items,) or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"consensus labels must be integer class codes, one per item "
            f"(shape ({votes.n_items},)), not {labels.dtype} of shape {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= votes.n_classes):
        raise InputError(
            f"consensus labels must be class codes 0..{votes.n_classes - 1}; "
            f"found {int(labels.min())}..{int(labels.max())}"
        )
    gold.check_matches(votes)
    k = votes.n_classes
    flat = gold.label_codes.astype(np.int64) * k + labels[gold.item_codes]
    return np.bincount(flat, minlength=k * k).reshape(k, k)


def _scale(votes: VoteMatrix, nominal: Any) -> np.ndarray:
    from ..models.ordinal import scale_positions

    return scale_positions(votes.classes, nominal)


def _check_options(min_gold: int, confidence: float) -> None:
    if not isinstance(min_gold, (int, np.integer)) or min_gold < 1:
        raise InputError(f"min_gold must be a whole number of at least 1, not {min_gold!r}")
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must be between 0 and 1 (e.g. 0.95), not {confidence!r}")
