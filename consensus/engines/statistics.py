"""The per-partition arithmetic of EM: what one task computes from one encoded partition.

Everything a model's M-step needs is a sum over items (:class:`Sums`), so a partition
maps to its share and the driver adds the shares. Per-item arrays never leave the task:
each pass reads the partition again and recomputes its posteriors from the parameters
(a Dawid-Skene E-step needs only the parameters, not the last posteriors).

The E-step is the in-memory engine's own (:func:`consensus.models.em.e_step` on the same
sparse layout, votes in the same order within each item), so in the same work dtype an
item's posterior is the same to the last bit given the same parameters. The sums are
accumulated in float64 whatever the work dtype (the in-memory engine accumulates the
confusion counts in its float32 work dtype; see the engine's documentation for what that
costs in agreement).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data.votes import VoteMatrix
from ..models import em
from ..models.dawid_skene import hold_to_votes
from ..quality.calibration import with_confidence
from ..quality.overdispersion import temper_by_design_effect
from .partitions import EncodedPartition, filesystem, load_item_ids, load_partition


@dataclass(frozen=True)
class Layout:
    """What every task needs to read and shape a partition: sizes, dtype, where."""

    cache: str
    n_annotators: int
    n_classes: int
    work_dtype: str
    with_gold: bool
    storage_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return self.n_annotators * self.n_classes

    def load(self, index: int) -> EncodedPartition:
        return load_partition(self.cache, index, self.with_gold, self.storage_options)


@dataclass(frozen=True)
class StepParams:
    """The parameters one E-step pass needs: log-weights (A*L, K), log-prior (K,), the
    classes held to their votes (K,), and for the leave-one-out E-step the confusion
    concentration (A, K, L)."""

    log_weights: np.ndarray
    log_prior: np.ndarray
    held: np.ndarray
    concentration: np.ndarray | None = None


@dataclass
class Sums:
    """Additive statistics of one or more partitions.

    ``stats`` (A, K, L) and ``class_counts`` (K,) are the M-step's expected counts;
    ``log_lik`` the E-step's log-likelihood (with the mass the hold rule removed);
    ``said`` and ``weight`` (K,) the crowd-accuracy numerator and denominator of the
    better-than-chance rule, from the unheld, unclamped posteriors; ``patterns`` maps a
    label-count pattern key to (items, summed posteriors (K,)) when asked for.
    """

    stats: np.ndarray
    class_counts: np.ndarray
    log_lik: float = 0.0
    said: np.ndarray | None = None
    weight: np.ndarray | None = None
    patterns: dict[Any, tuple[float, np.ndarray]] | None = None
    n_items: int = 0

    def __add__(self, other: Sums) -> Sums:
        patterns = None
        if self.patterns is not None and other.patterns is not None:
            patterns = dict(self.patterns)
            for key, (count, post) in other.patterns.items():
                mine = patterns.get(key)
                patterns[key] = (count, post) if mine is None else (mine[0] + count,
                                                                     mine[1] + post)
        return Sums(
            self.stats + other.stats, self.class_counts + other.class_counts,
            self.log_lik + other.log_lik, _add(self.said, other.said),
            _add(self.weight, other.weight), patterns, self.n_items + other.n_items,
        )


def _add(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    return None if a is None or b is None else a + b


def add_all(parts: list[Sums]) -> Sums:
    """Sum of several partitions' statistics (used as the tree reduction's step)."""
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


# ------------------------------------------------------------------ building blocks
def count_matrix(part: EncodedPartition, n_cells: int, dtype: Any) -> sp.csr_matrix:
    """The partition's item × (annotator, label) counts, laid out as the in-memory engine
    lays out ``VoteMatrix.item_annotator_label`` (int32 indices, votes in item order)."""
    indptr = np.zeros(part.n_items + 1, dtype=np.int64)
    np.cumsum(part.counts, out=indptr[1:])
    data = np.ones(part.cells.shape[0], dtype=dtype)
    return sp.csr_matrix((data, part.cells, indptr), shape=(part.n_items, n_cells))


def label_counts(part: EncodedPartition, n_classes: int) -> np.ndarray:
    """Votes per label per item, class-major (K, n_items), int64."""
    items = np.repeat(np.arange(part.n_items, dtype=np.int64), part.counts)
    flat = items * n_classes + part.cells % n_classes
    counts = np.bincount(flat, minlength=part.n_items * n_classes)
    return np.ascontiguousarray(counts.reshape(part.n_items, n_classes).T)


def vote_shares(counts: np.ndarray, part: EncodedPartition, dtype: Any) -> np.ndarray:
    """Each item's share of votes per class (K, n), as :func:`consensus.models.base.vote_shares`
    computes them in ``dtype`` (one correctly rounded division per cell either way)."""
    shares = counts.astype(dtype)
    shares /= np.maximum(part.counts.astype(dtype), 1)
    return shares


def confusion_sums(matrix64: sp.csr_matrix, posteriors: np.ndarray, n_classes: int) -> np.ndarray:
    """Expected (annotator, true class, given label) counts (A, K, L), summed in float64."""
    votes_by_cell = matrix64.T
    stats = np.stack([votes_by_cell @ row.astype(np.float64) for row in posteriors], axis=1)
    n_annotators = stats.shape[0] // n_classes
    return stats.reshape(n_annotators, n_classes, posteriors.shape[0]).transpose(0, 2, 1)


def clamp(posteriors: np.ndarray, gold: np.ndarray | None) -> np.ndarray:
    """Class-major posteriors with gold items set to their class (a copy when changed)."""
    return em.clamp_to_gold(posteriors, gold, class_major=True)


def accuracy_sums(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The better-than-chance rule's sums from expected counts: per class, the votes that
    give it on its items (the diagonal) and all votes on its items."""
    return np.einsum("akk->k", stats), stats.sum(axis=(0, 2))


