"""Time against the number of classes: the default, plain DS and crowd-kit's DS (issue 13).

For each K (default 2, 5, 20, 100, 500) the votes come from
:func:`consensus.simulate.simulate` (50,000 items x 3 votes, 300 annotators with
uniform activity, Beta(8, 2) accuracies, seed 0), cached under benchmarks/data/ as
codes and as an ``item,annotator,label`` CSV. Every run is a fresh interpreter:

* default: ``consensus.aggregate(votes)`` as a user calls it: ``auto``'s choice, the
  chosen model's fit and honest confidence (leave-one-out confidence and the
  correlated-votes discount);
* plain DS: ``aggregate(votes, method="ds")``, the same with Dawid–Skene;
* the same two as whole processes, ``python -m consensus aggregate VOTES.csv -o
  items.csv`` (``--method ds``): start-up, reading the CSV, writing the items file with
  one posterior column per class;
* crowd-kit ``DawidSkene(n_iter=100, tol=1e-5)`` on a ``task, worker, label`` frame of
  ints (imported only in its worker), stopped after ``--ck-timeout`` seconds.

Our runs are repeated ``--repeats`` times (default 3) and the median is reported,
except that a first run longer than ``--long`` seconds (default 300) is not repeated;
crowd-kit runs ``--ck-repeats`` times (default 1: minutes each at many classes).
"Peak extra" is the peak resident memory of the library call above what the process
held just before it (VmHWM after clear_refs, see _common.py); "process" is the whole
interpreter's peak RSS. The slope of log time against log K (least squares over the K
that finished) says how each grows; the slope from 100 to 500 classes is given too.

Usage::

    python benchmarks/many_classes.py                      # K = 2 5 20 100 500, ~1 h
    python benchmarks/many_classes.py --classes 2 100 --repeats 1 --ck-timeout 60

Writes benchmarks/results/many_classes.md and .json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

# Measure the consensus in this working tree, not an installed copy that may be older.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import (  # noqa: E402
    DATA,
    MIB,
    RESULTS,
    PeakMemory,
    machine,
    markdown_table,
    run_child,
    run_worker,
    save_json,
)

SCRIPT = Path(__file__).resolve()
ITEMS, VOTES_PER_ITEM, ANNOTATORS, SEED = 50_000, 3, 300, 0


def data_path(classes: int) -> Path:
    return DATA / f"many_{ITEMS}x{VOTES_PER_ITEM}_a{ANNOTATORS}_k{classes}_s{SEED}.npz"


def make_data(classes: int) -> Path:
    """Simulate once; cache the codes and truth (.npz) and the votes as a CSV."""
    path = data_path(classes)
    if path.exists() and path.with_suffix(".csv").exists():
        return path
    from consensus.simulate import simulate

    sim = simulate(ITEMS, ANNOTATORS, classes, votes_per_item=VOTES_PER_ITEM, seed=SEED)
    votes = sim.votes
    DATA.mkdir(parents=True, exist_ok=True)
    np.savez(path, item=votes.item_codes, annotator=votes.annotator_codes,
             label=votes.label_codes, truth=sim.truth, n_classes=classes)
    votes.to_frame().to_csv(path.with_suffix(".csv"), index=False)
    return path


# ------------------------------------------------------------------ workers
def worker(kind: str, data: Path) -> dict[str, Any]:
    """One timed call in this (fresh) process."""
    arrays = np.load(data)
    k = int(arrays["n_classes"])
    if kind == "ck":
        import pandas as pd
        from crowdkit.aggregation import DawidSkene as CkDS

        frame = pd.DataFrame({"task": arrays["item"], "worker": arrays["annotator"],
                              "label": arrays["label"]})
        model = CkDS(n_iter=100, tol=1e-5)
        report = measured(lambda: model.fit(frame))
        if model.labels_ is None:
            raise RuntimeError("crowd-kit returned no labels")
        labels = model.labels_.reindex(np.arange(len(arrays["truth"]))).to_numpy()
        report["iterations"] = len(model.loss_history_)
    else:
        from consensus.data.votes import VoteMatrix
        from consensus.models import DEFAULT_METHOD
        from consensus.workflows.aggregation import aggregate

        votes = VoteMatrix.from_codes(arrays["item"], arrays["annotator"], arrays["label"],
                                      n_classes=k)
        method = "ds" if kind == "ds" else DEFAULT_METHOD
        out: dict[str, Any] = {}
        report = measured(lambda: out.update(result=aggregate(votes, method=method)))
        result = out["result"]
        _ = result.posteriors  # the reported confidence, as a user reads it
        labels = result.label_codes
        report["iterations"] = int(result.model.n_iter_)
        report["chosen"] = getattr(result.model, "chosen_", method)
    report["accuracy"] = float(np.mean(labels == arrays["truth"]))
    report["process_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


def measured(call: Any) -> dict[str, Any]:
    """Seconds and peak extra memory of one call, warnings silenced."""
    probe = PeakMemory().start()
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_extra_mib": probe.stop() / MIB,
            "memory_method": probe.method}


def children_cpu() -> float:
    """CPU seconds of every child this process has waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------- runs
