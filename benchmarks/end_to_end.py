"""Votes file to labels, end to end: the ``consensus`` CLI against a pandas + crowd-kit script.

Writes a synthetic votes file shaped like a real export (default 1,000,000 items
x 3 votes = 3,000,000 rows, 500 annotators, 2 classes), rows in random order:

* CSV (default): header ``item,annotator,label``, item ids like ``img_000f4a2c``,
  MTurk-style annotator ids like ``A2K9QZ81HD3MX0``, labels as words;
* Parquet (``--format parquet``): the same votes with integer columns (item
  ids scrambled 32-bit integers, annotator ids integers, labels 0..K-1), in row
  groups of a million rows, written batch by batch so any size fits.

Then it times, each as a fresh subprocess and ``--repeats`` times side by side
(consensus, crowd-kit, consensus, crowd-kit, ...; the median is reported):

(a) ``python -m consensus aggregate VOTES -o LABELS`` (our defaults: ``--method
    auto`` with its confidence adjustments); ``--methods auto,pooled`` adds
    runs with other methods, e.g. to see what auto's choice costs;
(b) CSV only: ``python benchmarks/crowdkit_aggregate.py VOTES LABELS``:
    ``pandas.read_csv``, crowd-kit ``DawidSkene()`` (n_iter=100, tol=1e-5), ``to_csv``.

Wall time is the whole subprocess, interpreter start to exit; peak memory is
the child's peak RSS from ``os.wait4`` (ru_maxrss), so it includes the
interpreter, the libraries and the data; bytes per vote divide it by the votes.
"start-up" is a child that only imports what ``aggregate`` imports. Both outputs
are compared with each other and with the simulated truth. ``--phases`` adds
one in-process run that times the stages (imports, reading, fit with
confidence, items table, writing) with the peak RSS after each.

Usage::

    python benchmarks/end_to_end.py                    # 3M votes CSV, 3 rounds
    python benchmarks/end_to_end.py --items 20000      # smoke test
    python benchmarks/end_to_end.py --skip-crowdkit    # only time our CLI
    python benchmarks/end_to_end.py --items 10000000 --annotators 5000 --format parquet \\
        --output-format parquet --skip-crowdkit --repeats 1      # 30M votes
    python benchmarks/end_to_end.py --items 33333334 --annotators 5000 --format parquet \\
        --output-format parquet --skip-crowdkit --repeats 1      # 100M votes

Writes benchmarks/results/end_to_end_<votes>[_parquet].md and .json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import BENCH, DATA, MIB, RESULTS, machine, markdown_table, save_json

LABEL_WORDS = ["no", "yes", "maybe", "unsure", "spam", "other", "broken", "skip"]
BASE36 = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
#: Odd multiplier that scrambles item codes into distinct 32-bit integer ids.
SCRAMBLE = 2654435761
#: Parquet rows per row group (and per generated batch).
ROW_GROUP = 1 << 20
SCRIPT = Path(__file__).resolve()


def annotator_names(n: int, rng: np.random.Generator) -> np.ndarray:
    """Distinct MTurk-looking worker ids: 'A' and 13 base-36 characters."""
    while True:
        chars = BASE36[rng.integers(0, 36, size=(n, 13))]
        names = np.char.add("A", np.array(["".join(row) for row in chars]))
        if len(np.unique(names)) == n:
            return names


def integer_item_ids(codes: np.ndarray) -> np.ndarray:
    """Item code -> a distinct scrambled integer id (a bijection modulo 2**32)."""
    return (codes.astype(np.uint64) * np.uint64(SCRAMBLE) % np.uint64(1 << 32)).astype(np.int64)


def stem_of(args: argparse.Namespace) -> str:
    return (f"e2e_{args.items}x{args.votes_per_item}_a{args.annotators}_k{args.classes}"
            f"_s{args.seed}")


def write_votes(args: argparse.Namespace) -> tuple[Path, Path]:
    """Simulate, write the votes (shuffled rows) and the truth; cached by name."""
    stem = stem_of(args)
    if args.format == "csv":
        votes_path, truth_path = DATA / f"{stem}_votes.csv", DATA / f"{stem}_truth.csv"
    else:
        votes_path, truth_path = DATA / f"{stem}_votes.parquet", DATA / f"{stem}_truth.npy"
    if votes_path.exists() and truth_path.exists():
        return votes_path, truth_path
    import pyarrow as pa

    from consensus.simulate import simulate

    if args.classes > len(LABEL_WORDS):
        raise SystemExit(f"at most {len(LABEL_WORDS)} classes")
    start = time.perf_counter()
    sim = simulate(args.items, args.annotators, args.classes,
                   votes_per_item=args.votes_per_item, seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    v = sim.votes
    DATA.mkdir(parents=True, exist_ok=True)
    if args.format == "csv":
        import pandas as pd
        import pyarrow.csv as pacsv

        item_names = np.char.mod("img_%08x", rng.permutation(16 * args.items)[:args.items])
        worker_names = annotator_names(args.annotators, rng)
        words = np.array(LABEL_WORDS[:args.classes])
        order = rng.permutation(v.n_votes)
        table = pa.table({
            "item": pa.array(item_names[v.item_codes[order]]),
            "annotator": pa.array(worker_names[v.annotator_codes[order]]),
            "label": pa.array(words[v.label_codes[order]]),
        })
        pacsv.write_csv(table, votes_path)
        pd.DataFrame({"item": item_names, "label": words[sim.truth]}).to_csv(truth_path,
                                                                            index=False)
    else:
        import pyarrow.parquet as pq

        worker_ids = rng.choice(1 << 40, size=args.annotators, replace=False).astype(np.int64)
        order = rng.permutation(v.n_votes)
        schema = pa.schema([("item", pa.int64()), ("annotator", pa.int64()),
                            ("label", pa.int64())])
        with pq.ParquetWriter(votes_path, schema) as writer:
            for first in range(0, v.n_votes, ROW_GROUP):
                rows = order[first:first + ROW_GROUP]
                writer.write_table(pa.table({
                    "item": integer_item_ids(v.item_codes[rows]),
                    "annotator": worker_ids[v.annotator_codes[rows]],
                    "label": v.label_codes[rows].astype(np.int64),
                }, schema=schema), row_group_size=ROW_GROUP)
        np.save(truth_path, sim.truth.astype(np.int8))
    print(f"wrote {v.n_votes:,} votes to {votes_path} "
          f"({votes_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.0f} s",
          flush=True)
    return votes_path, truth_path


def accuracy(labels_path: Path, truth_path: Path, fmt: str) -> tuple[float, Any]:
    """Share of items whose label equals the truth, and the labels in truth order."""
    import pyarrow.compute as pc

    if truth_path.suffix == ".csv":
        import pandas as pd

        def read(path: Path) -> pd.Series:
            if path.suffix == ".parquet":
                frame = pd.read_parquet(path, columns=["item", "label"]).astype(str)
            else:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            return pd.Series(frame["label"].to_numpy(), index=frame["item"].to_numpy())

        truth = read(truth_path)
        ours = read(labels_path).reindex(truth.index)
        return float((ours == truth).mean()), ours.to_numpy()
    import pyarrow as pa

    truth = np.load(truth_path)
    if labels_path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(labels_path, columns=["item", "label"])
    else:
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(labels_path, convert_options=pacsv.ConvertOptions(
            include_columns=["item", "label"],
            column_types={"item": pa.string(), "label": pa.string()}))
    ids = pc.cast(table.column("item"), pa.int64()).to_numpy().astype(np.uint64)
    inverse = pow(SCRAMBLE, -1, 1 << 32)
    codes = (ids * np.uint64(inverse) % np.uint64(1 << 32)).astype(np.int64)
    labels = np.full(len(truth), -1, dtype=np.int64)
    labels[codes] = pc.cast(table.column("label"), pa.int64()).to_numpy()
    return float((labels == truth).mean()), labels


def run_measured(cmd: list[str]) -> dict[str, Any]:
    """Like ``_common.run_child``, with the child's CPU time (user + system) too: on a
    shared machine CPU seconds move less than wall seconds."""
    import os
    import subprocess
    import threading

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=BENCH.parent, text=True)
    out: dict[str, str] = {}
    readers = [threading.Thread(target=lambda n=n: out.__setitem__(n, getattr(proc, n).read()))
               for n in ("stdout", "stderr")]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    for reader in readers:
        reader.join()
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss * 1024 / MIB,
            "returncode": os.waitstatus_to_exitcode(status), **out}


def time_command(name: str, cmd: list[str]) -> dict[str, Any]:
    print(f"running {name}: {' '.join(cmd)}", flush=True)
    result = run_measured(cmd)
    if result["returncode"] != 0:
        raise SystemExit(f"{name} failed ({result['returncode']}):\n{result['stderr'][-3000:]}")
    print(f"  {result['wall_s']:.1f} s (CPU {result['cpu_s']:.1f} s), peak RSS "
          f"{result['peak_rss_mib']:.0f} MiB", flush=True)
    return {k: v for k, v in result.items() if k != "stdout"}


#: Runs the ``consensus`` command from the package in {path}, ahead of this working tree.
BEFORE = ("import sys; sys.path.insert(0, {path!r}); sys.argv[0] = 'consensus'; "
          "from consensus.cli import main; main()")

STARTUP = ("import consensus.cli.aggregate, consensus.data.readers, consensus.data.writers, "
           "consensus.workflows.aggregation, consensus.data.predictions")


def phases_worker(votes: str, out: str) -> None:
    """In-process stages of one ``aggregate`` run; prints one JSON line."""
    import os

    def status() -> dict[str, float]:
        fields = {}
        with open("/proc/self/status") as proc:
            for line in proc:
                if line.startswith(("VmRSS", "VmHWM")):
                    fields[line.split(":")[0]] = int(line.split()[1]) * 1024 / MIB
        return fields

    marks: list[dict[str, Any]] = []
    last = [time.perf_counter(), sum(os.times()[:2])]

    def mark(stage: str) -> None:
        now, cpu = time.perf_counter(), sum(os.times()[:2])
        marks.append({"stage": stage, "wall_s": now - last[0], "cpu_s": cpu - last[1],
                      **status()})
        last[:] = [now, cpu]

    import consensus.cli.aggregate  # noqa: F401
    from consensus.data.readers import read_votes
    from consensus.data.writers import write_table
    from consensus.workflows.aggregation import aggregate

    mark("start-up imports")
    matrix = read_votes(votes)
    mark("read votes")
    result = aggregate(matrix)
    mark("fit with confidence")
    items = result.items
    mark("items table")
    write_table(items, out)
    mark("write labels")
    result.summary()
    mark("summary")
    print(json.dumps(marks))


def run_phases(votes: Path, out: Path) -> list[dict[str, Any]]:
    result = run_measured([sys.executable, str(SCRIPT), "--phases-worker", str(votes), str(out)])
    if result["returncode"] != 0:
        raise SystemExit(f"phases failed:\n{result['stderr'][-3000:]}")
    return list(json.loads(result["stdout"].strip().splitlines()[-1]))


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time, with every run's time and peak beside it."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["wall_s"] = statistics.median(r["wall_s"] for r in runs)
    chosen["peak_rss_mib"] = statistics.median(r["peak_rss_mib"] for r in runs)
    chosen["cpu_s"] = statistics.median(r["cpu_s"] for r in runs)
    chosen["all_wall_s"] = [round(r["wall_s"], 2) for r in runs]
    chosen["all_peak_rss_mib"] = [round(r["peak_rss_mib"]) for r in runs]
    chosen["loadavg"] = [r.get("loadavg") for r in runs]
    return chosen


def add_votes_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that shape the simulated votes file (read by :func:`write_votes`)."""
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--votes-per-item", type=int, default=3)
    parser.add_argument("--annotators", type=int, default=500)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv",
                        help="votes file: CSV with text ids, or Parquet with integer columns")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_votes_arguments(parser)
    parser.add_argument("--output-format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--methods", default="auto",
                        help="comma-separated --method values for our runs (default: auto)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", metavar="DIR", action="append", default=[],
                        help="also time the consensus package in DIR (a copy of another "
                             "version: DIR/consensus), side by side with this one; repeatable")
    parser.add_argument("--skip-crowdkit", action="store_true")
    parser.add_argument("--phases", action="store_true",
                        help="also time the stages of one run in-process")
    parser.add_argument("--phases-worker", nargs=2, metavar=("VOTES", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phases_worker:
        phases_worker(*args.phases_worker)
        return

    import os

    if args.format != "csv" and not args.skip_crowdkit:
        raise SystemExit("the crowd-kit script reads CSV only; add --skip-crowdkit")
    votes, truth_path = write_votes(args)
    n_votes = args.items * args.votes_per_item
    suffix = "" if args.format == "csv" else "_parquet"
    RESULTS.mkdir(parents=True, exist_ok=True)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    out_of = {m: RESULTS / f"{votes.stem}_consensus_{m}_labels.{args.output_format}"
              for m in methods}
    ck_out = RESULTS / f"{votes.stem}_crowdkit_labels.csv"
    other_out = {other: RESULTS / f"{votes.stem}_{Path(other).name}_labels.{args.output_format}"
                 for other in args.before}

    startup = time_command("start-up", [sys.executable, "-c", STARTUP])
    rounds: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(args.repeats):
        print(f"round {round_ + 1} of {args.repeats}", flush=True)
        for method in methods:
            run = time_command(f"consensus --method {method}", [
                sys.executable, "-m", "consensus", "aggregate", str(votes), "-o",
                str(out_of[method]), "--method", method])
            run["loadavg"] = os.getloadavg()
            rounds.setdefault(f"consensus ({method})", []).append(run)
        for other in args.before:
            run = time_command(f"consensus in {other}", [
                sys.executable, "-c", BEFORE.format(path=other), "aggregate", str(votes),
                "-o", str(other_out[other]), "--method", methods[0]])
            run["loadavg"] = os.getloadavg()
            rounds.setdefault(f"{other}: consensus ({methods[0]})", []).append(run)
        if not args.skip_crowdkit:
            run = time_command("crowd-kit", [sys.executable, str(BENCH / "crowdkit_aggregate.py"),
                                             str(votes), str(ck_out)])
            run["loadavg"] = os.getloadavg()
            rounds.setdefault("crowd-kit", []).append(run)
    runs = {name: median_run(r) for name, r in rounds.items()}
    labels: dict[str, Any] = {}
    for method in methods:
        acc, labels[method] = accuracy(out_of[method], truth_path, args.format)
        runs[f"consensus ({method})"]["accuracy"] = acc
    for other, path in other_out.items():
        runs[f"{other}: consensus ({methods[0]})"]["accuracy"] = accuracy(
            path, truth_path, args.format)[0]
    if not args.skip_crowdkit:
        acc, labels["crowd-kit"] = accuracy(ck_out, truth_path, args.format)
        runs["crowd-kit"]["accuracy"] = acc
        runs["identical"] = float(np.mean(labels[methods[0]] == labels["crowd-kit"]))
    phases = run_phases(votes, RESULTS / f"{votes.stem}_phases_labels.{args.output_format}") \
        if args.phases else None

    ours = runs[f"consensus ({methods[0]})"]
    header = ["run", "wall s (median)", "runs", "CPU s (median)", "peak RSS MiB",
              "bytes/vote", "accuracy vs truth %"]
    body = [[name, f"{r['wall_s']:.2f}", " / ".join(f"{w:.1f}" for w in r["all_wall_s"]),
             f"{r['cpu_s']:.2f}", f"{r['peak_rss_mib']:.0f}",
             f"{r['peak_rss_mib'] * MIB / n_votes:.0f}", f"{100 * r['accuracy']:.2f}"]
            for name, r in runs.items() if isinstance(r, dict)]
    body.append(["start-up (imports only)", f"{startup['wall_s']:.2f}", "",
                 f"{startup['cpu_s']:.2f}", f"{startup['peak_rss_mib']:.0f}", "", ""])
    size = votes.stat().st_size / 1e6
    above_startup = (ours["peak_rss_mib"] - startup["peak_rss_mib"]) * MIB / n_votes
    loads = ", ".join(f"{r['loadavg'][0]:.1f}" for r in rounds[f"consensus ({methods[0]})"])
    lines = [
        f"{n_votes:,} votes ({args.items:,} items x {args.votes_per_item}, {args.annotators:,} "
        f"annotators, {args.classes} classes), {args.format.upper()} of {size:,.0f} MB; labels "
        f"written as {args.output_format.upper()}. {args.repeats} round(s), side by side. "
        f"Machine: {machine()}.",
        "",
        markdown_table(header, body),
        "",
        f"Ours above start-up: {above_startup:.0f} bytes per vote. One-minute load average "
        f"at the end of each of our runs: {loads}.",
    ]
    if "crowd-kit" in runs:
        c = runs["crowd-kit"]
        lines += ["", f"Speed-up {c['wall_s'] / ours['wall_s']:.1f}x in wall time (target >= 8x), "
                  f"{c['cpu_s'] / ours['cpu_s']:.1f}x in CPU time; peak memory "
                  f"1/{c['peak_rss_mib'] / ours['peak_rss_mib']:.1f} of crowd-kit's (target "
                  f"<= 1/2); identical labels {100 * runs['identical']:.3f}%."]
    if phases:
        lines += ["", markdown_table(
            ["stage", "wall s", "CPU s", "RSS after MiB", "peak so far MiB"],
            [[p["stage"], f"{p['wall_s']:.2f}", f"{p['cpu_s']:.2f}", f"{p['VmRSS']:.0f}",
              f"{p['VmHWM']:.0f}"] for p in phases])]
    summary = ours["stderr"].strip()
    if summary:
        lines += ["", "consensus stderr:", "", "```", summary[-2000:], "```"]
    text = "\n".join(lines)
    print()
    print(text)
    (RESULTS / f"end_to_end_{n_votes}{suffix}.md").write_text(text + "\n")
    save_json(f"end_to_end_{n_votes}{suffix}.json", {"runs": runs, "rounds": rounds,
                                                     "startup": startup, "phases": phases})


if __name__ == "__main__":
    main()
