"""Dawid–Skene: one confusion matrix per annotator, and its one-coin special case.

Also the rule that keeps a Dawid–Skene model's latent class k meaning label k
(:class:`BetterThanChance`, used by :class:`DawidSkene` and the pooled model; the
one-coin model's rows give each class its own label with the annotator's
accuracy, which ties them already). Nothing in the likelihood ties a latent class to
a label: the vote-share start does, and EM may wander off it. Where annotators
share a bias on some items, a class almost nobody chooses can be repurposed as
"the items that group reads differently" and win a tenth of all items while
its label is a fraction of a percent of the votes (a *phantom* class; see
:func:`consensus.simulate.phantom_class_crowd`). The one assumption that makes a
class mean its label is that the crowd, taken together, gives the true class
more often than a uniform guess would (1/K of the time). EM checks it after
every E-step; a class that fails it is *held to its votes* for the rest of the
fit: it may then win only items where it is among the most-voted labels, which
restores the assumption by construction. (Weaker and stronger forms were
tried: projecting the posteriors onto "better than chance" lets the class keep
every item the constraint can pay for, 1.4-3.5 times its true share on the
simulation; diagonal dominance also binds on a real dataset whose crowd truly
reads one class mostly as another, costing it 2.4 points. The hold never fires
on the 20 real datasets of ``benchmarks/accuracy.py``.)
"""

from __future__ import annotations

import numpy as np

from ..data.votes import VoteMatrix
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


