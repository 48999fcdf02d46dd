"""Majority vote: the baseline every other model is measured against."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..votes import VoteMatrix
from . import _em
from .base import Aggregator, gold_codes_for, soft_majority


class MajorityVote(Aggregator):
    """Each item takes the label most of its annotators gave.

    Posteriors are the vote shares, so a 2–2 split reports 0.5, not a confident
    label. Ties go to the class that comes first in class order (the declared
    ``--labels`` order, else numeric or text order) and are flagged in
    ``ties_``. ``confusion_`` is what one Dawid–Skene M-step makes of the vote
    shares, so annotator accuracy is defined for every model alike.

    Parameters
    ----------
    smoothing : float
        Dirichlet pseudo-count added to each confusion cell of that M-step.
    """

    def __init__(self, *, smoothing: float = 0.01) -> None:
        self.smoothing = smoothing

    def fit(self, votes: VoteMatrix, gold: Any = None) -> MajorityVote:
        gold_codes = gold_codes_for(votes, gold)
        posteriors = _em.clamp_to_gold(soft_majority(votes), gold_codes)
        stats = _em.confusion_statistics(
            votes.item_annotator_label, np.ascontiguousarray(posteriors.T), votes.n_classes
        )
        self.confusion_ = _em.normalize_confusion(stats, self.smoothing)
        self.class_priors_ = _em.normalize_rows(posteriors.sum(axis=0) + self.smoothing)
        log_weights = _em.log_weights_from_confusion(_em.safe_log(self.confusion_))
        _, self.log_likelihood_ = _em.e_step(
            votes.item_annotator_label, log_weights, _em.safe_log(self.class_priors_)
        )
        self._store_posteriors(votes, posteriors)
        self.gold_codes_ = gold_codes
        self.n_iter_ = 0
        self.converged_ = True
        return self

    def predict_proba(self, votes: VoteMatrix) -> np.ndarray:
        """Vote shares of ``votes``, columns in ``votes.classes`` order."""
        self._check_fitted()
        return soft_majority(votes)

    def predict(self, votes: VoteMatrix) -> np.ndarray:
        return votes.classes[self.predict_proba(votes).argmax(axis=1)]
