"""CSV to labels, end to end: the ``consensus`` CLI against a pandas + crowd-kit script.

Writes a synthetic votes CSV shaped like a real export (default 1,000,000 items x
3 votes = 3,000,000 rows, 500 annotators, 2 classes): header
``item,annotator,label``, rows in random order, item ids like ``img_000f4a2c``,
MTurk-style annotator ids like ``A2K9QZ81HD3MX0``, labels as words. Then it
times, each as a fresh subprocess:

(a) ``python -m consensus aggregate votes.csv -o labels.csv`` (our defaults:
    Dawid-Skene with the library's default parameters);
(b) ``python benchmarks/crowdkit_aggregate.py votes.csv labels.csv``:
    ``pandas.read_csv``, crowd-kit ``DawidSkene()`` (n_iter=100, tol=1e-5),
    ``to_csv``.

Wall time is the whole subprocess, interpreter start to exit; peak memory is
the child's peak RSS from ``os.wait4`` (ru_maxrss), so it includes the
interpreter, the libraries and the data. Both outputs are then compared with
each other and with the simulated truth.

Usage::

    python benchmarks/end_to_end.py                    # 3M votes
    python benchmarks/end_to_end.py --items 20000      # smoke test
    python benchmarks/end_to_end.py --skip-crowdkit    # only time our CLI

Writes benchmarks/results/end_to_end_<votes>.md and .json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import BENCH, DATA, RESULTS, machine, markdown_table, run_child, save_json

LABEL_WORDS = ["no", "yes", "maybe", "unsure", "spam", "other", "broken", "skip"]
BASE36 = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def annotator_names(n: int, rng: np.random.Generator) -> np.ndarray:
    """Distinct MTurk-looking worker ids: 'A' and 13 base-36 characters."""
    while True:
        chars = BASE36[rng.integers(0, 36, size=(n, 13))]
        names = np.char.add("A", np.array(["".join(row) for row in chars]))
        if len(np.unique(names)) == n:
            return names


def write_votes(items: int, per_item: int, annotators: int, classes: int,
                seed: int) -> tuple[Path, Path]:
    """Simulate, write votes.csv (shuffled rows, string ids) and truth.csv; cached by name."""
    stem = f"e2e_{items}x{per_item}_a{annotators}_k{classes}_s{seed}"
    votes_path, truth_path = DATA / f"{stem}_votes.csv", DATA / f"{stem}_truth.csv"
    if votes_path.exists() and truth_path.exists():
        return votes_path, truth_path
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from consensus.simulate import simulate

    if classes > len(LABEL_WORDS):
        raise SystemExit(f"at most {len(LABEL_WORDS)} classes")
    sim = simulate(items, annotators, classes, votes_per_item=per_item, seed=seed)
    rng = np.random.default_rng(seed + 1)
    item_names = np.char.mod("img_%08x", rng.permutation(16 * items)[:items])
    worker_names = annotator_names(annotators, rng)
    words = np.array(LABEL_WORDS[:classes])
    order = rng.permutation(sim.votes.n_votes)
    v = sim.votes
    table = pa.table({
        "item": pa.array(item_names[v.item_codes[order]]),
        "annotator": pa.array(worker_names[v.annotator_codes[order]]),
        "label": pa.array(words[v.label_codes[order]]),
    })
    DATA.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, votes_path)
    pd.DataFrame({"item": item_names, "label": words[sim.truth]}).to_csv(truth_path, index=False)
    print(f"wrote {v.n_votes:,} votes to {votes_path} "
          f"({votes_path.stat().st_size / 1e6:.0f} MB)", flush=True)
    return votes_path, truth_path


def read_labels(path: Path) -> pd.Series:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.Series(frame["label"].to_numpy(), index=frame["item"].to_numpy())


def time_command(name: str, cmd: list[str]) -> dict[str, Any]:
    print(f"running {name}: {' '.join(cmd)}", flush=True)
    result = run_child(cmd)
    if result["returncode"] != 0:
        raise SystemExit(f"{name} failed ({result['returncode']}):\n{result['stderr'][-3000:]}")
    print(f"  {result['wall_s']:.1f} s, peak RSS {result['peak_rss_mib']:.0f} MiB", flush=True)
    return {k: v for k, v in result.items() if k != "stdout"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--votes-per-item", type=int, default=3)
    parser.add_argument("--annotators", type=int, default=500)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-crowdkit", action="store_true")
    args = parser.parse_args()

    votes, truth_path = write_votes(args.items, args.votes_per_item, args.annotators,
                                    args.classes, args.seed)
    ours_out = RESULTS / f"{votes.stem}_consensus_labels.csv"
    ck_out = RESULTS / f"{votes.stem}_crowdkit_labels.csv"
    RESULTS.mkdir(parents=True, exist_ok=True)
    truth = read_labels(truth_path)

    runs: dict[str, Any] = {}
    runs["consensus"] = time_command(
        "consensus", [sys.executable, "-m", "consensus", "aggregate", str(votes),
                      "-o", str(ours_out)])
    ours = read_labels(ours_out)
    runs["consensus"]["accuracy"] = float((ours.reindex(truth.index) == truth).mean())
    if not args.skip_crowdkit:
        runs["crowd-kit"] = time_command(
            "crowd-kit", [sys.executable, str(BENCH / "crowdkit_aggregate.py"), str(votes),
                          str(ck_out)])
        ck = read_labels(ck_out)
        runs["crowd-kit"]["accuracy"] = float((ck.reindex(truth.index) == truth).mean())
        runs["identical"] = float((ours.reindex(truth.index) == ck.reindex(truth.index)).mean())

    n_votes = args.items * args.votes_per_item
    header = ["run", "wall s", "peak RSS MiB", "accuracy vs truth %"]
    body = [[name, f"{r['wall_s']:.1f}", f"{r['peak_rss_mib']:.0f}", f"{100 * r['accuracy']:.2f}"]
            for name, r in runs.items() if isinstance(r, dict)]
    lines = [
        f"{n_votes:,} votes ({args.items:,} items x {args.votes_per_item}, {args.annotators} "
        f"annotators, {args.classes} classes), CSV of {votes.stat().st_size / 1e6:.0f} MB. "
        f"Machine: {machine()}.",
        "",
        markdown_table(header, body),
    ]
    if "crowd-kit" in runs:
        c, o = runs["crowd-kit"], runs["consensus"]
        lines += ["", f"Speed-up {c['wall_s'] / o['wall_s']:.1f}x (target >= 8x); peak memory "
                  f"1/{c['peak_rss_mib'] / o['peak_rss_mib']:.1f} of crowd-kit's; identical "
                  f"labels {100 * runs['identical']:.3f}%."]
    summary = runs["consensus"]["stderr"].strip()
    if summary:
        lines += ["", "consensus stderr:", "", "```", summary[-2000:], "```"]
    text = "\n".join(lines)
    print()
    print(text)
    (RESULTS / f"end_to_end_{n_votes}.md").write_text(text + "\n")
    save_json(f"end_to_end_{n_votes}.json", runs)


if __name__ == "__main__":
    main()
