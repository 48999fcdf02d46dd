"""``auto`` on partitioned votes: the in-memory choice, made on the same gathered subsample.

:class:`consensus.models.selection.AutoAggregator` draws one uniform number per item
(item codes in order of first appearance) and keeps the items below
its share of the votes (``subset_share``), then draws a fold per item. Each partition here draws
its own stretch of that very stream (a PCG64 generator advanced to the partition's first
item code), so the driver gathers exactly the items the in-memory engine would compare
models on, with the same folds, and runs the same comparison on them. Item codes follow
first appearance when each file holds whole items (the files in path order); when votes
had to be regrouped by item, codes follow the regrouped order and the subsample is a
different, equally random one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..data.votes import VoteMatrix
from ..models import make_model
from ..models.selection import MIN_ITEMS, AutoAggregator
from .statistics import Layout

#: Methods the Dask engine fits; ``auto``'s other choices fall back to pooled.
DISTRIBUTED_METHODS = ("pooled", "ds", "one-coin", "mv")

#: Above this many items the folds are drawn in pieces (8 bytes per item at once would
#: not fit a driver); the in-memory engine could not hold such votes anyway.
MAX_FOLD_DRAW = 2**27


@dataclass(frozen=True)
class Sample:
    """Items of one partition kept for the comparison: their global codes, votes and gold."""

    codes: np.ndarray  # (m,) global item codes
    cells: np.ndarray  # votes of those items, grouped by item
    counts: np.ndarray  # (m,)
    gold: np.ndarray | None


def sample_partition(index: int, offset: int, layout: Layout, seed: int,
                     fraction: float | None) -> Sample:
    """The items of partition ``index`` the in-memory engine's subsample holds.

    ``offset`` is the partition's first global item code; ``fraction`` None keeps every
    item (few votes: no subsample is drawn).
    """
    part = layout.load(index)
    if fraction is None:
        keep = np.ones(part.n_items, dtype=bool)
    else:
        generator = np.random.PCG64(seed)
        generator.advance(offset)  # one 64-bit draw per uniform
        keep = np.random.Generator(generator).random(part.n_items) < fraction
        if part.gold is not None:
            keep |= part.gold >= 0
    take = np.repeat(keep, part.counts)
    return Sample(offset + np.flatnonzero(keep), part.cells[take], part.counts[keep],
                  None if part.gold is None else part.gold[keep])


def choose(samples: list[Sample], layout: Layout, n_items: int, n_votes: int,
           annotator_ids: np.ndarray, classes: np.ndarray, auto: AutoAggregator
           ) -> tuple[str, str]:
    """The method ``auto`` chooses on the gathered subsample, and its reason."""
    if n_items < MIN_ITEMS:
        first = auto.candidates[0]
        return first, (f"auto kept {first}: too few items with votes to compare models on "
                       f"held-out items (under {MIN_ITEMS})")
    codes = np.concatenate([s.codes for s in samples])
    counts = np.concatenate([s.counts for s in samples])
    cells = np.concatenate([s.cells for s in samples])
    order = np.argsort(codes, kind="stable")
    if not (order == np.arange(len(order))).all():  # partitions gathered out of code order
        starts = np.concatenate([[0], np.cumsum(counts)])
        cells = np.concatenate([cells[starts[i]:starts[i + 1]] for i in order])
        codes, counts = codes[order], counts[order]
    k = layout.n_classes
    votes = VoteMatrix(np.repeat(np.arange(len(codes), dtype=np.int32), counts),
                       (cells // k).astype(np.int32), (cells % k).astype(np.int32),
                       np.arange(len(codes)), annotator_ids, classes)
    gold = None
    if samples and samples[0].gold is not None:
        gold = np.concatenate([s.gold for s in samples])[order]  # type: ignore[misc]
    subsampled = auto.subset_share(n_votes, len(annotator_ids)) is not None
    fold = draw_folds(auto.seed, n_items, subsampled, auto.n_folds)[codes]
    chosen, reason, _ = auto.select(votes, fold, gold)
    return chosen, reason


def draw_folds(seed: int, n_items: int, after_uniforms: bool, n_folds: int) -> np.ndarray:
    """``rng.integers(0, n_folds, n_items)`` where the in-memory engine draws it: after
    ``n_items`` uniforms when it subsampled, else first."""
    generator = np.random.PCG64(seed)
    if after_uniforms:
        generator.advance(n_items)
    rng = np.random.Generator(generator)
    if n_items <= MAX_FOLD_DRAW:
        return rng.integers(0, n_folds, n_items)
    return np.concatenate([rng.integers(0, n_folds, min(MAX_FOLD_DRAW, n_items - start))
                           for start in range(0, n_items, MAX_FOLD_DRAW)])


def distributed_method(chosen: str, reason: str | None) -> tuple[str, str | None]:
    """The method to fit: ``chosen``, or pooled (with a warning saying why) when the Dask
    engine does not run it."""
    if chosen in DISTRIBUTED_METHODS:
        return chosen, reason
    note = (f"{reason}; the Dask engine does not fit {chosen} across partitions, so it fits "
            f"pooled instead (to use {chosen}, run the in-memory engine on a machine that "
            f"holds the votes)")
    warnings.warn(note, UserWarning, stacklevel=3)
    return "pooled", note


def make_auto(max_iter: int | None, tol: float | None, smoothing: float | None
              ) -> AutoAggregator:
    """The AutoAggregator the in-memory ``aggregate`` makes (its own seed, 0)."""
    model = make_model("auto", max_iter=max_iter, tol=tol, smoothing=smoothing)
    assert isinstance(model, AutoAggregator)
    return model


def auto_fraction(auto: AutoAggregator, n_votes: int, n_annotators: int) -> float | None:
    """The share of items the subsample keeps, or None when every item is compared."""
    return auto.subset_share(n_votes, n_annotators)
