"""Bayesian weighted averaging (BWA; Li, Rubinstein and Cohn, WWW 2019).

Each class k is its own regression, one versus the rest: a vote's indicator
y = [label == k] is Normal around the item's score z_ik with the annotator's
precision v_ak for that class (the paper's label-specific weights), v_ak has a
Gamma prior and z_ik a Normal prior around the class mean μ_k with precision
λ. Coordinate ascent on the joint density (the authors' "EM") alternates

    μ_k  = mean_i z_ik
    v_ak = (a_v + N_a) / (b_k + Σ_{a's votes} (z_ik − y)²)
    z_ik = (λ μ_k + Σ_{votes on i} v_ak y) / (λ + Σ_{votes on i} v_ak)

so an item's score is a precision-weighted average of its votes, and an
annotator's precision is their votes (plus a_v pseudo-votes) over their squared
disagreement with the scores (plus b_k). b_k gives the pseudo-votes the crowd's
typical squared error at the start, Σ_i W_i z_ik (1 − z_ik) / Σ_i W_i, times
4 (1 − 1/K) with the authors' prior correction. Each class stops on its own when
no score moves by more than ``tol`` relative. Repeated votes count as separate
observations (the authors' code merges repeats of the same label).

The scores of one item need not sum to one; the posteriors are the scores
normalised. Everything is per class over per-vote arrays or the sparse counts:
no loop over votes, items or annotators.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..data.gold import gold_per_item
from ..data.votes import VoteMatrix
from ..exceptions import ConvergenceWarning, InputError
from . import em
from .base import Aggregator, ProgressCallback
from .dawid_skene import point_estimates

#: Smallest prior squared error b_k: when every vote agrees (or a_v is 0) the
#: crowd's error is 0 and a perfect annotator's precision would be infinite.
PRIOR_ERROR_FLOOR = 1e-6

#: Absolute part of the per-class stopping rule, as in ``numpy.allclose``.
SCORE_ATOL = 1e-8


def prior_error(
    scores: np.ndarray, votes_per_item: np.ndarray, prior_votes: float, correction: float
) -> np.ndarray:
    """Gamma rate b_k per class (K,): a_v pseudo-votes of the crowd's typical squared error.

    ``scores`` is class-major (K, n); an item's z (1 − z) is the squared error
    expected of one vote on it, averaged over votes (items weighted by their votes).
    """
    typical = (scores * (1.0 - scores) * votes_per_item).sum(axis=1) / max(votes_per_item.sum(), 1)
    return np.maximum(prior_votes * typical * correction, PRIOR_ERROR_FLOOR)


def squared_errors(
    by_annotator: sp.csr_matrix, scores: np.ndarray, k: int, n_said: np.ndarray
) -> np.ndarray:
    """Σ over each annotator's votes of (z_i − [label == k])², shape (A,), for class k.

    Expanded as Σ z² − 2 Σ_{votes for k} z + (votes for k): two products with the
    transposed counts ``by_annotator`` ((annotator, label) × item), ``scores`` the
    class's z (n,), ``n_said`` each annotator's votes for k.
    """
    n_labels = by_annotator.shape[0] // n_said.size
    square = np.zeros(by_annotator.shape[0])
    em.add_product(by_annotator, scores * scores, square)
    linear = np.zeros(by_annotator.shape[0])
    em.add_product(by_annotator, scores, linear)
    total = square.reshape(-1, n_labels).sum(axis=1) - 2.0 * linear.reshape(-1, n_labels)[:, k]
    return np.maximum(total + n_said, 0.0)  # rounding must not make it negative


def precisions(
    errors: np.ndarray, n_votes: np.ndarray, prior_votes: float, prior_rate: float
) -> np.ndarray:
    """The mode of each annotator's Gamma posterior precision for one class, (A,)."""
    return (prior_votes + n_votes) / (prior_rate + errors)


def weighted_scores(
    counts: sp.csr_matrix, precision: np.ndarray, k: int, mean: float, mean_weight: float
) -> np.ndarray:
    """z_i for class k (n,): precision-weighted share of votes for k, shrunk to ``mean``.

    ``counts`` is the item × (annotator, label) matrix (float64), ``precision``
    the class's v per annotator (its rows' annotators).
    """
    n_labels = counts.shape[1] // precision.size
    for_k = np.zeros((precision.size, n_labels))
    for_k[:, k] = precision
    numerator = np.full(counts.shape[0], mean_weight * mean)
    em.add_product(counts, for_k.ravel(), numerator)
    denominator = np.full(counts.shape[0], mean_weight)
    em.add_product(counts, np.repeat(precision, n_labels), denominator)
    return numerator / denominator