def median_run(reports: list[dict[str, Any]]) -> dict[str, Any]:
    report = dict(sorted(reports, key=lambda r: r["seconds"])[len(reports) // 2])
    report["all_seconds"] = [r["seconds"] for r in reports]
    report["cpu_seconds"] = statistics.median(r["cpu_seconds"] for r in reports)
    return report


def repeated(run: Any, repeats: int, long: float) -> dict[str, Any]:
    """``run()`` up to ``repeats`` times, the median kept; a first run over ``long``
    seconds is not repeated."""
    reports = [run()]
    while len(reports) < repeats and reports[0]["seconds"] <= long:
        reports.append(run())
    return median_run(reports)


def run_library(kind: str, data: Path, repeats: int, long: float) -> dict[str, Any]:
    return repeated(lambda: run_worker(SCRIPT, ["--worker", kind, "--data", str(data)]),
                    repeats, long)


def run_cli(data: Path, method: str | None, repeats: int, long: float) -> dict[str, Any]:
    """``python -m consensus aggregate VOTES.csv -o items.csv [--method ds]``, whole process."""
    out = data.with_name(f"{data.stem}_{method or 'default'}_items.csv")
    command = [sys.executable, "-m", "consensus", "aggregate", str(data.with_suffix(".csv")),
               "-o", str(out)] + (["--method", method] if method else [])

    def once() -> dict[str, Any]:
        cpu = children_cpu()
        child = run_child(command)
        if child["returncode"] != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{child['stderr'][-3000:]}")
        return {"seconds": child["wall_s"], "cpu_seconds": children_cpu() - cpu,
                "process_peak_rss_mib": child["peak_rss_mib"]}

    report = repeated(once, repeats, long)
    out.unlink(missing_ok=True)
    return report


def run_crowdkit(data: Path, repeats: int, timeout: float) -> dict[str, Any]:
    """crowd-kit's DS in a fresh process, killed after ``timeout`` seconds."""
    reports = []
    for _ in range(repeats):
        command = [sys.executable, str(SCRIPT), "--worker", "ck", "--data", str(data)]
        try:
            child = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                   cwd=SCRIPT.parents[1])
        except subprocess.TimeoutExpired:
            return {"seconds": None, "timed_out": timeout}
        if child.returncode != 0:
            raise RuntimeError(f"crowd-kit worker failed:\n{child.stderr[-3000:]}")
        reports.append(json.loads(child.stdout.strip().splitlines()[-1]))
    return median_run(reports)


# ----------------------------------------------------------------- report
def slope(classes: list[int], seconds: list[float | None]) -> float | None:
    """Least-squares slope of log seconds against log classes, over the runs that finished."""
    points = [(np.log(k), np.log(s)) for k, s in zip(classes, seconds, strict=True) if s]
    if len(points) < 2:
        return None
    x, y = np.array(points).T
    return float(np.polyfit(x, y, 1)[0])


def seconds_text(run: dict[str, Any]) -> str:
    """Wall seconds (CPU seconds)."""
    if run.get("skipped"):
        return "skipped"
    if run.get("seconds") is None:
        return f"> {run['timed_out']:.0f} (stopped)"
    return f"{run['seconds']:.2f} ({run['cpu_seconds']:.2f})"


def ratio_text(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Wall ratio (CPU ratio)."""
    return f"{a['seconds'] / b['seconds']:.2f} ({a['cpu_seconds'] / b['cpu_seconds']:.2f})"


def report(rows: list[dict[str, Any]], repeats: int, long: float, ck_repeats: int) -> str:
    header = ["classes", "default s", "plain DS s", "default / DS", "CLI default s",
              "CLI DS s", "CLI default / DS", "crowd-kit DS s", "peak MiB default (process)",
              "peak MiB DS (process)", "peak MiB crowd-kit (process)", "auto chose",
              "accuracy % default / DS / crowd-kit"]
    body = []
    for r in rows:
        d, p, cd, cp, ck = r["default"], r["ds"], r["cli_default"], r["cli_ds"], r["ck"]
        ck_memory = ("" if ck.get("seconds") is None else
                     f"{ck['peak_extra_mib']:.0f} ({ck['process_peak_rss_mib']:.0f})")
        ck_accuracy = "–" if ck.get("seconds") is None else f"{100 * ck['accuracy']:.2f}"
        body.append([
            r["classes"], seconds_text(d), seconds_text(p), ratio_text(d, p),
            seconds_text(cd), seconds_text(cp), ratio_text(cd, cp),
            seconds_text(ck),
            f"{d['peak_extra_mib']:.0f} ({d['process_peak_rss_mib']:.0f})",
            f"{p['peak_extra_mib']:.0f} ({p['process_peak_rss_mib']:.0f})", ck_memory,
            d["chosen"], f"{100 * d['accuracy']:.2f} / {100 * p['accuracy']:.2f} / {ck_accuracy}",
        ])
    classes = [r["classes"] for r in rows]
    series = {"default": "default", "plain DS": "ds", "CLI default": "cli_default",
              "CLI DS": "cli_ds", "crowd-kit DS": "ck"}
    slopes = []
    for name, key in series.items():
        cells = [name]
        for measure in ("seconds", "cpu_seconds"):
            seconds = [r[key].get(measure) for r in rows]
            high = [(k, t) for k, t in zip(classes, seconds, strict=True) if k >= 100]
            for fitted in (slope(classes, seconds),
                           slope([k for k, _ in high], [t for _, t in high])):
                cells.append("–" if fitted is None else f"{fitted:.2f}")
        slopes.append(cells)
    first = rows[0]
    return "\n".join([
        f"{first['items']:,} items x {first['votes_per_item']} votes, {first['annotators']} "
        f"annotators (uniform activity, Beta(8, 2) accuracies, seed {SEED}). Ours: median of "
        f"{repeats} fresh processes (one where the first took over {long:.0f} s); crowd-kit "
        f"DawidSkene(n_iter=100, tol=1e-5): {ck_repeats} run(s), stopped after "
        f"{first['ck_timeout']:.0f} s. default = "
        f"`aggregate(votes)` (auto, honest confidence), plain DS = `aggregate(votes, "
        f"method=\"ds\")`; CLI = `python -m consensus aggregate VOTES.csv -o items.csv`, the "
        f"whole process. Machine: {machine()}.",
        "",
        markdown_table(header, body),
        "",
        "Seconds are wall clock, CPU seconds in brackets (the machine is shared: CPU time "
        "is the steadier measure). Slope of log time against log classes "
        "(time ∝ K^slope), least squares:",
        "",
        markdown_table(["run", "wall: all K", "wall: from 100 classes up", "CPU: all K",
                        "CPU: from 100 classes up"], slopes),
        "",
        f"Memory: {first['default']['memory_method']} (see benchmarks/_common.py). Target "
        f"(issue 13): the default within 2x of plain DS at 100 classes.",
    ])


# --------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 5, 20, 100, 500])
    parser.add_argument("--repeats", type=int, default=3,
                        help="fresh-process runs of each of ours; the median is reported")
    parser.add_argument("--long", type=float, default=300.0,
                        help="seconds above which a first run of ours is not repeated")
    parser.add_argument("--ck-repeats", type=int, default=1, help="runs of crowd-kit")
    parser.add_argument("--ck-timeout", type=float, default=900.0,
                        help="seconds after which a crowd-kit run is stopped")
    parser.add_argument("--skip-crowdkit", action="store_true")
    parser.add_argument("--worker", choices=["default", "ds", "ck"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.data)))
        return
    rows = []
    for k in args.classes:
        data = make_data(k)
        print(f"K={k}", flush=True)
        row: dict[str, Any] = {"classes": k, "items": ITEMS, "votes_per_item": VOTES_PER_ITEM,
                               "annotators": ANNOTATORS, "ck_timeout": args.ck_timeout}
        for key, kind in (("default", "default"), ("ds", "ds")):
            row[key] = run_library(kind, data, args.repeats, args.long)
        for key, method in (("cli_default", None), ("cli_ds", "ds")):
            row[key] = run_cli(data, method, args.repeats, args.long)
        row["ck"] = ({"seconds": None, "skipped": True} if args.skip_crowdkit else
                     run_crowdkit(data, args.ck_repeats, args.ck_timeout))
        print("  " + ", ".join(f"{key} {seconds_text(row[key])} s" for key in
                               ("default", "ds", "cli_default", "cli_ds", "ck")), flush=True)
        print(f"  (runs: default {statistics.median(row['default']['all_seconds']):.2f}, "
              f"all {', '.join(f'{s:.2f}' for s in row['default']['all_seconds'])})", flush=True)
        rows.append(row)
    text = report(rows, args.repeats, args.long, args.ck_repeats)
    print()
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "many_classes.md").write_text(text + "\n")
    save_json("many_classes.json", rows)


if __name__ == "__main__":
    main()
