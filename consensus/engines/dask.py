"""The Dask engine: Dawid-Skene EM on votes that do not fit one machine.

``aggregate_parquet(folder_or_glob, output=..., method=...)`` reads votes as a partitioned
Parquet dataset (local or on any fsspec filesystem), fits the model with every EM
iteration as one pass over the partitions, and writes the labels as a partitioned Parquet
dataset. What runs where:

* **Codes, once.** A first pass reads every file for its distinct annotators and labels
  (small: gathered and numbered on the driver, by first appearance over the files in
  path order, as in memory) and its item range. When the files' item ranges are
  disjoint every item's votes lie in one file and the files are the partitions; else
  the votes are regrouped once by a hash of the item (each file split into buckets, each
  partition one bucket of every file, votes in file order). Each partition is then
  encoded once into a compact scratch copy (per vote ``annotator * K + label``, grouped by
  item; per item its vote count) under ``scratch`` (default: ``<output>/_consensus_work``,
  removed at the end), which every later pass reads: 2-4 bytes per vote.
* **Each iteration** maps partitions to the sufficient statistics (annotator × class ×
  label expected counts, class counts, log-likelihood, the crowd-accuracy sums of the
  better-than-chance rule), sums them in a tree of tasks, and runs the model's own M-step
  on the driver: the pooled prior and gold anchoring are functions of those statistics.
  Per-item posteriors are recomputed from the parameters in each pass and never leave
  their partition.
* **At the end** one pass gathers the label-count patterns for the vote-correlation
  discount, and a last one writes each partition's labels, with the same honest
  confidence as ``consensus.aggregate`` (leave-one-out E-step for pooled, the discount
  for correlated votes).

Tasks are pure functions of (partition, parameters): a task lost with its worker is run
again elsewhere with the same result, and ``retries`` covers tasks that fail.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import ConvergenceWarning, InputError, InputWarning
from ..models import DEFAULT_METHOD, em, make_model
from ..models.base import EMAggregator, EMParameters, ProgressCallback
from ..models.dawid_skene import BetterThanChance, point_estimates
from ..quality.crossval import MIN_GOLD_FOR_ESTIMATE
from ..wording import option, plural
from . import partitions as parts
from . import selection
from .cluster import Passes, connect
from .first_pass import Encoded, encode
from .results import DaskAggregateResult
from .statistics import (
    Confidence,
    Layout,
    StepParams,
    Sums,
    add_all,
    add_written,
    em_sums,
    final_sums,
    initial_sums,
    pattern_key_base,
    write_labels,
)

__all__ = ["aggregate_parquet"]


def aggregate_parquet(
    path: str,
    *,
    output: str,
    method: str = DEFAULT_METHOD,
    scheduler: Any = None,
    progress: ProgressCallback | None = None,
    gold: Any = None,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    labels: Sequence[Any] | None = None,
    duplicates: str = "keep",
    on_missing: str = "error",
    max_iter: int | None = None,
    tol: float | None = None,
    smoothing: float | None = None,
    honest_confidence: bool = True,
    work_dtype: Any = None,
    n_partitions: int | None = None,
    scratch: str | None = None,
    overwrite: bool = False,
    retries: int = 2,
    storage_options: Mapping[str, Any] | None = None,
) -> DaskAggregateResult:
    """Fit ``method`` on partitioned Parquet votes with Dask; write labels as Parquet.

    Parameters
    ----------
    path : str
        A folder of Parquet files (read recursively, in path order) or a glob, local or
        any fsspec URL (``s3://bucket/votes/``); the columns are found by name as in
        memory (``item,annotator,label`` or ``task,worker,label``) or named with
        ``item``, ``annotator``, ``label``.
    output : str
        Folder for the labels: one Parquet file per partition with the columns of
        ``AggregateResult.items``. Must be empty or absent unless ``overwrite``.
    method : {"auto", "pooled", "ds", "one-coin", "mv"}
        As in :func:`consensus.aggregate`. ``auto`` makes the in-memory choice on the
        same subsample; a choice this engine does not fit (EBCC) falls back to pooled,
        with a warning saying so.
    scheduler : str or distributed.Client, optional
        The Dask scheduler's address (``tcp://host:8786``), a scheduler file (``.json``)
        or a client. Default: the client already active in this process, else a local
        cluster for the duration of the call.
    progress : callable, optional
        ``progress(iteration, log_likelihood_per_vote)`` after each iteration.
    gold : mapping, Series, DataFrame or path, optional
        Known answers (item id to label, or a gold file ``item,label``): clamped in every
        iteration, as in memory. Cross-validated accuracy and calibration on gold are not
        computed by this engine (a warning says so when there is enough gold for them).
    labels, duplicates, on_missing
        As in :func:`consensus.data.read_votes`.
    max_iter, tol, smoothing
        The model's options; None keeps its defaults.
    honest_confidence : bool
        Report confidence as ``consensus.aggregate`` does without calibration
        (leave-one-out for pooled, discounted for correlated votes); False writes the
        model's posteriors as they are.
    work_dtype : numpy dtype, optional
        Dtype of the per-item work arrays (default: the in-memory engine's, float32).
        float64 makes the fit independent of how votes are partitioned to ~1e-12.
    n_partitions : int, optional
        Regroup the votes by item hash into this many partitions (default: the files,
        when they hold whole items).
    scratch : str, optional
        Where the encoded votes live during the fit (any fsspec URL every worker can
        read and write); default ``<output>/_consensus_work``.
    retries : int
        Times a failed task is run again before the fit fails.
    storage_options : mapping, optional
        Passed to fsspec for every file read or written.
    """
    if method not in (*selection.DISTRIBUTED_METHODS, "auto"):
        raise InputError(f"the Dask engine fits {', '.join(selection.DISTRIBUTED_METHODS)} "
                         f"or auto, not {method!r}")
    if duplicates not in ("keep", "first", "last", "error"):
        raise InputError(f"duplicates must be keep, first, last or error, not {duplicates!r}")
    if on_missing not in ("error", "drop"):
        raise InputError(f"on_missing must be error or drop, not {on_missing!r}")
    dtype = np.dtype(em.WORK_DTYPE if work_dtype is None else work_dtype)
    if dtype not in (np.float32, np.float64):
        raise InputError(f"work_dtype must be float32 or float64, not {dtype}")
    storage = dict(storage_options or {})
    output = str(output)
    prepare_output(output, overwrite, storage)
    scratch = scratch or parts.join_url(output, "_consensus_work")
    with connect(scheduler) as client:
        passes = Passes(client, 0, retries)
        try:
            votes = encode(passes, str(path), scratch, storage, item=item, annotator=annotator,
                           label=label, labels=labels, duplicates=duplicates,
                           on_missing=on_missing, gold=gold, n_partitions=n_partitions,
                           dtype=dtype)
            return fit(passes, votes, output, method=method, max_iter=max_iter, tol=tol,
                       smoothing=smoothing, honest_confidence=honest_confidence,
                       progress=progress)
        finally:
            parts.remove_tree(scratch, storage)


def prepare_output(output: str, overwrite: bool, storage: Mapping[str, Any]) -> None:
    """Make the output folder; refuse one that holds files unless ``overwrite``."""
    fs, path = parts.filesystem(output, storage)
    if fs.exists(path):
        if not fs.isdir(path):
            raise InputError(f"{output}: is a file; the labels are written as a folder of "
                             f"Parquet files")
        if fs.ls(path) and not overwrite:
            raise InputError(f"{output}: the folder is not empty; choose another or pass "
                             f"{option('overwrite', 'True')}")
        if fs.ls(path):
            fs.rm(path, recursive=True)
    fs.makedirs(path, exist_ok=True)


# ------------------------------------------------------------------ EM
@dataclass
class Fitted:
    """The parameters the loop ended on and how it got there."""

    params: EMParameters
    held: np.ndarray
    start: str
    n_iter: int
    converged: bool
    history: list[float]


def fit(passes: Passes, votes: Encoded, output: str, *, method: str, max_iter: int | None,
        tol: float | None, smoothing: float | None, honest_confidence: bool,
        progress: ProgressCallback | None) -> DaskAggregateResult:
    """Choose (``auto``), run EM, then the final passes; return the model-level results."""
    requested, reason = method, None
    if method == "auto":
        method, reason = choose_method(passes, votes, max_iter, tol, smoothing)
    model = make_model(method, max_iter=max_iter, tol=tol, smoothing=smoothing)
    layout = votes.layout
    start = "estep" if isinstance(model, EMAggregator) else "majority"
    initial: Sums = passes.reduce("initial", initial_sums, add_all, layout=layout,
                                  start=start)
    if isinstance(model, EMAggregator):
        fitted = run_em(passes, votes, model, initial, progress)
    else:  # majority vote: one M-step on the vote shares, as MajorityVote.fit makes it
        confusion = em.normalize_confusion(initial.stats, model.smoothing)  # type: ignore[attr-defined]
        prior = em.normalize_rows(initial.class_counts + model.smoothing)  # type: ignore[attr-defined]
        fitted = Fitted(point_estimates(confusion, prior), np.zeros(layout.n_classes, bool),
                        "majority", 0, True, [])
    final = final_pass(passes, votes, fitted, model, honest_confidence)
    if votes.n_gold is not None and votes.n_gold >= MIN_GOLD_FOR_ESTIMATE:
        warnings.warn(f"{plural(votes.n_gold, 'gold item')} anchored the fit, but the Dask "
                      f"engine neither cross-validates accuracy on gold nor calibrates "
                      f"confidence with it (the in-memory engine does); confidence is reported "
                      f"as without gold", UserWarning, stacklevel=3)
    weighs = bool(model.weighs_annotators)
    rho = None
    if honest_confidence and weighs:
        rho = vote_correlation(final, votes)
    confidence = Confidence(leave_one_out=honest_confidence and method == "pooled", rho=rho)
    written = passes.reduce("write labels", write_labels, add_written,
                            layout=layout, params=step_params(fitted), start=fitted.start,
                            confidence=confidence, classes=votes.classes, output=output)
    return DaskAggregateResult(
        output=output, method=method, requested=requested, reason=reason,
        classes=votes.classes, annotator_ids=votes.annotator_ids,
        confusion=fitted.params.confusion, class_priors=fitted.params.class_priors,
        population_prior=fitted.params.hyper if method == "pooled" else None,
        n_iter=fitted.n_iter, converged=fitted.converged, log_likelihood=final.log_lik,
        log_likelihood_history=np.asarray(fitted.history),
        held_classes=[str(c) for c in votes.classes[fitted.held]],
        annotator_votes=votes.annotator_votes, agreeing=written.agreeing,
        items_per_class=written.items_per_class, rho=rho,
        leave_one_out=confidence.leave_one_out, n_votes=votes.n_votes, n_items=votes.n_items,
        n_partitions=votes.n_partitions, repartitioned=votes.repartitioned,
        n_gold=votes.n_gold, work_dtype=layout.work_dtype, timings=list(passes.timings),
    )


def step_params(fitted: Fitted) -> StepParams:
    params = fitted.params
    return StepParams(params.log_weights, params.log_prior, fitted.held, params.concentration)


def run_em(passes: Passes, votes: Encoded, model: EMAggregator, initial: Sums,
           progress: ProgressCallback | None) -> Fitted:
    """The loop of :meth:`EMAggregator.fit`, each E-step a pass over the partitions."""
    model._validate()
    n_classes, n_votes = votes.layout.n_classes, votes.n_votes
    params = model._m_step(initial.stats, initial.class_counts, None)
    held = np.zeros(n_classes, dtype=bool)
    anchored = bool(votes.n_gold)
    if votes.max_votes_per_item <= 1 and not anchored:
        warnings.warn(
            f"every item has a single vote, so {type(model).__name__} cannot learn how "
            f"reliable annotators are; each item's consensus is its vote. Collect a second "
            f"vote on some items (or give gold) to weigh annotators", InputWarning, stacklevel=4)
        return Fitted(params, held, "shares", 0, True, [])
    hold_rule = isinstance(model, BetterThanChance) and model.hold_below_chance
    previous, change, converged, history = None, np.inf, False, []
    iteration = 0
    for iteration in range(1, model.max_iter + 1):
        sums, held = held_e_step(passes, votes.layout, params, held, hold_rule,
                                 f"iteration {iteration}")
        params = model._m_step(sums.stats, sums.class_counts, params)
        history.append(sums.log_lik)
        if progress is not None:
            progress(iteration, sums.log_lik / n_votes)
        if previous is not None:
            change = abs(sums.log_lik - previous) / n_votes
            if change < model.tol:
                converged = True
                break
        previous = sums.log_lik
    if not converged:
        warnings.warn(
            f"{type(model).__name__} did not converge in {model.max_iter} iterations "
            f"(change {change:.1e} per vote > tol {model.tol:.0e}); raise max_iter or check "
            f"annotators with very few votes", ConvergenceWarning, stacklevel=4)
    return Fitted(params, held, "estep", iteration, converged, history)


def held_e_step(passes: Passes, layout: Layout, params: EMParameters, held: np.ndarray,
                hold_rule: bool, name: str) -> tuple[Sums, np.ndarray]:
    """One E-step pass; when the crowd falls below chance on a class not yet held, the
    class is held and the pass is made again with it (as :class:`ChanceState` does)."""
    step = StepParams(params.log_weights, params.log_prior, held)
    sums: Sums = passes.reduce(name, em_sums, add_all, layout=layout, params=step)
    now_held = newly_held(sums, held) if hold_rule else held
    if (now_held != held).any():
        step = StepParams(params.log_weights, params.log_prior, now_held)
        sums = passes.reduce(name + " (hold)", em_sums, add_all, layout=layout, params=step)
    return sums, now_held


def newly_held(sums: Sums, held: np.ndarray) -> np.ndarray:
    """Held classes after an E-step: those held before and those now below chance."""
    assert sums.said is not None and sums.weight is not None  # every E-step pass sums them
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = sums.said / sums.weight
    return held | (accuracy < 1.0 / len(held))  # NaN (no weight) compares False


def final_pass(passes: Passes, votes: Encoded, fitted: Fitted, model: Any,
               honest_confidence: bool) -> Sums:
    """The final E-step (with the hold rule, as the in-memory fit's last E-step applies
    it), summing what the vote-correlation fit needs."""
    layout = votes.layout
    key_base = pattern_key_base(votes.max_votes_per_item, layout.n_classes)
    with_patterns = honest_confidence and bool(model.weighs_annotators)
    hold_rule = isinstance(model, BetterThanChance) and model.hold_below_chance
    while True:
        sums: Sums = passes.reduce("final E-step", final_sums, add_all, layout=layout,
                                   params=step_params(fitted), start=fitted.start,
                                   key_base=key_base, with_patterns=with_patterns)
        if fitted.start != "estep" or not hold_rule:
            return sums
        now_held = newly_held(sums, fitted.held)
        if not (now_held != fitted.held).any():
            return sums
        fitted.held = now_held


def vote_correlation(final: Sums, votes: Encoded) -> float:
    """rho of the correlated-votes discount, fitted on the gathered label-count patterns
    exactly as :func:`consensus.quality.overdispersion.fit_vote_correlation` fits it."""
    from ..quality.overdispersion import fit_pattern_correlation

    assert final.patterns is not None  # asked for with honest confidence
    keys = sorted(final.patterns)
    k = votes.layout.n_classes
    if isinstance(keys[0], tuple):
        counts = np.array(keys, dtype=np.float64)
    else:
        base = pattern_key_base(votes.max_votes_per_item, k)
        assert base is not None
        counts = np.array([[(key // base**c) % base for c in range(k)] for key in keys],
                          dtype=np.float64)
    weight = np.array([final.patterns[key][0] for key in keys])
    expected = np.array([final.patterns[key][1] for key in keys])
    return float(fit_pattern_correlation(counts, weight, expected).rho)


def choose_method(passes: Passes, votes: Encoded, max_iter: int | None, tol: float | None,
                  smoothing: float | None) -> tuple[str, str]:
    """``auto``'s choice, on the subsample the in-memory engine would draw."""
    auto = selection.make_auto(max_iter, tol, smoothing)
    fraction = selection.auto_fraction(auto, votes.n_votes, votes.layout.n_annotators)
    offsets = np.concatenate([[0], np.cumsum([i.n_items for i in votes.info])])[:-1]
    samples = passes.map("auto subsample", selection.sample_partition,
                         range(votes.n_partitions), [int(o) for o in offsets],
                         layout=votes.layout, seed=auto.seed, fraction=fraction)
    chosen, reason = selection.choose(samples, votes.layout, votes.n_items, votes.n_votes,
                                      votes.annotator_ids, votes.classes, auto)
    method, note = selection.distributed_method(chosen, reason)
    return method, note or reason
