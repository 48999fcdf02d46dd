"""One interface for every aggregation model, and the one EM loop they share.

Models follow scikit-learn's contract: the constructor only stores keyword
arguments, ``fit(votes, gold=None)`` learns attributes ending in ``_`` and
returns ``self``, and ``fit(v).predict(v)`` equals ``fit_predict(v)``.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data.gold import gold_per_item
from ..data.votes import VoteMatrix
from ..exceptions import ConvergenceWarning, InputError, InputWarning, NotFittedError
from . import em

if TYPE_CHECKING:
    from .persist import WarmStart

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
    #: Pseudo-counts (A, K, L) every M-step adds to the expected counts: an earlier
    #: model's confusion matrices kept as a prior (see :meth:`EMAggregator.start_from`).
    history: np.ndarray | None = None


def vote_shares(votes: VoteMatrix, dtype: type = np.float64) -> np.ndarray:
    """Share of each item's votes per class, class-major (K, n_items).

    Majority vote's posteriors and crowd-kit's DS initialisation: one sparse
    mat-vec per class with the (annotator, label) → "said class k" indicator.
    """
    counts = votes.item_annotator_label
    said = np.tile(np.eye(votes.n_classes, dtype=counts.dtype), (votes.n_annotators, 1))
    shares = np.zeros((votes.n_classes, votes.n_items), dtype=counts.dtype)
    for k in range(votes.n_classes):
        em.add_product(counts, np.ascontiguousarray(said[:, k]), shares[k])
    shares = shares.astype(dtype, copy=False)  # small whole numbers: exact in float32
    n_votes = np.diff(counts.indptr).astype(dtype)
    shares /= np.maximum(n_votes, 1)
    shares[:, n_votes == 0] = 1.0 / votes.n_classes  # an item nobody voted on: no evidence
    return shares


def soft_majority(votes: VoteMatrix) -> np.ndarray:
    """Vote shares per item, item-major (n_items, K) float64."""
    return np.ascontiguousarray(vote_shares(votes).T)


class Aggregator:
    """Shared public surface: fit, predict, predict_proba, fit_predict, parameters.

    Subclasses list their constructor's keyword arguments and store them as
    attributes of the same name; ``get_params``/``set_params`` read that list,
    so :func:`sklearn.base.clone` and pickling work on every model.
    """

    # Fitted attributes every model sets (declared for type checkers).
    posteriors_: np.ndarray
    classes_: np.ndarray
    labels_: np.ndarray
    label_codes_: np.ndarray
    ties_: np.ndarray
    params_: EMParameters
    confusion_: np.ndarray
    class_priors_: np.ndarray
    annotator_ids_: np.ndarray
    annotator_votes_: np.ndarray
    n_iter_: int
    converged_: bool
    log_likelihood_: float
    log_likelihood_history_: np.ndarray
    gold_codes_: np.ndarray | None
    votes_fingerprint_: str

    #: Whether the model's votes are weighed by learned annotator confusions (EM
    #: models): only then does a correlated-votes discount of its posteriors apply.
    weighs_annotators: bool = True

    def fit(
        self, votes: VoteMatrix, gold: Any = None, *, progress: ProgressCallback | None = None
    ) -> Aggregator:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(
            name for name, p in signature.parameters.items()
            if name != "self" and p.kind == p.KEYWORD_ONLY
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments, as scikit-learn estimators expose them.

        ``deep`` is accepted for scikit-learn; no model holds another model.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Aggregator:
        """Change constructor arguments; unknown names are an InputError that lists the known."""
        known = self._param_names()
        for name, value in params.items():
            if name not in known:
                raise InputError(
                    f"{type(self).__name__} has no parameter {name!r}; "
                    f"its parameters are {', '.join(known)}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self) -> None:
        # params_, not posteriors_: a model read from a file knows its parameters but
        # keeps no training items (consensus.models.persist).
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(votes) first"
            )

    def predict_proba(self, votes: VoteMatrix) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def predict(self, votes: VoteMatrix) -> np.ndarray:
        """Most probable class name per item of ``votes``."""
        posteriors = self.predict_proba(votes)
        return self.classes_[posteriors.argmax(axis=1)]

    def fit_predict(
        self, votes: VoteMatrix, gold: Any = None, *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        return self.fit(votes, gold, progress=progress).labels_

    def _is_training_votes(self, votes: VoteMatrix) -> bool:
        """Whether ``votes`` has the content the model was fitted on (any equal copy)."""
        return votes.fingerprint == self.votes_fingerprint_

    def _store_fit(
        self,
        votes: VoteMatrix,
        params: EMParameters,
        posteriors: np.ndarray,
        gold_codes: np.ndarray | None,
    ) -> None:
        """Set the fitted attributes every model shares (all but the EM history)."""
        self.params_ = params
        self.confusion_ = params.confusion
        self.class_priors_ = params.class_priors
        self.annotator_ids_ = votes.annotator_ids
        self.annotator_votes_ = votes.votes_per_annotator.astype(np.float64)
        self.votes_fingerprint_ = votes.fingerprint
        self.gold_codes_ = gold_codes
        self.posteriors_ = posteriors
        self.label_codes_ = posteriors.argmax(axis=1)
        self.labels_ = votes.classes[self.label_codes_]
        self.classes_ = votes.classes
        best, second = em.top_two(posteriors)
        self.ties_ = best - second <= 1e-12

    def _class_map(self, votes: VoteMatrix) -> np.ndarray:
        """Column of ``classes_`` for each of ``votes.classes``; an unknown class is an error."""
        lookup = {str(c): i for i, c in enumerate(self.classes_)}
        unknown = [str(c) for c in votes.classes if str(c) not in lookup]
        if unknown:
            raise InputError(
                f"label(s) {', '.join(map(repr, unknown))} were not classes when the model "
                f"was fitted ({', '.join(lookup)})"
            )
        return np.array([lookup[str(c)] for c in votes.classes], dtype=np.int64)

    def _annotator_map(self, votes: VoteMatrix) -> np.ndarray:
        """Row of ``annotator_ids_`` for each of ``votes.annotator_ids``; ``len`` if unseen."""
        known = pd.Index([str(a) for a in self.annotator_ids_])
        position = known.get_indexer([str(a) for a in votes.annotator_ids])
        return np.where(position >= 0, position, len(known))

    def item_log_likelihood(self, votes: VoteMatrix) -> np.ndarray:
        """log P(an item's votes) under the fitted parameters, its class summed out (n_items,).

        ``votes`` must share the fitted votes' annotator and class codes (a subset or
        superset of items from ``take_votes``): scored on items the fit did not see,
        this is the evidence the votes give for the model. Float64: differences
        between models are small per vote.
        """
        self._check_fitted()
        return em.item_log_evidence(votes.item_annotator_label, self.params_.log_weights,
                                    self.params_.log_prior)

    @property
    def accuracy_(self) -> np.ndarray:
        """Expected accuracy per annotator: sum_k prior_k * P(says k | true k)."""
        self._check_fitted()
        diagonal = np.diagonal(self.confusion_, axis1=1, axis2=2)
        return diagonal @ self.class_priors_


class EMAggregator(Aggregator):
    """EM over the vote matrix; subclasses supply the M-step.

    The loop: soft majority vote (or an earlier model's posteriors, see
    :meth:`start_from`) → M-step, then (E-step, M-step) until the
    log-likelihood per vote changes by less than ``tol``, then one final E-step
    so the stored posteriors are those of the stored parameters.
    """

    def __init__(
        self,
        *,
        max_iter: int = 100,
        tol: float = 1e-5,
        smoothing: float = 0.01,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing

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
        return vote_shares(votes, em.WORK_DTYPE)

    def _e_step(
        self, votes: VoteMatrix, params: EMParameters, posteriors: np.ndarray
    ) -> tuple[np.ndarray, float]:
        """Class-major item posteriors (K, n) and log-likelihood given the parameters.

        ``posteriors`` (the previous E-step's, already used by the M-step) is
        overwritten with the new ones; models whose E-step removes each item's
        own contribution from the counts read it first.
        """
        return em.e_step(
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
        """M-step: sufficient statistics of class-major posteriors, then parameters.

        ``previous.history`` (a warm start's prior) is added to the expected counts and
        carried on to the next M-step.
        """
        stats = em.confusion_statistics(votes.item_annotator_label, posteriors, votes.n_classes)
        history = None if previous is None else previous.history
        if history is not None:
            stats = stats + history
        params = self._m_step(stats, em.class_totals(posteriors), previous)
        return params if history is None else replace(params, history=history)

    def start_from(self, model: Aggregator, history_weight: float = 0.0) -> EMAggregator:
        """Make the next ``fit`` start from a fitted model instead of the vote shares.

        The first E-step uses ``model``'s confusion matrices and priors (annotators
        matched by id, those it never saw given its population prior, see
        :func:`consensus.models.persist.with_annotators`), and a pooled model also
        starts from its crowd prior. With ``history_weight`` W > 0 each annotator
        ``model`` knew keeps its confusion matrix as a prior worth W votes in every
        M-step (spread over true classes by ``model``'s class priors); with 0 it is a
        starting point only, and EM ends at a fixed point of these votes alone.
        Returns ``self``. Not a constructor parameter: cloning forgets it.
        """
        from .persist import check_warm_start

        check_warm_start(self, history_weight)
        self._start = (model, float(history_weight))
        return self

    def _warm_start(self, votes: VoteMatrix) -> WarmStart | None:
        """The start :meth:`start_from` asked for, made for ``votes`` (once), or None."""
        start = self.__dict__.pop("_start", None)
        if start is None:
            return None
        from .persist import warm_start

        return warm_start(start[0], votes, start[1], self)

    def fit(
        self, votes: VoteMatrix, gold: Any = None, *, progress: ProgressCallback | None = None
    ) -> EMAggregator:
        """Run EM on ``votes``; gold items (if given) are clamped to their label throughout.

        Parameters
        ----------
        gold : GoldSet, mapping from item id to label, or int array (n_items,), optional
            Known answers, checked against ``votes`` by :func:`consensus.data.gold_per_item`.
        progress : callable, optional
            Called as ``progress(iteration, log_likelihood_per_vote)`` after each
            iteration (not a model parameter: it does not change the fit).
        """
        self._validate()
        gold_codes = gold_per_item(votes, gold)
        posteriors = self._initial_posteriors(votes)
        anchored = gold_codes is not None and bool((gold_codes >= 0).any())
        single = votes.votes_per_item.max(initial=0) <= 1 and not anchored
        warm = self._warm_start(votes)
        if warm is not None and not single:  # single votes: each keeps its vote (below)
            posteriors = np.ascontiguousarray(warm.posteriors.T, dtype=posteriors.dtype)
        posteriors = em.clamp_to_gold(posteriors, gold_codes, class_major=True)
        params = self._parameters(votes, posteriors, None if warm is None else warm.previous)
        if single:
            return self._fit_single_votes(votes, params, posteriors, gold_codes)
        previous = None
        change = np.inf
        converged = False
        history = []
        iteration = 0
        for iteration in range(1, self.max_iter + 1):
            posteriors, log_lik = self._e_step(votes, params, posteriors)
            posteriors = em.clamp_to_gold(posteriors, gold_codes, class_major=True)
            params = self._parameters(votes, posteriors, params)
            history.append(log_lik)
            if progress is not None:
                progress(iteration, log_lik / votes.n_votes)
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
        posteriors = em.clamp_to_gold(em.as_probabilities(posteriors), gold_codes)
        self._store_fit(votes, params, posteriors, gold_codes)
        self.n_iter_ = iteration
        self.converged_ = converged
        self.log_likelihood_ = log_lik
        self.log_likelihood_history_ = np.asarray(history)
        return self

    def _fit_single_votes(
        self,
        votes: VoteMatrix,
        params: EMParameters,
        posteriors: np.ndarray,
        gold_codes: np.ndarray | None,
    ) -> EMAggregator:
        """No item has two votes and no gold anchors the fit: nothing shows who agrees with
        whom, so no confusion matrix can be learned (EM would drift to one class for every
        item). Each item keeps its vote; the confusion matrices are one M-step on those
        votes, as for majority vote. (With gold, EM learns from the gold items and runs.)"""
        warnings.warn(
            f"every item has a single vote, so {type(self).__name__} cannot learn how "
            f"reliable annotators are; each item's consensus is its vote. Collect a second "
            f"vote on some items (or give gold) to weigh annotators",
            InputWarning,
            stacklevel=3,
        )
        self._store_fit(votes, params, em.as_probabilities(posteriors), gold_codes)
        _, self.log_likelihood_ = em.e_step(
            votes.item_annotator_label, params.log_weights, params.log_prior
        )
        self.n_iter_ = 0
        self.converged_ = True
        self.log_likelihood_history_ = np.zeros(0)
        return self

    def predict_proba(self, votes: VoteMatrix) -> np.ndarray:
        """Posteriors of the items of ``votes`` under the fitted parameters, (n_items, K).

        Columns follow ``classes_``. The votes the model was fitted on (or any
        equal copy) get the fitted ``posteriors_``, gold clamps included.
        Annotators are matched by id; those unseen during fit are given the
        crowd's vote-weighted average confusion, so their votes still count, modestly.
        """
        self._check_fitted()
        if self._is_training_votes(votes):
            return self.posteriors_.copy()
        log_weights = self.params_.log_weights
        same_annotators = np.array_equal(
            votes.annotator_ids.astype(str), self.annotator_ids_.astype(str)
        )
        if same_annotators and np.array_equal(votes.classes.astype(str), self.classes_.astype(str)):
            counts = votes.item_annotator_label
        else:
            counts, log_weights = self._aligned(votes)
        posteriors, _ = em.e_step(counts, log_weights, self.params_.log_prior)
        return em.as_probabilities(posteriors)

    def _aligned(self, votes: VoteMatrix) -> tuple[sp.csr_matrix, np.ndarray]:
        """Counts and log-weights with annotators and classes matched by name."""
        n_known, k = self.confusion_.shape[0], self.confusion_.shape[1]
        position = self._annotator_map(votes)
        class_map = self._class_map(votes)
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
