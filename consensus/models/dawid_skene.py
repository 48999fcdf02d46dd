"""Dawid–Skene: one confusion matrix per annotator, and its one-coin special case."""

from __future__ import annotations

import numpy as np

from . import em
from .base import EMAggregator, EMParameters


def point_estimates(confusion: np.ndarray, priors: np.ndarray) -> EMParameters:
    """Parameters whose E-step uses the confusion matrices and priors as they are."""
    return EMParameters(
        log_weights=em.log_weights_from_confusion(em.safe_log(confusion)),
        log_prior=em.safe_log(priors),
        confusion=confusion,
        class_priors=priors,
    )


class DawidSkene(EMAggregator):
    """Full confusion matrix per annotator, fitted by EM (Dawid & Skene, 1979).

    Parameters
    ----------
    max_iter : int
        Upper bound on EM iterations.
    tol : float
        Stop when the log-likelihood per vote changes by less than this.
    smoothing : float
        Dirichlet pseudo-count added to every confusion cell and class count
        (MAP estimation). It keeps an annotator with one vote from looking
        perfect; 0 gives plain maximum-likelihood DS as in crowd-kit.

    Attributes
    ----------
    posteriors_ : ndarray (n_items, n_classes)
    labels_, label_codes_ : ndarray (n_items,)
        Consensus label names and their codes into ``classes_``.
    confusion_ : ndarray (n_annotators, n_classes, n_classes)
        ``confusion_[a, k, l]`` = P(annotator a says l | true class k).
    class_priors_ : ndarray (n_classes,)
    n_iter_, converged_, log_likelihood_
    """

    def _m_step(
        self, stats: np.ndarray, class_counts: np.ndarray, previous: EMParameters | None
    ) -> EMParameters:
        confusion = em.normalize_confusion(stats, self.smoothing)
        return point_estimates(confusion, em.normalize_rows(class_counts + self.smoothing))


class OneCoinDawidSkene(EMAggregator):
    """One accuracy per annotator; errors spread evenly over the other classes.

    Far fewer parameters than full DS, so it suits annotators with few votes.
    ``smoothing`` is the same per-cell pseudo-count as in :class:`DawidSkene`
    (K on the correct side, K(K-1) on the wrong side of each annotator).
    """

    def _m_step(
        self, stats: np.ndarray, class_counts: np.ndarray, previous: EMParameters | None
    ) -> EMParameters:
        n_classes = stats.shape[1]
        correct = np.trace(stats, axis1=1, axis2=2) + n_classes * self.smoothing
        total = stats.sum(axis=(1, 2)) + n_classes * n_classes * self.smoothing
        accuracy = np.clip(correct / np.maximum(total, 1e-300), 1e-10, 1 - 1e-10)
        # Annotators with no weight at all (cannot happen with real votes) stay at chance.
        accuracy = np.where(total > 0, accuracy, 1.0 / n_classes)
        off = (1.0 - accuracy) / (n_classes - 1)
        confusion = np.repeat(off[:, None, None], n_classes, axis=1).repeat(n_classes, axis=2)
        idx = np.arange(n_classes)
        confusion[:, idx, idx] = accuracy[:, None]
        return point_estimates(confusion, em.normalize_rows(class_counts + self.smoothing))

    @property
    def skills_(self) -> np.ndarray:
        """Accuracy per annotator, the model's one parameter each."""
        self._check_fitted()
        return np.diagonal(self.confusion_, axis1=1, axis2=2)[:, 0]
