"""Minka's fixed point for Dirichlet pseudo-counts, written once.

Two fits use it: pooled Dawid–Skene's crowd prior over annotators' confusion rows
(:mod:`consensus.models.pooled`) and the Dirichlet–multinomial mixture behind the
correlated-votes discount (:mod:`consensus.quality.overdispersion`). Each caller
sums its own digamma differences; the update, its safeguards and the
identifiability rule live here.
"""

from __future__ import annotations

import numpy as np


def diagonal_dominant(alpha: np.ndarray) -> np.ndarray:
    """Raise each row's diagonal to at least its largest other entry.

    The one assumption that makes a crowd's labels identifiable: a typical
    annotator gives the true class at least as often as any single other one.
    Without it a class nobody voted for can be learned as "items the crowd
    splits on" and win those items.
    """
    off = alpha.copy()
    np.fill_diagonal(off, 0.0)
    diagonal = np.maximum(np.diagonal(alpha), off.max(axis=1))
    out = alpha.copy()
    np.fill_diagonal(out, diagonal)
    return out


def fixed_point_update(
    alpha: np.ndarray,
    numerator: np.ndarray,
    denominator: np.ndarray,
    bounds: tuple[float, float],
    keep_unused: bool = False,
) -> np.ndarray:
    """One step of Minka (2000), eq. 55, for a Dirichlet per row of ``alpha`` (K, L).

    ``numerator[k, l]`` sums ``w (digamma(n_l + alpha_kl) - digamma(alpha_kl))`` and
    ``denominator[k]`` sums ``w (digamma(N + A_k) - digamma(A_k))`` over the weighted
    count rows of row k (``A_k`` its total). The step never lowers the likelihood.
    A non-finite update keeps the old value; the result is clipped to ``bounds``
    (below them digamma explodes, above them the prior overrules any data) and
    made diagonal-dominant.

    A label no count row ever used has a zero numerator: its maximum-likelihood
    pseudo-count is 0, so by default it falls to the lower bound. With
    ``keep_unused`` it stays where it is instead, as the vote-correlation mixture
    needs: there a declared class nobody voted for would otherwise flatten the
    likelihood and make its accelerated EM overflow.
    """
    updated = alpha * numerator / np.maximum(denominator, 1e-300)[:, None]
    usable = np.isfinite(updated) & ((updated > 0) if keep_unused else True)
    updated = np.clip(np.where(usable, updated, alpha), *bounds)
    return diagonal_dominant(updated)
