"""Majority vote: the baseline every other model is measured against."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.gold import gold_per_item
from ..data.votes import VoteMatrix
from ..exceptions import InputError
from . import em
from .base import Aggregator, ProgressCallback, soft_majority
from .dawid_skene import point_estimates


class MajorityVote(Aggregator):
    """Each item takes the label most of its annotators gave.

    Posteriors are the vote shares, so a 2–2 split reports 0.5, not a confident
    label. Ties go to the class that comes first in class order (the declared
    ``--labels`` order, else numeric or text order) and are flagged in
    ``ties_``. ``confusion_`` (and ``params_``) are what one Dawid–Skene M-step
    makes of the vote shares, so annotator accuracy is defined for every model
    alike; there are no iterations (``n_iter_`` 0, an empty history).

    Parameters
    ----------
    smoothing : float
        Dirichlet pseudo-count added to each confusion cell of that M-step.
    """

    #: Every vote counts the same, so there is no annotator weighting to discount.
    weighs_annotators = False

    def __init__(self, *, smoothing: float = 0.01) -> None:
        self.smoothing = smoothing

    def fit(
        self, votes: VoteMatrix, gold: Any = None, *, progress: ProgressCallback | None = None
    ) -> MajorityVote:
        """Vote shares per item; gold items (if given) take their known label.

        ``progress`` is accepted for a common interface and never called: there
        are no iterations.
        """
        if not np.isfinite(self.smoothing) or self.smoothing < 0:
            raise InputError(f"smoothing must be a non-negative number, not {self.smoothing!r}")
        known = gold_per_item(votes, gold)
        posteriors = em.clamp_to_gold(soft_majority(votes), known)
        stats = em.confusion_statistics(
            votes.item_annotator_label, np.ascontiguousarray(posteriors.T), votes.n_classes
        )
        params = point_estimates(
            em.normalize_confusion(stats, self.smoothing),
            em.normalize_rows(posteriors.sum(axis=0) + self.smoothing),
        )
        _, self.log_likelihood_ = em.e_step(
            votes.item_annotator_label, params.log_weights, params.log_prior
        )
        self._store_fit(votes, params, posteriors, known)
        self.n_iter_ = 0
        self.converged_ = True
        self.log_likelihood_history_ = np.zeros(0)
        return self

    def predict_proba(self, votes: VoteMatrix) -> np.ndarray:
        """Vote shares of the items of ``votes``, (n_items, K), columns in ``classes_`` order.

        The votes the model was fitted on (or an equal copy) get ``posteriors_``,
        gold clamps included.
        """
        self._check_fitted()
        if self._is_training_votes(votes):
            return self.posteriors_.copy()
        shares = soft_majority(votes)
        out = np.zeros((votes.n_items, len(self.classes_)))
        out[:, self._class_map(votes)] = shares
        return out
