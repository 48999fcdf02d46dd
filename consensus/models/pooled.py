"""Pooled Dawid–Skene: annotators borrow strength from the crowd.

Each annotator's confusion row for true class k is drawn from a Dirichlet
prior centred on the crowd's typical row for class k, and that centre is
learned from all annotators by empirical Bayes inside EM (Minka's fixed point
for the Dirichlet-multinomial). The prior carries a fixed number of
pseudo-votes, so an annotator with 3 votes behaves like the crowd's typical
annotator, class-specific error pattern included, while one with 3,000 votes
is effectively on their own. (Learning the prior's strength too was tried:
across real datasets it swung from 0.3 to over 100 pseudo-votes per cell and
flipped results; a fixed strength was more accurate everywhere.)

Optionally (``leave_one_out=True``) parameter uncertainty also enters the item
posterior: a vote is weighed by the posterior mean of the annotator's
confusion row computed from their counts on the *other* items — each item's
own expected contribution is removed first (a collapsed, leave-one-item-out
E-step, as in CVB0 for topic models), so no vote vouches for itself. Fitting
with it costs accuracy on some real datasets, so it is off by default; instead
``consensus aggregate`` reports each label's confidence from one such E-step
at the fitted parameters (:meth:`PooledDawidSkene.leave_one_out_proba`).
(A variational E-step with expected log-probabilities was tried and rejected:
digamma punishes the small error cells most, which makes votes look *more*
decisive, not less.)
"""

from __future__ import annotations

import numpy as np

from ..data.votes import VoteMatrix
from ..exceptions import InputError
from . import em
from .base import EMParameters
from .dawid_skene import BetterThanChance, hold_to_votes
from .dirichlet import SharedRowCounts, fixed_point_update

#: Bounds on every prior pseudo-count: below, digamma explodes; above, the prior
#: would overrule any amount of data.
ALPHA_MIN, ALPHA_MAX = 1e-2, 1e4


def fit_population_prior(
    stats: np.ndarray, start: np.ndarray, n_steps: int = 50, rtol: float = 1e-5
) -> np.ndarray:
    """Empirical-Bayes Dirichlet prior per true class from annotators' expected counts.

    Maximises the Dirichlet-multinomial likelihood of every annotator's row of
    counts with Minka's fixed point (2000), run for all classes at once. Its sums
    over annotators come from :class:`SharedRowCounts`: one pass over ``stats``,
    then steps whose cost grows with K² and the few large counts, not with A K².

    Parameters
    ----------
    stats : ndarray (A, K, L)
        Expected counts of given label l on items of true class k, per annotator.
    start : ndarray (K, L)
        Where to start (the previous iteration's prior: a warm start).
    """
    rows = SharedRowCounts(stats, floor=ALPHA_MIN)
    alpha = np.clip(start, ALPHA_MIN, ALPHA_MAX)
    for _ in range(n_steps):
        updated = fixed_point_update(
            alpha, rows.label_gains(alpha), rows.total_gains(alpha), (ALPHA_MIN, ALPHA_MAX)
        )
        if np.all(np.abs(updated - alpha) <= rtol * alpha):
            return updated
        alpha = updated
    return alpha


#: Votes in cells with fewer expected votes than this get the exact leave-one-out
#: form; above it t/c <= 1/4, and SERIES_TERMS terms of the series leave
#: posteriors within 0.004 of the exact form (tests/test_pooled.py checks 0.005).
EXACT_BELOW = 4.0
SERIES_TERMS = 1
#: Shares t/c below this leave out a remainder under x**2 / 2 = 5e-9 nats.
NEGLIGIBLE_SHARE = 1e-4


