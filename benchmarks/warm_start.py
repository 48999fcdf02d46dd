"""Warm starts from yesterday's model against cold fits on the same final votes (issue 13).

Yesterday: a simulated crowd's first ``--votes`` votes (default 1,000,000: 333,333 items
with 3 votes each, 500 annotators with Zipf activity). Today: the same votes plus a
new batch of ``--batch`` times as many items (default 10%), where a share
(``--new-annotators``, default 10%) of the annotators are people the model never saw
(their votes carry new ids). Yesterday's fit is saved to a model file and read back;
today is then fitted

* cold (from the vote shares, as ``consensus aggregate`` does),
* warm with history weight 0 (``--init-model``: yesterday's confusion matrices as the
  starting point only), and with weights W > 0 (a prior worth W votes per annotator),

per method (``--methods``, default pooled and ds), at the default tolerance, and
cold and warm (W = 0) once more with no tolerance for ``--end`` iterations (default
1,000), where EM has settled: the cold run to the end is the *fixed point* every row
is compared with (the largest posterior difference and the labels that differ), and
the warm run to the end shows that W = 0 reaches the same one. (The default tolerance,
1e-5 of log-likelihood per vote, stops EM short of it, cold and warm at different
places; tighter tolerances such as 1e-10 can stop ds early too, when the likelihood
barely moves while sparse annotators' confusions still do.) Accuracy is against the
simulated truth. Then the
whole ``aggregate`` workflow with the default method (auto: the model choice runs
cold, and is skipped from a saved model) and ``predict`` on the batch alone (no
refit), and the model file's size and save/load times.

Usage::

    python benchmarks/warm_start.py [--votes N] [--batch F] [--new-annotators F]
                                    [--classes K] [--methods pooled ds] [--end N] [--seed S]
                                    [--output MD] [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

# Measure the consensus in this working tree, not an installed copy that may be older.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import RESULTS, emit, machine, markdown_table  # noqa: E402

from consensus.data.votes import VoteMatrix  # noqa: E402
from consensus.models import make_model  # noqa: E402
from consensus.models.persist import load_model, save_model  # noqa: E402
from consensus.simulate import Simulation, simulate  # noqa: E402
from consensus.workflows.aggregation import aggregate  # noqa: E402
from consensus.workflows.predict import predict, save_result  # noqa: E402

WEIGHTS = (0.0, 10.0, 100.0, 1000.0)


def days(args: argparse.Namespace) -> tuple[VoteMatrix, VoteMatrix, Simulation, int]:
    """Yesterday's votes, today's (yesterday's plus the batch), the simulation, and the
    number of yesterday's items (today's first items)."""
    n_old = args.votes // 3
    n_new = round(n_old * args.batch)
    sim = simulate(n_old + n_new, args.annotators, args.classes, votes_per_item=3,
                   activity=1.0, seed=args.seed)
    votes = sim.votes
    rng = np.random.default_rng(args.seed + 1)
    newcomer = rng.random(args.annotators) < args.new_annotators
    late = votes.item_codes >= n_old
    renamed = late & newcomer[votes.annotator_codes]
    annotator_codes = np.where(renamed, votes.annotator_codes + args.annotators,
                               votes.annotator_codes).astype(np.int32)
    ids = np.concatenate([votes.annotator_ids,
                          np.array([f"new-{a}" for a in range(args.annotators)], dtype=object)])
    today = VoteMatrix(votes.item_codes, annotator_codes, votes.label_codes, votes.item_ids, ids,
                       votes.classes)
    early = ~late
    yesterday = VoteMatrix(votes.item_codes[early], votes.annotator_codes[early],
                           votes.label_codes[early], votes.item_ids[:n_old],
                           votes.annotator_ids, votes.classes)
    return yesterday, today, sim, n_old


def timed(make: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = make()
    return value, time.perf_counter() - start


def fit_rows(method: str, yesterday: VoteMatrix, today: VoteMatrix, sim: Simulation,
             end: int, model_dir: Path) -> list[dict[str, Any]]:
    """Cold and warm fits of one method at the default tolerance, then both run to the end."""
    earlier, _ = timed(lambda: make_model(method).fit(yesterday))
    save_model(model_dir / f"{method}.cmodel", earlier)
    saved = load_model(model_dir / f"{method}.cmodel").model
    runs = []
    for tol, max_iter, weights in ((None, None, WEIGHTS), (0.0, end, (0.0,))):
        params = {"tol": tol, "max_iter": max_iter}
        label = "default" if tol is None else f"none, {end} iterations"
        runs.append(("cold", label,
                     *timed(lambda p=params: make_model(method, **p).fit(today))))
        for weight in weights:
            runs.append((f"warm, W={weight:g}", label,
                         *timed(lambda p=params, w=weight: make_model(method, **p)
                                .start_from(saved, w).fit(today))))
    fixed_point = runs[-2][2]  # cold, run to the end
    return [row(method, start, tol, model, seconds, fixed_point, sim)
            for start, tol, model, seconds in runs]


def row(method: str, start: str, tol: str, model: Any, seconds: float, fixed_point: Any,
        sim: Simulation) -> dict[str, Any]:
    return {
        "method": method, "start": start, "tol": tol, "iterations": int(model.n_iter_),
        "seconds": seconds,
        "max_posterior_diff": float(np.abs(model.posteriors_ - fixed_point.posteriors_).max()),
        "labels_differ": int((model.label_codes_ != fixed_point.label_codes_).sum()),
        "accuracy": sim.accuracy(model.label_codes_),
    }


def workflow_rows(yesterday: VoteMatrix, today: VoteMatrix, sim: Simulation, n_old: int,
                  model_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The whole aggregate workflow (default method, honest confidence) cold and warm,
    predict on the batch alone, and the model file's cost."""
    first, _ = timed(lambda: aggregate(yesterday))
    path = model_dir / "auto.cmodel"
    _, save_s = timed(lambda: save_result(first, path))
    saved, load_s = timed(lambda: load_model(path))
    cold, cold_s = timed(lambda: aggregate(today))
    warm, warm_s = timed(lambda: aggregate(today, init=saved))
    batch = today.take_items(np.arange(today.n_items) >= n_old)
    predicted, predict_s = timed(lambda: predict(batch, saved))
    new_items = np.arange(today.n_items) >= n_old
    rows = []
    for name, result, seconds in (("aggregate (auto), cold", cold, cold_s),
                                  ("aggregate --init-model, W=0", warm, warm_s)):
        rows.append({"run": name, "method": str(getattr(result.model, "chosen_",
                                                        result.method)),
                     "iterations": int(result.model.n_iter_), "seconds": seconds,
                     "labels_differ": int((result.label_codes != cold.label_codes).sum()),
                     "accuracy": sim.accuracy(result.label_codes),
                     "batch_accuracy": float(np.mean(result.label_codes[new_items]
                                                     == sim.truth[new_items]))})
    rows.append({"run": "predict (batch only, no refit)", "method": saved.chosen_method,
                 "iterations": 0, "seconds": predict_s,
                 "labels_differ": int((predicted.label_codes
                                       != cold.label_codes[new_items]).sum()),
                 "accuracy": float("nan"),
                 "batch_accuracy": float(np.mean(predicted.label_codes
                                                 == sim.truth[new_items]))})
    file_info = {"bytes": path.stat().st_size, "save_s": save_s, "load_s": load_s,
                 "annotators": len(saved.model.annotator_ids_)}
    return rows, file_info


