"""The arithmetic of EM as pure functions over a slice of votes and the parameters.

Each function takes the sparse item × (annotator, label) count matrix of some
items and returns arrays; none keeps state or mutates its inputs. Statistics
from disjoint slices of items add up, so the same functions can run per
partition on a distributed engine and be summed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Probabilities are floored here before taking logs: log(1e-300) ≈ -690 keeps
#: every log-posterior finite where a plain log would give -inf and then NaN.
PROBABILITY_FLOOR = 1e-300


def safe_log(p: np.ndarray) -> np.ndarray:
    """Natural log with zero floored, so sums and exps downstream stay finite."""
    return np.log(np.maximum(p, PROBABILITY_FLOOR))


def log_weights_from_confusion(log_confusion: np.ndarray) -> np.ndarray:
    """Reshape log P(given l | true k) of shape (A, K, L) to (A*L, K) for one matmul."""
    n_annotators, n_classes, n_labels = log_confusion.shape
    return np.ascontiguousarray(
        log_confusion.transpose(0, 2, 1).reshape(n_annotators * n_labels, n_classes)
    )


def log_joint(counts: sp.csr_matrix, log_weights: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
    """log P(true class, votes) per item: shape (n_items, K).

    ``counts[i, a*L + l]`` is how often annotator a gave label l on item i, so
    one sparse product sums the log-likelihood of every vote of every item.
    """
    joint = np.asarray(counts @ log_weights)
    joint += log_prior
    return joint


def _row_max(x: np.ndarray) -> np.ndarray:
    """Maximum of each row; a loop over the few columns beats ``max(axis=1)`` on tall arrays."""
    top = x[:, 0].copy()
    for k in range(1, x.shape[1]):
        np.maximum(top, x[:, k], out=top)
    return top


def normalize_log(log_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise softmax in log space: (posteriors, log normaliser per row)."""
    top = _row_max(log_p)
    posteriors = log_p - top[:, None]
    # exp below e^-700 only makes subnormals (slow, and 0 after normalising anyway)
    np.maximum(posteriors, -700.0, out=posteriors)
    np.exp(posteriors, out=posteriors)
    total = posteriors @ np.ones(posteriors.shape[1])
    posteriors /= total[:, None]
    return posteriors, np.log(total) + top


def e_step(
    counts: sp.csr_matrix, log_weights: np.ndarray, log_prior: np.ndarray
) -> tuple[np.ndarray, float]:
    """Posteriors of the items in ``counts`` and their total log-likelihood."""
    posteriors, log_norm = normalize_log(log_joint(counts, log_weights, log_prior))
    return posteriors, float(log_norm.sum())


def confusion_statistics(
    counts: sp.csr_matrix, posteriors: np.ndarray, n_classes: int
) -> np.ndarray:
    """Expected (annotator, true class, given label) counts: shape (A, K, L).

    The M-step's sufficient statistic; additive over slices of items.
    """
    stats = np.asarray(counts.T @ posteriors)  # (A*L, K)
    n_annotators = stats.shape[0] // n_classes
    return stats.reshape(n_annotators, n_classes, posteriors.shape[1]).transpose(0, 2, 1)


def clamp_to_gold(posteriors: np.ndarray, gold_codes: np.ndarray | None) -> np.ndarray:
    """Return posteriors with gold items set to their known class (a copy when changed)."""
    if gold_codes is None:
        return posteriors
    known = gold_codes >= 0
    if not known.any():
        return posteriors
    clamped = posteriors.copy()
    clamped[known] = 0.0
    clamped[np.flatnonzero(known), gold_codes[known]] = 1.0
    return clamped


def normalize_rows(counts: np.ndarray, floor: float = 1e-10) -> np.ndarray:
    """Turn non-negative counts into probabilities along the last axis.

    Counts are floored (as crowd-kit does) so an empty row becomes uniform
    rather than 0/0.
    """
    floored = np.maximum(counts, floor)
    return floored / floored.sum(axis=-1, keepdims=True)


def normalize_confusion(stats: np.ndarray, smoothing: float) -> np.ndarray:
    """Confusion rows P(given l | true k) from expected counts (A, K, L).

    With ``smoothing`` 0 this is maximum likelihood: a label the annotator never
    gave keeps probability 0 (its log is floored when used), and the labels they
    did give are floored at 1e-10 before normalising, exactly as crowd-kit does.
    """
    if smoothing > 0:
        return normalize_rows(stats + smoothing)
    used = stats.sum(axis=1, keepdims=True) > 0
    floored = np.where(used, np.maximum(stats, 1e-10), 0.0)
    total = floored.sum(axis=-1, keepdims=True)
    uniform = np.broadcast_to(used / np.maximum(used.sum(axis=-1, keepdims=True), 1), floored.shape)
    return np.where(total > 0, floored / np.where(total > 0, total, 1.0), uniform)
