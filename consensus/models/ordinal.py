"""Ordinal Dawid–Skene: annotators who read an ordered scale with a bias and some noise.

Ratings (G < PG < R < X), relevance grades, severities and Likert answers are ordered:
a vote of 4 for a true 5 is a smaller error than a 1. A full confusion matrix per
annotator ignores that and spends K(K-1) parameters on each; with a few votes each,
most are guesses. Here each vote is one of two things:

- a *reading* of the scale (an ordered probit): the annotator perceives the true
  level's location ``mu_k`` plus their bias ``b_a`` plus Gaussian noise of standard
  deviation ``sigma_a``, and gives level l when that falls between the crowd's
  thresholds ``tau_{l-1}`` and ``tau_l``. Far errors are rarer than near ones, the end
  levels are open-ended (a true 5 is read as 5 more surely than a true 3 as 3, as real
  crowds do), and the model is *monotone*: a higher true level makes every higher
  label more likely, so class k cannot drift away from meaning level k;
- a *random answer*, with the annotator's rate ``epsilon_a``, from their own habit
  ``psi_a``: someone who answers "1" to everything has ``epsilon`` near 1 and ``psi``
  at "1", so their votes carry no evidence instead of passing for a precise reading
  (MACE's idea, Hovy et al. 2013, beside the ordinal reading). Random answers are
  also what far errors on real crowds mostly are.

Classes declared *nominal* (e.g. "broken link" beside relevance grades) sit outside
the scale: an item of a nominal class is read as that class; a scale item gets a
nominal label only as a random answer.

Each annotator has two reading parameters, a rate and a habit, all shrunk towards the
crowd's: ``(b, log sigma)`` by a Gaussian prior whose centre and spread are learned
from all annotators (empirical Bayes), ``epsilon`` and ``psi`` by Beta and Dirichlet
priors centred on the crowd's averages. An annotator with three votes is the crowd's
typical reader; one with thousands is on their own. The M-step is an EM of its own
over "read or random", with Fisher-scoring steps for the probit (vectorised over
annotators), warm-started across iterations.

Real crowds also hold heavy annotators whose errors follow no scale: on the ``web``
relevance data (5 grades, a few annotators with over 800 votes each) the purely
ordinal model is 3.6 points less accurate than pooled Dawid–Skene.
``prior_strength`` puts a Dirichlet around each annotator's ordinal confusion, worth
that many votes per cell (as in :class:`~consensus.models.PooledDawidSkene`), so that
their own counts can move it; 4 brings ``web`` within a point of pooled but gives
back a third of the gain on a simulated sparse ordinal crowd and nearly all of it
when a fifth of that crowd are spammers (``benchmarks/ordinal.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from ..data.votes import VoteMatrix
from ..exceptions import InputError
from . import em
from .base import EMParameters, ProgressCallback
from .dawid_skene import BetterThanChance

#: Bounds on the empirical-Bayes variance of (bias, log noise) across annotators.
VARIANCE_BOUNDS = (1e-3, 1e2)
#: Noise is kept within these standard deviations (in scale steps).
NOISE_BOUNDS = (0.05, 20.0)
#: Largest Fisher-scoring step: far from the optimum the quadratic model overshoots.
MAX_STEP = 1.0
#: Thresholds and level locations are kept at least this far apart (stay ordered).
MIN_GAP = 0.05
#: Probabilities are floored here in the Fisher information (a cell of probability
#: 1e-300 would otherwise make it infinite).
INFO_FLOOR = 1e-10


# ------------------------------------------------------------------ the scale
def scale_positions(classes: Sequence[Any] | np.ndarray, nominal: Any = ()) -> np.ndarray:
    """Each class's level on the scale (0, 1, ...), NaN for a nominal class, shape (K,).

    The scale is the class order with the ``nominal`` classes (one label or a sequence)
    taken out. An unknown nominal label, or fewer than two levels left, is an InputError.
    """
    names = [str(c) for c in classes]
    wanted = [str(nominal)] if isinstance(nominal, str) else [str(n) for n in nominal]
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise InputError(f"nominal label(s) {', '.join(map(repr, unknown))} are not classes "
                         f"of the votes ({', '.join(names)})")
    off = np.isin(names, wanted)
    if np.count_nonzero(~off) < 2:
        raise InputError(f"an ordinal scale needs at least two ordered classes; "
                         f"{', '.join(names)} with {', '.join(wanted)} nominal leave "
                         f"{np.count_nonzero(~off)}")
    positions = np.full(len(names), np.nan)
    positions[~off] = np.arange(np.count_nonzero(~off), dtype=np.float64)
    return positions


# ---------------------------------------------------------- the probit reading
def standard_edges(thresholds: np.ndarray, locations: np.ndarray, bias: np.ndarray,
                   sigma: np.ndarray) -> np.ndarray:
    """``(tau_l - mu_k - b_a) / sigma_a`` with -inf and inf at the ends, (A, S, S + 1)."""
    tau = np.concatenate([[-np.inf], thresholds, [np.inf]])
    shifted = tau[None, None, :] - locations[None, :, None] - bias[:, None, None]
    return shifted / sigma[:, None, None]


def probit_reading(thresholds: np.ndarray, locations: np.ndarray, bias: np.ndarray,
                   sigma: np.ndarray) -> np.ndarray:
    """P(reads level l | true level k) per annotator, (A, S, S): normal-CDF differences."""
    return np.diff(ndtr(standard_edges(thresholds, locations, bias, sigma)), axis=2)


def edge_densities(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``phi(u)`` and ``u phi(u)`` at each edge, 0 at the infinite ends (same shape)."""
    finite = np.isfinite(edges)
    u = np.where(finite, edges, 0.0)
    density = np.where(finite, np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi), 0.0)
    return density, density * u