def cavity_e_step(
    votes: VoteMatrix,
    concentration: np.ndarray,
    log_prior: np.ndarray,
    previous: np.ndarray,
) -> tuple[np.ndarray, float]:
    """Item posteriors with each annotator's confusion row estimated without the item.

    A vote (annotator a, label l) on item i weighs class k by
    ``log((c - t) / (C - t))`` with ``c = c[a,k,l]``, ``C = C[a,k]`` the row total
    and ``t = previous[k, i]``, the share the item itself put into those counts.
    That is ``log(c/C) - t (1/c - 1/C)`` plus a remainder of order ``(t/c)**2``:
    the first two terms are two sparse mat-vecs per class for all items at once;
    votes in cells too small for the remainder to vanish get it added exactly, for
    the classes where the item's share of the cell is not negligible.

    Parameters
    ----------
    concentration : ndarray (A, K, L)
        Prior plus expected counts, the counts computed from ``previous``.
    previous : ndarray (K, n_items)
        The class-major posteriors those counts were computed from.
    """
    n_annotators, n_classes, n_labels = concentration.shape
    cells = concentration.transpose(0, 2, 1).reshape(n_annotators * n_labels, n_classes)
    totals = np.repeat(concentration.sum(axis=2), n_labels, axis=0)  # row a*L+l -> C[a]
    inv_cells, inv_totals = 1.0 / cells, 1.0 / totals
    counts = votes.item_annotator_label
    joint = em.log_joint(counts, np.log(cells * inv_totals), log_prior)
    # Horner: sum_n t^n a_n = t (a_1 + t (a_2 + ...)), a_n summed over the item's votes
    series = np.zeros_like(joint)
    for n in range(SERIES_TERMS, 0, -1):
        series += em.log_joint(
            counts, (inv_cells**n - inv_totals**n) / n, np.zeros(n_classes)
        )
        series *= previous
    joint -= series
    column = votes.annotator_label_codes
    small = np.flatnonzero((cells.min(axis=1) < EXACT_BELOW)[column])
    if small.size:
        col, item = column[small], votes.item_codes[small]
        # Class-major (K, votes) gathers keep every array below contiguous.
        own = np.take(previous, item, axis=1)
        x_cell = np.take(inv_cells.T.astype(own.dtype), col, axis=1)
        x_cell *= own
        # Only (class, vote) pairs whose share t/c is not negligible: below
        # NEGLIGIBLE_SHARE the remainder is under 5e-9 nats, beneath float32 rounding.
        klass, vote = np.nonzero(x_cell > NEGLIGIBLE_SHARE)
        own, col = own[klass, vote], col[vote]
        remainder = np.zeros_like(own)
        for x, sign in ((x_cell[klass, vote], 1.0),
                        (inv_totals[col, klass].astype(own.dtype) * own, -1.0)):
            # log(1 - x) + x: the part of log(1 - t/c) the first-order term leaves out.
            # (np.log is vectorised, log1p is not; float32 rounding here is below 1e-6 nats.)
            np.minimum(x, 1.0 - 1e-6, out=x)
            term = np.log(1.0 - x)
            power = np.ones_like(x)
            for n in range(1, SERIES_TERMS + 1):
                power *= x
                term += power / n
            remainder += sign * term
        n_items = joint.shape[1]
        joint += np.bincount(klass * n_items + item[vote], weights=remainder,
                             minlength=joint.size).reshape(joint.shape)
    posteriors, log_norm = em.normalize_log_inplace(joint)
    return posteriors, float(log_norm.sum(dtype=np.float64))


