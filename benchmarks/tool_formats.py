"""Reading a Label Studio JSON export against reading the same votes as a CSV.

Generates, in a temporary folder, a full Label Studio JSON export (default
1,000,000 annotations: 333,333 tasks x 3 annotators out of 500, one Choices
control with 3 classes) whose annotations carry the fields a real export has
(``id, completed_by, result[{id, from_name, to_name, type, value, origin}],
was_cancelled, ground_truth, lead_time, created_at, updated_at``; tasks ``id,
data, annotations, predictions``), and the same votes as ``item,annotator,label``
CSV. Then times the median of ``--repeat`` runs of each:

- ``csv``: ``read_votes(votes.csv)`` (read, detect, encode into a VoteMatrix);
- ``label-studio``: ``read_label_studio(export.json)`` then
  ``VoteMatrix.from_frame(source.frame, source=path)``: like for like;
- ``label-studio, orjson`` (when orjson is installed; it is not a dependency):
  ``votes_from_tasks(orjson.loads(bytes))`` then ``from_frame``, with the
  garbage collector off during the parse (with it on, the parse of the whole tree
  is several times slower).

Each run is its own fresh interpreter that first reads a tiny file of the same
kind untimed (so lazy imports are not timed), and peak memory is comparable:
"peak extra" is the kernel's high-water mark above the resident memory just
before the read (``_common.PeakMemory``); the child's whole-process peak RSS is
reported too. The target: ``label-studio`` within 3x of ``csv``. Raw numbers go
to benchmarks/results/tool_formats_<annotations>.json.

Usage::

    python benchmarks/tool_formats.py                     # 1M annotations
    python benchmarks/tool_formats.py --annotations 30000 # smoke test
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# Measure the consensus in this working tree, not an installed copy that may be older.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import MIB, PeakMemory, machine, markdown_table, run_worker, save_json  # noqa: E402

from consensus.data.readers import read_votes  # noqa: E402
from consensus.data.tools.label_studio import read_label_studio, votes_from_tasks  # noqa: E402
from consensus.data.votes import VoteMatrix  # noqa: E402

SCRIPT = Path(__file__).resolve()
CLASSES = np.array(["Positive", "Negative", "Neutral"])


def write_export(folder: Path, n_annotations: int, per_task: int = 3, annotators: int = 500,
                 seed: int = 0, prefix: str = "") -> tuple[Path, Path]:
    """A compact Label Studio JSON export and the same votes as CSV; distinct annotators
    per task (no repeated votes)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    n_tasks = n_annotations // per_task
    start = rng.integers(0, annotators, n_tasks)[:, None]
    edges = np.linspace(1, annotators, per_task).astype(int)  # one offset per bin: distinct
    steps = np.stack([rng.integers(lo, hi, n_tasks)
                      for lo, hi in zip(edges[:-1], edges[1:], strict=True)], axis=1)
    who = (np.concatenate([start, start + steps], axis=1) % annotators + 1).tolist()
    label = CLASSES[rng.integers(0, len(CLASSES), (n_tasks, per_task))]
    lead = np.round(rng.gamma(2.0, 4.0, (n_tasks, per_task)), 3).tolist()
    labels = label.tolist()
    parts = []
    annotation = 1000
    for t in range(n_tasks):
        annotations = []
        for k in range(per_task):
            annotation += 1
            annotations.append(
                f'{{"id":{annotation},"completed_by":{who[t][k]},"result":[{{"id":'
                f'"r{annotation:x}","from_name":"sentiment","to_name":"text","type":"choices",'
                f'"value":{{"choices":["{labels[t][k]}"]}},"origin":"manual"}}],'
                f'"was_cancelled":false,"ground_truth":false,"lead_time":{lead[t][k]},'
                f'"created_at":"2024-03-09T21:{annotation // 60 % 60:02d}:{annotation % 60:02d}'
                f'.513742Z","updated_at":"2024-03-09T22:16:08.746926Z"}}')
        parts.append(f'{{"id":{5000 + t},"data":{{"text":"Review {t}: the goose neck needs a '
                     f'little coaxing."}},"annotations":[{",".join(annotations)}],'
                     f'"predictions":[]}}')
    export, votes = folder / f"{prefix}export.json", folder / f"{prefix}votes.csv"
    export.write_text("[" + ",".join(parts) + "]")
    items = np.repeat((5000 + np.arange(n_tasks)).astype(str), per_task)
    pacsv.write_csv(pa.table({"item": items, "annotator": np.array(who).reshape(-1).astype(str),
                              "label": label.reshape(-1)}), votes)
    return export, votes


