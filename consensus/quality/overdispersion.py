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
import scipy.sparse as sp
from scipy.special import digamma, gammaln

from ..data.votes import VoteMatrix
from ..models.dirichlet import diagonal_dominant, fixed_point_update

#: Caps the accelerated EM's cycles at WORK_BUDGET / (3 inner steps x K x nonzero
#: pattern counts): the digamma evaluations it once spent, when every step evaluated
#: K per nonzero count. A cycle now costs far less, but the cap stays as it was, so
#: the fits it stopped early (many classes) give the rho they always gave.
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


def label_count_patterns(votes: VoteMatrix) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Distinct rows of the items' label counts: (patterns (U, K) sparse, inverse (n,),
    items per pattern).

    Most items share a handful of patterns (three votes and two classes make
    four), so the mixture is fitted on the patterns, weighted by their counts.
    With few classes each item's row of counts is one integer key; with many, a
    dense (items, K) table would cost votes times classes, so the rows are
    found from each item's (label, count) pairs instead.
    """
    n_classes = votes.n_classes
    flat = votes.item_codes.astype(np.int64) * n_classes + votes.label_codes
    if (int(votes.votes_per_item.max(initial=0)) + 1) ** n_classes < 2**62:
        counts = np.bincount(flat, minlength=votes.n_items * n_classes)
        counts = counts.reshape(votes.n_items, n_classes)
        base = int(counts.max(initial=0)) + 1
        key = counts @ (base ** np.arange(n_classes, dtype=np.int64))
        _, first, inverse, weight = np.unique(
            key, return_index=True, return_inverse=True, return_counts=True
        )
        return (sp.csr_matrix(counts[first].astype(np.float64)), inverse.ravel(),
                weight.astype(np.float64))
    pair, count = np.unique(flat, return_counts=True)
    item, label = np.divmod(pair, n_classes)
    rank = np.arange(len(pair)) - np.searchsorted(item, item)  # position within the item
    stride = int(count.max()) + 1
    table = np.zeros((votes.n_items, int(rank.max()) + 1), dtype=np.int64)
    table[item, rank] = label * stride + count  # (label, count) as one code; 0: no more
    base = n_classes * stride
    if float(base) ** table.shape[1] < 2**62:  # one integer key per item
        key = table @ (base ** np.arange(table.shape[1], dtype=np.int64))
        _, first, inverse, weight = np.unique(key, return_index=True, return_inverse=True,
                                              return_counts=True)
        rows = table[first]
    else:
        rows, inverse, weight = np.unique(table, axis=0, return_inverse=True,
                                          return_counts=True)
    pattern, position = np.nonzero(rows)
    label, count = np.divmod(rows[pattern, position], stride)
    patterns = sp.csr_matrix((count.astype(np.float64), (pattern, label)),
                             shape=(len(rows), n_classes))
    return patterns, inverse.ravel(), weight.astype(np.float64)


class _Patterns:
    """Distinct label-count rows, grouped for the mixture's sums.

    Counts are whole votes, so every digamma and log-gamma the fit needs is of
    ``value + alpha[k, l]`` for one of a few distinct count values (one to the
    most votes an item has), or of ``total + A_k`` for a few distinct row
    totals. Sums over patterns weighted by the responsibilities are then sparse
    products made once per E-step, and a fixed-point step evaluates special
    functions on (values, K, L) arrays only, however many patterns there are.
    """

    def __init__(self, counts: sp.spmatrix | np.ndarray, weight: np.ndarray) -> None:
        counts = sp.coo_matrix(counts, dtype=np.float64)
        keep = counts.data != 0
        rows, labels, data = counts.row[keep], counts.col[keep], counts.data[keep]
        self.weight = weight
        self.n_patterns, self.n_labels = counts.shape
        self.n_nonzero = len(data)
        self.values, value_index = np.unique(data, return_inverse=True)
        # (U, V*L): 1 where pattern u has count values[v] of label l
        self.cells = sp.csr_matrix(
            (np.ones(len(data)), (rows, value_index.ravel() * self.n_labels + labels)),
            shape=(self.n_patterns, len(self.values) * self.n_labels),
        )
        totals = np.bincount(rows, weights=data, minlength=self.n_patterns)
        self.totals, total_index = np.unique(totals, return_inverse=True)
        self.total_index = total_index.ravel()
        self.by_total = sp.csr_matrix(
            (np.ones(self.n_patterns), (self.total_index, np.arange(self.n_patterns))),
            shape=(len(self.totals), self.n_patterns),
        )

    def shifted(self, alpha: np.ndarray) -> np.ndarray:
        """``values[v] + alpha[k, l]``, (V, K, L)."""
        return self.values[:, None, None] + alpha[None]


@dataclass(frozen=True)
class _Weighted:
    """What the fixed point needs from the responsibilities ``expected`` (U, K): their
    sums per (count value, class, label), (V, K, L), and per (row total, class), (T, K)."""

    per_value: np.ndarray
    per_total: np.ndarray

    @classmethod
    def of(cls, patterns: _Patterns, expected: np.ndarray) -> _Weighted:
        n_classes = expected.shape[1]
        summed = patterns.cells.T @ expected  # (V*L, K)
        per_value = summed.reshape(len(patterns.values), patterns.n_labels, n_classes)
        return cls(per_value.transpose(0, 2, 1), patterns.by_total @ expected)


def _dirichlet_step(patterns: _Patterns, weighted: _Weighted, alpha: np.ndarray) -> np.ndarray:
    """One Minka (2000) fixed-point step for every class's Dirichlet at once.

    ``weighted`` sums the expected number of items of class k with each pattern.
    Each step raises the likelihood (Newton's method, tried, can overshoot
    into "no correlation at all").
    """
    alpha_sum = alpha.sum(axis=1)
    gains = digamma(patterns.shifted(alpha)) - digamma(alpha)[None]
    numerator = (weighted.per_value * gains).sum(axis=0)
    denominator = (
        weighted.per_total
        * (digamma(patterns.totals[:, None] + alpha_sum[None]) - digamma(alpha_sum)[None])
    ).sum(axis=0)
    return fixed_point_update(
        alpha, numerator, denominator, (ALPHA_MIN, ALPHA_MAX), keep_unused=True
    )


def _log_likelihood(patterns: _Patterns, alpha: np.ndarray) -> np.ndarray:
    """log P(pattern | class k) up to a term that does not depend on k: (U, K)."""
    n_classes = alpha.shape[0]
    alpha_sum = alpha.sum(axis=1)
    per_total = gammaln(alpha_sum)[None] - gammaln(patterns.totals[:, None] + alpha_sum[None])
    per_count = gammaln(patterns.shifted(alpha)) - gammaln(alpha)[None]  # (V, K, L)
    by_cell = np.ascontiguousarray(per_count.transpose(0, 2, 1)).reshape(-1, n_classes)
    out = patterns.cells @ by_cell
    out += per_total[patterns.total_index]
    return out


def _em_map(
    patterns: _Patterns, alpha: np.ndarray, class_weights: np.ndarray, inner_steps: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """One EM iteration of the mixture: responsibilities from (alpha, class weights),
    then new class weights and ``inner_steps`` fixed-point steps for alpha. Also
    returns the log-likelihood of the parameters it started from."""
    # in place: with many classes and patterns every (U, K) array is large
    joint = _log_likelihood(patterns, alpha)
    joint += np.log(np.maximum(class_weights, 1e-300))[None]
    top = joint.max(axis=1, keepdims=True)
    joint -= top
    np.exp(joint, out=joint)
    normaliser = joint.sum(axis=1, keepdims=True)
    log_lik = float(((np.log(normaliser) + top)[:, 0] * patterns.weight).sum())
    joint /= normaliser
    joint *= patterns.weight[:, None]
    expected = joint
    class_weights = expected.sum(axis=0) + 1e-12
    class_weights /= class_weights.sum()
    weighted = _Weighted.of(patterns, expected)
    for _ in range(inner_steps):
        alpha = _dirichlet_step(patterns, weighted, alpha)
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
    classes line up with the model's. See :func:`fit_pattern_correlation`.
    """
    counts, inverse, weight = label_count_patterns(votes)
    # summed starting posteriors per pattern: one bincount per class
    expected = np.stack(
        [np.bincount(inverse, weights=posteriors[:, k], minlength=len(weight)) for k in
         range(votes.n_classes)],
        axis=1,
    )
    return fit_pattern_correlation(counts, weight, expected, max_iter=max_iter, tol=tol,
                                   inner_steps=inner_steps)


