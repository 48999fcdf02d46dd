"""EBCC: Dawid–Skene whose true classes split into latent subtypes, so correlated
annotators are explained instead of counted twice.

Li, Rubinstein and Cohn, "Exploiting Worker Correlation for Label Aggregation in
Crowdsourcing" (ICML 2019). Each true class k has ``M`` subtypes; an item's
(class, subtype) pair is latent, and every annotator has one confusion row per
(class, subtype). When a group of annotators makes the same mistake on the same
kind of item, a subtype absorbs that shared pattern, where plain Dawid–Skene
would read their agreement as independent evidence.

Inference is mean-field variational Bayes: a Dirichlet posterior over the class
proportions, over each class's subtype weights and over every confusion row,
and a categorical posterior over (class, subtype) per item. The updates are the
authors'; this code differs in the stopping rule (the change of the variational
lower bound per vote, as the other models use the log-likelihood, instead of
the change of the class posteriors) and in clamping gold items to their class.

Two properties of the model, not of this code: the lower bound has several
modes on some data (on the ``web`` dataset about one seed in four ends 10 points
less accurate), which ``n_starts`` tempers; and a class no item belongs to is
ruled out, since a subtype weight under Dirichlet(a_pi / M = 0.01) has
E[log weight] near -90, so its posteriors sit at the e**-80 floor.

Pooled rows (``prior_strength``). By default every confusion row has the
authors' fixed prior, Dirichlet(a_v on the diagonal, b_v elsewhere), so an
annotator with three votes is taken to be as good as that prior says. With
``prior_strength=s`` each row's prior is centred on the crowd's typical row for
its class instead, with s pseudo-votes per cell, and that centre is learned by
empirical Bayes from all annotators' expected counts, as pooled Dawid–Skene
learns its own (:func:`pooled_row_prior`). The centre is one per class, shared
by its subtypes: a subtype with few items then borrows from its class (one
centre per (class, subtype), tried without the floor below, was less accurate on
the 20 shared datasets, mean 81.5% against 82.0% at seed 0, and twice as slow).
The centre's diagonal share never falls below the fixed prior's,
a_v / (a_v + (K-1) b_v): where the crowd is near chance on a class, a learned
centre lets that class's subtypes take any item the crowd splits on (without the
floor, on ZenCrowd that class's share of the items grew from 22% to 37% and
accuracy fell from 89% to 79%). The lower bound is then one on the log evidence
given the learned centre (type-II maximum likelihood); each move of the centre is
kept only where it raises the bound, so the bound still rises at every
iteration. On the shared datasets (3 seeds, ``benchmarks/ebcc_check.py``)
``prior_strength=1.5`` raises the mean accuracy from 78.8% to 81.2% (ducks +13
points, web +4, trec2010_rel4 +2, copyright's 9 gold items +33) and keeps the
ZenCrowd wins, but loses up to 1.9 points elsewhere (bluebirds, trec2011_vuurens,
ws_cf) and fits 3 times slower, so the authors' prior stays the default.

Per-item arrays are item-major ``(n_items, K*M)`` float32 with column ``k*M + m``:
with 20 to 50 columns, one sparse product with several right-hand sides is
faster than a mat-vec per column.
"""

from __future__ import annotations

import dataclasses
import warnings
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import digamma, gammaln

from ..data.gold import gold_per_item
from ..data.votes import VoteMatrix
from ..exceptions import ConvergenceWarning, InputError
from . import em
from .base import Aggregator, ProgressCallback
from .dawid_skene import point_estimates
from .pooled import fit_population_prior