def log_density(
    precision: np.ndarray,
    errors: np.ndarray,
    n_votes: np.ndarray,
    prior_votes: float,
    prior_rate: float,
    scores: np.ndarray,
    mean: float,
    mean_weight: float,
) -> float:
    """Log joint density of one class's indicators, precisions and scores, up to a constant.

    The objective every update of the loop raises: (N_a + a_v)/2 log v − v (S_a + b)/2
    per annotator, and −λ/2 (z_i − μ)² per item.
    """
    log_v = np.log(np.maximum(precision, em.PROBABILITY_FLOOR))
    annotators = (n_votes + prior_votes) @ log_v - precision @ (errors + prior_rate)
    # (not a BLAS dot: a threaded one over every item stalls on a busy machine)
    spread = np.square(scores - mean).sum()
    return float(0.5 * annotators - 0.5 * mean_weight * spread)


def normalize_scores(scores: np.ndarray) -> np.ndarray:
    """Item-major posteriors (n, K) from class-major scores (K, n); all-zero rows uniform."""
    total = scores.sum(axis=0)
    safe = np.where(total > 0, total, 1.0)
    out = np.where(total > 0, scores / safe, 1.0 / scores.shape[0])
    return np.ascontiguousarray(out.T)


class BWA(Aggregator):
    """Bayesian weighted averaging: votes weighed by per-annotator, per-class precision.

    Built for highly redundant, mostly reliable crowds, where it stays close to
    majority vote but discounts annotators who disagree with the consensus.

    Parameters
    ----------
    prior_votes : float
        a_v in the paper (default 15): pseudo-votes in each annotator's
        precision prior, each with the crowd's typical squared error.
    mean_weight : float
        λ in the paper (default 1): precision of each score's prior around the
        class mean, as if one more annotator of that precision voted the mean.
    prior_correction : bool
        Multiply the prior squared error by 4 (1 − 1/K), the authors' correction.
    max_iter : int
        Iterations at most per class (the authors' 500).
    tol : float
        A class stops when every score moves by at most ``tol`` times itself
        (plus 1e-8), the authors' rule with their 1e-3.
    smoothing : float
        Pseudo-count per cell of the reported ``confusion_`` (one Dawid–Skene
        M-step on the posteriors, as for majority vote); it does not change the fit.

    Attributes
    ----------
    precision_ : ndarray (n_annotators, n_classes)
        v: weight of one vote of the annotator in the class's average.
    weights_ : ndarray (n_annotators, n_classes)
        ``precision_`` over the crowd's vote-weighted mean precision for the
        class: 1 is a typical annotator, 2 counts as two of them.
    scores_ : ndarray (n_items, n_classes)
        z before normalising; ``posteriors_`` are these rows over their sums.
    class_means_ : ndarray (n_classes,)
        μ, the mean score per class the scores are shrunk towards.
    posteriors_, labels_, confusion_, class_priors_, params_, n_iter_,
    converged_, log_likelihood_, log_likelihood_history_
        As for every model. ``log_likelihood_`` is the log joint density of the
        fit (up to a constant), the quantity every iteration increases.
    """

    precision_: np.ndarray
    weights_: np.ndarray
    scores_: np.ndarray
    class_means_: np.ndarray

    def __init__(
        self,
        *,
        prior_votes: float = 15.0,
        mean_weight: float = 1.0,
        prior_correction: bool = True,
        max_iter: int = 500,
        tol: float = 1e-3,
        smoothing: float = 0.01,
    ) -> None:
        self.prior_votes = prior_votes
        self.mean_weight = mean_weight
        self.prior_correction = prior_correction
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing

    def _validate(self) -> None:
        if not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise InputError(f"max_iter must be a positive integer, not {self.max_iter!r}")
        for name in ("prior_votes", "tol", "smoothing"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise InputError(f"{name} must be a non-negative number, not {value!r}")
        if not np.isfinite(self.mean_weight) or self.mean_weight <= 0:
            raise InputError(f"mean_weight must be a positive number, not {self.mean_weight!r}")

    def fit(
        self, votes: VoteMatrix, gold: Any = None, *, progress: ProgressCallback | None = None
    ) -> BWA:
        """Fit the scores and precisions; gold items (if given) keep their known class.

        Parameters
        ----------
        gold : GoldSet, mapping from item id to label, or int array (n_items,), optional
            Known answers, checked against ``votes`` by :func:`consensus.data.gold_per_item`.
        progress : callable, optional
            Called as ``progress(iteration, log_density_per_vote)`` after each iteration.
        """
        self._validate()
        gold_codes = gold_per_item(votes, gold)
        n_classes, n_annotators = votes.n_classes, votes.n_annotators
        counts = votes.item_annotator_label.astype(np.float64)
        scores = em.clamp_to_gold(class_shares(votes), gold_codes, class_major=True)
        n_votes = votes.votes_per_annotator.astype(np.float64)
        correction = 4.0 * (1.0 - 1.0 / n_classes) if self.prior_correction else 1.0
        rate = prior_error(
            scores, votes.votes_per_item.astype(np.float64), self.prior_votes, correction
        )
        by_annotator = counts.T.tocsr()
        said = np.asarray(counts.sum(axis=0)).reshape(n_annotators, n_classes)
        errors = np.stack(
            [squared_errors(by_annotator, scores[k], k, said[:, k]) for k in range(n_classes)],
            axis=1,
        )
        precision = np.zeros((n_annotators, n_classes))
        means = scores.mean(axis=1)
        density = np.zeros(n_classes)
        done = np.zeros(n_classes, dtype=bool)
        history = []
        iteration = 0
        for iteration in range(1, self.max_iter + 1):
            for k in np.flatnonzero(~done).tolist():
                means[k] = scores[k].mean()
                precision[:, k] = precisions(errors[:, k], n_votes, self.prior_votes, rate[k])
                updated = weighted_scores(counts, precision[:, k], k, means[k], self.mean_weight)
                if gold_codes is not None:
                    known = gold_codes >= 0
                    updated[known] = gold_codes[known] == k
                done[k] = bool(np.all(
                    np.abs(updated - scores[k]) <= SCORE_ATOL + self.tol * np.abs(updated)
                ))
                scores[k] = updated
                errors[:, k] = squared_errors(by_annotator, updated, k, said[:, k])
                density[k] = log_density(
                    precision[:, k], errors[:, k], n_votes, self.prior_votes, rate[k],
                    updated, means[k], self.mean_weight,
                )
            history.append(float(density.sum()))
            if progress is not None:
                progress(iteration, history[-1] / votes.n_votes)
            if done.all():
                break
        if not done.all():
            warnings.warn(
                f"BWA did not converge in {self.max_iter} iterations (scores of "
                f"{int((~done).sum())} of {n_classes} classes still moving by more than tol "
                f"{self.tol:.0e}); raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        posteriors = em.clamp_to_gold(normalize_scores(scores), gold_codes)
        stats = em.confusion_statistics(
            votes.item_annotator_label, np.ascontiguousarray(posteriors.T), n_classes
        )
        params = point_estimates(
            em.normalize_confusion(stats, self.smoothing),
            em.normalize_rows(posteriors.sum(axis=0) + self.smoothing),
        )
        self._store_fit(votes, params, posteriors, gold_codes)
        self.precision_ = precision
        crowd = crowd_precision(precision, n_votes)
        self.weights_ = precision / np.where(crowd > 0, crowd, 1.0)
        self.scores_ = np.ascontiguousarray(scores.T)
        self.class_means_ = means
        self.n_iter_ = iteration
        self.converged_ = bool(done.all())
        self.log_likelihood_ = history[-1]
        self.log_likelihood_history_ = np.asarray(history)
        return self

    def predict_proba(self, votes: VoteMatrix) -> np.ndarray:
        """Normalised scores of the items of ``votes`` under the fitted precisions, (n, K).

        Columns follow ``classes_``. The training votes (or an equal copy) get
        ``posteriors_``, gold clamps included. Annotators are matched by id;
        unseen ones get the crowd's vote-weighted mean precision per class.
        """
        self._check_fitted()
        if self._is_training_votes(votes):
            return self.posteriors_.copy()
        n_known, n_classes = self.precision_.shape
        position = self._annotator_map(votes)
        class_map = self._class_map(votes)
        precision = np.vstack(
            [self.precision_, crowd_precision(self.precision_, self.annotator_votes_)]
        )
        cols = position[votes.annotator_codes].astype(np.int64) * n_classes
        cols += class_map[votes.label_codes]
        counts = sp.csr_matrix(
            (np.ones(votes.n_votes), (votes.item_codes, cols)),
            shape=(votes.n_items, (n_known + 1) * n_classes),
        )
        scores = np.stack([
            weighted_scores(counts, precision[:, k], k, self.class_means_[k], self.mean_weight)
            for k in range(n_classes)
        ])
        return normalize_scores(scores)


def crowd_precision(precision: np.ndarray, n_votes: np.ndarray) -> np.ndarray:
    """Vote-weighted mean precision per class (K,): what an unseen annotator is given."""
    total = n_votes.sum()
    if total <= 0:
        return precision.mean(axis=0)
    return np.asarray(n_votes @ precision / total)


def class_shares(votes: VoteMatrix) -> np.ndarray:
    """Class-major (K, n) share of each item's votes per class, float64: the starting scores."""
    counts = votes.label_counts
    total = counts.sum(axis=1, keepdims=True)
    return np.ascontiguousarray((counts / np.where(total > 0, total, 1.0)).T)
