"""How accurate is the consensus itself? K-fold cross-validation over the gold items.

Clamping gold items makes the consensus on them trivially right, so their
accuracy says nothing. Instead each fold of gold items is held out in turn: the
other gold items anchor the model, the held-out ones are predicted from their
votes alone. The out-of-fold posteriors also feed calibration.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.votes import VoteMatrix
from ..exceptions import ConvergenceWarning, InputError
from ..models.base import Aggregator

#: Fewer gold items than this give no accuracy estimate worth printing.
MIN_GOLD_FOR_ESTIMATE = 10


@dataclass(frozen=True)
class HeldOut:
    """Out-of-fold posteriors of gold items: what the consensus says without their gold."""

    item_codes: np.ndarray
    truth: np.ndarray
    posteriors: np.ndarray
    fold: np.ndarray

    @property
    def correct(self) -> np.ndarray:
        return self.posteriors.argmax(axis=1) == self.truth


@dataclass(frozen=True)
class AccuracyEstimate:
    """Cross-validated accuracy of the consensus labels, with a Wilson interval."""

    accuracy: float
    ci_low: float
    ci_high: float
    n_gold: int
    n_folds: int
    confidence: float = 0.95

    def summary(self) -> str:
        half = (self.ci_high - self.ci_low) / 2
        return (
            f"your consensus labels are about {100 * self.accuracy:.1f}% ± {100 * half:.1f}% "
            f"correct ({self.n_folds}-fold cross-validation over {self.n_gold:,} gold items; "
            f"{100 * self.confidence:.0f}% interval {100 * self.ci_low:.1f}%–"
            f"{100 * self.ci_high:.1f}%)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n_gold": self.n_gold,
            "n_folds": self.n_folds,
            "method": "k-fold cross-validation over gold items, Wilson interval",
        }


def fold_assignment(n: int, n_folds: int, seed: int) -> np.ndarray:
    """Balanced random fold numbers for ``n`` items, reproducible from ``seed``."""
    fold = np.arange(n) % n_folds
    return fold[np.random.default_rng(seed).permutation(n)]


def held_out_posteriors(
    votes: VoteMatrix,
    gold_codes: np.ndarray,
    make_model: Callable[[], Aggregator],
    *,
    n_folds: int = 5,
    seed: int = 0,
) -> HeldOut:
    """Posteriors of every gold item from a model anchored on the other folds' gold.

    Parameters
    ----------
    gold_codes : ndarray of int, shape (n_items,)
        Gold class per item, -1 where unknown.
    make_model : callable
        Returns a fresh unfitted model; called once per fold.
    """
    gold_items = np.flatnonzero(gold_codes >= 0)
    if len(gold_items) < 2:
        raise InputError("cross-validation needs at least two gold items that have votes")
    n_folds = int(min(n_folds, len(gold_items)))
    fold = fold_assignment(len(gold_items), n_folds, seed)
    posteriors = np.empty((len(gold_items), votes.n_classes))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        for f in range(n_folds):
            held = fold == f
            anchored = gold_codes.copy()
            anchored[gold_items[held]] = -1
            model = make_model().fit(votes, gold=anchored)
            posteriors[held] = model.posteriors_[gold_items[held]]
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        warnings.warn(
            "some cross-validation fits did not converge; raise max_iter for a steadier "
            "accuracy estimate",
            ConvergenceWarning,
            stacklevel=2,
        )
    return HeldOut(gold_items, gold_codes[gold_items], posteriors, fold)


def consensus_accuracy(held_out: HeldOut, confidence: float = 0.95) -> AccuracyEstimate:
    """Accuracy of the held-out consensus labels with a Wilson interval."""
    from .scoring import wilson_interval

    n = len(held_out.truth)
    correct = int(held_out.correct.sum())
    low, high = wilson_interval(correct, n, confidence)
    return AccuracyEstimate(
        accuracy=correct / n,
        ci_low=float(low),
        ci_high=float(high),
        n_gold=n,
        n_folds=int(held_out.fold.max()) + 1,
        confidence=confidence,
    )