# ------------------------------------------------------------------ the passes
#: How the model's posteriors of a partition are made: an E-step at the parameters (EM
#: models), the vote shares in the work dtype (EM models when every item has one vote),
#: or the float64 vote shares of majority vote.
Start = Literal["estep", "shares", "majority"]


def initial_sums(index: int, layout: Layout, start: Start = "estep") -> Sums:
    """Pass 0: the vote-share start (gold clamped) and its expected counts: in the work
    dtype for EM models, in float64 for majority vote (``start`` "majority")."""
    part = layout.load(index)
    dtype = np.dtype(np.float64 if start == "majority" else layout.work_dtype)
    matrix64 = count_matrix(part, layout.n_cells, np.float64)
    posteriors = clamp(vote_shares(label_counts(part, layout.n_classes), part, dtype), part.gold)
    return Sums(confusion_sums(matrix64, posteriors, layout.n_classes),
                posteriors.sum(axis=1, dtype=np.float64), n_items=part.n_items)


def model_posteriors(layout: Layout, part: EncodedPartition, params: StepParams,
                     with_counts: bool = True) -> tuple[np.ndarray, float, np.ndarray | None,
                                                        np.ndarray | None]:
    """One E-step of a partition as the in-memory loop makes it.

    Returns the class-major posteriors after the hold rule and gold, the log-likelihood,
    and with ``with_counts`` the expected counts of the unheld, unclamped posteriors
    (what the hold rule's crowd accuracy is read from) and of the returned ones (the
    same array when neither the rule nor gold changed anything).
    """
    dtype = np.dtype(layout.work_dtype)
    matrix = count_matrix(part, layout.n_cells, dtype)
    posteriors, log_lik = em.e_step(matrix, params.log_weights, params.log_prior)
    unheld = stats = None
    if with_counts:
        matrix64 = matrix if dtype == np.float64 else count_matrix(part, layout.n_cells,
                                                                   np.float64)
        unheld = stats = confusion_sums(matrix64, posteriors, layout.n_classes)
    if params.held.any():
        counts = label_counts(part, layout.n_classes).astype(dtype)
        posteriors, log_kept = hold_to_votes(posteriors, counts, params.held)
        log_lik += log_kept
    anchored = part.gold is not None and bool((part.gold >= 0).any())
    if anchored:
        posteriors = clamp(posteriors, part.gold)
    if with_counts and (params.held.any() or anchored):
        stats = confusion_sums(matrix64, posteriors, layout.n_classes)
    return posteriors, log_lik, unheld, stats