def fisher_step(counts: np.ndarray, probability: np.ndarray, gradients: np.ndarray,
                totals: np.ndarray, crowd: bool) -> tuple[np.ndarray, np.ndarray]:
    """Score and expected information of multinomial cells from dP/dparameter.

    ``counts``, ``probability`` (A, S, S); ``gradients`` (A, S, S, P). The score sums
    ``counts / P * dP`` over the cells and the information ``N_ak dP dP' / P`` over the
    rows: per annotator, (A, P) and (A, P, P), or summed over annotators for the
    crowd's parameters, (P,) and (P, P).
    """
    floor = np.maximum(probability, INFO_FLOOR)
    score = ((counts / floor)[..., None] * gradients).sum(axis=(1, 2))
    outer = gradients[..., :, None] * gradients[..., None, :] / floor[..., None, None]
    information = (totals[:, :, None, None] * outer.sum(axis=2)).sum(axis=1)
    if crowd:
        return score.sum(axis=0), information.sum(axis=0)
    return score, information


# ------------------------------------------------------------- fitted state
@dataclass(frozen=True)
class OrdinalState:
    """What an M-step learns, carried to the next (a warm start). S levels, L labels."""

    thresholds: np.ndarray  # (S - 1,) the crowd's tau
    locations: np.ndarray  # (S,) the levels' mu, first and last fixed at 0 and S - 1
    reader: np.ndarray  # (A, 2) bias b and log sigma per annotator
    center: np.ndarray  # (2,) their prior's centre (bias centre stays 0)
    variance: np.ndarray  # (2,) their prior's variance
    rate: np.ndarray  # (A,) share of random answers, epsilon
    habit: np.ndarray  # (A, L) random answers' labels, psi
    crowd_rate: float
    crowd_habit: np.ndarray  # (L,)

    def to_array(self) -> np.ndarray:
        return np.concatenate([self.thresholds, self.locations, self.center, self.variance,
                               [self.crowd_rate], self.crowd_habit, self.reader.ravel(),
                               self.rate, self.habit.ravel()])

    @classmethod
    def from_array(cls, array: np.ndarray, n_levels: int, n_labels: int) -> OrdinalState:
        head = 2 * n_levels + 4 + n_labels
        n_annotators = (array.shape[0] - head) // (3 + n_labels)
        sizes = [n_levels - 1, n_levels, 2, 2, 1, n_labels, 2 * n_annotators, n_annotators]
        parts = np.split(array, np.cumsum(sizes))
        return cls(parts[0], parts[1], parts[6].reshape(n_annotators, 2), parts[2], parts[3],
                   parts[7], parts[8].reshape(n_annotators, n_labels), float(parts[4][0]),
                   parts[5])

    @classmethod
    def start(cls, stats: np.ndarray, n_levels: int) -> OrdinalState:
        """Every annotator an unbiased reader with noise 0.7 steps, answering at random 10%."""
        n_annotators = stats.shape[0]
        shares = em.normalize_rows(stats.sum(axis=(0, 1)) + 1.0)
        start = np.array([0.0, math.log(0.7)])
        return cls(np.arange(n_levels - 1) + 0.5, np.arange(n_levels, dtype=np.float64),
                   np.tile(start, (n_annotators, 1)), start, np.full(2, 0.25),
                   np.full(n_annotators, 0.1), np.tile(shares, (n_annotators, 1)), 0.1, shares)

    def reading(self) -> np.ndarray:
        """P(reads level l | true level k) per annotator, (A, S, S)."""
        return probit_reading(self.thresholds, self.locations, self.reader[:, 0],
                              np.exp(self.reader[:, 1]))


