"""Our BWA and MACE against the peers' figures on the shared datasets, and MACE's speed.

For each dataset it fits ``BWA()`` and ``MACE()`` (defaults) on the votes as the
peers read them (rows with a missing cell dropped, repeated votes kept) and
prints accuracy on the gold items beside ``../shared/peers/accuracy.csv``: the
authors' BWA code with its defaults, and crowd-kit 1.4.2's ``MACE()``. The Δ
columns count gold items (ours right minus theirs right). Two more columns
explain the differences:

* ``BWA merged``: our BWA with repeated (item, annotator, label) rows dropped.
  The authors' code builds boolean item × annotator matrices, so a repeated vote
  counts once there; we count every vote, as crowd-kit and the rest of this
  package do.
* ``crowd-kit in order`` (datasets given to ``--crowdkit``): crowd-kit's MACE on
  the same votes with annotator and label names renamed to sort in order of
  first appearance. crowd-kit 1.4.2 indexes each annotator's spam distribution by
  first appearance but fills it from a groupby sorted by name, so with the
  original names annotators get each other's distributions; renamed, its
  results are those of the model, and ours should match them.

The second table times crowd-kit's ``MACE()`` with its defaults (10 restarts,
which all start from ``random_state`` 0 and so repeat one run) against ours.

Usage::

    python benchmarks/bwa_mace_check.py [DATASETS] [--peers CSV] [--only NAME ...]
                                        [--crowdkit NAME ... | --crowdkit all | --crowdkit]

DATASETS defaults to $CONSENSUS_DATASETS, else ../shared/datasets beside the repo.
``--crowdkit`` defaults to bm and zencrowd_in (about a minute); ``all`` takes
about 20 minutes on 2 cores, and a bare ``--crowdkit`` skips crowd-kit.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Measure the consensus in this working tree, not an installed copy that may be older.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import datasets_dir, machine, markdown_table  # noqa: E402

from consensus.data.gold import read_gold  # noqa: E402
from consensus.data.readers import read_votes  # noqa: E402
from consensus.data.votes import VoteMatrix  # noqa: E402
from consensus.models.base import Aggregator  # noqa: E402
from consensus.models.bwa import BWA  # noqa: E402
from consensus.models.mace import MACE  # noqa: E402

#: Differences up to this many gold items count as agreement.
FEW_ITEMS = 3


def accuracy(votes: VoteMatrix, gold: np.ndarray, label_codes: np.ndarray) -> tuple[float, int]:
    """Accuracy (%) on the gold items and the number right."""
    known = gold >= 0
    right = int((label_codes[known] == gold[known]).sum())
    return 100.0 * right / int(known.sum()), right


def timed_fit(model: Aggregator, votes: VoteMatrix) -> tuple[Aggregator, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model.fit(votes)
    return model, time.perf_counter() - start


def merged_repeats(votes: VoteMatrix) -> VoteMatrix:
    """The votes with repeated (item, annotator, label) rows dropped, classes kept."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VoteMatrix.from_frame(votes.to_frame().drop_duplicates(),
                                     labels=list(votes.classes))


def crowdkit_frame(votes: VoteMatrix, in_order: bool) -> tuple[pd.DataFrame, dict[str, Any]]:
    """crowd-kit's task/worker/label frame, and how to map its label names back to ours.

    ``in_order`` renames workers and labels to zero-padded codes in order of first
    appearance, so that sorting them (as crowd-kit's groupby does) keeps that order.
    """
    frame = votes.to_frame().rename(columns={"item": "task", "annotator": "worker"})
    frame = frame.astype(str)
    back = {str(c): str(c) for c in votes.classes}
    if in_order:
        for column in ("worker", "label"):
            codes, names = pd.factorize(frame[column])
            frame[column] = [f"{code:06d}" for code in codes]
            if column == "label":
                back = {f"{code:06d}": str(name) for code, name in enumerate(names)}
    return frame, back


