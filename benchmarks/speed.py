"""Speed and peak memory of our DawidSkene against crowd-kit's, at equal iterations.

Synthetic votes come from :func:`consensus.simulate.simulate` (default: 1,000,000
items x 3 votes, 500 annotators with uniform activity, Beta(8, 2) accuracies,
seed 0) for each number of classes, and are cached under benchmarks/data/.

Both libraries run exactly ``--iters`` E-steps from the same soft-majority
start: crowd-kit ``DawidSkene(n_iter=N, tol=-1e9)`` and ours
``DawidSkene(smoothing=0, max_iter=N-1, tol=0)`` (our loop ends with one extra
E-step; the two give the same posteriors). Each fit runs ``--repeats`` times
(default 3), each time in its own fresh interpreter, and the median time is
reported. Each interpreter first loads the votes (ours: a VoteMatrix of int32 codes;
crowd-kit: a task/worker/label DataFrame of ints) and imports the library;
then the kernel's peak-RSS mark is reset and the fit is timed. "Peak extra"
is the peak resident memory during the fit above the resident memory just
before it (see _common.py), so it is what the fit itself costs; the building
of our sparse vote matrix happens inside ``fit`` and is counted. The child's
whole-process peak RSS is reported too.

Also timed: our DawidSkene with default parameters, run to convergence (the
report prints them), and PooledDawidSkene (the default method of
``consensus aggregate``) both for the same fixed number of E-steps and at its
defaults, so its cost against plain DS is measured on the same data.

Usage::

    python benchmarks/speed.py                       # 1M items x 3 votes, K = 2 and 5
    python benchmarks/speed.py --votes 30000000      # 10M items, ours only
    python benchmarks/speed.py --items 20000 --iters 5   # smoke test, seconds

Writes benchmarks/results/speed_<votes>.md and .json.
"""

from __future__ import annotations

import argparse
import json
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
    run_worker,
    save_json,
)

SCRIPT = Path(__file__).resolve()
#: Above this many votes crowd-kit is skipped unless --crowdkit is given.
CROWDKIT_LIMIT = 5_000_000


def data_path(items: int, per_item: int, annotators: int, classes: int, seed: int) -> Path:
    return DATA / f"sim_{items}x{per_item}_a{annotators}_k{classes}_s{seed}.npz"


def make_data(items: int, per_item: int, annotators: int, classes: int, seed: int) -> Path:
    """Simulate once and cache the codes, the truth and the Bayes-optimal labels."""
    path = data_path(items, per_item, annotators, classes, seed)
    if path.exists():
        return path
    from consensus.simulate import bayes_posteriors, simulate

    start = time.perf_counter()
    sim = simulate(items, annotators, classes, votes_per_item=per_item, seed=seed)
    took = time.perf_counter() - start
    bayes = bayes_posteriors(sim).argmax(axis=1)
    DATA.mkdir(parents=True, exist_ok=True)
    np.savez(path, item=sim.votes.item_codes, annotator=sim.votes.annotator_codes,
             label=sim.votes.label_codes, truth=sim.truth, bayes=bayes,
             n_classes=classes, n_annotators=annotators, simulate_seconds=took)
    print(f"simulated {sim.votes} in {took:.1f} s -> {path.name}", flush=True)
    return path


# ------------------------------------------------------------------ workers
def worker(kind: str, data: Path, iters: int, out: Path) -> dict[str, Any]:
    """One fit in this (fresh) process; returns timings and memory, saves label codes."""
    arrays = np.load(data)
    fit = {"ours": fit_ours, "pooled": fit_pooled, "ck": fit_crowdkit}[kind.split("-")[0]]
    result = fit(arrays, iters, default=kind.endswith("-default"))
    posteriors = result.pop("posteriors")
    codes = posteriors.argmax(axis=1)
    np.save(out, codes.astype(np.int32))
    np.save(out.with_suffix(".post.npy"), posteriors)
    result.update(kind=kind, accuracy=float(np.mean(codes == arrays["truth"])))
    return result


def fit_ours(arrays: Any, iters: int, default: bool) -> dict[str, Any]:
    from consensus.models import DawidSkene

    model = DawidSkene() if default else DawidSkene(smoothing=0.0, max_iter=iters - 1, tol=0.0)
    return fit_model(model, arrays)


def fit_pooled(arrays: Any, iters: int, default: bool) -> dict[str, Any]:
    from consensus.models import PooledDawidSkene

    model = PooledDawidSkene() if default else PooledDawidSkene(max_iter=iters - 1, tol=0.0)
    return fit_model(model, arrays)