def fit_pattern_correlation(
    counts: sp.spmatrix | np.ndarray,
    weight: np.ndarray,
    expected: np.ndarray,
    max_iter: int = 300,
    tol: float = 1e-9,
    inner_steps: int = 5,
) -> VoteCorrelation:
    """The mixture of :func:`fit_vote_correlation` from label-count patterns already
    gathered (as a distributed engine gathers them).

    Parameters
    ----------
    counts : ndarray or sparse matrix (U, K)
        The distinct label-count rows.
    weight : ndarray (U,)
        Items with each pattern.
    expected : ndarray (U, K)
        The starting posteriors summed over each pattern's items, so the
        mixture's classes line up with the model's.

    The likelihood is flat along the concentration and plain EM crawls (and
    stopping it early leaves a different rho), so EM is accelerated by SQUAREM
    (Varadhan & Roland, 2008): two EM steps give a direction, an extrapolated
    step along it is kept only if the likelihood does not fall. Stops when the
    log-likelihood per item changes by less than ``tol``.
    """
    patterns = _Patterns(counts, np.asarray(weight, dtype=np.float64))
    n_classes = expected.shape[1]
    class_weights = expected.sum(axis=0) / expected.sum()
    alpha = np.full((n_classes, n_classes), 0.5) + 2.0 * np.eye(n_classes)
    start = _Weighted.of(patterns, expected)
    for _ in range(20):
        alpha = _dirichlet_step(patterns, start, alpha)

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

    affordable = int(WORK_BUDGET / (3 * inner_steps * n_classes * max(patterns.n_nonzero, 1)))
    n_items = float(patterns.weight.sum())
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
        if log_lik - previous < tol * n_items:
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