def crowd_accuracy(
    posteriors: np.ndarray, counts: np.ndarray, per_item: np.ndarray | None = None
) -> np.ndarray:
    """Share of the votes on each class's items that give that class, shape (K,).

    ``posteriors`` and ``counts`` (votes per label per item) are class-major
    (K, n_items) of one dtype; items weigh by their posterior, so this is the
    diagonal of the crowd's vote-weighted confusion matrix. ``per_item``, the
    votes per item, may be passed to save summing ``counts`` again. NaN for a
    class with no weight. (BLAS dot products: a float32 sum over a million items
    is off by about 1e-7 relative, far below what a comparison with 1/K needs.)
    """
    if per_item is None:
        per_item = counts.sum(axis=0)
    said = np.array([np.dot(p, c) for p, c in zip(posteriors, counts, strict=True)],
                    dtype=np.float64)
    total = np.array([np.dot(p, per_item) for p in posteriors], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return said / total


def among_most_voted(counts: np.ndarray) -> np.ndarray:
    """Whether each class is among each item's most-voted labels (ties count), (K, n)."""
    return counts >= counts.max(axis=0, keepdims=True)


def hold_to_votes(
    posteriors: np.ndarray, counts: np.ndarray, held: np.ndarray
) -> tuple[np.ndarray, float]:
    """Class-major posteriors with each held class kept only where it is most voted.

    Parameters
    ----------
    posteriors, counts : ndarray (K, n_items)
        Posteriors and votes per label per item.
    held : ndarray of bool (K,)
        The classes to hold.

    Returns
    -------
    posteriors : ndarray (K, n_items)
        A renormalised copy.
    log_kept : float
        Sum over items of the log of the posterior mass kept: what the
        log-likelihood loses by the restriction.
    """
    dropped = held[:, None] & ~among_most_voted(counts)
    restricted = np.where(dropped, 0, posteriors).astype(posteriors.dtype)
    kept = restricted.sum(axis=0)
    # at least one most-voted label is always kept; its posterior is >= exp(-80) > 0
    kept = np.maximum(kept, np.finfo(restricted.dtype).tiny)
    restricted /= kept
    return restricted, float(np.log(kept).sum(dtype=np.float64))


class BetterThanChance(EMAggregator):
    """EM whose latent class k keeps meaning label k (see the module docstring).

    After every E-step the crowd's accuracy on each class (:func:`crowd_accuracy`)
    is compared with chance, 1/K; a class below it is held to its votes
    (:func:`hold_to_votes`) for the rest of the fit. The log-likelihood is that
    of the restricted posteriors. Gold items are clamped after the rule, so
    their gold label stands either way.

    Attributes
    ----------
    held_classes_ : ndarray of bool (n_classes,)
        The classes that were held: without the rule, EM would have let them
        drift away from their labels. Their consensus comes from their votes.
    """

    #: Whether the rule applies; a subclass may switch it off to reproduce
    #: unconstrained EM (``benchmarks/phantom_class.py`` does, to show the drift).
    hold_below_chance: bool = True

    held_classes_: np.ndarray

    # The rule's state lives for one fit: made with the starting posteriors,
    # updated by every E-step, stored as ``held_classes_`` with the fit.
    def _initial_posteriors(self, votes: VoteMatrix) -> np.ndarray:
        self._chance = ChanceState.for_votes(votes) if self.hold_below_chance else None
        return super()._initial_posteriors(votes)

    def _unheld_e_step(
        self, votes: VoteMatrix, params: EMParameters, posteriors: np.ndarray
    ) -> tuple[np.ndarray, float]:
        """The model's own E-step, before the rule; models with their own E-step override this."""
        return super()._e_step(votes, params, posteriors)

    def _e_step(
        self, votes: VoteMatrix, params: EMParameters, posteriors: np.ndarray
    ) -> tuple[np.ndarray, float]:
        posteriors, log_lik = self._unheld_e_step(votes, params, posteriors)
        state = getattr(self, "_chance", None)
        return (posteriors, log_lik) if state is None else state.apply(posteriors, log_lik)

    def _store_fit(
        self,
        votes: VoteMatrix,
        params: EMParameters,
        posteriors: np.ndarray,
        gold_codes: np.ndarray | None,
    ) -> None:
        super()._store_fit(votes, params, posteriors, gold_codes)
        state = self.__dict__.pop("_chance", None)
        self.held_classes_ = (
            state.held.copy() if state is not None else np.zeros(votes.n_classes, dtype=bool)
        )

    def predict_proba(self, votes: VoteMatrix) -> np.ndarray:
        """As :meth:`EMAggregator.predict_proba`, with held classes kept only where most voted."""
        posteriors = super().predict_proba(votes)
        held = getattr(self, "held_classes_", None)  # absent in models pickled before the rule
        if self._is_training_votes(votes) or held is None or not held.any():
            return posteriors
        counts = np.zeros((len(self.classes_), votes.n_items))
        counts[self._class_map(votes)] = votes.label_counts.T
        restricted, _ = hold_to_votes(np.ascontiguousarray(posteriors.T), counts, held)
        return np.ascontiguousarray(restricted.T)


class ChanceState:
    """What the better-than-chance rule keeps during one fit: votes per label per
    item (K, n) in EM's work dtype, votes per item, and the classes held so far."""

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = counts
        self.per_item = counts.sum(axis=0)
        self.held = np.zeros(counts.shape[0], dtype=bool)

    @classmethod
    def for_votes(cls, votes: VoteMatrix) -> ChanceState:
        return cls(np.ascontiguousarray(votes.label_counts.T, dtype=em.WORK_DTYPE))

    def apply(self, posteriors: np.ndarray, log_lik: float) -> tuple[np.ndarray, float]:
        """Hold every class now below chance (and those held before); class-major in and out."""
        accuracy = crowd_accuracy(posteriors, self.counts, self.per_item)
        self.held |= accuracy < 1.0 / self.counts.shape[0]  # NaN (no weight) compares False
        if not self.held.any():
            return posteriors, log_lik
        restricted, log_kept = hold_to_votes(posteriors, self.counts, self.held)
        return restricted, log_lik + log_kept


class DawidSkene(BetterThanChance):
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
        perfect; 0 gives plain maximum-likelihood DS as in crowd-kit (unless a
        class has to be held to its votes; see :class:`BetterThanChance`).

    Attributes
    ----------
    posteriors_ : ndarray (n_items, n_classes)
    labels_, label_codes_ : ndarray (n_items,)
        Consensus label names and their codes into ``classes_``.
    confusion_ : ndarray (n_annotators, n_classes, n_classes)
        ``confusion_[a, k, l]`` = P(annotator a says l | true class k).
    class_priors_ : ndarray (n_classes,)
    held_classes_ : ndarray of bool (n_classes,)
        Classes held to their votes by the better-than-chance rule
        (:class:`BetterThanChance`); none on well-behaved data, where the fit
        is plain Dawid–Skene.
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