@dataclasses.dataclass(frozen=True, eq=False)
class SubtypePosterior:
    """Dirichlet concentrations of the variational posterior over the parameters.

    ``rows`` (A, K, M, L): each annotator's confusion row per (class, subtype);
    ``subtypes`` (K, M): each class's subtype weights; ``classes`` (K,): the
    class proportions.
    """

    rows: np.ndarray
    subtypes: np.ndarray
    classes: np.ndarray

    @cached_property
    def expected_log_rows(self) -> np.ndarray:
        """E[log P(label l | class k, subtype m)] per annotator, (A, K, M, L).

        Cached: the E-step and the lower bound both need it, and its digammas
        are the costliest arithmetic of an iteration.
        """
        return dirichlet_expected_log(self.rows)

    def log_weights(self) -> np.ndarray:
        """``expected_log_rows`` as (A*L, K*M) float32, to multiply the vote counts by."""
        n_annotators, n_classes, n_subtypes, n_labels = self.rows.shape
        expected = self.expected_log_rows.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(
            expected.reshape(n_annotators * n_labels, n_classes * n_subtypes), dtype=np.float32
        )

    def log_prior(self) -> np.ndarray:
        """E[log P(class k, subtype m)] flattened to (K*M,), float64."""
        by_subtype = dirichlet_expected_log(self.subtypes)
        return (by_subtype + dirichlet_expected_log(self.classes)[:, None]).ravel()

    def kl_from_prior(self, beta: np.ndarray, a_pi: float, alpha: float) -> float:
        """KL(q(θ) || p(θ)): what the lower bound pays for moving away from the priors.

        ``beta`` (K, M, L) is the Dirichlet prior of every annotator's row per
        (class, subtype).
        """
        n_subtypes = self.subtypes.shape[1]
        return (
            dirichlet_kl(self.rows, beta[None], self.expected_log_rows)
            + dirichlet_kl(self.subtypes, np.full_like(self.subtypes, a_pi / n_subtypes))
            + dirichlet_kl(self.classes, np.full_like(self.classes, alpha))
        )

    def marginal_confusion(self) -> np.ndarray:
        """P(label l | class k) per annotator (A, K, L): rows' means mixed by E[subtype weight]."""
        means = self.rows / self.rows.sum(axis=-1, keepdims=True)
        shares = self.subtypes / self.subtypes.sum(axis=1, keepdims=True)
        return np.einsum("akml,km->akl", means, shares)


def dirichlet_expected_log(concentration: np.ndarray) -> np.ndarray:
    """E[log p] under Dirichlet(concentration) along the last axis (same shape)."""
    return digamma(concentration) - digamma(concentration.sum(axis=-1, keepdims=True))


def dirichlet_kl(
    posterior: np.ndarray, prior: np.ndarray, expected_log: np.ndarray | None = None
) -> float:
    """Sum over rows of KL(Dir(posterior) || Dir(prior)), rows along the last axis.

    ``prior`` may be any shape that broadcasts to ``posterior`` (its log-normaliser
    is computed once per distinct row); ``expected_log`` is
    ``dirichlet_expected_log(posterior)`` if the caller has it.
    """
    if expected_log is None:
        expected_log = dirichlet_expected_log(posterior)
    prior_norm = gammaln(prior).sum(axis=-1) - gammaln(prior.sum(axis=-1))
    return float(
        gammaln(posterior.sum(axis=-1)).sum()
        - gammaln(posterior).sum()
        + np.broadcast_to(prior_norm, posterior.shape[:-1]).sum()
        + ((posterior - prior) * expected_log).sum()
    )


def row_prior(n_classes: int, a_v: float, b_v: float) -> np.ndarray:
    """Dirichlet prior of every confusion row (K, L): a_v on the diagonal, b_v elsewhere.

    The diagonal weight says annotators are better than chance before any vote
    is seen, which fixes which latent class is which.
    """
    return np.full((n_classes, n_classes), float(b_v)) + np.eye(n_classes) * (a_v - b_v)


def expected_counts(
    counts_by_cell: sp.csr_matrix, responsibilities: np.ndarray, n_classes: int
) -> np.ndarray:
    """Expected votes per annotator, class, subtype and given label, (A, K, M, L) float64.

    Parameters
    ----------
    counts_by_cell : csr_matrix (A*L, n_items)
        The transposed vote counts (column ``a*L + l`` of the item counts as a row).
    responsibilities : ndarray (n_items, K*M)
        q(class k, subtype m) per item.
    """
    n_subtypes = responsibilities.shape[1] // n_classes
    stats = np.asarray(counts_by_cell @ responsibilities, dtype=np.float64)
    n_annotators = stats.shape[0] // n_classes
    return stats.reshape(n_annotators, n_classes, n_classes, n_subtypes).transpose(0, 2, 3, 1)


