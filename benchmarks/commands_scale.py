"""Every command that reads votes, at scale (issue 13): wall time and peak memory.

"The other commands must keep up with aggregate." Writes (or reuses) the synthetic votes
file of ``end_to_end.py`` (same generator, same cache under benchmarks/data/; default
1,000,000 items x 3 votes = 3,000,000 rows, 500 annotators, 2 classes; CSV with text ids,
or ``--format parquet`` with integer columns, which 30M votes want: their CSV is ~1.1 GB),
and a golden set beside it: 2,000 items drawn at random (seeded) with their simulated true
labels, ``item,label`` in the votes file's ids and label names.

Then runs each command as a fresh subprocess, ``python -m consensus ...`` from interpreter
start to exit, outputs to a temporary folder:

    aggregate -o labels; aggregate --save-model m.cmodel; predict --model m.cmodel (same
    votes); agreement (default intervals); score --gold; vet --gold (every annotator of
    the file is a candidate); calibration --gold; flag -o flags.csv; confusions; budget;
    next-pass --budget 1000; report -o report.html; review export -o queue.csv (its log
    in the temporary folder); aggregate --engine dask (Parquet input and dask installed
    only: one local cluster, peak RSS is the largest single process, not the sum).

Wall time, CPU time and the child's peak RSS come from ``os.wait4`` (``ru_maxrss``:
interpreter, libraries and data included); bytes per vote divide the peak by the votes,
and "x aggregate" divides the wall time by that of plain ``aggregate``. ``--repeats N``
runs each command N times in turn and reports the medians. A command that exits with an
error, runs past ``--timeout`` seconds or grows past ``--max-rss-gib`` (its process group
is then killed) is recorded with the last line of its stderr, and the next one runs
(``vet``'s exit statuses 1 and 3 are verdicts, not errors; a traceback always is one).
The load average is taken at the start and at the end.

Usage::

    python benchmarks/commands_scale.py --items 20000 --annotators 100   # smoke test, ~1.5 min
    python benchmarks/commands_scale.py                  # 3M votes, CSV, ~4 min on 2 cores
    python benchmarks/commands_scale.py --items 10000000 --annotators 5000 --format parquet \\
        --timeout 900                                    # 30M votes, ~25 min

Writes benchmarks/results/commands_scale_<votes>.md and .json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
from _common import DATA, MIB, RESULTS, ROOT, machine, markdown_table, save_json
from end_to_end import add_votes_arguments, integer_item_ids, stem_of, write_votes

N_GOLD = 2000
NEXT_PASS_BUDGET = 1000
#: Exit statuses that are results, not failures: vet says 1 (someone failed) or 3 (undecided).
OK_STATUS = {"vet": {0, 1, 3}}


def write_gold(args: argparse.Namespace, truth_path: Path) -> Path:
    """``N_GOLD`` random items with their true labels, in the ids of the votes file; cached."""
    path = DATA / f"{stem_of(args)}_{args.format}_gold{N_GOLD}.csv"
    if path.exists():
        return path
    import pandas as pd

    rng = np.random.default_rng(args.seed + 2)
    if truth_path.suffix == ".csv":  # text ids and label words, as in the votes
        truth = pd.read_csv(truth_path, dtype=str, keep_default_na=False)
        gold = truth.iloc[np.sort(rng.choice(len(truth), size=N_GOLD, replace=False))]
    else:  # truth by item code; the votes hold scrambled integer ids and labels 0..K-1
        truth_codes = np.load(truth_path)
        codes = np.sort(rng.choice(len(truth_codes), size=N_GOLD, replace=False))
        gold = pd.DataFrame({"item": integer_item_ids(codes),
                             "label": truth_codes[codes].astype(np.int64)})
    gold[["item", "label"]].to_csv(path, index=False)
    return path


def commands(votes: Path, gold: Path, tmp: Path, fmt: str) -> list[dict[str, Any]]:
    """The runs, in order: name, arguments after ``python -m consensus``, note."""
    ext = "parquet" if fmt == "parquet" else "csv"
    model = tmp / "m.cmodel"
    v, g = str(votes), ["--gold", str(gold)]
    runs = [
        ("aggregate", ["aggregate", v, "-o", str(tmp / f"labels.{ext}")], ""),
        ("aggregate --save-model", ["aggregate", v, "-o", str(tmp / f"labels_m.{ext}"),
                                    "--save-model", str(model)], ""),
        ("predict --model", ["predict", v, "--model", str(model), "-o",
                             str(tmp / f"predicted.{ext}")], "the same votes"),
        ("agreement", ["agreement", v], "default intervals"),
        ("score --gold", ["score", v, *g, "-o", str(tmp / "scores.csv")], ""),
        ("vet --gold", ["vet", v, *g, "-o", str(tmp / "vet.csv")],
         "every annotator a candidate"),
        ("calibration --gold", ["calibration", v, *g, "-o", str(tmp / "reliability.csv")], ""),
        ("flag", ["flag", v, "-o", str(tmp / "flags.csv")], ""),
        ("confusions", ["confusions", v], ""),
        ("budget", ["budget", v], ""),
        ("next-pass", ["next-pass", v, "--budget", str(NEXT_PASS_BUDGET), "-o",
                       str(tmp / "next.csv")], f"--budget {NEXT_PASS_BUDGET}"),
        ("report", ["report", v, "-o", str(tmp / "report.html")], ""),
        ("review export", ["review", "export", v, "-o", str(tmp / "queue.csv"), "--db",
                           str(tmp / "review.db")], "top 5%, log in the temp folder"),
    ]
    planned = [{"name": n, "args": a, "note": note} for n, a, note in runs]
    if fmt != "parquet":
        skip = "skipped: the dask engine reads Parquet only"
    elif find_spec("dask") is None or find_spec("distributed") is None:
        skip = "skipped: dask is not installed"
    else:
        skip = ""
    planned.append({"name": "aggregate --engine dask",
                    "args": ["aggregate", v, "--engine", "dask", "-o", str(tmp / "labels_dask")],
                    "note": "local cluster; peak of the largest process", "skip": skip})
    return planned


def run_limited(cmd: list[str], timeout: float, max_rss: float) -> dict[str, Any]:
    """Wall and CPU time, peak RSS (``os.wait4``) and output of one child.

    The child leads its own process group; past ``timeout`` seconds, or when its resident
    memory passes ``max_rss`` bytes, that group is killed and the run says why.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            text=True, start_new_session=True)
    out: dict[str, str] = {}
    readers = [threading.Thread(target=lambda n=n: out.__setitem__(n, getattr(proc, n).read()))
               for n in ("stdout", "stderr")]
    for reader in readers:
        reader.start()
    done = threading.Event()
    killed: list[str] = []

    def watch() -> None:
        while not done.wait(0.5):
            reason = ""
            if time.perf_counter() - start > timeout:
                reason = f"timed out after {timeout:g} s"
            else:
                try:
                    with open(f"/proc/{proc.pid}/status") as status:
                        rss = next(int(line.split()[1]) * 1024 for line in status
                                   if line.startswith("VmRSS:"))
                except (OSError, StopIteration):
                    rss = 0
                if rss > max_rss:
                    reason = f"killed at {rss / 2**30:.1f} GiB RSS (limit {max_rss / 2**30:g})"
            if reason and not done.is_set():
                killed.append(reason)
                os.killpg(proc.pid, signal.SIGKILL)
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    for reader in readers:
        reader.join()
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss * 1024 / MIB,
            "returncode": os.waitstatus_to_exitcode(status),
            "killed": killed[0] if killed else "", **out}


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def measure(run: dict[str, Any], repeats: int, timeout: float,
            max_rss: float, tmp: Path) -> dict[str, Any]:
    """``repeats`` fresh runs of one command (stopping at the first failure); medians."""
    record: dict[str, Any] = {"name": run["name"], "note": run["note"],
                              "command": ["python", "-m", "consensus", *run["args"]]}
    if run.get("skip"):
        print(f"{run['name']}: {run['skip']}", flush=True)
        return {**record, "status": "skipped", "note": run["skip"]}
    runs = []
    for _ in range(repeats):
        for stale in (tmp / "review.db", tmp / "labels_dask"):  # each run starts afresh
            if stale.is_file():
                stale.unlink()
            elif stale.is_dir():
                shutil.rmtree(stale)
        print(f"running {run['name']}: {' '.join(record['command'])}", flush=True)
        result = run_limited([sys.executable, "-m", "consensus", *run["args"]], timeout,
                             max_rss)
        result["stdout_tail"] = result.pop("stdout")[-2000:]
        result["stderr_tail"] = result.pop("stderr")[-4000:]
        runs.append(result)
        ok = (result["returncode"] in OK_STATUS.get(run["name"].split()[0], {0})
              and "Traceback (most recent call last)" not in result["stderr_tail"])
        print(f"  {result['wall_s']:.1f} s (CPU {result['cpu_s']:.1f} s), peak RSS "
              f"{result['peak_rss_mib']:.0f} MiB, exit {result['returncode']}"
              f"{', ' + result['killed'] if result['killed'] else ''}", flush=True)
        if result["killed"] or not ok:
            why = result["killed"] or f"failed (exit {result['returncode']})"
            return {**record, "status": "failed", "runs": runs, "wall_s": result["wall_s"],
                    "peak_rss_mib": result["peak_rss_mib"], "cpu_s": result["cpu_s"],
                    "note": f"{why}: {last_line(result['stderr_tail']) or 'no stderr'}"}
    note = record["note"]
    if run["name"].startswith("vet"):
        note = "; ".join(filter(None, [note, f"exit {runs[-1]['returncode']}"]))
    return {**record, "status": "ok", "runs": runs, "note": note,
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs)}


