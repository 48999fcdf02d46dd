"""``consensus agreement`` at scale: whole-process time and memory, with and without intervals.

Issue 13: on 3,000,000 votes (1,000,000 items x 3, 500 annotators, 2 classes) the
command took 5 min 14 s with its default 1,000 bootstrap draws (9.5 s without
intervals), against 4-9 s for ``score``, ``vet`` and ``calibration``. Target: 15 s
or less with intervals, same estimates.

The votes are the CSV of ``end_to_end.py`` (same generator, same cache under
benchmarks/data/: ``consensus.simulate.simulate`` with Beta(8, 2) accuracies, mean
0.8; rows shuffled, string ids). Each run is a fresh subprocess, interpreter start to
exit, ``python -m consensus agreement votes.csv --json --bootstrap N``:

- ``--bootstrap 1000`` (the default): with intervals. At this size ``interval="auto"``
  takes the delete-one jackknife instead of the draws, and the JSON says so;
- ``--bootstrap 0``: estimates only.

Each is run ``--repeats`` times (default 3) and the median wall time is reported with
that run's peak RSS (``os.wait4``'s ``ru_maxrss``: interpreter, libraries and data
included). The estimates of the two runs are compared (they must be identical).

Usage::

    python benchmarks/agreement_scale.py               # 3M votes, ~1 min
    python benchmarks/agreement_scale.py --large       # and 30M votes (10M items), ~10 min
    python benchmarks/agreement_scale.py --items 20000 --repeats 1   # smoke test

Writes benchmarks/results/agreement_scale.md and .json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import RESULTS, machine, markdown_table, run_child, save_json
from end_to_end import write_votes

RUNS = {"with intervals": 1000, "without intervals": 0}


def time_agreement(votes: Path, n_bootstrap: int, repeats: int) -> dict[str, Any]:
    """The median of ``repeats`` fresh runs, with its peak RSS and parsed JSON output."""
    cmd = [sys.executable, "-m", "consensus", "agreement", str(votes), "--json",
           "--bootstrap", str(n_bootstrap)]
    runs = []
    for _ in range(repeats):
        result = run_child(cmd)
        if result["returncode"] != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{result['stderr'][-3000:]}")
        runs.append(result)
        print(f"  --bootstrap {n_bootstrap}: {result['wall_s']:.1f} s, "
              f"peak RSS {result['peak_rss_mib']:.0f} MiB", flush=True)
    median = statistics.median_low([r["wall_s"] for r in runs])
    chosen = next(r for r in runs if r["wall_s"] == median)
    return {
        "wall_s": median,
        "all_wall_s": [r["wall_s"] for r in runs],
        "peak_rss_mib": chosen["peak_rss_mib"],
        "results": json.loads(chosen["stdout"]),
    }


def measure(items: int, repeats: int, seed: int) -> dict[str, Any]:
    votes, _ = write_votes(items, 3, 500, 2, seed)
    print(f"{votes.name}: {votes.stat().st_size / 1e6:.0f} MB", flush=True)
    runs = {name: time_agreement(votes, n, repeats) for name, n in RUNS.items()}
    with_ci, without = (runs[name]["results"] for name in RUNS)
    same = all(with_ci[s]["estimate"] == without[s]["estimate"] for s in with_ci)
    return {"items": items, "votes": 3 * items, "csv_mb": votes.stat().st_size / 1e6,
            "runs": runs, "same_estimates": same}


def figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6f}"


def table(size: dict[str, Any]) -> str:
    header = ["run", "interval", "wall s (median)", "all runs s", "peak RSS MiB"]
    body = []
    for name, run in size["runs"].items():
        methods = {entry["interval"] for entry in run["results"].values()}
        body.append([
            f"`--bootstrap {RUNS[name]}` ({name})",
            ", ".join(sorted(m or "none" for m in methods)),
            f"{run['wall_s']:.1f}",
            " / ".join(f"{s:.1f}" for s in run["all_wall_s"]),
            f"{run['peak_rss_mib']:.0f}",
        ])
    results = size["runs"]["with intervals"]["results"]
    estimates = ["statistic", "estimate", "95% CI low", "95% CI high"]
    rows = [[name, *(figure(r[key]) for key in ("estimate", "ci_low", "ci_high"))]
            for name, r in results.items()]
    return "\n".join([
        f"### {size['votes']:,} votes ({size['items']:,} items x 3, 500 annotators, 2 classes), "
        f"CSV of {size['csv_mb']:.0f} MB",
        "",
        markdown_table(header, body),
        "",
        f"Estimates identical with and without intervals: {size['same_estimates']}.",
        "",
        markdown_table(estimates, rows),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--large", action="store_true",
                        help="also 10,000,000 items x 3 = 30M votes (a 1.1 GB CSV)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sizes = [args.items] + ([10_000_000] if args.large else [])
    measured = [measure(items, args.repeats, args.seed) for items in sizes]
    text = "\n\n".join([
        "## `consensus agreement` at scale (issue 13)",
        f"Target: <= 15 s with intervals on 3M votes. Machine: {machine()}.",
        *[table(size) for size in measured],
    ])
    print()
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "agreement_scale.md").write_text(text + "\n")
    save_json("agreement_scale.json", measured)


if __name__ == "__main__":
    main()