def report(args: argparse.Namespace, fits: list[dict[str, Any]], flows: list[dict[str, Any]],
           file_info: dict[str, Any], sizes: dict[str, int]) -> str:
    fit_table = markdown_table(
        ["method", "start", "tol", "iterations", "seconds",
         "max abs posterior diff from the fixed point", "labels differing from it", "accuracy"],
        [[r["method"], r["start"], r["tol"], r["iterations"],
          f"{r['seconds']:.2f}", f"{r['max_posterior_diff']:.1e}", f"{r['labels_differ']:,}",
          f"{100 * r['accuracy']:.3f}%"] for r in fits])
    flow_table = markdown_table(
        ["run", "method", "iterations", "seconds", "labels differing from cold",
         "accuracy (all)", "accuracy (batch)"],
        [[r["run"], r["method"], r["iterations"], f"{r['seconds']:.2f}",
          f"{r['labels_differ']:,}",
          "" if np.isnan(r["accuracy"]) else f"{100 * r['accuracy']:.2f}%",
          f"{100 * r['batch_accuracy']:.2f}%"] for r in flows])
    return "\n".join([
        f"# Warm starts: yesterday {sizes['yesterday']:,} votes, today {sizes['today']:,} "
        f"({sizes['batch_items']:,} new items, {sizes['new_annotators']} annotators new), "
        f"{args.classes} classes, seed {args.seed}",
        "",
        "Model fits on today's votes (seconds of the fit alone; a warm fit includes "
        "building its start). The fixed point is each method's cold fit run to the end:",
        "",
        fit_table,
        "",
        "The whole `aggregate` workflow with the default method (honest confidence "
        "included), and `predict` on the batch alone:",
        "",
        flow_table,
        "",
        f"Model file (auto → {flows[0]['method']}, {file_info['annotators']} annotators): "
        f"{file_info['bytes'] / 1024:.0f} KiB, saved in {file_info['save_s']:.2f} s, read "
        f"in {file_info['load_s']:.3f} s.",
        "",
        machine(),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--batch", type=float, default=0.1)
    parser.add_argument("--new-annotators", type=float, default=0.1)
    parser.add_argument("--annotators", type=int, default=500)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=["pooled", "ds"])
    parser.add_argument("--end", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(RESULTS / "warm_start.md"))
    parser.add_argument("--json", default=str(RESULTS / "warm_start.json"))
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    yesterday, today, sim, n_old = days(args)
    sizes = {"yesterday": yesterday.n_votes, "today": today.n_votes,
             "batch_items": today.n_items - n_old,
             "new_annotators": int(sum(str(a).startswith("new-") and n > 0 for a, n in
                                       zip(today.annotator_ids, today.votes_per_annotator,
                                           strict=True)))}
    with tempfile.TemporaryDirectory() as folder:
        fits = [r for m in args.methods
                for r in fit_rows(m, yesterday, today, sim, args.end, Path(folder))]
        flows, file_info = workflow_rows(yesterday, today, sim, n_old, Path(folder))
    emit(report(args, fits, flows, file_info, sizes),
         {"args": vars(args), "sizes": sizes, "fits": fits, "workflow": flows,
          "model_file": file_info}, args.output, args.json)


if __name__ == "__main__":
    main()
