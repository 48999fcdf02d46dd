"""Minka's fixed point for Dirichlet pseudo-counts, written once.

Two fits use it: pooled Dawid–Skene's crowd prior over annotators' confusion rows
(:mod:`consensus.models.pooled`) and the Dirichlet–multinomial mixture behind the
correlated-votes discount (:mod:`consensus.quality.overdispersion`). Each caller
sums its own digamma differences; the update, its safeguards and the
identifiability rule live here, and so does the fast sum of those differences
over many count rows that share one Dirichlet (:class:`SharedRowCounts`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma

#: Counts at most SERIES_BELOW times their pseudo-count are summed by series (see
#: :class:`SharedRowCounts`): SERIES_TERMS terms leave a relative error below
#: SERIES_BELOW ** SERIES_TERMS = 7e-10 per cell, under the float32 rounding of the
#: expected counts themselves (6e-8). The split is made at SERIES_BELOW / 4, so it
#: holds while no pseudo-count falls below a quarter of its value then.
SERIES_BELOW = 0.03
SERIES_TERMS = 6


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


class SharedRowCounts:
    """Count rows (R, K, L) whose row k shares Dirichlet(alpha[k]), ready for
    ``sum_r digamma(n[r, k, l] + alpha[k, l]) - digamma(alpha[k, l])`` at many ``alpha``.

    Minka's fixed point needs that sum at every step, and evaluated cell by cell
    it costs R*K*L digammas a step: with 300 annotators and 100 classes, 3
    million. Most expected counts, though, are tiny against their pseudo-count
    (an item's posterior on a class its votes do not support), and for
    ``n <= rho * alpha`` the difference is the alternating series
    ``sum_j (-1)**(j + 1) n**j zeta(j + 1, alpha)``, whose terms shrink by at
    least ``n / alpha`` each. Summed over rows, its j-th term needs only
    ``sum_r n**j`` per cell, computed once. So a step costs a digamma per count
    above ``rho * alpha`` (a few percent of them) plus SERIES_TERMS Hurwitz zetas
    per cell (K*L), and agrees with the cell-by-cell sum to about 1e-10 relative,
    as close as that sum's own rounding.

    The split into series and exact cells is made at the ``alpha`` of the first
    call, at ``n <= rho * max(alpha / 4, floor)`` (``rho`` = :data:`SERIES_BELOW`),
    and made again if some pseudo-count above ``4 * floor`` falls below a quarter
    of what it was then, so every series cell keeps ``n / alpha <= rho``; a new
    split takes each pseudo-count at its lowest so far, as small ones can swing
    by a factor of ten from step to step (where ``n << alpha`` the fixed point
    sends ``alpha`` to about ``c / alpha``). It runs over blocks of rows that
    stay in cache.

    Parameters
    ----------
    counts : ndarray (R, K, L)
        Non-negative (expected) counts. Rows with a total of at most 1e-9 count
        as unseen and are left out of every sum, as is their row total.
    floor : float
        A lower bound on every ``alpha`` the sums will be asked for.
    """

    #: Cells per block of rows in the split: 512 KiB of float64.
    BLOCK_CELLS = 1 << 16
    #: How far a pseudo-count may fall before the split is made again.
    MARGIN = 4

    def __init__(self, counts: np.ndarray, floor: float = 0.0) -> None:
        self.counts = counts
        self.row_totals = counts.sum(axis=2)  # (R, K)
        self.seen = self.row_totals > 1e-9
        self.floor = floor
        self._valid_above: np.ndarray | None = None
        self._lowest: np.ndarray | None = None

    def _split(self, alpha: np.ndarray) -> None:
        if self._lowest is not None:  # pseudo-counts that swing keep their lowest limit
            alpha = np.minimum(alpha, self._lowest)
        self._lowest = alpha
        quarter = alpha.ravel() / self.MARGIN
        limit = SERIES_BELOW * np.maximum(quarter, self.floor)
        n_rows, n_cells = self.counts.shape[0], alpha.size
        by_row = self.counts.reshape(n_rows, n_cells)
        # unseen rows count as zeros: never exact, nothing in the power sums
        unseen = np.repeat(~self.seen, self.counts.shape[2], axis=1)  # (R, K*L)
        block = max(1, self.BLOCK_CELLS // n_cells)
        values, cells = [], []
        sums = np.zeros((SERIES_TERMS, n_cells))
        for start in range(0, n_rows, block):
            part = by_row[start : start + block]
            left_out = unseen[start : start + block]
            exact = part > limit
            exact &= ~left_out
            rows, columns = np.nonzero(exact)
            values.append(part[rows, columns])
            cells.append(columns)
            small = np.where(exact | left_out, 0.0, part)
            sums[0] += small.sum(axis=0)
            power = small * small
            for j in range(1, SERIES_TERMS):
                sums[j] += power.sum(axis=0)
                if j + 1 < SERIES_TERMS:
                    power *= small
        self._values = np.concatenate(values)
        self._cell = np.concatenate(cells)
        self._n_exact = np.bincount(self._cell, minlength=n_cells).reshape(alpha.shape)
        self._power_sums = list(sums.reshape(SERIES_TERMS, *alpha.shape))
        # below 4 * floor the limit is rho * floor, which no later alpha can undercut
        self._valid_above = np.where(quarter > self.floor, quarter, 0.0).reshape(alpha.shape)

    def label_gains(self, alpha: np.ndarray) -> np.ndarray:
        """``sum_r digamma(n[r, k, l] + alpha[k, l]) - digamma(alpha[k, l])`` over seen
        rows, (K, L)."""
        if self._valid_above is None or np.any(alpha < self._valid_above):
            self._split(alpha)
        flat = alpha.ravel()
        gains = np.bincount(self._cell, weights=digamma(self._values + flat[self._cell]),
                            minlength=flat.size).reshape(alpha.shape)
        gains -= self._n_exact * digamma(alpha)
        zetas = hurwitz_zetas(alpha, SERIES_TERMS + 1)
        for power, (sums, coefficient) in enumerate(zip(self._power_sums, zetas, strict=True),
                                                    start=1):
            term = sums * coefficient
            gains += term if power % 2 else -term
        return gains

    def total_gains(self, alpha: np.ndarray) -> np.ndarray:
        """``sum_r digamma(N[r, k] + A_k) - digamma(A_k)`` over seen rows, (K,), with
        ``N`` the row totals and ``A`` the rows of ``alpha`` summed."""
        total = alpha.sum(axis=1)
        return np.where(
            self.seen, digamma(self.row_totals + total[None]) - digamma(total)[None], 0.0
        ).sum(axis=0)


#: Bernoulli numbers B_2, B_4, ..., B_14, for the Euler–Maclaurin tail of the zeta.
BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)


def hurwitz_zetas(x: np.ndarray, largest: int) -> list[np.ndarray]:
    """Hurwitz zeta ``zeta(s, x) = sum_j (x + j) ** -s`` for s = 2, ..., ``largest``.

    The first ten terms are summed directly, the rest by Euler–Maclaurin at
    ``x + 10 >= 10``, where seven Bernoulli terms leave a relative error near
    1e-15 for s up to 7 (scipy's ``zeta`` does the same element by element,
    several times slower than these whole-array passes).
    """
    shift = 10
    out = [np.zeros_like(x) for _ in range(2, largest + 1)]
    for j in range(shift):
        inv = 1.0 / (x + j)
        power = inv * inv
        for s in range(2, largest + 1):
            out[s - 2] += power
            if s < largest:
                power *= inv
    inv = 1.0 / (x + shift)
    inv2 = inv * inv
    head = inv.copy()  # (x + 10) ** (1 - s), from s = 2
    for s in range(2, largest + 1):
        tail = head / (s - 1) + head * inv / 2
        rising, term = float(s), head * inv2  # s (s+1) ... (s+2m-2), (x+10) ** (-s-2m+1)
        for m, bernoulli in enumerate(BERNOULLI, start=1):
            tail += bernoulli / math.factorial(2 * m) * rising * term
            rising *= (s + 2 * m - 1) * (s + 2 * m)
            term *= inv2
        out[s - 2] += tail
        head *= inv
    return out