def row_log_evidence(stats: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """log of ∫ Π_l θ_l ** n_l Dir(θ | beta) dθ per row (last axis summed out).

    For fixed q(class, subtype) this is the lower bound's confusion-row part once
    q(θ) is updated, so a prior that raises it cannot lower the bound.
    """
    posterior = stats + beta
    return (
        gammaln(posterior).sum(axis=-1) - gammaln(posterior.sum(axis=-1))
        - (gammaln(beta).sum(axis=-1) - gammaln(beta.sum(axis=-1)))
    )


def pooled_row_prior(
    stats: np.ndarray, beta: np.ndarray, floor: float, n_steps: int = 1
) -> np.ndarray:
    """An empirical-Bayes move of the crowd's typical row per class, strength fixed.

    Every annotator's rows of class k, one per subtype, are taken as draws from
    one Dirichlet. Its mean moves by Minka's fixed point for the Dirichlet–
    multinomial of their expected counts (a step of
    :func:`~consensus.models.pooled.fit_population_prior` rescaled to the
    strength in use, which with the strength fixed is his update of the mean);
    then its diagonal share is raised to at least ``floor``, since a class whose
    typical row came near chance lets its subtypes take any item the crowd splits
    on. Minka's bound holds for whole counts, not expected ones, so a class keeps
    its new row only if that raises the evidence of its counts
    (:func:`row_log_evidence`): the move never lowers the lower bound.

    Parameters
    ----------
    stats : ndarray (A, K, M, L)
        Expected counts, from :func:`expected_counts`.
    beta : ndarray (K, M, L)
        The prior in use: one row per class, the same for every subtype.
    floor : float
        Least diagonal share of a typical row.

    Returns
    -------
    ndarray (K, M, L): the new prior, rows summing as ``beta``'s do.
    """
    n_annotators, n_classes, n_subtypes, n_labels = stats.shape
    rows = stats.transpose(0, 2, 1, 3).reshape(n_annotators * n_subtypes, n_classes, n_labels)
    old = beta[:, 0]
    strength = old.sum(axis=1, keepdims=True)
    diagonal = np.eye(n_classes, dtype=bool)
    centre = old
    for _ in range(n_steps):
        centre = fit_population_prior(rows, centre, n_steps=1)
        centre /= centre.sum(axis=1, keepdims=True)
        share = np.maximum(centre[diagonal], floor)
        off = np.where(diagonal, 0.0, centre)
        off *= ((1.0 - share) / np.maximum(off.sum(axis=1), 1e-300))[:, None]
        centre = (off + np.diag(share)) * strength
    gain = row_log_evidence(rows, centre[None]) - row_log_evidence(rows, old[None])
    kept = np.where(gain.sum(axis=0)[:, None] >= 0, centre, old)
    return np.repeat(kept[:, None], n_subtypes, axis=1)


def update_parameters(
    stats: np.ndarray,
    responsibilities: np.ndarray,
    beta: np.ndarray,
    a_pi: float,
    alpha: float,
) -> SubtypePosterior:
    """The variational M-step: priors plus expected counts.

    Parameters
    ----------
    stats : ndarray (A, K, M, L)
        Expected counts, from :func:`expected_counts`.
    responsibilities : ndarray (n_items, K*M)
        q(class k, subtype m) per item.
    beta : ndarray (K, M, L)
        The rows' Dirichlet prior.
    """
    n_classes, n_subtypes = beta.shape[:2]
    per_subtype = responsibilities.sum(axis=0, dtype=np.float64).reshape(n_classes, n_subtypes)
    return SubtypePosterior(
        rows=stats + beta[None],
        subtypes=per_subtype + a_pi / n_subtypes,
        classes=per_subtype.sum(axis=1) + alpha,
    )


def subtype_e_step(
    counts: sp.csr_matrix,
    log_weights: np.ndarray,
    log_prior: np.ndarray,
    allowed: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, float]:
    """q(class, subtype) per item (n_items, K*M) float32, and the sum of log normalisers.

    The sum is the data term of the lower bound (expected log joint plus the
    entropy of q). ``allowed`` = (rows, mask): items whose class is known and
    a (len(rows), K*M) mask of the columns of that class; the others get no mass.
    Log-probabilities are floored 80 nats below each item's best, so no
    posterior is exactly 0 where the votes leave any doubt.
    """
    joint = counts @ log_weights
    joint += log_prior.astype(joint.dtype)
    if allowed is not None:
        rows, mask = allowed
        joint[rows] = np.where(mask, joint[rows], -np.inf)
    posteriors, log_norm = em.normalize_log_inplace(joint.T)
    responsibilities = posteriors.T
    if allowed is not None:
        rows, mask = allowed
        kept = responsibilities[rows] * mask
        responsibilities[rows] = kept / kept.sum(axis=1, keepdims=True)
    return responsibilities, float(log_norm.sum(dtype=np.float64))


def initial_responsibilities(
    votes: VoteMatrix, n_subtypes: int, rng: np.random.Generator, gold_codes: np.ndarray | None
) -> np.ndarray:
    """Vote shares per class, split over subtypes at random (Dirichlet(1)), (n, K*M) float32.

    The random split is what lets subtypes differ at all; the shares keep the
    start on the side of majority vote. Items without votes start uniform.
    """
    counts = votes.label_counts
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.where(totals > 0, counts / np.maximum(totals, 1.0), 1.0 / votes.n_classes)
    shares = em.clamp_to_gold(shares, gold_codes)
    split = rng.standard_exponential((votes.n_items, votes.n_classes, n_subtypes), np.float32)
    split /= split.sum(axis=2, keepdims=True)
    split *= shares[:, :, None].astype(np.float32)
    return split.reshape(votes.n_items, votes.n_classes * n_subtypes)


def gold_columns(
    gold_codes: np.ndarray | None, n_classes: int, n_subtypes: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows of the gold items and a mask of their class's K*M columns; None without gold."""
    if gold_codes is None or not (gold_codes >= 0).any():
        return None
    rows = np.flatnonzero(gold_codes >= 0)
    column_class = np.repeat(np.arange(n_classes), n_subtypes)
    return rows, gold_codes[rows, None] == column_class[None, :]


def class_marginals(responsibilities: np.ndarray, n_classes: int) -> np.ndarray:
    """q(class) per item (n, K) float64, summed over subtypes and renormalised."""
    n_items = responsibilities.shape[0]
    by_class = responsibilities.reshape(n_items, n_classes, -1).sum(axis=2, dtype=np.float64)
    by_class /= by_class.sum(axis=1, keepdims=True)
    return by_class


@dataclasses.dataclass(frozen=True, eq=False)
class VariationalRun:
    """One start's outcome: the last E-step's q(class, subtype) and the q(θ) it used."""

    responsibilities: np.ndarray
    posterior: SubtypePosterior
    row_prior: np.ndarray
    history: list[float]
    converged: bool


class EBCC(Aggregator):
    """Enhanced Bayesian Classifier Combination (Li, Rubinstein & Cohn, ICML 2019).

    Parameters
    ----------
    n_subtypes : int
        Latent subtypes per true class (M). 1 gives Bayesian Dawid–Skene (IBCC).
    a_pi : float
        Dirichlet concentration of each class's subtype weights, spread as
        a_pi / M per subtype: small, so a subtype stays empty unless needed.
    alpha : float
        Symmetric Dirichlet concentration of the class proportions.
    a_v, b_v : float
        Prior pseudo-votes of every confusion row on its diagonal and off it.
    max_iter : int
        Upper bound on variational iterations per start.
    tol : float
        Stop when the lower bound per vote changes by less than this.
    n_starts : int
        Random starts; the one with the highest lower bound is kept. The bound
        has several modes on some data, so more starts make the fit less
        dependent on ``seed``.
    seed : int or None
        Seeds the random subtype splits: equal seeds give equal fits.
    prior_strength : float or None
        None (the default, the authors' model) gives every row the fixed prior
        above. A number centres each row's prior on the crowd's typical row for
        its class, learned by empirical Bayes, with this many pseudo-votes per
        cell; ``a_v`` and ``b_v`` then set only where the centre starts and the
        least diagonal share it may take (see the module docstring).

    Attributes
    ----------
    posteriors_, labels_, confusion_, class_priors_, params_
        As for every model. ``confusion_`` (A, K, L) mixes each annotator's
        subtype rows by the expected subtype weights of its class.
    elbo_, log_likelihood_ : float
        The variational lower bound on the log evidence (the same number).
    variational_ : SubtypePosterior
        The fitted Dirichlet concentrations.
    row_prior_ : ndarray (K, M, L)
        The Dirichlet prior of every annotator's row per (class, subtype) the
        bound was computed with: fixed, or the crowd's learned typical rows.
    """

    variational_: SubtypePosterior
    elbo_: float

    def __init__(
        self,
        *,
        n_subtypes: int = 10,
        a_pi: float = 0.1,
        alpha: float = 1.0,
        a_v: float = 4.0,
        b_v: float = 1.0,
        max_iter: int = 500,
        tol: float = 1e-7,
        n_starts: int = 1,
        seed: int | None = 0,
        prior_strength: float | None = None,
    ) -> None:
        self.n_subtypes = n_subtypes
        self.a_pi = a_pi
        self.alpha = alpha
        self.a_v = a_v
        self.b_v = b_v
        self.max_iter = max_iter
        self.tol = tol
        self.n_starts = n_starts
        self.seed = seed
        self.prior_strength = prior_strength

    def _validate(self) -> None:
        for name in ("n_subtypes", "max_iter", "n_starts"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"{name} must be a positive integer, not {value!r}")
        for name in ("a_pi", "alpha", "a_v", "b_v", "tol"):
            value = getattr(self, name)
            number = isinstance(value, (int, float, np.number)) and bool(np.isfinite(value))
            if not number or value < 0 or (value == 0 and name != "tol"):
                kind = "non-negative" if name == "tol" else "positive"
                raise InputError(f"{name} must be a {kind} number, not {value!r}")
        if self.seed is not None and not isinstance(self.seed, (int, np.integer)):
            raise InputError(f"seed must be an integer or None, not {self.seed!r}")
        strength = self.prior_strength
        if strength is not None and not (
            isinstance(strength, (int, float, np.number)) and np.isfinite(strength) and strength > 0
        ):
            raise InputError(f"prior_strength must be a positive number or None, not {strength!r}")

    def fit(
        self, votes: VoteMatrix, gold: Any = None, *, progress: ProgressCallback | None = None
    ) -> EBCC:
        """Variational Bayes from ``n_starts`` random subtype splits; keeps the best bound.

        Parameters
        ----------
        gold : GoldSet, mapping from item id to label, or int array (n_items,), optional
            Known answers: those items' class is fixed, their subtype stays free.
        progress : callable, optional
            Called as ``progress(iteration, lower_bound_per_vote)`` after each
            iteration, iterations counted across starts.
        """
        self._validate()
        gold_codes = gold_per_item(votes, gold)
        best: VariationalRun | None = None
        done = 0
        for child in np.random.SeedSequence(self.seed).spawn(self.n_starts):
            start = initial_responsibilities(
                votes, self.n_subtypes, np.random.default_rng(child), gold_codes
            )
            run = self._run(votes, start, gold_codes, progress, done)
            done += len(run.history)
            if best is None or run.history[-1] > best.history[-1]:
                best = run
        assert best is not None  # n_starts >= 1 was validated
        if not best.converged:
            steps = np.diff(best.history[-2:])
            change = abs(steps[0]) / votes.n_votes if steps.size else np.inf
            warnings.warn(
                f"EBCC did not converge in {self.max_iter} iterations (change {change:.1e} "
                f"per vote > tol {self.tol:.0e}); raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._store(votes, best, gold_codes)
        return self

    def _run(
        self,
        votes: VoteMatrix,
        responsibilities: np.ndarray,
        gold_codes: np.ndarray | None,
        progress: ProgressCallback | None,
        offset: int,
    ) -> VariationalRun:
        """One start: (M-step, E-step) until the bound settles; ends on an E-step."""
        counts = votes.item_annotator_label
        counts_by_cell = counts.T.tocsr()
        n_classes = votes.n_classes
        allowed = gold_columns(gold_codes, n_classes, self.n_subtypes)
        beta = self._starting_prior(n_classes)
        floor = self.a_v / (self.a_v + (n_classes - 1) * self.b_v)  # row_prior's diagonal share
        history: list[float] = []
        for iteration in range(1, self.max_iter + 1):
            stats = expected_counts(counts_by_cell, responsibilities, n_classes)
            if self.prior_strength is not None:
                beta = pooled_row_prior(stats, beta, floor)
            posterior = update_parameters(stats, responsibilities, beta, self.a_pi, self.alpha)
            responsibilities, data_term = subtype_e_step(
                counts, posterior.log_weights(), posterior.log_prior(), allowed
            )
            history.append(data_term - posterior.kl_from_prior(beta, self.a_pi, self.alpha))
            if progress is not None:
                progress(offset + iteration, history[-1] / votes.n_votes)
            if iteration > 1 and abs(history[-1] - history[-2]) / votes.n_votes < self.tol:
                return VariationalRun(responsibilities, posterior, beta, history, True)
        return VariationalRun(responsibilities, posterior, beta, history, False)

    def _starting_prior(self, n_classes: int) -> np.ndarray:
        """Every row's prior (K, M, L): ``row_prior``, rescaled to ``prior_strength``
        pseudo-votes per cell when the crowd's rows are learned."""
        beta = row_prior(n_classes, self.a_v, self.b_v)
        if self.prior_strength is not None:
            beta *= self.prior_strength * n_classes / beta.sum(axis=1, keepdims=True)
        return np.repeat(beta[:, None], self.n_subtypes, axis=1)

    def _store(self, votes: VoteMatrix, run: VariationalRun, gold_codes: np.ndarray | None) -> None:
        """Fitted attributes: the marginal Dawid–Skene view every model shares, and q(θ)."""
        posterior = run.posterior
        by_class = class_marginals(run.responsibilities, votes.n_classes)
        beta = run.row_prior
        priors = posterior.classes / posterior.classes.sum()
        params = dataclasses.replace(
            point_estimates(posterior.marginal_confusion(), priors),
            # expected counts summed over subtypes plus one prior: the marginal rows' Dirichlet
            concentration=posterior.rows.sum(axis=2) - (beta.sum(axis=1) - beta.mean(axis=1)),
        )
        self._store_fit(votes, params, em.clamp_to_gold(by_class, gold_codes), gold_codes)
        self.variational_ = posterior
        self.row_prior_ = beta
        self.n_iter_ = len(run.history)
        self.converged_ = run.converged
        self.elbo_ = self.log_likelihood_ = run.history[-1]
        self.log_likelihood_history_ = np.asarray(run.history)

    @property
    def subtype_weights_(self) -> np.ndarray:
        """Expected share of each subtype within its class, (K, M)."""
        self._check_fitted()
        weights = self.variational_.subtypes
        return weights / weights.sum(axis=1, keepdims=True)

    def item_log_likelihood(self, votes: VoteMatrix) -> np.ndarray:
        """log P(an item's votes), its class and subtype summed out, at the posterior means
        of the parameters (n_items,); ``votes`` shares the fitted codes (see the base)."""
        self._check_fitted()
        posterior = self.variational_
        n_annotators, n_classes, n_subtypes, n_labels = posterior.rows.shape
        means = posterior.rows / posterior.rows.sum(axis=-1, keepdims=True)
        weights = np.log(means).transpose(0, 3, 1, 2).reshape(
            n_annotators * n_labels, n_classes * n_subtypes)
        classes = posterior.classes / posterior.classes.sum()
        subtypes = posterior.subtypes / posterior.subtypes.sum(axis=1, keepdims=True)
        log_prior = (np.log(classes)[:, None] + em.safe_log(subtypes)).ravel()
        return em.item_log_evidence(votes.item_annotator_label, weights, log_prior)

    def predict_proba(self, votes: VoteMatrix) -> np.ndarray:
        """Posteriors of the items of ``votes`` from one variational E-step, (n_items, K).

        Columns follow ``classes_``; the training votes (or an equal copy) get
        ``posteriors_``. Annotators unseen during fit weigh their votes by the
        crowd's vote-weighted average expected log rows.
        """
        self._check_fitted()
        if self._is_training_votes(votes):
            return self.posteriors_.copy()
        n_known, n_classes = len(self.annotator_ids_), len(self.classes_)
        weights = self.variational_.log_weights().reshape(n_known, n_classes, -1)
        share = (self.annotator_votes_ / self.annotator_votes_.sum()).astype(np.float32)
        crowd = np.tensordot(share, weights, axes=1)[None]
        log_weights = np.concatenate([weights, crowd]).reshape((n_known + 1) * n_classes, -1)
        column = (
            self._annotator_map(votes)[votes.annotator_codes].astype(np.int64) * n_classes
            + self._class_map(votes)[votes.label_codes]
        )
        counts = sp.csr_matrix(
            (np.ones(votes.n_votes, dtype=np.float32), (votes.item_codes, column)),
            shape=(votes.n_items, (n_known + 1) * n_classes),
        )
        responsibilities, _ = subtype_e_step(counts, log_weights, self.variational_.log_prior())
        return class_marginals(responsibilities, n_classes)
