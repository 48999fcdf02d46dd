"""Pooled Dawid–Skene: annotators borrow strength from the crowd, and doubt shows.

Each annotator's confusion row for true class k is drawn from a population
prior Dirichlet(alpha_k), and alpha is learned from all annotators by empirical
Bayes inside EM. An annotator with 3 votes is pulled towards the crowd's typical
behaviour; one with 3,000 votes is effectively on their own.

The E-step is variational Bayes: it weighs a vote by the *expected* log
probability under the annotator's posterior Dirichlet,
psi(alpha + n) - psi(sum(alpha + n)), which is lower than the log of the mean
when n is small. So the item posterior carries the uncertainty of estimating a
confusion matrix from few votes instead of pretending it is known.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

from ..exceptions import InputError
from . import _em
from .base import EMAggregator, EMParameters, ProgressCallback

#: Bounds on every prior pseudo-count: below, digamma explodes; above, the prior
#: would overrule any amount of data.
ALPHA_MIN, ALPHA_MAX = 1e-2, 1e4


def expected_log_dirichlet(concentration: np.ndarray) -> np.ndarray:
    """E[log p] under Dirichlet(concentration) along the last axis."""
    return digamma(concentration) - digamma(concentration.sum(axis=-1, keepdims=True))


def fit_population_prior(
    stats: np.ndarray, start: np.ndarray, n_steps: int = 50, rtol: float = 1e-5
) -> np.ndarray:
    """Empirical-Bayes Dirichlet prior per true class from annotators' expected counts.

    Maximises the Dirichlet-multinomial likelihood of every annotator's row of
    counts with Minka's fixed point (2000), run for all classes at once.

    Parameters
    ----------
    stats : ndarray (A, K, L)
        Expected counts of given label l on items of true class k, per annotator.
    start : ndarray (K, L)
        Where to start (the previous iteration's prior: a warm start).
    """
    counts = stats
    row_totals = counts.sum(axis=2)  # (A, K)
    seen = row_totals > 1e-9
    alpha = np.clip(start, ALPHA_MIN, ALPHA_MAX)
    for _ in range(n_steps):
        total = alpha.sum(axis=1)  # (K,)
        numerator = np.where(
            seen[:, :, None], digamma(counts + alpha[None]) - digamma(alpha)[None], 0.0
        ).sum(axis=0)
        denominator = np.where(
            seen, digamma(row_totals + total[None]) - digamma(total)[None], 0.0
        ).sum(axis=0)
        updated = alpha * numerator / np.maximum(denominator, 1e-300)[:, None]
        updated = np.clip(np.where(np.isfinite(updated), updated, alpha), ALPHA_MIN, ALPHA_MAX)
        if np.all(np.abs(updated - alpha) <= rtol * alpha):
            return updated
        alpha = updated
    return alpha


class PooledDawidSkene(EMAggregator):
    """Dawid–Skene with a learned population prior and variational Bayes posteriors.

    Parameters
    ----------
    max_iter, tol, progress
        As in :class:`~consensus.models.DawidSkene`.
    prior_strength : float
        Total pseudo-count of the starting prior per confusion row, before
        empirical Bayes adapts it (its diagonal gets half of it).
    class_prior : float
        Symmetric Dirichlet pseudo-count on the class priors.
    learn_prior : bool
        Learn the population prior from the crowd (empirical Bayes). When False
        the starting prior stays fixed.
    smoothing : float
        Accepted for interface compatibility; the learned prior replaces it.
    """

    def __init__(
        self,
        *,
        max_iter: int = 100,
        tol: float = 1e-5,
        prior_strength: float = 4.0,
        class_prior: float = 1.0,
        learn_prior: bool = True,
        smoothing: float = 0.0,
        progress: ProgressCallback | None = None,
    ) -> None:
        super().__init__(max_iter=max_iter, tol=tol, smoothing=smoothing, progress=progress)
        self.prior_strength = prior_strength
        self.class_prior = class_prior
        self.learn_prior = learn_prior

    def _validate(self) -> None:
        super()._validate()
        for name in ("prior_strength", "class_prior"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise InputError(f"{name} must be a positive number, not {value!r}")

    def _starting_prior(self, n_classes: int) -> np.ndarray:
        off = self.prior_strength / 2 / max(n_classes - 1, 1)
        alpha = np.full((n_classes, n_classes), off)
        np.fill_diagonal(alpha, self.prior_strength / 2)
        return alpha

    def _m_step(
        self, stats: np.ndarray, class_counts: np.ndarray, previous: EMParameters | None
    ) -> EMParameters:
        n_classes = stats.shape[1]
        alpha = (
            previous.hyper
            if previous is not None and previous.hyper is not None
            else self._starting_prior(n_classes)
        )
        if self.learn_prior:
            alpha = fit_population_prior(stats, alpha)
        concentration = stats + alpha[None]
        class_concentration = class_counts + self.class_prior
        return EMParameters(
            log_weights=_em.log_weights_from_confusion(expected_log_dirichlet(concentration)),
            log_prior=expected_log_dirichlet(class_concentration),
            confusion=concentration / concentration.sum(axis=2, keepdims=True),
            class_priors=class_concentration / class_concentration.sum(),
            hyper=alpha,
        )

    @property
    def population_prior_(self) -> np.ndarray:
        """The learned Dirichlet prior per true class, shape (K, L)."""
        self._check_fitted()
        assert self.params_.hyper is not None  # set by every M-step of this model
        return self.params_.hyper
