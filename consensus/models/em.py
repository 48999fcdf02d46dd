"""The arithmetic of EM as pure functions over a slice of votes and the parameters.

Each function takes the sparse item × (annotator, label) count matrix of some
items and returns arrays; none keeps state or mutates its inputs, except an
``out`` buffer a caller hands over and :func:`normalize_log_inplace`. Statistics
from disjoint slices of items add up, so the same functions can run per
partition on a distributed engine and be summed.

Per-item work arrays (log-joints, posteriors) are class-major, shape
(K, n_items): each class is one contiguous row, so the E-step is K sparse
mat-vecs and the softmax runs along long rows. (Row-major (n, 2) arrays make
numpy's broadcasting loop two elements at a time: four times slower.)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

try:  # scipy's CSR mat-vec kernel, which accumulates into a given output
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover - a future scipy may move it; the public path remains
    _csr_matvec = None

#: Probabilities are floored here before taking logs: log(1e-300) ≈ -690 keeps
#: every log-posterior finite where a plain log would give -inf and then NaN.
PROBABILITY_FLOOR = 1e-300

#: The per-item arrays of EM (log-joints, posteriors) are float32: half the memory
#: traffic of float64, and exp runs faster. Parameters, sufficient statistics and
#: log-likelihood totals stay float64; fitted posteriors are returned as float64.
WORK_DTYPE = np.float32


def safe_log(p: np.ndarray) -> np.ndarray:
    """Natural log with zero floored, so sums and exps downstream stay finite."""
    return np.log(np.maximum(p, PROBABILITY_FLOOR))


def log_weights_from_confusion(log_confusion: np.ndarray) -> np.ndarray:
    """Reshape log P(given l | true k) of shape (A, K, L) to (A*L, K) for one matmul."""
    n_annotators, n_classes, n_labels = log_confusion.shape
    return np.ascontiguousarray(
        log_confusion.transpose(0, 2, 1).reshape(n_annotators * n_labels, n_classes)
    )


def log_joint(
    counts: sp.csr_matrix,
    log_weights: np.ndarray,
    log_prior: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """log P(true class, votes) per item, class-major: shape (K, n_items).

    ``counts[i, a*L + l]`` is how often annotator a gave label l on item i, so
    one sparse mat-vec per class sums the log-likelihood of every vote of every
    item. K single-vector products beat one (n, K) product: scipy's multi-vector
    kernel loops over the K columns for every vote. ``out``, a C-contiguous
    (K, n_items) array of the counts' dtype, is overwritten and returned: EM
    reuses one buffer instead of faulting in fresh pages every iteration.
    """
    weights = log_weights.astype(counts.dtype, copy=False)
    shape = (weights.shape[1], counts.shape[0])
    joint = (
        out
        if out is not None
        and out.shape == shape
        and out.dtype == counts.dtype
        and out.flags.c_contiguous
        else np.empty(shape, dtype=counts.dtype)
    )
    for k in range(weights.shape[1]):
        joint[k] = log_prior[k]
        add_product(counts, np.ascontiguousarray(weights[:, k]), joint[k])
    return joint


def add_product(matrix: sp.csr_matrix, vector: np.ndarray, out: np.ndarray) -> None:
    """``out += matrix @ vector`` written in place: no million-row temporary per class.

    Uses scipy's own CSR kernel when the dtypes line up, else the public product.
    """
    same = matrix.dtype == vector.dtype == out.dtype and matrix.indptr.dtype == matrix.indices.dtype
    if _csr_matvec is None or not same or not out.flags.c_contiguous:
        out += matrix @ vector
        return
    _csr_matvec(matrix.shape[0], matrix.shape[1], matrix.indptr, matrix.indices, matrix.data,
                vector, out)


def normalize_log(log_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise softmax in log space of an (n, K) array: (posteriors, log normaliser per row)."""
    dtype = log_p.dtype if log_p.dtype in (np.float32, np.float64) else np.float64
    posteriors, log_norm = normalize_log_inplace(np.array(log_p.T, dtype=dtype, order="C"))
    return np.ascontiguousarray(posteriors.T), log_norm


