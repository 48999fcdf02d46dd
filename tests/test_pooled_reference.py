"""PooledDawidSkene step by step against an independent reference on a tiny data set.

Expected values come from the reference implementation written in this file:
plain float64 numpy with explicit Python loops over votes, annotators and classes,
re-deriving the algorithm (vote-share start, Minka's fixed point for the crowd's
Dirichlet prior, shrunk confusion rows, plain E-step, the EM loop and its stopping
rule) without any of consensus's EM helpers. The library's per-item work arrays
are float32, hence the 1e-5 tolerances.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from scipy.special import digamma

from consensus import VoteMatrix
from consensus.exceptions import ConvergenceWarning
from consensus.models import PooledDawidSkene


# ------------------------------------------------------------------ data sets
@dataclass(frozen=True)
class Crowd:
    votes: list[tuple[int, int, int]]  # (item, annotator, label)
    n_items: int
    n_annotators: int
    n_classes: int

    @property
    def n_votes(self) -> int:
        return len(self.votes)

    def vote_matrix(self) -> VoteMatrix:
        items, annotators, labels = zip(*self.votes, strict=True)
        return VoteMatrix.from_codes(items, annotators, labels, n_classes=self.n_classes)


# 7 items, 4 annotators, 3 classes. Items 2, 4 and 6 have two votes; annotator 3
# casts a single vote; annotator 2 is often wrong; class 2 is given only a few times.
TINY = Crowd(
    votes=[
        (0, 0, 0), (0, 1, 0), (0, 2, 1),
        (1, 0, 1), (1, 1, 1), (1, 2, 1),
        (2, 0, 2), (2, 2, 0),
        (3, 0, 0), (3, 1, 2), (3, 2, 0),
        (4, 1, 1), (4, 2, 2),
        (5, 0, 2), (5, 1, 2), (5, 2, 1),
        (6, 0, 0), (6, 3, 1),
    ],
    n_items=7,
    n_annotators=4,
    n_classes=3,
)
# Gold on two split items and one the crowd already agrees on; chosen so the
# stopping rule is met well clear of tol (n_iter is compared exactly).
GOLD = np.array([-1, -1, 2, -1, 1, -1, 0], dtype=np.int64)

# Two accurate annotators and four that each always give one fixed label (or the
# next class): annotators disagree far more than multinomial noise explains, so
# the crowd's prior has a finite maximum and the fixed point can stop early.
# (On TINY it never does: agreeing annotators push alpha towards its bound.)
SPAMMED = Crowd(
    votes=[
        (i, a, label)
        for i, truth in enumerate([0, 1, 2, 0, 1, 2])
        for a, label in ((0, truth), (1, truth), (2, 0), (3, 1), (4, 2), (5, (truth + 1) % 3))
    ],
    n_items=6,
    n_annotators=6,
    n_classes=3,
)

ATOL = 1e-5


# ------------------------------------------------------------------ reference
ALPHA_MIN, ALPHA_MAX = 1e-2, 1e4


@dataclass
class Reference:
    posteriors: np.ndarray  # (n_items, K)
    confusion: np.ndarray  # (A, K, L)
    class_priors: np.ndarray  # (K,)
    alpha: np.ndarray  # (K, L)
    n_iter: int
    log_likelihood: float
    history: list[float]
    prior_steps_taken: list[int]  # fixed-point steps run by each M-step


def clamp(crowd: Crowd, posteriors: np.ndarray, gold: np.ndarray | None) -> np.ndarray:
    """Gold items become one-hot on their class."""
    out = posteriors.copy()
    if gold is not None:
        for i in range(crowd.n_items):
            if gold[i] >= 0:
                for k in range(crowd.n_classes):
                    out[i, k] = 1.0 if k == gold[i] else 0.0
    return out


def start_posteriors(crowd: Crowd) -> np.ndarray:
    """Share of each item's votes given to each class."""
    n, classes = crowd.n_items, range(crowd.n_classes)
    counts = np.zeros((n, crowd.n_classes))
    for item, _, label in crowd.votes:
        counts[item, label] += 1.0
    shares = np.zeros((n, crowd.n_classes))
    for i in range(n):
        total = sum(counts[i])
        for k in classes:
            shares[i, k] = counts[i, k] / total
    return shares


