"""How correlated are the votes on an item? The discount behind honest confidence without gold.

Dawid–Skene multiplies the evidence of every vote as if the votes on an item
were independent given its class. Real votes are not: easy items draw
unanimous votes and hard ones split, so five agreeing votes are worth fewer
than five independent ones, and the posterior is overconfident. That
correlation shows without gold: the items' label counts are overdispersed
against a multinomial. We fit a Dirichlet–multinomial mixture over classes to
the label counts (EM over the classes, Minka's fixed point for each class's
Dirichlet), read off the intra-item correlation ``rho = 1 / (1 + concentration)``
averaged over the classes, and temper each item's posterior by the Kish design
effect: ``n`` votes correlated by ``rho`` carry the evidence of
``n / (1 + (n - 1) rho)`` independent ones. Labels never change.

It removes only what the votes themselves reveal. A crowd that agrees on a
wrong answer looks exactly like one that agrees on the right one; only gold
can show that (see :mod:`consensus.quality.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from ..data.votes import VoteMatrix
from ..models.dirichlet import diagonal_dominant, fixed_point_update

#: Digamma evaluations the correlation fit may spend: seconds, whatever the data.
WORK_BUDGET = 5e7

#: Bounds on the Dirichlet pseudo-counts: below, digamma explodes; above, the
#: counts are indistinguishable from a multinomial anyway.
ALPHA_MIN, ALPHA_MAX = 1e-3, 1e4


@dataclass(frozen=True)
class VoteCorrelation:
    """The fitted overdispersion: ``rho`` and the Dirichlet per true class it came from."""

    rho: float
    concentration: np.ndarray  # (K,) total pseudo-count per true class
    class_weights: np.ndarray  # (K,) the mixture's class shares

    def discount(self, posteriors: np.ndarray, n_votes: np.ndarray) -> np.ndarray:
        """Posteriors (n, K) tempered by each item's design effect; argmax unchanged."""
        return temper_by_design_effect(posteriors, n_votes, self.rho)

    def effective_votes(self, n: float) -> float:
        """How many independent votes ``n`` correlated ones are worth."""
        return n / (1.0 + (n - 1.0) * self.rho)


