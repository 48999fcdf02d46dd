"""A fitted crowd to simulate from: who answers how often, and how each answers.

Everything the planner predicts comes from drawing items, annotators (as the
current pool is drawn: each annotator's share of the work) and their votes from
this crowd, then labelling the items as the fitted model would. The fitted
confusion matrices are uncertain, so the crowd also yields plausible alternative
confusions drawn from their Dirichlet posteriors; the spread of a prediction over
those draws is its interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.votes import VoteMatrix
from ..exceptions import InputError
from ..models.base import Aggregator
from ..models.em import confusion_statistics, safe_log


@dataclass(frozen=True, eq=False)
class Crowd:
    """What the planner needs from a fit.

    Attributes
    ----------
    share : ndarray (A,)
        Each annotator's share of the votes: how likely they answer the next item.
    confusion : ndarray (A, K, K)
        The fitted confusion matrices, which the consensus uses to label items.
    priors : ndarray (K,)
        The fitted class priors.
    concentration : ndarray (A, K, K)
        Dirichlet posterior of each confusion row: fitted expected counts plus the
        model's prior pseudo-counts (at least 1e-3 a cell).
    class_counts : ndarray (K,)
        Expected items per class, the Dirichlet posterior of the priors (plus one).
    """

    share: np.ndarray
    confusion: np.ndarray
    priors: np.ndarray
    concentration: np.ndarray
    class_counts: np.ndarray

    @property
    def n_annotators(self) -> int:
        return int(self.share.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.priors.shape[0])

    @property
    def log_confusion(self) -> np.ndarray:
        return safe_log(self.confusion)

    @property
    def log_priors(self) -> np.ndarray:
        return safe_log(self.priors)

    def restricted_to(self, keep: np.ndarray) -> Crowd:
        """The same crowd with only the annotators in ``keep`` (a bool mask) answering."""
        share = np.where(keep, self.share, 0.0)
        if share.sum() <= 0:
            raise InputError("no annotator with votes is left in the restricted pool")
        return Crowd(share / share.sum(), self.confusion, self.priors, self.concentration,
                     self.class_counts)

    def draws(self, n_draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n_draws`` plausible (confusion (R, A, K, K), priors (R, K)) from the posteriors.

        Draw 0 is the point estimate itself, so a single draw predicts from the fit.
        """
        gamma = rng.gamma(self.concentration[None], size=(n_draws - 1, *self.concentration.shape))
        rows = gamma / np.maximum(gamma.sum(axis=-1, keepdims=True), 1e-300)
        confusion = np.concatenate([self.confusion[None], rows])
        p = rng.gamma(self.class_counts[None], size=(n_draws - 1, self.n_classes))
        priors = np.concatenate([self.priors[None], p / p.sum(axis=1, keepdims=True)])
        return confusion, priors


def crowd_from_fit(votes: VoteMatrix, model: Aggregator) -> Crowd:
    """The crowd a model fitted on ``votes`` describes; annotators with no votes never answer.

    The confusion rows' posterior is the model's own where it has one (pooled DS: its
    crowd prior plus the expected counts); else the expected counts of the fit plus the
    model's smoothing (at least 1e-3 a cell, so no cell is impossible).
    """
    share = votes.votes_per_annotator.astype(np.float64)
    if share.sum() <= 0:
        raise InputError("no votes: a budget needs a fitted crowd")
    concentration = model.params_.concentration
    if concentration is None:
        stats = confusion_statistics(votes.item_annotator_label,
                                     np.ascontiguousarray(model.posteriors_.T), votes.n_classes)
        concentration = stats + float(getattr(model, "smoothing", 0.0))
    class_counts = model.posteriors_.sum(axis=0) + 1.0
    return Crowd(share / share.sum(), model.confusion_, model.class_priors_,
                 np.maximum(concentration, 1e-3), class_counts)