def table(records: list[dict[str, Any]], n_votes: int) -> str:
    base = next((r for r in records if r["name"] == "aggregate" and r["status"] == "ok"), None)
    rows = []
    for r in records:
        if r["status"] == "skipped":
            rows.append([r["name"], "", "", "", "", "", r["note"]])
            continue
        ratio = f"{r['wall_s'] / base['wall_s']:.2f}" if base and r["status"] == "ok" else ""
        wall = f"{r['wall_s']:.1f}" if r["status"] == "ok" else f"({r['wall_s']:.1f})"
        rows.append([r["name"], wall, f"{r['cpu_s']:.1f}", f"{r['peak_rss_mib']:.0f}",
                     f"{r['peak_rss_mib'] * MIB / n_votes:.0f}", ratio,
                     r["note"].replace("|", "\\|")])
    return markdown_table(["command", "wall s", "CPU s", "peak RSS MiB", "bytes/vote",
                           "x aggregate", "notes"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_votes_arguments(parser)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds before a command is killed and recorded as timed out")
    parser.add_argument("--max-rss-gib", type=float, default=16,
                        help="resident memory at which a command is killed and recorded")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run only the commands whose name starts with one of these "
                             "(aggregate always runs, for the ratio)")
    args = parser.parse_args()

    load_start = os.getloadavg()
    votes, truth = write_votes(args)
    gold = write_gold(args, truth)
    n_votes = args.items * args.votes_per_item
    print(f"{votes.name}: {votes.stat().st_size / 1e6:,.0f} MB; gold {gold.name}", flush=True)
    with tempfile.TemporaryDirectory(prefix="commands_scale_") as folder:
        tmp = Path(folder)
        planned = commands(votes, gold, tmp, args.format)
        if args.only:
            planned = [r for r in planned if r["name"] == "aggregate"
                       or r["name"].startswith(tuple(args.only))]
        records = []
        for run in planned:
            if run["name"] == "predict --model" and not (tmp / "m.cmodel").exists():
                run = {**run, "skip": "skipped: aggregate --save-model wrote no model"}
            records.append(measure(run, args.repeats, args.timeout,
                                   args.max_rss_gib * 2**30, tmp))
    load_end = os.getloadavg()

    loads = ("load average (1/5/15 min) " + "/".join(f"{x:.1f}" for x in load_start)
             + " at the start, " + "/".join(f"{x:.1f}" for x in load_end) + " at the end")
    lines = [
        f"## Every command at {n_votes:,} votes (issue 13)", "",
        f"{n_votes:,} votes ({args.items:,} items x {args.votes_per_item}, "
        f"{args.annotators:,} annotators, {args.classes} classes), {args.format.upper()} of "
        f"{votes.stat().st_size / 1e6:,.0f} MB; gold: {N_GOLD:,} items. Each command a fresh "
        f"subprocess, {args.repeats} run(s) (median); wall time from interpreter start to "
        f"exit, CPU time user + system of all its threads, peak RSS of the process (interpreter "
        f"and libraries included); timeout "
        f"{args.timeout:g} s. Wall time in parentheses: the failed run's. {loads}. "
        f"Machine: {machine()}.", "",
        table(records, n_votes),
    ]
    text = "\n".join(lines)
    print()
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"commands_scale_{n_votes}.md").write_text(text + "\n")
    save_json(f"commands_scale_{n_votes}.json", {
        "votes": str(votes), "gold": str(gold), "n_votes": n_votes, "args": vars(args),
        "loadavg_start": load_start, "loadavg_end": load_end, "records": records})


if __name__ == "__main__":
    main()
