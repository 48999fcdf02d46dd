"""The two adaptive rules, decided once for simulated and for real votes alike."""

from __future__ import annotations

import numpy as np


def rule_stops(score: np.ndarray, labels: np.ndarray, available: np.ndarray, target: float,
               rho: float, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Votes each item takes under each rule, and whether the second rule got sure.

    ``score`` (n, depth, K) is the log posterior after each vote, ``labels`` (n, depth)
    the votes, ``available`` (n,) how many votes each item has. "Two, a third on
    disagreement" takes 2, or 3 where the first two labels differ; "until sure" takes
    one at a time until the posterior, tempered by the design effect of correlated
    votes (1 / (1 + (j - 1) rho) after j votes), reaches ``target``, at most ``limit``
    votes. Returns (third, until_sure, reached), the first two 1-based counts (n,).
    """
    depth = min(score.shape[1], limit)
    used = np.arange(1, depth + 1)
    third = np.minimum(np.where(labels[:, 0] == labels[:, 1], 2, 3), available)
    temper = 1.0 / (1.0 + (used - 1) * max(rho, 0.0))
    tempered = score[:, :depth] * temper[None, :, None]
    tempered -= tempered.max(axis=2, keepdims=True)
    sure = (1.0 / np.exp(tempered).sum(axis=2) >= target) & (used <= available[:, None])
    reached = sure.any(axis=1)
    last = np.minimum(available, depth)
    until_sure = np.where(reached, sure.argmax(axis=1) + 1, last)
    return third, until_sure, reached