def em_sums(index: int, layout: Layout, params: StepParams) -> Sums:
    """One EM iteration's share: E-step, hold rule, gold, then expected counts."""
    part = layout.load(index)
    posteriors, log_lik, unheld, stats = model_posteriors(layout, part, params)
    assert unheld is not None and stats is not None  # asked for with_counts
    said, weight = accuracy_sums(unheld)
    return Sums(stats, posteriors.sum(axis=1, dtype=np.float64), log_lik, said, weight,
                n_items=part.n_items)


def pattern_key_base(max_votes_per_item: int, n_classes: int) -> int | None:
    """The base of the one-integer key of a label-count pattern, or None when
    ``base ** K`` would overflow (patterns are then compared as rows). Any base above
    every count orders keys as :func:`consensus.quality.overdispersion.label_count_patterns`
    orders its patterns."""
    base = max_votes_per_item + 1
    return base if base ** n_classes < 2**62 else None


def item_posteriors(layout: Layout, part: EncodedPartition, params: StepParams, start: Start,
                    with_counts: bool = False
                    ) -> tuple[np.ndarray, float, np.ndarray | None]:
    """A partition's model posteriors as the in-memory models store them: item-major
    (n, K) float64, gold clamped; their log-likelihood (as the model reports it); and
    with ``with_counts`` the unheld expected counts the hold rule reads."""
    if start == "estep":
        posteriors, log_lik, unheld, _ = model_posteriors(layout, part, params, with_counts)
        return em.clamp_to_gold(em.as_probabilities(posteriors), part.gold), log_lik, unheld
    dtype = np.dtype(layout.work_dtype)
    _, log_lik = em.e_step(count_matrix(part, layout.n_cells, dtype), params.log_weights,
                           params.log_prior)
    shares = vote_shares(label_counts(part, layout.n_classes), part,
                         np.float64 if start == "majority" else dtype)
    probabilities = (np.ascontiguousarray(shares.T) if start == "majority"
                     else em.as_probabilities(shares))
    return em.clamp_to_gold(probabilities, part.gold), log_lik, None


def final_sums(index: int, layout: Layout, params: StepParams, start: Start,
               key_base: int | None, with_patterns: bool) -> Sums:
    """The final E-step's share: log-likelihood, the hold rule's accuracy sums, class
    counts, and the items' label-count patterns with their summed posteriors (all the
    vote-correlation fit needs)."""
    part = layout.load(index)
    probabilities, log_lik, unheld = item_posteriors(layout, part, params, start,
                                                     with_counts=start == "estep")
    said, weight = accuracy_sums(unheld) if unheld is not None else (None, None)
    patterns = None
    if with_patterns:
        counts = label_counts(part, layout.n_classes).T
        if key_base is not None:
            keys = counts @ (key_base ** np.arange(layout.n_classes, dtype=np.int64))
            distinct, inverse = np.unique(keys, return_inverse=True)
            rows: list[Any] = [int(k) for k in distinct]
        else:
            table, inverse = np.unique(counts, axis=0, return_inverse=True)
            rows = [tuple(int(x) for x in r) for r in table]
        inverse = inverse.ravel()
        items = np.bincount(inverse, minlength=len(rows)).astype(np.float64)
        summed = np.stack([np.bincount(inverse, weights=probabilities[:, k], minlength=len(rows))
                           for k in range(layout.n_classes)], axis=1)
        patterns = {key: (items[u], summed[u]) for u, key in enumerate(rows)}
    zeros = np.zeros((layout.n_annotators, layout.n_classes, layout.n_classes))
    return Sums(zeros, probabilities.sum(axis=0), log_lik, said, weight, patterns,
                n_items=part.n_items)


def label_file(output: str, index: int) -> str:
    """The file of partition ``index`` in the output dataset."""
    return f"{output.rstrip('/')}/part-{index:05d}.parquet"


@dataclass(frozen=True)
class Confidence:
    """How the reported confidence is made from the model's posteriors (see
    :class:`consensus.workflows.aggregation.AggregateResult.posteriors`)."""

    #: Leave-one-out E-step at the fitted parameters (pooled Dawid-Skene), or not.
    leave_one_out: bool = False
    #: The correlated-votes discount's rho, or None for none.
    rho: float | None = None


@dataclass
class Written:
    """What writing a partition's labels returns: votes agreeing with the consensus per
    annotator (A,), items per consensus class (K,), and the rows written."""

    agreeing: np.ndarray
    items_per_class: np.ndarray
    n_items: int

    def __add__(self, other: Written) -> Written:
        return Written(self.agreeing + other.agreeing,
                       self.items_per_class + other.items_per_class,
                       self.n_items + other.n_items)


