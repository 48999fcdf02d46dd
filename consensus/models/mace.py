"""MACE: Multi-Annotator Competence Estimation (Hovy et al., NAACL 2013).

On each item an annotator either knows the answer, with probability θ_a, and
gives the true class, or spams and draws a label from their own distribution
ξ_a. A vote l on an item of true class k therefore has probability

    P(l | k) = θ_a [l == k] + (1 − θ_a) ξ_al,

a confusion matrix θ_a I + (1 − θ_a) ξ_a, so the E-step is the Dawid–Skene
E-step over the sparse vote matrix. The true classes are uniform, as in MACE.
The M-step splits the expected (annotator, true class, label) counts into
"knew" and "spammed": a vote l of true class k was spam with probability
(1 − θ_a) ξ_al / P(l | k), all of it when l ≠ k.

Two fits, as in the original and in crowd-kit: ``"vb"`` (default) keeps Beta and
Dirichlet posteriors over θ_a and ξ_a and weighs votes by exp E[log θ] and
exp E[log ξ] (mean-field variational Bayes); ``"em"`` is MAP-EM with a small
pseudo-count. The likelihood surface has many optima, so fitting restarts from
several points (majority vote, then random parameters drawn as crowd-kit draws
them) and keeps the run with the best variational bound (or log-likelihood).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.special import digamma, gammaln

from ..data.gold import gold_per_item
from ..data.votes import VoteMatrix
from ..exceptions import ConvergenceWarning, InputError
from . import em
from .base import EMAggregator, ProgressCallback
from .bwa import class_shares
from .dawid_skene import point_estimates

#: Random starts draw each weight uniformly from [1, 2.5] and normalise (crowd-kit's
#: ``default_noise`` 0.5 in scipy's ``uniform(1, 1.5)``).
START_LOW, START_HIGH = 1.0, 2.5


@dataclass(frozen=True)
class SpamParameters:
    """MACE's parameters per annotator, as the E-step weighs votes and as reported.

    ``know`` (A,), ``spam`` (A,) and ``strategy`` (A, L) are the weights of
    "knew the answer", "spammed" and "spammed label l": θ, 1 − θ and ξ for EM,
    exp E[log ·] under the variational posterior for VB (there they sum to a
    little under one). ``competence`` and ``spam_labels`` are the posterior
    means of θ and ξ; ``penalty`` is KL(posterior ‖ prior), 0 for EM.
    """

    know: np.ndarray
    spam: np.ndarray
    strategy: np.ndarray
    competence: np.ndarray
    spam_labels: np.ndarray
    penalty: float = 0.0


def spam_confusion(know: np.ndarray, spam: np.ndarray, strategy: np.ndarray) -> np.ndarray:
    """θ I + (1 − θ) ξ per annotator, shape (A, K, K), for any of the weight triples."""
    confusion = (spam[:, None] * strategy)[:, None, :].repeat(strategy.shape[1], axis=1)
    idx = np.arange(strategy.shape[1])
    confusion[:, idx, idx] += know[:, None]
    return confusion


def spam_statistics(
    stats: np.ndarray, params: SpamParameters
) -> tuple[np.ndarray, np.ndarray]:
    """Expected votes given knowingly (A,) and spammed per label (A, L).

    ``stats`` (A, K, L) are expected (annotator, true class, label) counts from
    posteriors computed with ``params``; each cell is split in the proportions
    ``params`` gives its two causes.
    """
    confusion = spam_confusion(params.know, params.spam, params.strategy)
    ratio = stats / np.maximum(confusion, em.PROBABILITY_FLOOR)
    spammed = params.spam[:, None] * params.strategy * ratio.sum(axis=1)
    knew = params.know * np.trace(ratio, axis1=1, axis2=2)
    return knew, spammed


def expected_log_weights(concentration: np.ndarray) -> np.ndarray:
    """exp E[log p] under Dirichlet(concentration) along the last axis."""
    return np.exp(digamma(concentration) - digamma(concentration.sum(axis=-1, keepdims=True)))


def dirichlet_kl(posterior: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """KL(Dirichlet(posterior) ‖ Dirichlet(prior)) per row of the last axis."""
    total = posterior.sum(axis=-1)
    return (
        gammaln(total) - gammaln(posterior).sum(axis=-1)
        - gammaln(prior.sum(axis=-1)) + gammaln(prior).sum(axis=-1)
        + ((posterior - prior) * (digamma(posterior) - digamma(total)[..., None])).sum(axis=-1)
    )


def variational_update(
    knew: np.ndarray,
    spammed: np.ndarray,
    competence_prior: float,
    spam_prior: float,
    strategy_prior: float,
) -> SpamParameters:
    """Beta posterior over θ and Dirichlet posterior over ξ from expected counts."""
    coin = np.stack([knew + competence_prior, spammed.sum(axis=1) + spam_prior], axis=1)
    labels = spammed + strategy_prior
    coin_weights = expected_log_weights(coin)
    penalty = dirichlet_kl(coin, np.array([competence_prior, spam_prior])).sum()
    penalty += dirichlet_kl(labels, np.full(labels.shape[1], strategy_prior)).sum()
    return SpamParameters(
        know=coin_weights[:, 0],
        spam=coin_weights[:, 1],
        strategy=expected_log_weights(labels),
        competence=coin[:, 0] / coin.sum(axis=1),
        spam_labels=labels / labels.sum(axis=1, keepdims=True),
        penalty=float(penalty),
    )


def map_update(knew: np.ndarray, spammed: np.ndarray, pseudo_count: float) -> SpamParameters:
    """θ and ξ from expected counts plus ``pseudo_count`` per cell (MACE's EM)."""
    coin = em.normalize_rows(np.stack([knew, spammed.sum(axis=1)], axis=1) + pseudo_count)
    labels = em.normalize_rows(spammed + pseudo_count)
    return SpamParameters(coin[:, 0], coin[:, 1], labels, coin[:, 0], labels)


class MACE(EMAggregator):
    """Each annotator knows the answer or spams from their own label distribution.

    ``fit`` runs its own loop (restarts, the variational bound) on EM's pure
    functions; ``predict_proba`` on new votes is the shared E-step with ``params_``.

    Parameters
    ----------
    method : {"vb", "em"}
        Variational Bayes with the priors below (MACE's and crowd-kit's
        default), or MAP-EM with ``smoothing``.
    n_restarts : int
        Fits to run: the first starts from majority vote, the others from
        random parameters; the best bound wins.
    max_iter : int
        EM iterations at most per restart (crowd-kit always runs 50).
    tol : float
        Stop a restart when its bound per vote changes by less than this.
    smoothing : float
        For ``"em"``: pseudo-count per cell, divided by the number of classes
        (MACE's 0.01 / K).
    competence_prior, spam_prior : float
        Beta pseudo-counts of knowing and of spamming (crowd-kit: 0.5 each).
    strategy_prior : float
        Symmetric Dirichlet pseudo-count per label of each spam distribution
        (crowd-kit: 10).
    seed : int
        Seeds the random restarts.

    Attributes
    ----------
    competence_ : ndarray (n_annotators,)
        θ: probability that the annotator knows the answer (posterior mean for VB).
    spam_ : ndarray (n_annotators, n_classes)
        ξ: the annotator's label distribution when spamming.
    confusion_ : ndarray (n_annotators, n_classes, n_classes)
        θ I + (1 − θ) ξ. ``params_.log_weights`` are what the E-step uses: for VB
        the exp E[log ·] weights, a little below these.
    posteriors_, labels_, class_priors_ (uniform), params_, n_iter_, converged_,
    log_likelihood_, log_likelihood_history_
        As for every EM model, for the winning restart; for VB
        ``log_likelihood_`` is the variational lower bound on the log evidence.
    """

    competence_: np.ndarray
    spam_: np.ndarray

    def __init__(
        self,
        *,
        method: str = "vb",
        n_restarts: int = 3,
        max_iter: int = 100,
        tol: float = 1e-5,
        smoothing: float = 0.01,
        competence_prior: float = 0.5,
        spam_prior: float = 0.5,
        strategy_prior: float = 10.0,
        seed: int = 0,
    ) -> None:
        super().__init__(max_iter=max_iter, tol=tol, smoothing=smoothing)
        self.method = method
        self.n_restarts = n_restarts
        self.competence_prior = competence_prior
        self.spam_prior = spam_prior
        self.strategy_prior = strategy_prior
        self.seed = seed

    def _validate(self) -> None:
        super()._validate()
        if self.method not in ("vb", "em"):
            raise InputError(f"method must be 'vb' or 'em', not {self.method!r}")
        if not isinstance(self.n_restarts, (int, np.integer)) or self.n_restarts < 1:
            raise InputError(f"n_restarts must be a positive integer, not {self.n_restarts!r}")
        for name in ("competence_prior", "spam_prior", "strategy_prior"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise InputError(f"{name} must be a positive number, not {value!r}")

    # ------------------------------------------------------------ the steps
    def _update(self, stats: np.ndarray, previous: SpamParameters) -> SpamParameters:
        """M-step: split expected counts with the parameters that produced them, then fit."""
        knew, spammed = spam_statistics(stats, previous)
        if self.method == "vb":
            return variational_update(
                knew, spammed, self.competence_prior, self.spam_prior, self.strategy_prior
            )
        return map_update(knew, spammed, self.smoothing / stats.shape[1])

    def _starts(self, votes: VoteMatrix) -> list[SpamParameters]:
        """Majority vote's M-step (split evenly), then random parameters as crowd-kit draws them."""
        n_annotators, n_classes = votes.n_annotators, votes.n_classes
        even = SpamParameters(
            np.full(n_annotators, 0.5), np.full(n_annotators, 0.5),
            np.full((n_annotators, n_classes), 1.0 / n_classes),
            np.full(n_annotators, 0.5), np.full((n_annotators, n_classes), 1.0 / n_classes),
        )
        stats = em.confusion_statistics(votes.item_annotator_label, class_shares(votes), n_classes)
        starts = [self._update(stats, even)]
        rng = np.random.default_rng(self.seed)
        for _ in range(self.n_restarts - 1):
            coin = em.normalize_rows(rng.uniform(START_LOW, START_HIGH, (n_annotators, 2)))
            labels = em.normalize_rows(
                rng.uniform(START_LOW, START_HIGH, (n_annotators, n_classes))
            )
            starts.append(SpamParameters(coin[:, 1], coin[:, 0], labels, coin[:, 1], labels))
        return starts

    @staticmethod
    def _e_step_with(
        votes: VoteMatrix, params: SpamParameters, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        """Class-major posteriors (K, n) and the bound (log-likelihood minus the KL penalty)."""
        confusion = spam_confusion(params.know, params.spam, params.strategy)
        log_prior = np.full(votes.n_classes, -np.log(votes.n_classes))
        posteriors, log_lik = em.e_step(
            votes.item_annotator_label,
            em.log_weights_from_confusion(em.safe_log(confusion)),
            log_prior,
            out=out,
        )
        return posteriors, log_lik - params.penalty

    # ------------------------------------------------------------------ fit
    def fit(
        self, votes: VoteMatrix, gold: Any = None, *, progress: ProgressCallback | None = None
    ) -> MACE:
        """Fit from each start; keep the restart with the best final bound.

        Parameters
        ----------
        gold : GoldSet, mapping from item id to label, or int array (n_items,), optional
            Known answers, checked against ``votes`` by :func:`consensus.data.gold_per_item`;
            gold items are clamped to their label throughout.
        progress : callable, optional
            Called as ``progress(iteration, bound_per_vote)`` after each iteration,
            iterations counted across restarts.
        """
        self._validate()
        gold_codes = gold_per_item(votes, gold)
        best: tuple[float, SpamParameters, np.ndarray, list[float], bool] | None = None
        step = 0
        for start in self._starts(votes):
            params, history, converged = start, [], False
            posteriors = None
            for _ in range(self.max_iter):
                posteriors, bound = self._e_step_with(votes, params, out=posteriors)
                posteriors = em.clamp_to_gold(posteriors, gold_codes, class_major=True)
                stats = em.confusion_statistics(
                    votes.item_annotator_label, posteriors, votes.n_classes
                )
                params = self._update(stats, params)
                history.append(bound)
                step += 1
                if progress is not None:
                    progress(step, bound / votes.n_votes)
                if len(history) > 1 and abs(bound - history[-2]) / votes.n_votes < self.tol:
                    converged = True
                    break
            posteriors, bound = self._e_step_with(votes, params, out=posteriors)
            if best is None or bound > best[0]:
                best = (bound, params, posteriors, history, converged)
        assert best is not None  # n_restarts >= 1 was validated
        bound, params, posteriors, history, converged = best
        if not converged:
            change = abs(history[-1] - history[-2]) / votes.n_votes if len(history) > 1 else np.inf
            warnings.warn(
                f"MACE did not converge in {self.max_iter} iterations (change {change:.1e} "
                f"per vote > tol {self.tol:.0e}); raise max_iter or check annotators with "
                f"very few votes",
                ConvergenceWarning,
                stacklevel=2,
            )
        confusion = spam_confusion(params.competence, 1.0 - params.competence, params.spam_labels)
        effective = spam_confusion(params.know, params.spam, params.strategy)
        fitted = replace(
            point_estimates(confusion, np.full(votes.n_classes, 1.0 / votes.n_classes)),
            log_weights=em.log_weights_from_confusion(em.safe_log(effective)),
        )
        posteriors = em.clamp_to_gold(em.as_probabilities(posteriors), gold_codes)
        self._store_fit(votes, fitted, posteriors, gold_codes)
        self.competence_ = params.competence
        self.spam_ = params.spam_labels
        self.n_iter_ = len(history)
        self.converged_ = converged
        self.log_likelihood_ = bound
        self.log_likelihood_history_ = np.asarray(history)
        return self