def ordinal_confusion(state: OrdinalState, positions: np.ndarray) -> np.ndarray:
    """P(label l | true class k) per annotator, (A, K, L): a reading or a random answer."""
    scale = np.flatnonzero(np.isfinite(positions))
    nominal = np.flatnonzero(~np.isfinite(positions))
    n_annotators, n_labels = state.habit.shape
    reading = np.zeros((n_annotators, n_labels, n_labels))
    reading[:, scale[:, None], scale[None, :]] = state.reading()
    reading[:, nominal, nominal] = 1.0
    rate = state.rate[:, None, None]
    return (1.0 - rate) * reading + rate * state.habit[:, None, :]


def fit_readers(read: np.ndarray, state: OrdinalState, n_steps: int) -> tuple[np.ndarray, ...]:
    """Fisher-scoring steps on each annotator's (bias, log sigma) under their prior.

    ``read`` (A, S, S) are the expected readings. Returns the readers and the
    Laplace covariance of each (A, 2, 2), which the empirical-Bayes variance needs.
    """
    reader = state.reader.copy()
    totals = read.sum(axis=2)
    precision = 1.0 / state.variance
    covariance = np.zeros((reader.shape[0], 2, 2))
    for _ in range(n_steps):
        sigma = np.exp(reader[:, 1])
        edges = standard_edges(state.thresholds, state.locations, reader[:, 0], sigma)
        density, density_u = edge_densities(edges)
        gradients = np.stack([-np.diff(density, axis=2) / sigma[:, None, None],
                              -np.diff(density_u, axis=2)], axis=-1)
        score, information = fisher_step(read, np.diff(ndtr(edges), axis=2), gradients,
                                         totals, crowd=False)
        score -= (reader - state.center) * precision
        covariance = np.linalg.inv(information + np.diag(precision))
        step = np.einsum("aij,aj->ai", covariance, score)
        reader += np.clip(step, -MAX_STEP, MAX_STEP)
        reader[:, 1] = np.clip(reader[:, 1], *np.log(NOISE_BOUNDS))
    return reader, covariance


def fit_scale(read: np.ndarray, state: OrdinalState) -> tuple[np.ndarray, np.ndarray]:
    """One Fisher-scoring step on the crowd's thresholds and inner level locations.

    Both stay ordered, at least :data:`MIN_GAP` apart; the end levels stay at 0 and
    S - 1, which fixes the scale's origin and unit.
    """
    n_annotators, n_levels, _ = read.shape
    sigma = np.exp(state.reader[:, 1])
    edges = standard_edges(state.thresholds, state.locations, state.reader[:, 0], sigma)
    density, _ = edge_densities(edges)
    inner = density[:, :, 1:-1] / sigma[:, None, None]  # (A, k, S - 1)
    m = n_levels - 1
    gradients = np.zeros((n_annotators, n_levels, n_levels, m + n_levels - 2))
    below = np.arange(m)
    gradients[:, :, below, below] = inner  # raising tau_m moves mass from l = m + 1 to m
    gradients[:, :, below + 1, below] = -inner
    shift = -np.diff(density, axis=2) / sigma[:, None, None]  # dP / d mu_k on row k
    for j, k in enumerate(range(1, n_levels - 1)):
        gradients[:, k, :, m + j] = shift[:, k]
    score, information = fisher_step(read, np.diff(ndtr(edges), axis=2), gradients,
                                     read.sum(axis=2), crowd=True)
    step = np.linalg.solve(information + 1e-6 * np.eye(information.shape[0]), score)
    step = np.clip(step, -MAX_STEP, MAX_STEP)
    thresholds = ordered(state.thresholds + step[:m], -np.inf, np.inf)
    locations = state.locations.copy()
    locations[1:-1] = ordered(locations[1:-1] + step[m:], locations[0], locations[-1])
    return thresholds, locations