def label_count_patterns(votes: VoteMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of the items' label counts: (patterns (U, K), inverse (n,), items per pattern).

    Most items share a handful of patterns (three votes and two classes make
    four), so the mixture is fitted on the patterns, weighted by their counts.
    """
    flat = votes.item_codes.astype(np.int64) * votes.n_classes + votes.label_codes
    counts = np.bincount(flat, minlength=votes.n_items * votes.n_classes)
    counts = counts.reshape(votes.n_items, votes.n_classes)
    base = int(counts.max(initial=0)) + 1
    if base ** votes.n_classes < 2**62:  # one integer key per row: a 1-D unique is fast
        key = counts @ (base ** np.arange(votes.n_classes, dtype=np.int64))
        _, first, inverse, weight = np.unique(
            key, return_index=True, return_inverse=True, return_counts=True
        )
        return counts[first].astype(np.float64), inverse.ravel(), weight.astype(np.float64)
    patterns, inverse, weight = np.unique(
        counts, axis=0, return_inverse=True, return_counts=True
    )
    return patterns.astype(np.float64), inverse.ravel(), weight.astype(np.float64)


class _Patterns:
    """Distinct label-count rows, kept sparse: a row has at most as many nonzero
    labels as it has votes, so sums over (pattern, class, label) run over the
    nonzero counts only — K times the nonzeros instead of K² per pattern."""

    def __init__(self, counts: np.ndarray, weight: np.ndarray) -> None:
        self.rows, self.labels = np.nonzero(counts)
        self.counts = counts[self.rows, self.labels]
        self.totals = counts.sum(axis=1)
        self.weight = weight
        self.n_patterns, self.n_labels = counts.shape

    def per_class_label(self, values: np.ndarray, n_classes: int) -> np.ndarray:
        """Sum (K, nnz) values into (K, L) by label."""
        flat = np.arange(n_classes)[:, None] * self.n_labels + self.labels[None]
        summed = np.bincount(flat.ravel(), weights=values.ravel(),
                             minlength=n_classes * self.n_labels)
        return summed.reshape(n_classes, self.n_labels)

    def per_pattern_class(self, values: np.ndarray, n_classes: int) -> np.ndarray:
        """Sum (K, nnz) values into (U, K) by pattern."""
        flat = self.rows[None] * n_classes + np.arange(n_classes)[:, None]
        summed = np.bincount(flat.ravel(), weights=values.ravel(),
                             minlength=self.n_patterns * n_classes)
        return summed.reshape(self.n_patterns, n_classes)


def _dirichlet_step(patterns: _Patterns, expected: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """One Minka (2000) fixed-point step for every class's Dirichlet at once.

    ``expected`` (U, K): expected number of items of class k with pattern u.
    Each step raises the likelihood (Newton's method, tried, can overshoot
    into "no correlation at all").
    """
    n_classes = alpha.shape[0]
    alpha_sum = alpha.sum(axis=1)
    shifted = patterns.counts[None] + alpha[:, patterns.labels]  # (K, nnz)
    gain = (digamma(shifted) - digamma(alpha)[:, patterns.labels]) * expected[patterns.rows].T
    numerator = patterns.per_class_label(gain, n_classes)
    denominator = (
        expected
        * (digamma(patterns.totals[:, None] + alpha_sum[None]) - digamma(alpha_sum)[None])
    ).sum(axis=0)
    return fixed_point_update(
        alpha, numerator, denominator, (ALPHA_MIN, ALPHA_MAX), keep_unused=True
    )


def _log_likelihood(patterns: _Patterns, alpha: np.ndarray) -> np.ndarray:
    """log P(pattern | class k) up to a term that does not depend on k: (U, K)."""
    n_classes = alpha.shape[0]
    alpha_sum = alpha.sum(axis=1)
    shifted = patterns.counts[None] + alpha[:, patterns.labels]
    per_count = gammaln(shifted) - gammaln(alpha)[:, patterns.labels]
    return (
        gammaln(alpha_sum)[None]
        - gammaln(patterns.totals[:, None] + alpha_sum[None])
        + patterns.per_pattern_class(per_count, n_classes)
    )


def _em_map(
    patterns: _Patterns, alpha: np.ndarray, class_weights: np.ndarray, inner_steps: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """One EM iteration of the mixture: responsibilities from (alpha, class weights),
    then new class weights and ``inner_steps`` fixed-point steps for alpha. Also
    returns the log-likelihood of the parameters it started from."""
    joint = _log_likelihood(patterns, alpha) + np.log(np.maximum(class_weights, 1e-300))[None]
    top = joint.max(axis=1, keepdims=True)
    scaled = np.exp(joint - top)
    normaliser = scaled.sum(axis=1, keepdims=True)
    log_lik = float(((np.log(normaliser) + top)[:, 0] * patterns.weight).sum())
    expected = scaled / normaliser * patterns.weight[:, None]
    class_weights = expected.sum(axis=0) + 1e-12
    class_weights /= class_weights.sum()
    for _ in range(inner_steps):
        alpha = _dirichlet_step(patterns, expected, alpha)
    return alpha, class_weights, log_lik


def fit_vote_correlation(
    votes: VoteMatrix,
    posteriors: np.ndarray,
    max_iter: int = 300,
    tol: float = 1e-9,
    inner_steps: int = 5,
) -> VoteCorrelation:
    """Maximum-likelihood Dirichlet–multinomial class mixture of the label counts.

    ``posteriors`` (n_items, K), usually the fitted model's, start the EM, so its
    classes line up with the model's. The likelihood is flat along the
    concentration and plain EM crawls (and stopping it early leaves a different
    rho), so EM is accelerated by SQUAREM (Varadhan & Roland, 2008): two EM
    steps give a direction, an extrapolated step along it is kept only if the
    likelihood does not fall. Stops when the log-likelihood per item changes by
    less than ``tol``.
    """
    counts, inverse, weight = label_count_patterns(votes)
    patterns = _Patterns(counts, weight)
    n_classes = votes.n_classes
    # mean starting posterior per pattern: one bincount per class
    expected = np.stack(
        [np.bincount(inverse, weights=posteriors[:, k], minlength=len(weight)) for k in
         range(n_classes)],
        axis=1,
    )
    class_weights = expected.sum(axis=0) / expected.sum()
    alpha = np.full((n_classes, n_classes), 0.5) + 2.0 * np.eye(n_classes)
    for _ in range(20):
        alpha = _dirichlet_step(patterns, expected, alpha)

    def pack(alpha: np.ndarray, class_weights: np.ndarray) -> np.ndarray:
        return np.concatenate([np.log(alpha).ravel(), np.log(np.maximum(class_weights, 1e-300))])

    def step(state: np.ndarray) -> tuple[np.ndarray, float]:
        alpha = diagonal_dominant(
            np.clip(np.exp(state[: n_classes**2]).reshape(n_classes, n_classes),
                    ALPHA_MIN, ALPHA_MAX)
        )
        class_weights = np.exp(state[n_classes**2 :])
        new_alpha, new_weights, log_lik = _em_map(
            patterns, alpha, class_weights / class_weights.sum(), inner_steps
        )
        return pack(new_alpha, new_weights), log_lik

    # Each cycle costs 3 EM steps over K x (nonzero counts); many classes and votes
    # per item make many patterns, so cap the cycles to keep the fit to seconds.
    affordable = int(WORK_BUDGET / (3 * inner_steps * n_classes * max(len(patterns.counts), 1)))
    state, previous = pack(alpha, class_weights), -np.inf
    for _ in range(max(1, min(max_iter, affordable))):
        once, _ = step(state)
        twice, log_lik = step(once)  # log_lik: the likelihood at `once`
        first, second = once - state, twice - 2 * once + state
        curvature = np.linalg.norm(second)
        new_state = twice
        if curvature > 1e-12:  # extrapolate; keep it only if the likelihood holds
            length = min(float(-np.linalg.norm(first) / curvature), -1.0)
            candidate = state - 2 * length * first + length**2 * second
            stabilised, candidate_lik = step(candidate)
            if np.isfinite(candidate_lik) and candidate_lik >= log_lik:
                new_state, log_lik = stabilised, candidate_lik
        state = new_state
        if log_lik - previous < tol * votes.n_items:
            break
        previous = log_lik
    alpha = diagonal_dominant(
        np.clip(np.exp(state[: n_classes**2]).reshape(n_classes, n_classes), ALPHA_MIN, ALPHA_MAX)
    )
    class_weights = np.exp(state[n_classes**2 :])
    class_weights /= class_weights.sum()
    concentration = alpha.sum(axis=1)
    rho = float(class_weights @ (1.0 / (1.0 + concentration)))
    return VoteCorrelation(rho=rho, concentration=concentration, class_weights=class_weights)


def temper_by_design_effect(
    posteriors: np.ndarray, n_votes: np.ndarray, rho: float
) -> np.ndarray:
    """Raise each item's posterior to 1 / (1 + (n - 1) rho) and renormalise.

    The same as scaling the item's whole log-joint (prior and votes), so the
    most probable class never changes; an item with one vote is untouched.
    """
    exponent = 1.0 / (1.0 + (np.asarray(n_votes, dtype=np.float64) - 1.0) * max(rho, 0.0))
    log_p = np.log(np.maximum(posteriors, 1e-300)) * exponent[:, None]
    log_p -= log_p.max(axis=1, keepdims=True)
    tempered = np.exp(log_p)
    tempered /= tempered.sum(axis=1, keepdims=True)
    return tempered