def read_csv(votes: Path, export: Path) -> VoteMatrix:
    return read_votes(votes)


def read_ls(votes: Path, export: Path) -> VoteMatrix:
    source = read_label_studio(export)
    return VoteMatrix.from_frame(source.frame, source=str(export))


def read_ls_orjson(votes: Path, export: Path) -> VoteMatrix:
    import orjson

    gc.disable()
    try:
        tasks = orjson.loads(export.read_bytes())
    finally:
        gc.enable()
    source = votes_from_tasks(tasks, name=str(export))
    del tasks
    return VoteMatrix.from_frame(source.frame, source=str(export))


READERS: dict[str, Callable[[Path, Path], VoteMatrix]] = {
    "csv": read_csv, "label-studio": read_ls, "label-studio, orjson": read_ls_orjson}


def worker(name: str, votes: Path, export: Path) -> dict[str, Any]:
    """One timed read in this fresh interpreter, after one untimed read of a tiny file of
    the same kind (so lazy imports are not timed); the votes' digest lets the parent
    compare."""
    warnings.simplefilter("ignore")  # detection and duplicate notices are not timed here
    READERS[name](votes.with_name("warm_" + votes.name), export.with_name("warm_" + export.name))
    probe = PeakMemory().start()
    start = time.perf_counter()
    matrix = READERS[name](votes, export)
    wall = time.perf_counter() - start
    return {"wall_s": wall, "peak_extra_mib": probe.stop() / MIB,
            "fingerprint": matrix.fingerprint, "n_votes": matrix.n_votes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotations", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", choices=[*READERS, "generate"])
    parser.add_argument("--votes", type=Path)
    parser.add_argument("--export", type=Path)
    args = parser.parse_args()
    if args.worker == "generate":
        write_export(args.export.parent, args.annotations)
        write_export(args.export.parent, 30, prefix="warm_")
        print(json.dumps({}))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.votes, args.export)))
        return

    names = [n for n in READERS if n != "label-studio, orjson" or _has_orjson()]
    with tempfile.TemporaryDirectory() as folder:
        # Generated in a child: a parent grown large would lend its size to every child's
        # peak RSS (Linux carries the high-water mark across fork and exec).
        start = time.perf_counter()
        export, votes = Path(folder) / "export.json", Path(folder) / "votes.csv"
        run_worker(SCRIPT, ["--worker", "generate", "--export", str(export),
                            "--annotations", str(args.annotations)])
        sizes = {"json_mb": export.stat().st_size / 1e6, "csv_mb": votes.stat().st_size / 1e6}
        print(f"generated {args.annotations:,} annotations in {time.perf_counter() - start:.1f} s:"
              f" JSON {sizes['json_mb']:.0f} MB, CSV {sizes['csv_mb']:.0f} MB", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for _ in range(args.repeat):
            for name in names:  # interleaved, so drift in load hits all alike
                report = run_worker(SCRIPT, ["--worker", name, "--votes", str(votes),
                                             "--export", str(export)])
                runs[name].append(report)
                print(f"  {name}: {report['wall_s']:.2f} s, peak extra "
                      f"{report['peak_extra_mib']:.0f} MiB", flush=True)
    digests = {r["fingerprint"] for reports in runs.values() for r in reports}
    if len(digests) != 1:
        raise SystemExit("the readers did not all read the same votes")

    base = statistics.median(r["wall_s"] for r in runs["csv"])
    rows = []
    for name, reports in runs.items():
        wall = statistics.median(r["wall_s"] for r in reports)
        rows.append([name, f"{wall:.2f}", f"{wall / base:.1f}x",
                     f"{max(r['peak_extra_mib'] for r in reports):.0f}",
                     f"{max(r['process_peak_rss_mib'] for r in reports):.0f}"])
    ratio = statistics.median(r["wall_s"] for r in runs["label-studio"]) / base
    text = "\n".join([
        f"{args.annotations:,} annotations ({args.annotations // 3:,} tasks x 3), JSON export "
        f"{sizes['json_mb']:.0f} MB, CSV {sizes['csv_mb']:.0f} MB; median of {args.repeat}, "
        f"each run a fresh interpreter. Machine: {machine()}.",
        "",
        markdown_table(["reader", "median s", "vs CSV", "peak extra MiB",
                        "process peak RSS MiB"], rows),
        "",
        f"Label Studio JSON / CSV: {ratio:.1f}x (target <= 3x): "
        f"{'met' if ratio <= 3 else 'NOT met'}.",
    ])
    print()
    print(text)
    save_json(f"tool_formats_{args.annotations}.json", {**sizes, "runs": runs})


def _has_orjson() -> bool:
    try:
        import orjson  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