def expected_counts(crowd: Crowd, posteriors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """stats[a, k, l] and class_counts[k] from item posteriors."""
    classes = range(crowd.n_classes)
    stats = np.zeros((crowd.n_annotators, crowd.n_classes, crowd.n_classes))
    for item, annotator, label in crowd.votes:
        for k in classes:
            stats[annotator, k, label] += posteriors[item, k]
    class_counts = np.zeros(crowd.n_classes)
    for i in range(crowd.n_items):
        for k in classes:
            class_counts[k] += posteriors[i, k]
    return stats, class_counts


def starting_alpha(n_classes: int) -> np.ndarray:
    """Right half the time, errors spread evenly."""
    alpha = np.zeros((n_classes, n_classes))
    for k in range(n_classes):
        for m in range(n_classes):
            alpha[k, m] = 2.0 if k == m else 2.0 / (n_classes - 1)
    return alpha


def minka_prior(stats: np.ndarray, alpha: np.ndarray, steps: int) -> tuple[np.ndarray, int]:
    """Minka's fixed point for one Dirichlet per true class over annotators' count rows.

    Returns the new alpha and the number of steps run.
    """
    n_annotators, n_classes, _ = stats.shape
    classes = range(n_classes)
    alpha = np.clip(alpha.copy(), ALPHA_MIN, ALPHA_MAX)
    for step in range(1, steps + 1):
        new = np.zeros_like(alpha)
        for k in classes:
            total = sum(alpha[k])
            numerator = np.zeros(n_classes)
            denominator = 0.0
            for a in range(n_annotators):
                row_total = sum(stats[a, k])
                if row_total <= 1e-9:
                    continue
                for m in classes:
                    numerator[m] += digamma(stats[a, k, m] + alpha[k, m]) - digamma(alpha[k, m])
                denominator += digamma(row_total + total) - digamma(total)
            for m in classes:
                value = alpha[k, m] * numerator[m] / max(denominator, 1e-300)
                if not math.isfinite(value):
                    value = alpha[k, m]
                new[k, m] = min(max(value, ALPHA_MIN), ALPHA_MAX)
        for k in classes:  # diagonal at least the row's largest other entry
            largest_other = max(new[k, m] for m in classes if m != k)
            new[k, k] = max(new[k, k], largest_other)
        done = all(
            abs(new[k, m] - alpha[k, m]) <= 1e-5 * alpha[k, m] for k in classes for m in classes
        )
        alpha = new
        if done:
            return alpha, step
    return alpha, steps


def m_step(
    crowd: Crowd,
    posteriors: np.ndarray,
    alpha: np.ndarray,
    *,
    prior_strength: float,
    class_prior: float,
    prior_steps: int,
    smoothing: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(confusion, class priors, alpha, fixed-point steps) from posteriors and the last alpha."""
    classes = range(crowd.n_classes)
    stats, class_counts = expected_counts(crowd, posteriors)
    alpha, steps_taken = minka_prior(stats, alpha, prior_steps)
    confusion = np.zeros_like(stats)
    for a in range(crowd.n_annotators):
        for k in classes:
            alpha_total = sum(alpha[k])
            row = [
                stats[a, k, m]
                + prior_strength * crowd.n_classes * alpha[k, m] / alpha_total
                + smoothing
                for m in classes
            ]
            for m in classes:
                confusion[a, k, m] = row[m] / sum(row)
    priors = np.array([class_counts[k] + class_prior for k in classes])
    return confusion, priors / priors.sum(), alpha, steps_taken


def e_step(crowd: Crowd, confusion: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, float]:
    """Item posteriors and the total log-likelihood of the votes."""
    classes = range(crowd.n_classes)
    log_joint = np.zeros((crowd.n_items, crowd.n_classes))
    for i in range(crowd.n_items):
        for k in classes:
            log_joint[i, k] = math.log(priors[k])
    for item, annotator, label in crowd.votes:
        for k in classes:
            log_joint[item, k] += math.log(confusion[annotator, k, label])
    posteriors = np.zeros_like(log_joint)
    log_lik = 0.0
    for i in range(crowd.n_items):
        top = max(log_joint[i])
        log_norm = top + math.log(sum(math.exp(v - top) for v in log_joint[i]))
        log_lik += log_norm
        for k in classes:
            posteriors[i, k] = math.exp(log_joint[i, k] - log_norm)
    return posteriors, log_lik


def reference_fit(
    crowd: Crowd = TINY,
    *,
    max_iter: int = 100,
    tol: float = 1e-5,
    gold: np.ndarray | None = None,
    prior_strength: float = 1.5,
    class_prior: float = 1.0,
    prior_steps: int = 10,
    smoothing: float = 0.0,
) -> Reference:
    """EM as PooledDawidSkene.fit runs it: start, M; then (E, M) until converged; final E."""
    settings: dict[str, Any] = dict(
        prior_strength=prior_strength,
        class_prior=class_prior,
        prior_steps=prior_steps,
        smoothing=smoothing,
    )
    steps_taken: list[int] = []
    posteriors = clamp(crowd, start_posteriors(crowd), gold)
    confusion, priors, alpha, taken = m_step(
        crowd, posteriors, starting_alpha(crowd.n_classes), **settings
    )
    steps_taken.append(taken)
    history: list[float] = []
    while len(history) < max_iter:
        posteriors, log_lik = e_step(crowd, confusion, priors)
        posteriors = clamp(crowd, posteriors, gold)
        confusion, priors, alpha, taken = m_step(crowd, posteriors, alpha, **settings)
        steps_taken.append(taken)
        history.append(log_lik)
        if len(history) >= 2 and abs(history[-1] - history[-2]) / crowd.n_votes < tol:
            break
    posteriors, log_lik = e_step(crowd, confusion, priors)
    return Reference(
        posteriors=clamp(crowd, posteriors, gold),
        confusion=confusion,
        class_priors=priors,
        alpha=alpha,
        n_iter=len(history),
        log_likelihood=log_lik,
        history=history,
        prior_steps_taken=steps_taken,
    )


# ------------------------------------------------------------------ helpers
def fit_model(
    crowd: Crowd = TINY, gold: np.ndarray | None = None, **params: Any
) -> PooledDawidSkene:
    """Fit without a ConvergenceWarning on truncated runs failing the test run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = PooledDawidSkene(**params)
        model.fit(crowd.vote_matrix(), gold=gold)
    return model


def assert_matches(model: PooledDawidSkene, ref: Reference) -> None:
    np.testing.assert_allclose(model.posteriors_, ref.posteriors, rtol=0, atol=ATOL)
    np.testing.assert_allclose(model.confusion_, ref.confusion, rtol=0, atol=ATOL)
    np.testing.assert_allclose(model.class_priors_, ref.class_priors, rtol=0, atol=ATOL)
    # alpha reaches the 1e4 bound on TINY, so it is compared relatively
    np.testing.assert_allclose(model.population_prior_, ref.alpha, rtol=1e-5, atol=ATOL)


def stopping_margin(ref: Reference, crowd: Crowd = TINY, tol: float = 1e-5) -> float:
    """How far (in total log-likelihood) the closest change per vote came to ``tol``."""
    history = ref.history
    changes = [abs(history[t] - history[t - 1]) / crowd.n_votes for t in range(1, len(history))]
    return min(abs(change - tol) for change in changes) * crowd.n_votes


# ------------------------------------------------------------------ tests
def test_data_set_is_as_described() -> None:
    votes = TINY.vote_matrix()
    assert (votes.n_items, votes.n_annotators, votes.n_classes) == (7, 4, 3)
    assert votes.n_votes == TINY.n_votes
    per_item = np.bincount([item for item, _, _ in TINY.votes], minlength=TINY.n_items)
    per_annotator = np.bincount([a for _, a, _ in TINY.votes], minlength=TINY.n_annotators)
    assert sorted(set(per_item.tolist())) == [2, 3]
    assert per_annotator.min() == 1


@pytest.mark.parametrize("n_iter", [1, 2, 3])
def test_first_iterations_match_reference(n_iter: int) -> None:
    ref = reference_fit(max_iter=n_iter, tol=0.0)
    model = fit_model(max_iter=n_iter, tol=0.0)
    assert model.n_iter_ == n_iter
    assert not model.converged_
    assert_matches(model, ref)
    np.testing.assert_allclose(model.log_likelihood_history_, ref.history, rtol=1e-6)
    np.testing.assert_allclose(model.log_likelihood_, ref.log_likelihood, rtol=1e-6)


def test_iterations_are_distinguishable() -> None:
    """The step-by-step comparison above would notice an iteration too many or too few."""
    one, two = reference_fit(max_iter=1, tol=0.0), reference_fit(max_iter=2, tol=0.0)
    assert np.abs(one.posteriors - two.posteriors).max() > 100 * ATOL
    assert np.abs(one.confusion - two.confusion).max() > 100 * ATOL


def test_converged_fit_matches_reference() -> None:
    ref = reference_fit()
    assert stopping_margin(ref) > 1e-5  # float32 log-likelihoods agree to ~1e-6
    model = fit_model()
    assert model.converged_
    assert model.n_iter_ == ref.n_iter
    assert_matches(model, ref)
    np.testing.assert_allclose(model.log_likelihood_, ref.log_likelihood, rtol=1e-5)
    np.testing.assert_allclose(model.log_likelihood_history_, ref.history, rtol=1e-5)


def test_reference_values_are_pinned() -> None:
    """Literals printed once from the reference: a change to the reference itself shows here."""
    ref = reference_fit(max_iter=1, tol=0.0)
    model = fit_model(max_iter=1, tol=0.0)
    for posteriors in (ref.posteriors, model.posteriors_):
        np.testing.assert_allclose(
            posteriors[0], [0.7036742264861939, 0.18446236208195876, 0.1118634114318473],
            atol=ATOL,
        )
        np.testing.assert_allclose(
            posteriors[6], [0.45651526576879564, 0.3829091581689854, 0.16057557606221878],
            atol=ATOL,
        )
    for confusion in (ref.confusion, model.confusion_):  # annotator 3, one vote
        np.testing.assert_allclose(
            confusion[3, 0], [0.4938416366119309, 0.29406891845051797, 0.21208944493755125],
            atol=ATOL,
        )
    for alpha in (ref.alpha, model.population_prior_):
        np.testing.assert_allclose(
            alpha[0], [8.226880089038492, 3.3915164794795754, 3.5331861517846987], rtol=1e-5
        )
    for value in (ref.log_likelihood, model.log_likelihood_):
        assert value == pytest.approx(-18.25990257451792, rel=1e-6)

    converged = reference_fit()
    assert converged.n_iter == 50
    np.testing.assert_allclose(
        converged.posteriors[5], [0.1934215415, 0.3628616202, 0.4437168383], atol=1e-8
    )


def test_gold_fit_matches_reference() -> None:
    ref = reference_fit(gold=GOLD)
    assert stopping_margin(ref) > 1e-5
    model = fit_model(gold=GOLD)
    assert model.converged_
    assert model.n_iter_ == ref.n_iter
    assert_matches(model, ref)
    np.testing.assert_allclose(model.log_likelihood_, ref.log_likelihood, rtol=1e-5)
    known = GOLD >= 0
    np.testing.assert_array_equal(model.posteriors_[known], np.eye(TINY.n_classes)[GOLD[known]])
    # gold changes the fit, so a model ignoring it would fail the comparison above
    assert np.abs(ref.posteriors - reference_fit().posteriors).max() > 100 * ATOL


@pytest.mark.parametrize("n_iter", [1, 3])
def test_gold_first_iterations_match_reference(n_iter: int) -> None:
    ref = reference_fit(max_iter=n_iter, tol=0.0, gold=GOLD)
    model = fit_model(gold=GOLD, max_iter=n_iter, tol=0.0)
    assert_matches(model, ref)


def test_prior_fixed_point_stopping_early_matches_reference() -> None:
    """Enough fixed-point steps that the crowd prior converges inside an M-step."""
    ref = reference_fit(SPAMMED, max_iter=2, tol=0.0, prior_steps=1_000)
    assert ref.prior_steps_taken[0] == 1_000  # from the starting prior: no early stop
    assert max(ref.prior_steps_taken[1:]) < 1_000  # warm-started: the early stop (rtol 1e-5)
    model = fit_model(SPAMMED, max_iter=2, tol=0.0, prior_steps=1_000)
    assert_matches(model, ref)


def test_other_settings_match_reference() -> None:
    """prior_strength, class_prior, smoothing and prior_steps reach the same places."""
    settings: dict[str, Any] = dict(
        prior_strength=0.5, class_prior=2.0, smoothing=0.1, prior_steps=3
    )
    ref = reference_fit(max_iter=3, tol=0.0, **settings)
    model = fit_model(max_iter=3, tol=0.0, **settings)
    assert_matches(model, ref)
    assert np.abs(ref.confusion - reference_fit(max_iter=3, tol=0.0).confusion).max() > 0.01