class PooledDawidSkene(BetterThanChance):
    """Dawid–Skene with each annotator shrunk towards the crowd's typical confusion rows.

    Like :class:`~consensus.models.DawidSkene` it holds a class to its votes when
    the crowd would be no better than chance on it (``held_classes_``; see
    :class:`~consensus.models.dawid_skene.BetterThanChance`), so a class almost
    nobody chooses cannot drift into a phantom that wins many items.

    Parameters
    ----------
    max_iter, tol
        As in :class:`~consensus.models.DawidSkene`.
    prior_strength : float
        Prior pseudo-votes per confusion cell: each confusion row's Dirichlet
        prior holds ``prior_strength * n_classes`` votes' worth of the crowd's
        typical row. Default 1.5.
    class_prior : float
        Symmetric Dirichlet pseudo-count on the class priors.
    learn_prior : bool
        Learn the crowd's typical rows by empirical Bayes. When False the prior
        is centred on "right half the time, errors spread evenly".
    prior_steps : int
        Fixed-point steps for the population prior per M-step, warm-started
        from the last M-step, so it keeps converging across EM iterations.
    leave_one_out : bool
        Weigh each vote by its annotator's confusion estimated without the item
        (see the module docstring). Less confident for sparse annotators.
    smoothing : float
        Extra uniform pseudo-count per confusion cell (default 0).
    """

    def __init__(
        self,
        *,
        max_iter: int = 100,
        tol: float = 1e-5,
        prior_strength: float = 1.5,
        class_prior: float = 1.0,
        learn_prior: bool = True,
        prior_steps: int = 10,
        leave_one_out: bool = False,
        smoothing: float = 0.0,
    ) -> None:
        super().__init__(max_iter=max_iter, tol=tol, smoothing=smoothing)
        self.prior_strength = prior_strength
        self.class_prior = class_prior
        self.learn_prior = learn_prior
        self.prior_steps = prior_steps
        self.leave_one_out = leave_one_out

    def _validate(self) -> None:
        super()._validate()
        for name in ("prior_strength", "class_prior"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise InputError(f"{name} must be a positive number, not {value!r}")
        if not isinstance(self.prior_steps, (int, np.integer)) or self.prior_steps < 1:
            raise InputError(f"prior_steps must be a positive integer, not {self.prior_steps!r}")

    @staticmethod
    def _starting_prior(n_classes: int) -> np.ndarray:
        """Right half the time, errors spread evenly: 4 pseudo-votes per row."""
        alpha = np.full((n_classes, n_classes), 2.0 / max(n_classes - 1, 1))
        np.fill_diagonal(alpha, 2.0)
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
            alpha = fit_population_prior(stats, alpha, n_steps=self.prior_steps)
        typical = alpha / alpha.sum(axis=1, keepdims=True)
        concentration = stats + (self.prior_strength * n_classes) * typical[None]
        if self.smoothing:  # adding 0.0 would only cost a pass over (A, K, L)
            concentration += self.smoothing
        confusion = concentration / concentration.sum(axis=2, keepdims=True)
        class_concentration = class_counts + self.class_prior
        class_priors = class_concentration / class_concentration.sum()
        return EMParameters(
            log_weights=em.log_weights_from_confusion(np.log(confusion)),
            log_prior=np.log(class_priors),
            confusion=confusion,
            class_priors=class_priors,
            hyper=alpha,
            concentration=concentration,
        )

    def _unheld_e_step(
        self, votes: VoteMatrix, params: EMParameters, posteriors: np.ndarray
    ) -> tuple[np.ndarray, float]:
        """Plain DS E-step, or the leave-one-item-out one (see the module docstring)."""
        if not self.leave_one_out:
            return super()._unheld_e_step(votes, params, posteriors)
        assert params.concentration is not None  # set by every M-step of this model
        return cavity_e_step(votes, params.concentration, params.log_prior, posteriors)

    def leave_one_out_proba(self, votes: VoteMatrix) -> np.ndarray:
        """Posteriors of the training items, each vote weighed by its annotator's
        confusion estimated *without* that item: one leave-one-out E-step at the
        fitted parameters (the fit itself is unchanged), held classes kept only
        where most voted as in the fit. ``votes`` must be the votes the model was
        fitted on, or an equal copy.
        """
        self._check_fitted()
        if not self._is_training_votes(votes):
            raise InputError(
                "leave_one_out_proba needs the votes the model was fitted on (these differ "
                "in their codes, annotators or classes)"
            )
        if self.leave_one_out:
            return self.posteriors_.copy()
        assert self.params_.concentration is not None  # set by every M-step of this model
        previous = np.ascontiguousarray(self.posteriors_.T, dtype=em.WORK_DTYPE)
        posteriors, _ = cavity_e_step(
            votes, self.params_.concentration, self.params_.log_prior, previous
        )
        held = getattr(self, "held_classes_", None)  # absent in models pickled before the rule
        if held is not None and held.any():
            counts = np.ascontiguousarray(votes.label_counts.T, dtype=em.WORK_DTYPE)
            posteriors, _ = hold_to_votes(posteriors, counts, held)
        return em.as_probabilities(posteriors)

    @property
    def population_prior_(self) -> np.ndarray:
        """The learned population Dirichlet per true class, shape (K, L).

        Its rows, normalised, are the crowd's typical confusion rows the
        annotators are shrunk towards.
        """
        self._check_fitted()
        assert self.params_.hyper is not None  # set by every M-step of this model
        return self.params_.hyper