def fit_model(model: Any, arrays: Any) -> dict[str, Any]:
    from consensus.data.votes import VoteMatrix

    votes = VoteMatrix.from_codes(arrays["item"], arrays["annotator"], arrays["label"],
                                  n_classes=int(arrays["n_classes"]))
    return {**measured(lambda: model.fit(votes)), "e_steps": int(model.n_iter_) + 1,
            "posteriors": model.posteriors_}


def measured(fit: Any) -> dict[str, Any]:
    """Seconds and peak extra memory of one call, warnings silenced."""
    probe = PeakMemory().start()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit()
    seconds = time.perf_counter() - start
    extra = probe.stop()
    return {"seconds": seconds, "peak_extra_mib": extra / MIB, "memory_method": probe.method}


def fit_crowdkit(arrays: Any, iters: int, default: bool) -> dict[str, Any]:
    import pandas as pd
    from crowdkit.aggregation import DawidSkene as CkDS

    frame = pd.DataFrame({"task": arrays["item"], "worker": arrays["annotator"],
                          "label": arrays["label"]})
    model = CkDS() if default else CkDS(n_iter=iters, tol=-1e9)
    timing = measured(lambda: model.fit(frame))
    k, n_items = int(arrays["n_classes"]), int(arrays["truth"].shape[0])
    if model.probas_ is None:
        raise RuntimeError("crowd-kit returned no posteriors")
    posteriors = model.probas_.reindex(index=np.arange(n_items), columns=np.arange(k)).to_numpy()
    return {**timing, "e_steps": len(model.loss_history_), "posteriors": posteriors}


def run(kind: str, data: Path, iters: int, repeats: int) -> dict[str, Any]:
    """The fit ``repeats`` times, each in a fresh process; the run with the median time.

    A shared VM stalls now and then for a fraction of a second, which would swing a
    one-second fit by a third; the median of a few fresh runs does not care.
    """
    out = DATA / f"labels_{kind}_{data.stem}.npy"
    reports = []
    for _ in range(repeats):
        reports.append(run_worker(SCRIPT, ["--worker", kind, "--data", str(data),
                                           "--iters", str(iters), "--out", str(out)]))
    report = sorted(reports, key=lambda r: r["seconds"])[len(reports) // 2]
    report["all_seconds"] = [r["seconds"] for r in reports]
    report["labels"] = str(out)
    print(f"  {kind}: {report['seconds']:.2f} s (median of "
          f"{', '.join(f'{t:.2f}' for t in report['all_seconds'])}), {report['e_steps']} E-steps, "
          f"peak extra {report['peak_extra_mib']:.0f} MiB "
          f"(process {report['process_peak_rss_mib']:.0f} MiB)", flush=True)
    return report


def compare(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, float]:
    """Share of identical labels and the largest posterior difference."""
    la, lb = np.load(a["labels"]), np.load(b["labels"])
    pa = np.load(Path(a["labels"]).with_suffix(".post.npy"))
    pb = np.load(Path(b["labels"]).with_suffix(".post.npy"))
    return float(np.mean(la == lb)), float(np.nanmax(np.abs(pa - pb)))


# --------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--votes", type=int, default=None,
                        help="total votes; sets --items to votes / --votes-per-item")
    parser.add_argument("--votes-per-item", type=int, default=3)
    parser.add_argument("--annotators", type=int, default=500)
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 5])
    parser.add_argument("--iters", type=int, default=20, help="E-steps for each library")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3,
                        help="fresh-process runs of each fit; the median is reported")
    parser.add_argument("--crowdkit", action=argparse.BooleanOptionalAction, default=None,
                        help=f"run crowd-kit (default: only up to {CROWDKIT_LIMIT:,} votes)")
    parser.add_argument("--worker", choices=["ours", "ours-default", "pooled", "pooled-default",
                                             "ck"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.data, args.iters, args.out)))
        return
    if args.iters < 2:
        parser.error("--iters must be at least 2 (ours runs iters-1 loops plus a final E-step)")
    items = args.votes // args.votes_per_item if args.votes else args.items
    n_votes = items * args.votes_per_item
    with_ck = args.crowdkit if args.crowdkit is not None else n_votes <= CROWDKIT_LIMIT

    rows = []
    for k in args.classes:
        data = make_data(items, args.votes_per_item, args.annotators, k, args.seed)
        arrays = np.load(data)
        print(f"K={k}: {n_votes:,} votes", flush=True)
        row: dict[str, Any] = {"classes": k, "votes": n_votes, "items": items,
                               "annotators": args.annotators, "iters": args.iters,
                               "bayes_accuracy": float(np.mean(arrays["bayes"] == arrays["truth"]))}
        row["ours"] = run("ours", data, args.iters, args.repeats)
        row["ours_default"] = run("ours-default", data, args.iters, args.repeats)
        row["pooled"] = run("pooled", data, args.iters, args.repeats)
        row["pooled_default"] = run("pooled-default", data, args.iters, args.repeats)
        if with_ck:
            row["ck"] = run("ck", data, args.iters, args.repeats)
            row["identical"], row["max_posterior_diff"] = compare(row["ours"], row["ck"])
            row["identical_default"], _ = compare(row["ours_default"], row["ck"])
        rows.append(row)
        for run_report in (row["ours"], row["ours_default"], row["pooled"],
                           row["pooled_default"], row.get("ck")):
            if run_report:  # label and posterior files can be GBs; the JSON keeps the numbers
                Path(run_report["labels"]).unlink(missing_ok=True)
                Path(run_report["labels"]).with_suffix(".post.npy").unlink(missing_ok=True)

    text = report(rows, with_ck)
    print()
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"speed_{n_votes}.md").write_text(text + "\n")
    save_json(f"speed_{n_votes}.json", rows)