def ordered(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``values`` made increasing by at least MIN_GAP, within (low, high) where they fit."""
    gaps = MIN_GAP * np.arange(values.shape[0])
    out = np.maximum.accumulate(values - gaps) + gaps
    if np.isfinite(low) and np.isfinite(high) and values.shape[0]:
        out = np.clip(out, low + MIN_GAP + gaps, high - MIN_GAP - gaps[::-1])
    return out


def inner_step(stats: np.ndarray, state: OrdinalState, positions: np.ndarray,
               rate_prior: float, habit_prior: float, n_steps: int) -> OrdinalState:
    """One round of the M-step's own EM: split expected votes into readings and random
    answers, then update every parameter from its share (closed forms, Fisher steps)."""
    scale = np.flatnonzero(np.isfinite(positions))
    confusion = ordinal_confusion(state, positions)
    random_part = state.rate[:, None, None] * state.habit[:, None, :]
    random_votes = stats * np.divide(random_part, confusion, out=np.zeros_like(confusion),
                                     where=confusion > 0)
    read = (stats - random_votes)[:, scale[:, None], scale[None, :]]
    voted = stats.sum(axis=(1, 2)) > 0
    given = random_votes.sum(axis=1)  # (A, L)
    n_random = given.sum(axis=1)
    rate = (n_random + rate_prior * state.crowd_rate) / (stats.sum(axis=(1, 2)) + rate_prior)
    habit = (given + habit_prior * state.crowd_habit) / (n_random + habit_prior)[:, None]
    crowd_rate = float(rate[voted].mean()) if voted.any() else state.crowd_rate
    crowd_habit = em.normalize_rows(given.sum(axis=0) + 1.0)
    thresholds, locations = fit_scale(read, state)
    moved = OrdinalState(thresholds, locations, state.reader, state.center, state.variance,
                         rate, habit, crowd_rate, crowd_habit)
    reader, covariance = fit_readers(read, moved, n_steps)
    center, variance = state.center, state.variance
    if voted.any():
        center = np.array([0.0, reader[voted, 1].mean()])  # the thresholds carry the crowd's bias
        spread = (reader[voted] - center) ** 2 + np.diagonal(covariance, axis1=1, axis2=2)[voted]
        variance = np.clip(spread.mean(axis=0), *VARIANCE_BOUNDS)
    return OrdinalState(thresholds, locations, reader, center, variance, rate, habit,
                        crowd_rate, crowd_habit)


# ------------------------------------------------------ posteriors on the scale
def ordinal_summary(
    posteriors: np.ndarray, classes: Sequence[Any] | np.ndarray, *, nominal: Any = (),
    mass: float = 0.8,
) -> pd.DataFrame:
    """What each item's posterior says on the scale: median, mean, an interval, the error.

    Works for any model's posteriors (columns in ``classes`` order, the scale being
    that order without the ``nominal`` classes). Every column but ``off_scale`` reads
    the posterior given that the item is on the scale.

    Returns
    -------
    DataFrame, one row per item
        ``median`` (the level with half the mass at or below it: the label that
        minimises the expected absolute error), ``mean`` (the expected level, in the
        labels' own numbers when every level is a number, else counting levels from
        0), ``low`` and ``high`` (the shortest run of consecutive levels holding at
        least ``mass`` of the posterior; among equally short runs the one holding
        most), ``interval_mass`` (what it holds), ``expected_error`` (expected
        absolute distance in steps between the truth and the median) and, with
        nominal classes, ``off_scale`` (the posterior of all of them together).
    """
    posteriors = np.asarray(posteriors, dtype=np.float64)
    positions = scale_positions(classes, nominal)
    if posteriors.ndim != 2 or posteriors.shape[1] != positions.shape[0]:
        raise InputError(f"posteriors must have one column per class ({positions.shape[0]}), "
                         f"not shape {posteriors.shape}")
    if not 0.0 < mass <= 1.0:
        raise InputError(f"mass must be in (0, 1], e.g. 0.8, not {mass!r}")
    scale = np.flatnonzero(np.isfinite(positions))
    names = np.asarray(classes, dtype=object)[scale]
    on = posteriors[:, scale]
    total = on.sum(axis=1, keepdims=True)
    p = np.divide(on, total, out=np.full_like(on, 1.0 / scale.shape[0]), where=total > 0)
    cumulative = np.cumsum(p, axis=1)
    median = np.minimum((cumulative < 0.5 - 1e-12).sum(axis=1), scale.shape[0] - 1)
    levels = np.arange(scale.shape[0], dtype=np.float64)
    values = pd.to_numeric(pd.Series(names.astype(str)), errors="coerce").to_numpy()
    mean = p @ (values if np.isfinite(values).all() else levels)
    low, high, held = shortest_runs(cumulative, mass)
    table = pd.DataFrame({
        "median": names[median],
        "mean": mean,
        "low": names[low],
        "high": names[high],
        "interval_mass": held,
        "expected_error": (p * np.abs(levels[None, :] - median[:, None])).sum(axis=1),
    })
    if scale.shape[0] < positions.shape[0]:
        table["off_scale"] = 1.0 - total[:, 0]
    return table


def shortest_runs(cumulative: np.ndarray, mass: float) -> tuple[np.ndarray, ...]:
    """First and last level of each row's shortest run holding ``mass``, and what it holds.

    ``cumulative`` (n, S) are the rows' cumulative probabilities. Runs are tried by
    width, narrowest first (S widths, each vectorised over rows and starts).
    """
    n, n_levels = cumulative.shape
    padded = np.hstack([np.zeros((n, 1)), cumulative])
    low = np.zeros(n, dtype=np.int64)
    high = np.full(n, n_levels - 1)
    held = np.ones(n)
    open_rows = np.ones(n, dtype=bool)
    for width in range(1, n_levels + 1):
        runs = padded[:, width:] - padded[:, :-width]  # (n, S - width + 1) by start
        best = runs.argmax(axis=1)
        top = runs[np.arange(n), best]
        done = open_rows & (top >= mass - 1e-12)
        low[done], high[done], held[done] = best[done], best[done] + width - 1, top[done]
        open_rows &= ~done
    return low, high, held


# ------------------------------------------------------------------ the model
class OrdinalDawidSkene(BetterThanChance):
    """Dawid–Skene for ordered labels: each annotator a biased, noisy reader of the scale.

    See the module docstring for the model. The scale's order is the votes' class
    order (the declared labels, else numeric, else text order) without the classes
    named in ``nominal``. Like the other Dawid–Skene models it holds a class the crowd
    is no better than chance on to its votes (``held_classes_``).

    Parameters
    ----------
    max_iter, tol
        As in :class:`~consensus.models.DawidSkene`; the thresholds and priors settle
        slowly, so up to 200 iterations by default (134 on ``trec2010_rel4``).
    nominal : label or sequence of labels
        Classes outside the scale (e.g. "broken link", "can't tell").
    prior_strength : float
        Pseudo-votes per confusion cell of a Dirichlet centred on each annotator's
        ordinal confusion, so their own counts move it as pooled Dawid–Skene's do
        (4 suits crowds of heavy annotators with errors off the scale). The default,
        ``math.inf``, keeps every annotator exactly ordinal.
    rate_prior, habit_prior : float
        Pseudo-votes of the Beta prior on each annotator's share of random answers
        and of the Dirichlet prior on those answers' labels, centred on the crowd's.
    class_prior : float
        Symmetric Dirichlet pseudo-count on the class priors.
    inner_steps : int
        Rounds of the M-step's own EM per EM iteration (warm-started).
    smoothing : float
        Uniform pseudo-count added to every confusion cell (default 0: random answers
        already keep every cell positive).

    Attributes
    ----------
    posteriors_, labels_, label_codes_, confusion_, class_priors_, held_classes_
        As in :class:`~consensus.models.DawidSkene`; ``confusion_`` includes the
        Dirichlet's pull when ``prior_strength`` is finite.
    positions_ : ndarray (n_classes,)
        Each class's level on the scale, NaN for nominal classes.
    bias_, noise_, random_rate_ : ndarray (n_annotators,)
        Each annotator's reading bias and noise (in scale steps; a positive bias reads
        higher) and share of random answers. ``thresholds_`` and ``locations_`` are the
        crowd's cut points and the levels' places on the latent scale.
    """

    def __init__(
        self,
        *,
        max_iter: int = 200,
        tol: float = 1e-5,
        nominal: Any = (),
        prior_strength: float = math.inf,
        rate_prior: float = 5.0,
        habit_prior: float = 50.0,
        class_prior: float = 1.0,
        inner_steps: int = 1,
        smoothing: float = 0.0,
    ) -> None:
        super().__init__(max_iter=max_iter, tol=tol, smoothing=smoothing)
        self.nominal = nominal
        self.prior_strength = prior_strength
        self.rate_prior = rate_prior
        self.habit_prior = habit_prior
        self.class_prior = class_prior
        self.inner_steps = inner_steps

    positions_: np.ndarray

    def _validate(self) -> None:
        super()._validate()
        for name in ("rate_prior", "habit_prior", "class_prior"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise InputError(f"{name} must be a positive number, not {value!r}")
        if not self.prior_strength > 0:  # NaN fails too
            raise InputError(f"prior_strength must be a positive number or math.inf, "
                             f"not {self.prior_strength!r}")
        if not isinstance(self.inner_steps, (int, np.integer)) or self.inner_steps < 1:
            raise InputError(f"inner_steps must be a whole number >= 1, not {self.inner_steps!r}")

    def fit(
        self, votes: VoteMatrix, gold: Any = None, *, progress: ProgressCallback | None = None
    ) -> OrdinalDawidSkene:
        """Run EM on ``votes``, gold items clamped; see :meth:`EMAggregator.fit`."""
        self._validate()
        self.positions_ = scale_positions(votes.classes, self.nominal)
        super().fit(votes, gold, progress=progress)
        return self

    def _m_step(
        self, stats: np.ndarray, class_counts: np.ndarray, previous: EMParameters | None
    ) -> EMParameters:
        positions = self.positions_
        n_levels = int(np.isfinite(positions).sum())
        n_labels = stats.shape[2]
        if previous is None or previous.hyper is None:
            state, rounds, steps = OrdinalState.start(stats, n_levels), 10, 3
        else:
            state = OrdinalState.from_array(previous.hyper, n_levels, n_labels)
            rounds, steps = self.inner_steps, 2
        for _ in range(rounds):
            state = inner_step(stats, state, positions, self.rate_prior, self.habit_prior, steps)
        confusion = ordinal_confusion(state, positions)
        concentration = None
        if np.isfinite(self.prior_strength):
            concentration = stats + self.prior_strength * n_labels * confusion
            confusion = concentration / concentration.sum(axis=2, keepdims=True)
        if self.smoothing > 0:
            confusion = em.normalize_rows(confusion + self.smoothing)
        priors = em.normalize_rows(class_counts + self.class_prior)
        return EMParameters(
            log_weights=em.log_weights_from_confusion(em.safe_log(confusion)),
            log_prior=np.log(priors),
            confusion=confusion,
            class_priors=priors,
            hyper=state.to_array(),
            concentration=concentration,
        )

    # --------------------------------------------------------------- read-outs
    def _state(self) -> OrdinalState:
        self._check_fitted()
        assert self.params_.hyper is not None  # set by every M-step of this model
        n_levels = int(np.isfinite(self.positions_).sum())
        return OrdinalState.from_array(self.params_.hyper, n_levels, len(self.classes_))

    @property
    def bias_(self) -> np.ndarray:
        """Reading bias per annotator in scale steps (positive: reads higher than the truth)."""
        return self._state().reader[:, 0].copy()

    @property
    def noise_(self) -> np.ndarray:
        """Reading noise per annotator: its standard deviation, in scale steps."""
        return np.exp(self._state().reader[:, 1])

    @property
    def random_rate_(self) -> np.ndarray:
        """Share of each annotator's votes given at random, whatever the item."""
        return self._state().rate.copy()

    @property
    def thresholds_(self) -> np.ndarray:
        """The crowd's cut points between consecutive levels on the latent scale (S - 1,)."""
        return self._state().thresholds.copy()

    @property
    def locations_(self) -> np.ndarray:
        """Each level's place on the latent scale (S,); the ends are fixed at 0 and S - 1."""
        return self._state().locations.copy()