def normalize_log_inplace(log_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax over the classes of a class-major (K, n) array, overwriting it.

    Returns (posteriors, log normaliser per item). Every operation runs along
    whole contiguous rows, and no million-item temporaries beyond two rows are
    made: on large inputs their page faults cost as much as the arithmetic.
    """
    top = log_p.max(axis=0)
    log_p -= top
    # exp further below 0 than this only makes subnormals (slow, and 0 after normalising)
    np.maximum(log_p, -80.0 if log_p.dtype == np.float32 else -700.0, out=log_p)
    np.exp(log_p, out=log_p)
    total = log_p.sum(axis=0)
    log_p *= np.reciprocal(total)
    np.log(total, out=total)
    total += top
    return log_p, total


def e_step(
    counts: sp.csr_matrix,
    log_weights: np.ndarray,
    log_prior: np.ndarray,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Class-major posteriors (K, n) of the items in ``counts`` and their total log-likelihood.

    ``out`` as in :func:`log_joint`: a buffer the posteriors may be written into.
    """
    joint = log_joint(counts, log_weights, log_prior, out=out)
    posteriors, log_norm = normalize_log_inplace(joint)
    return posteriors, float(log_norm.sum(dtype=np.float64))


def item_log_evidence(
    counts: sp.csr_matrix, log_weights: np.ndarray, log_prior: np.ndarray
) -> np.ndarray:
    """log P(each item's votes), the latent column summed out, in float64 (n_items,):
    differences between models are small per vote."""
    joint = log_joint(counts.astype(np.float64), log_weights.astype(np.float64),
                      np.asarray(log_prior, dtype=np.float64))
    _, log_norm = normalize_log_inplace(joint)
    return log_norm


def confusion_statistics(
    counts: sp.csr_matrix, posteriors: np.ndarray, n_classes: int
) -> np.ndarray:
    """Expected (annotator, true class, given label) counts: shape (A, K, L).

    The M-step's sufficient statistic, from class-major posteriors (K, n);
    additive over slices of items. One transposed mat-vec per true class.
    """
    votes_by_cell = counts.T
    stats = np.stack(
        [votes_by_cell @ row.astype(counts.dtype, copy=False) for row in posteriors], axis=1
    ).astype(np.float64)
    n_annotators = stats.shape[0] // n_classes
    return stats.reshape(n_annotators, n_classes, posteriors.shape[0]).transpose(0, 2, 1)


def as_probabilities(posteriors: np.ndarray) -> np.ndarray:
    """Item-major float64 rows (n, K) summing to one, from class-major work arrays (K, n)."""
    scale = np.reciprocal(posteriors.sum(axis=0, dtype=np.float64))
    out = posteriors.T.astype(np.float64, order="C")  # one transposing copy
    out *= scale[:, None]
    return out


def class_totals(posteriors: np.ndarray) -> np.ndarray:
    """Expected items per class (float64) from class-major posteriors (K, n).

    Pairwise summation along each contiguous row keeps float32 input accurate
    to about 1e-7, far below what a class prior needs.
    """
    return posteriors.sum(axis=1).astype(np.float64)


def top_two(posteriors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest and second-largest value of each row of an (n, K) array, in one pass
    over the columns (no sorted copy)."""
    best = np.full(posteriors.shape[0], -np.inf)
    second = best.copy()
    for k in range(posteriors.shape[1]):
        column = posteriors[:, k]
        np.maximum(second, np.minimum(best, column), out=second)
        np.maximum(best, column, out=best)
    return best, second


def clamp_to_gold(
    posteriors: np.ndarray, gold_codes: np.ndarray | None, class_major: bool = False
) -> np.ndarray:
    """Return posteriors with gold items set to their known class (a copy when changed).

    ``posteriors`` is (n, K), or (K, n) when ``class_major`` (EM's work arrays).
    """
    if gold_codes is None:
        return posteriors
    known = np.flatnonzero(gold_codes >= 0)
    if not known.size:
        return posteriors
    clamped = posteriors.copy()
    by_item = clamped.T if class_major else clamped
    by_item[known] = 0.0
    by_item[known, gold_codes[known]] = 1.0
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


def history_counts(confusion: np.ndarray, class_priors: np.ndarray, weight: float) -> np.ndarray:
    """Pseudo-counts (A, K, L) worth ``weight`` votes per annotator, as their confusion says.

    An annotator's ``weight`` earlier votes are spread over true classes by
    ``class_priors`` (K,) and over given labels by their confusion rows (A, K, L):
    the expected counts that many votes would have added. A warm start adds them to
    every M-step, so an annotator's history weighs like ``weight`` more votes.
    """
    return weight * class_priors[None, :, None] * confusion