def pooled_ratio(row: dict[str, Any], suffix: str) -> str:
    return f"{row['pooled' + suffix]['seconds'] / row['ours' + suffix]['seconds']:.2f}"


def report(rows: list[dict[str, Any]], with_ck: bool) -> str:
    from consensus.models import DawidSkene, PooledDawidSkene

    first = rows[0]
    lines = [
        f"{first['items']:,} items x {first['votes'] // first['items']} votes = "
        f"{first['votes']:,} votes, {first['annotators']} annotators (uniform activity), "
        f"{first['iters']} E-steps each; default runs: {DawidSkene()!r}, "
        f"{PooledDawidSkene()!r}. Machine: {machine()}.",
        "",
    ]
    if with_ck:
        header = ["classes", "ours s", "ck s", "speed-up", "ours s/E-step", "ck s/E-step",
                  "ours peak extra MiB", "ck peak extra MiB", "memory ratio",
                  "identical labels %", "max |Δ posterior|"]
        body = []
        for r in rows:
            o, c = r["ours"], r["ck"]
            body.append([
                r["classes"], f"{o['seconds']:.2f}", f"{c['seconds']:.1f}",
                f"{c['seconds'] / o['seconds']:.0f}x",
                f"{o['seconds'] / o['e_steps']:.3f}", f"{c['seconds'] / c['e_steps']:.2f}",
                f"{o['peak_extra_mib']:.0f}", f"{c['peak_extra_mib']:.0f}",
                f"1/{c['peak_extra_mib'] / max(o['peak_extra_mib'], 1e-9):.1f}",
                f"{100 * r['identical']:.4f}", f"{r['max_posterior_diff']:.1e}",
            ])
        lines += [markdown_table(header, body), ""]
    header = ["classes", "run", "seconds", "E-steps", "peak extra MiB", "process peak RSS MiB",
              "accuracy vs truth %"]
    body = []
    for r in rows:
        runs = [("ours, fixed E-steps, s=0", r["ours"]),
                ("ours, default (to convergence)", r["ours_default"]),
                ("pooled, fixed E-steps", r["pooled"]),
                ("pooled, default (to convergence)", r["pooled_default"])]
        if with_ck:
            runs.append(("crowd-kit, fixed E-steps", r["ck"]))
        for name, x in runs:
            body.append([r["classes"], name, f"{x['seconds']:.2f}", x["e_steps"],
                         f"{x['peak_extra_mib']:.0f}", f"{x['process_peak_rss_mib']:.0f}",
                         f"{100 * x['accuracy']:.2f}"])
        body.append([r["classes"], "Bayes-optimal (true parameters)", "", "", "", "",
                     f"{100 * r['bayes_accuracy']:.2f}"])
    lines.append(markdown_table(header, body))
    lines += ["", "Pooled DS (the default method) against plain DS, same data: "
              + "; ".join(f"K={r['classes']} {pooled_ratio(r, '')}x at equal E-steps, "
                          f"{pooled_ratio(r, '_default')}x at defaults" for r in rows)
              + " (target: within 2x)."]
    if with_ck:
        lines += ["", "Labels of our default DS identical to crowd-kit's fixed-iteration run: "
                  + ", ".join(f"K={r['classes']} {100 * r['identical_default']:.3f}%"
                              for r in rows) + "."]
    lines += ["", f"Memory: {rows[0]['ours']['memory_method']} (see benchmarks/_common.py)."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