def add_written(parts: list[Written]) -> Written:
    """Sum of several partitions' write results (the tree reduction's step)."""
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def write_labels(index: int, layout: Layout, params: StepParams, start: Start,
                 confidence: Confidence, classes: np.ndarray, output: str) -> Written:
    """The final pass: posteriors, labels and confidence of a partition's items, written
    as one Parquet file of the output dataset (the columns of the in-memory item table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = layout.load(index)
    n_classes = layout.n_classes
    counts = label_counts(part, n_classes)
    model = item_posteriors(layout, part, params, start)[0]
    codes = model.argmax(axis=1)
    best, second = em.top_two(model)
    reported = model
    if confidence.leave_one_out:
        reported = with_confidence(reported, leave_one_out(layout, part, params, model)[
            np.arange(part.n_items), codes])
    if confidence.rho is not None:
        reported = temper_by_design_effect(reported, part.counts, confidence.rho)
    if reported is not model:
        reported = em.clamp_to_gold(reported, part.gold)
    rows = np.arange(part.n_items)
    table = {
        "item": pa.array(_arrow_ready(load_item_ids(layout.cache, index,
                                                    layout.storage_options))),
        "label": pa.array(_arrow_ready(np.asarray(classes)[codes])),
        "confidence": reported[rows, codes],
        "n_votes": part.counts.astype(np.int64),
        "agreement": counts.T[rows, codes] / np.maximum(part.counts, 1),
        "tie": best - second <= 1e-12,
    }
    if part.gold is not None:
        table["gold"] = part.gold >= 0
    for k, name in enumerate(classes):
        table[f"p_{name}"] = np.ascontiguousarray(reported[:, k])
    fs, path = filesystem(label_file(output, index), layout.storage_options)
    with fs.open(path, "wb") as handle:
        pq.write_table(pa.table(table), handle)
    agrees = (part.cells % n_classes) == np.repeat(codes, part.counts)
    agreeing = np.bincount(part.cells[agrees] // n_classes, minlength=layout.n_annotators)
    return Written(agreeing.astype(np.float64), np.bincount(codes, minlength=n_classes),
                   part.n_items)


def leave_one_out(layout: Layout, part: EncodedPartition, params: StepParams,
                  model: np.ndarray) -> np.ndarray:
    """Item-major posteriors (n, K) with each item left out of its annotators' confusion
    estimates: :meth:`PooledDawidSkene.leave_one_out_proba` on one partition."""
    from ..models.pooled import cavity_e_step

    assert params.concentration is not None  # the driver sends it with leave_one_out
    dtype = np.dtype(layout.work_dtype)
    votes = partition_votes(layout, part, count_matrix(part, layout.n_cells, dtype))
    previous = np.ascontiguousarray(model.T, dtype=dtype)
    posteriors, _ = cavity_e_step(votes, params.concentration, params.log_prior, previous)
    if params.held.any():
        counts = label_counts(part, layout.n_classes).astype(dtype)
        posteriors, _ = hold_to_votes(posteriors, counts, params.held)
    return em.as_probabilities(posteriors)


def partition_votes(layout: Layout, part: EncodedPartition, matrix: sp.csr_matrix) -> VoteMatrix:
    """A VoteMatrix of one partition's items in the global annotator and class spaces (the
    shape :meth:`VoteMatrix.take_items` gives), its count matrix already built in the work
    dtype. Ids are placeholders: only codes are read."""
    votes = VoteMatrix(
        np.repeat(np.arange(part.n_items, dtype=np.int32), part.counts),
        (part.cells // layout.n_classes).astype(np.int32),
        (part.cells % layout.n_classes).astype(np.int32),
        np.arange(part.n_items), np.arange(layout.n_annotators), np.arange(layout.n_classes),
    )
    vars(votes)["item_annotator_label"] = matrix  # the cached properties, primed
    vars(votes)["annotator_label_codes"] = part.cells
    return votes


def _arrow_ready(values: np.ndarray) -> Any:
    """Ids as Arrow takes them: text stays text, numbers stay numbers."""
    values = np.asarray(values)
    if values.dtype != object:
        return values
    return pd.array(values, dtype="string") if all(isinstance(v, str) for v in values[:1000]) \
        else values