def run_crowdkit(votes: VoteMatrix, gold: np.ndarray, in_order: bool, **params: Any) -> dict:
    from crowdkit.aggregation import MACE as CrowdKitMACE

    frame, back = crowdkit_frame(votes, in_order)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        labels = CrowdKitMACE(**params).fit_predict(frame)
        seconds = time.perf_counter() - start
    code = {str(c): k for k, c in enumerate(votes.classes)}
    named = labels.astype(str).map(back).reindex(votes.item_ids.astype(str))
    codes = named.map(code).to_numpy(dtype=np.int64)
    return {"accuracy": accuracy(votes, gold, codes)[0], "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="?")
    parser.add_argument("--peers", type=Path)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--crowdkit", nargs="*", default=["bm", "zencrowd_in"])
    args = parser.parse_args()
    root = datasets_dir(args.datasets)
    peers = pd.read_csv(args.peers or root.parent / "peers" / "accuracy.csv").set_index("dataset")
    names = args.only or [n for n in peers.index if (root / n / "votes.csv").exists()]
    with_crowdkit = names if args.crowdkit == ["all"] else [n for n in args.crowdkit if n in names]

    rows, speed_rows, off = [], [], []
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            votes = read_votes(root / name / "votes.csv", on_missing="drop")
            gold = read_gold(root / name / "gold.csv", votes).per_item(votes.n_items)
            merged = merged_repeats(votes)
            merged_gold = read_gold(root / name / "gold.csv", merged).per_item(merged.n_items)
        n_gold = int((gold >= 0).sum())
        peer = peers.loc[name]
        bwa, bwa_s = timed_fit(BWA(), votes)
        mace, mace_s = timed_fit(MACE(), votes)
        bwa_acc, bwa_right = accuracy(votes, gold, bwa.label_codes_)
        mace_acc, mace_right = accuracy(votes, gold, mace.label_codes_)
        bwa_merged = accuracy(merged, merged_gold, BWA().fit(merged).label_codes_)[0]
        bwa_delta = bwa_right - round(peer["bwa"] * n_gold / 100)
        mace_delta = mace_right - round(peer["crowdkit_mace"] * n_gold / 100)
        in_order = ""
        if name in with_crowdkit:
            ordered = run_crowdkit(votes, gold, in_order=True, n_restarts=1)
            in_order = f"{ordered['accuracy']:.2f}"
            default = run_crowdkit(votes, gold, in_order=False)
            speed_rows.append([
                name, f"{votes.n_votes:,}", f"{default['accuracy']:.2f}", in_order,
                f"{mace_acc:.2f}", f"{default['seconds']:.1f}", f"{mace_s:.2f}",
                f"{default['seconds'] / mace_s:.0f}x",
            ])
        if abs(bwa_delta) > FEW_ITEMS:
            off.append(f"BWA {name} ({bwa_delta:+d})")
        if abs(mace_delta) > FEW_ITEMS:
            off.append(f"MACE {name} ({mace_delta:+d})")
        rows.append([
            name, n_gold, f"{bwa_acc:.2f}", f"{peer['bwa']:.2f}", f"{bwa_delta:+d}",
            f"{bwa_merged:.2f}", f"{mace_acc:.2f}", f"{peer['crowdkit_mace']:.2f}",
            f"{mace_delta:+d}", in_order, f"{bwa_s:.2f}", f"{mace_s:.2f}",
        ])
        print(f"{name}: BWA {bwa_delta:+d}, MACE {mace_delta:+d} items", file=sys.stderr,
              flush=True)

    header = ["dataset", "gold", "BWA", "authors", "Δ items", "BWA merged", "MACE",
              "crowd-kit", "Δ items", "crowd-kit in order", "BWA s", "MACE s"]
    print(markdown_table(header, rows))
    print(f"\nMore than {FEW_ITEMS} items apart: {', '.join(off) or 'none'}.")
    if speed_rows:
        print("\nMACE fit time, crowd-kit MACE() defaults (as-is names) against ours:\n")
        print(markdown_table(["dataset", "votes", "crowd-kit", "crowd-kit in order", "ours",
                              "crowd-kit s", "ours s", "ratio"], speed_rows))
    print(f"\n{machine()}")


if __name__ == "__main__":
    main()
