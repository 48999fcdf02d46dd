"""Our EBCC against the authors' implementation on the shared datasets.

For each dataset it fits ``EBCC(seed=s)`` (the authors' default hyperparameters)
for seeds 0, 1 and 2 on the votes as the peers read them (rows with a missing
cell dropped, repeated votes kept), and prints accuracy on the gold items beside
the peers' figures for the authors' code (``../shared/peers/accuracy.csv``: mean,
min and max over 3 seeds, and the published number where there is one) and the
mean time per fit. The last column says whether our mean is inside the authors'
seed range, within 1 point of their mean, or off.

Usage::

    python benchmarks/ebcc_check.py [DATASETS] [--peers CSV] [--only NAME ...] [--starts N]

DATASETS defaults to $CONSENSUS_DATASETS, else ../shared/datasets beside the repo.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

# Measure the consensus in this working tree, not an installed copy that may be older.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import datasets_dir, markdown_table  # noqa: E402

from consensus.data.gold import read_gold  # noqa: E402
from consensus.data.readers import read_votes  # noqa: E402
from consensus.models.ebcc import EBCC  # noqa: E402

SEEDS = (0, 1, 2)


def check(folder: Path, n_starts: int) -> dict[str, float]:
    """Accuracy (%) per seed and seconds per fit on one dataset."""
    votes = read_votes(folder / "votes.csv", on_missing="drop")
    gold = read_gold(folder / "gold.csv", votes).per_item(votes.n_items)
    known = gold >= 0
    accuracies, seconds, iterations = [], [], []
    for seed in SEEDS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model = EBCC(seed=seed, n_starts=n_starts).fit(votes)
            seconds.append(time.perf_counter() - start)
        accuracies.append(100.0 * float((model.label_codes_[known] == gold[known]).mean()))
        iterations.append(model.n_iter_)
    return {
        "mean": float(np.mean(accuracies)),
        "min": min(accuracies),
        "max": max(accuracies),
        "seconds": float(np.mean(seconds)),
        "iterations": float(np.mean(iterations)),
        "votes": votes.n_votes,
    }


def verdict(ours: float, peer: pd.Series) -> str:
    """Where our mean falls against the authors' seeds (their figures have 2 decimals)."""
    if peer["ebcc_min"] - 0.005 <= ours <= peer["ebcc_max"] + 0.005:
        return "in range"
    if abs(ours - peer["ebcc"]) <= 1.0:
        return "within 1 pt"
    return f"off by {ours - peer['ebcc']:+.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="?")
    parser.add_argument("--peers", type=Path)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--starts", type=int, default=1, help="n_starts per fit")
    args = parser.parse_args()
    root = datasets_dir(args.datasets)
    peers_csv = args.peers or root.parent / "peers" / "accuracy.csv"
    peers = pd.read_csv(peers_csv).set_index("dataset")
    names = args.only or [n for n in peers.index if (root / n / "votes.csv").exists()]
    rows, total, verdicts = [], 0.0, []
    for name in names:
        ours = check(root / name, args.starts)
        total += ours["seconds"] * len(SEEDS)
        peer = peers.loc[name]
        verdicts.append(verdict(ours["mean"], peer))
        published = "" if pd.isna(peer["ebcc_published"]) else f"{peer['ebcc_published']:.2f}"
        rows.append([
            name, f"{ours['votes']:,}",
            f"{ours['mean']:.2f}", f"{ours['min']:.2f}–{ours['max']:.2f}",
            f"{peer['ebcc']:.2f}", f"{peer['ebcc_min']:.2f}–{peer['ebcc_max']:.2f}", published,
            f"{ours['seconds']:.2f}", f"{ours['iterations']:.0f}", verdicts[-1],
        ])
        print(f"{name}: {ours['mean']:.2f} ({verdicts[-1]})", file=sys.stderr, flush=True)
    header = ["dataset", "votes", "ours", "ours range", "authors", "authors range", "published",
              "s/fit", "iters", "verdict"]
    print(markdown_table(header, rows))
    close = sum(v in ("in range", "within 1 pt") for v in verdicts)
    print(f"\n{close} of {len(verdicts)} datasets in the authors' seed range or within 1 point "
          f"of their mean; {total:.0f} s of fitting in all (n_starts={args.starts}).")


if __name__ == "__main__":
    main()
