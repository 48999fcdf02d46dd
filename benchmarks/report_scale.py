"""``consensus report`` at scale (issue 14): at most 2x the time of ``aggregate``, under 5 MB.

Writes (or reuses) the synthetic votes CSV of ``end_to_end.py`` (default 1,000,000 items x
3 votes = 3,000,000 rows, 500 annotators, 2 classes), then times, each as a fresh
subprocess from interpreter start to exit and interleaved so that the machine's load
falls on both alike:

(a) ``consensus aggregate votes.csv -o labels.csv``;
(b) ``consensus report votes.csv -o report.html``.

Prints a table (median wall time of ``--repeats`` runs each, peak RSS, the report's size)
and the ratio of the medians, and writes benchmarks/results/report_scale_<votes>.md and
.json.

Usage::

    python benchmarks/report_scale.py                  # 3M votes, 3 runs each
    python benchmarks/report_scale.py --items 20000    # smoke test
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import RESULTS, machine, markdown_table, run_child, save_json
from end_to_end import write_votes

#: ``consensus report`` through the installed entry point, registering the command first
#: when the package's command group does not have it yet.
REPORT = ("from consensus.cli import cli, main\n"
          "from consensus.cli.report import report\n"
          "cli.commands.setdefault('report', report)\n"
          "main()")
MAX_RATIO, MAX_MB = 2.0, 5.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(name: str, cmd: list[str]) -> dict[str, Any]:
    """Wall time, CPU time (user + system, all threads) and peak RSS of one fresh run."""
    before = children_cpu()
    result = run_child(cmd)
    result["cpu_s"] = children_cpu() - before
    if result["returncode"] != 0:
        raise SystemExit(f"{name} failed ({result['returncode']}):\n{result['stderr'][-3000:]}")
    print(f"  {name}: {result['wall_s']:.1f} s wall, {result['cpu_s']:.1f} s CPU, peak RSS "
          f"{result['peak_rss_mib']:.0f} MiB", flush=True)
    return {k: v for k, v in result.items() if k != "stdout"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--votes-per-item", type=int, default=3)
    parser.add_argument("--annotators", type=int, default=500)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    votes, _ = write_votes(argparse.Namespace(**vars(args), format="csv"))  # end_to_end's CSV
    RESULTS.mkdir(parents=True, exist_ok=True)
    labels = RESULTS / f"{votes.stem}_report_scale_labels.csv"
    page = RESULTS / f"{votes.stem}_report.html"
    commands = {
        "aggregate": [sys.executable, "-m", "consensus", "aggregate", str(votes),
                      "-o", str(labels)],
        "report": [sys.executable, "-c", REPORT, "report", str(votes), "-o", str(page)],
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in commands}
    for repeat in range(args.repeats):
        print(f"run {repeat + 1} of {args.repeats}", flush=True)
        for name, cmd in commands.items():
            runs[name].append(timed(name, cmd))
    median = {name: statistics.median(r["wall_s"] for r in rs) for name, rs in runs.items()}
    cpu = {name: statistics.median(r["cpu_s"] for r in rs) for name, rs in runs.items()}
    peak = {name: max(r["peak_rss_mib"] for r in rs) for name, rs in runs.items()}
    size_mb = Path(page).stat().st_size / 1e6
    ratio = median["report"] / median["aggregate"]
    pairs = [r["wall_s"] / a["wall_s"] for r, a in zip(runs["report"], runs["aggregate"],
                                                       strict=True)]
    n_votes = args.items * args.votes_per_item
    rows = [[name, f"{median[name]:.1f}",
             " / ".join(f"{r['wall_s']:.1f}" for r in runs[name]), f"{cpu[name]:.1f}",
             f"{peak[name]:.0f}", f"{size_mb:.2f} MB" if name == "report" else ""]
            for name in commands]
    verdict = "met" if ratio <= MAX_RATIO and size_mb < MAX_MB else "NOT met"
    lines = [
        "## `consensus report` at scale (issue 14)", "",
        f"Target: at most {MAX_RATIO:g}x the wall time of `aggregate` on the same input, and "
        f"under {MAX_MB:g} MB. {n_votes:,} votes ({args.items:,} items x "
        f"{args.votes_per_item}, {args.annotators} annotators, {args.classes} classes), CSV of "
        f"{votes.stat().st_size / 1e6:.0f} MB. Machine: {machine()}.", "",
        markdown_table(["command", "wall s (median)", "all runs s", "CPU s (median)",
                        "peak RSS MiB", "output"], rows), "",
        f"Ratio of the medians {ratio:.2f}x (run by run: "
        f"{', '.join(f'{p:.2f}' for p in pairs)}; of CPU time "
        f"{cpu['report'] / cpu['aggregate']:.2f}x, which leaves out the report's second "
        f"thread); report {size_mb:.2f} MB: target {verdict}.",
    ]
    text = "\n".join(lines)
    print()
    print(text)
    (RESULTS / f"report_scale_{n_votes}.md").write_text(text + "\n")
    save_json(f"report_scale_{n_votes}.json", {"runs": runs, "median_s": median,
                                               "median_cpu_s": cpu, "ratio": ratio,
                                               "size_mb": size_mb})


if __name__ == "__main__":
    main()
