"""One interface for every aggregation model, and the one EM loop they share.

Models follow scikit-learn's contract: the constructor only stores keyword
arguments, ``fit(votes, gold=None)`` learns attributes ending in ``_`` and
returns ``self``, and ``fit(v).predict(v)`` equals ``fit_predict(v)``.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import ConvergenceWarning, InputError, NotFittedError
from ..votes import VoteMatrix
from . import _em

ProgressCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class EMParameters:
    """What an M-step produces and an E-step consumes.

    ``log_weights`` (A*L, K) is what the E-step multiplies the vote counts by:
    log P(given l | true k). ``confusion`` (A, K, L) and ``class_priors`` (K,)
    are the estimates reported to users.
    """

    log_weights: np.ndarray
    log_prior: np.ndarray
    confusion: np.ndarray
    class_priors: np.ndarray
    #: Model-specific hyperparameters carried from one M-step to the next (warm starts).
    hyper: np.ndarray | None = None
    #: Dirichlet concentration of each confusion row (A, K, L), for Bayesian models.
    concentration: np.ndarray | None = None


def gold_codes_for(votes: VoteMatrix, gold: Any) -> np.ndarray | None:
    """Per-item gold class codes (-1 where unknown) from any accepted gold form.

    Accepts None, an object with ``per_item(n_items)`` (a GoldSet), an int
    array of length n_items, or a mapping / Series from item id to label name.
    """
    if gold is None:
        return None
    if hasattr(gold, "per_item"):
        codes = np.asarray(gold.per_item(votes.n_items), dtype=np.int64)
    elif isinstance(gold, (Mapping, pd.Series)):
        series = pd.Series(gold)
        position = pd.Index([str(i) for i in votes.item_ids]).get_indexer(
            [str(i).strip() for i in series.index]
        )
        codes = np.full(votes.n_items, -1, dtype=np.int64)
        found = position >= 0
        codes[position[found]] = [votes.class_index(v) for v in series.to_numpy()[found]]
    else:
        codes = np.asarray(gold, dtype=np.int64)
    if codes.shape != (votes.n_items,):
        raise InputError(f"gold must give one code per item ({votes.n_items}), got {codes.shape}")
    if codes.max(initial=-1) >= votes.n_classes or codes.min(initial=-1) < -1:
        raise InputError("gold codes must be -1 (unknown) or a class code")
    return codes


def vote_shares(votes: VoteMatrix, dtype: type = np.float64) -> np.ndarray:
    """Share of each item's votes per class, class-major (K, n_items).

    Majority vote's posteriors and crowd-kit's DS initialisation: one sparse
    mat-vec per class with the (annotator, label) → "said class k" indicator.
    """
    counts = votes.item_annotator_label
    said = np.tile(np.eye(votes.n_classes, dtype=counts.dtype), (votes.n_annotators, 1))
    shares = np.zeros((votes.n_classes, votes.n_items), dtype=counts.dtype)
    for k in range(votes.n_classes):
        _em.add_product(counts, np.ascontiguousarray(said[:, k]), shares[k])
    shares = shares.astype(dtype, copy=False)  # small whole numbers: exact in float32
    shares /= np.diff(counts.indptr).astype(dtype)
    return shares


def soft_majority(votes: VoteMatrix) -> np.ndarray:
    """Vote shares per item, item-major (n_items, K) float64."""
    return np.ascontiguousarray(vote_shares(votes).T)


class Aggregator:
    """Shared public surface: fit, predict, predict_proba, fit_predict."""

    # Fitted attributes every model sets (declared for type checkers).
    posteriors_: np.ndarray
    classes_: np.ndarray
    labels_: np.ndarray
    label_codes_: np.ndarray
    ties_: np.ndarray
    confusion_: np.ndarray
    class_priors_: np.ndarray
    n_iter_: int
    converged_: bool
    log_likelihood_: float
    gold_codes_: np.ndarray | None

    def fit(self, votes: VoteMatrix, gold: Any = None) -> Aggregator:  # pragma: no cover
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, as scikit-learn estimators expose them."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and k[0] != "_"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if k != "progress")
        return f"{type(self).__name__}({args})"

    def _check_fitted(self) -> None:
        if not hasattr(self, "posteriors_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(votes) first"
            )

    def predict_proba(self, votes: VoteMatrix) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def predict(self, votes: VoteMatrix) -> np.ndarray:
        """Most probable class name per item of ``votes``."""
        posteriors = self.predict_proba(votes)
        return self.classes_[posteriors.argmax(axis=1)]

    def fit_predict(self, votes: VoteMatrix, gold: Any = None) -> np.ndarray:
        return self.fit(votes, gold).labels_

    def fit_predict_proba(self, votes: VoteMatrix, gold: Any = None) -> np.ndarray:
        return self.fit(votes, gold).posteriors_

    def _store_posteriors(self, votes: VoteMatrix, posteriors: np.ndarray) -> None:
        self.posteriors_ = posteriors
        self.label_codes_ = posteriors.argmax(axis=1)
        self.labels_ = votes.classes[self.label_codes_]
        self.classes_ = votes.classes
        best, second = _em.top_two(posteriors)
        self.ties_ = best - second <= 1e-12



    @property
    def accuracy_(self) -> np.ndarray:
        """Expected accuracy per annotator: sum_k prior_k * P(says k | true k)."""
        self._check_fitted()
        diagonal = np.diagonal(self.confusion_, axis1=1, axis2=2)
        return diagonal @ self.class_priors_


class EMAggregator(Aggregator):
    """EM over the vote matrix; subclasses supply the M-step.

    The loop: soft majority vote → M-step, then (E-step, M-step) until the
    log-likelihood per vote changes by less than ``tol``, then one final E-step
    so the stored posteriors are those of the stored parameters.
    """

    def __init__(
        self,
        *,
        max_iter: int = 100,
        tol: float = 1e-5,
        smoothing: float = 0.01,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing
        self.progress = progress

    # ------------------------------------------------------------- hooks
    def _m_step(
        self, stats: np.ndarray, class_counts: np.ndarray, previous: EMParameters | None
    ) -> EMParameters:
        """Parameters from expected counts (A, K, L) and expected class counts (K,).

        ``previous`` is the last M-step's result (None at the start), for models
        whose hyperparameters are refined across iterations.
        """
        raise NotImplementedError

    def _initial_posteriors(self, votes: VoteMatrix) -> np.ndarray:
        """Class-major (K, n) vote shares, as crowd-kit starts."""
        return vote_shares(votes, _em.WORK_DTYPE)

    def _e_step(
        self, votes: VoteMatrix, params: EMParameters, posteriors: np.ndarray
    ) -> tuple[np.ndarray, float]:
        """Class-major item posteriors (K, n) and log-likelihood given the parameters.

        ``posteriors`` (the previous E-step's, already used by the M-step) is
        overwritten with the new ones; models whose E-step removes each item's
        own contribution from the counts read it first.
        """
        return _em.e_step(
            votes.item_annotator_label, params.log_weights, params.log_prior, out=posteriors
        )

    # -------------------------------------------------------------- loop
    def _validate(self) -> None:
        if not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise InputError(f"max_iter must be a positive integer, not {self.max_iter!r}")
        if not np.isfinite(self.tol) or self.tol < 0:
            raise InputError(f"tol must be a non-negative number, not {self.tol!r}")
        if not np.isfinite(self.smoothing) or self.smoothing < 0:
            raise InputError(f"smoothing must be a non-negative number, not {self.smoothing!r}")

    def _parameters(
        self,
        votes: VoteMatrix,
        posteriors: np.ndarray,
        previous: EMParameters | None = None,
    ) -> EMParameters:
        """M-step: sufficient statistics of class-major posteriors, then parameters."""
        stats = _em.confusion_statistics(votes.item_annotator_label, posteriors, votes.n_classes)
        return self._m_step(stats, _em.class_totals(posteriors), previous)

    def fit(self, votes: VoteMatrix, gold: Any = None) -> EMAggregator:
        """Run EM on ``votes``; gold items (if given) are clamped to their label throughout."""
        self._validate()
        gold_codes = gold_codes_for(votes, gold)
        posteriors = self._initial_posteriors(votes)
        posteriors = _em.clamp_to_gold(posteriors, gold_codes, class_major=True)
        params = self._parameters(votes, posteriors)
        previous = None
        change = np.inf
        converged = False
        history = []
        iteration = 0
        for iteration in range(1, self.max_iter + 1):
            posteriors, log_lik = self._e_step(votes, params, posteriors)
            posteriors = _em.clamp_to_gold(posteriors, gold_codes, class_major=True)
            params = self._parameters(votes, posteriors, params)
            history.append(log_lik)
            if self.progress is not None:
                self.progress(iteration, log_lik / votes.n_votes)
            if previous is not None:
                change = abs(log_lik - previous) / votes.n_votes
                if change < self.tol:
                    converged = True
                    break
            previous = log_lik
        if not converged:
            warnings.warn(
                f"{type(self).__name__} did not converge in {self.max_iter} iterations "
                f"(change {change:.1e} per vote > tol {self.tol:.0e}); raise max_iter or "
                f"check annotators with very few votes",
                ConvergenceWarning,
                stacklevel=2,
            )
        posteriors, log_lik = self._e_step(votes, params, posteriors)
        posteriors = _em.clamp_to_gold(_em.as_probabilities(posteriors), gold_codes)
        self._store_params(votes, params)
        self._store_posteriors(votes, posteriors)
        self.gold_codes_ = gold_codes
        self.n_iter_ = iteration
        self.converged_ = converged
        self.log_likelihood_ = log_lik
        self.log_likelihood_history_ = np.asarray(history)
        return self

    def _store_params(self, votes: VoteMatrix, params: EMParameters) -> None:
        self.params_ = params
        self.confusion_ = params.confusion
        self.class_priors_ = params.class_priors
        self.annotator_ids_ = votes.annotator_ids
        self.annotator_votes_ = votes.votes_per_annotator.astype(np.float64)
        self._training_votes = weakref.ref(votes)

    def predict_proba(self, votes: VoteMatrix) -> np.ndarray:
        """Posteriors of the items of ``votes`` under the fitted parameters.

        Annotators unseen during fit are given the crowd's vote-weighted
        average confusion, so their votes still count, modestly.
        """
        self._check_fitted()
        if votes is self._training_votes():
            return self.posteriors_.copy()
        log_weights = self.params_.log_weights
        if votes.annotator_ids is self.annotator_ids_ and np.array_equal(
            votes.classes, self.classes_
        ):
            counts = votes.item_annotator_label
        else:
            counts, log_weights = self._aligned(votes)
        posteriors, _ = _em.e_step(counts, log_weights, self.params_.log_prior)
        return _em.as_probabilities(posteriors)

    def _aligned(self, votes: VoteMatrix) -> tuple[sp.csr_matrix, np.ndarray]:
        """Counts and log-weights with annotators and classes matched by name."""
        n_known, k = self.confusion_.shape[0], self.confusion_.shape[1]
        known_ids = pd.Index([str(a) for a in self.annotator_ids_])
        position = known_ids.get_indexer([str(a) for a in votes.annotator_ids])
        position = np.where(position >= 0, position, n_known)
        class_map = np.array([self._class_code(c) for c in votes.classes])
        weights = self.params_.log_weights.reshape(n_known, k, k)
        share = self.annotator_votes_ / self.annotator_votes_.sum()
        crowd = np.tensordot(share, weights, axes=1)[None]
        log_weights = np.concatenate([weights, crowd]).reshape((n_known + 1) * k, k)
        cols = position[votes.annotator_codes].astype(np.int64) * k + class_map[votes.label_codes]
        counts = sp.csr_matrix(
            (np.ones(votes.n_votes, dtype=np.float32), (votes.item_codes, cols)),
            shape=(votes.n_items, (n_known + 1) * k),
        )
        return counts, log_weights

    def _class_code(self, name: Any) -> int:
        lookup = {str(c): i for i, c in enumerate(self.classes_)}
        if str(name) not in lookup:
            raise InputError(f"label {name!r} was not a class when the model was fitted")
        return lookup[str(name)]
