"""GLAD beside crowd-kit's: accuracy on every real dataset, and speed on a few.

For each folder of DATASETS (``votes.csv``, ``gold.csv``) this fits our ``GLAD()``
(defaults) and majority vote on the votes read with ``read_votes(path,
on_missing="drop")`` (repeated votes kept, as crowd-kit counts them), and prints
accuracy on the gold items beside crowd-kit 1.4.2's GLAD figure from the peers'
table (``crowdkit_glad`` in ``../peers/accuracy.csv`` beside DATASETS; blank where
crowd-kit took over 120 s) with our best-of-``--repeat`` fit time.

Then, on the ``--crowdkit`` datasets (default: three small and medium ones),
crowd-kit's ``GLAD()`` is run here on the same votes (our VoteMatrix as a
``task, worker, label`` frame) for a side-by-side time, its accuracy and its
number of EM iterations.

BLAS is limited to one thread (unless OPENBLAS_NUM_THREADS etc. are set): on a
busy two-core machine idle BLAS threads spinning against each other made
scipy's optimisers (crowd-kit's M-step) more than ten times slower, which
would inflate the ratio.

Usage::

    python benchmarks/glad_check.py [DATASETS] [--crowdkit NAME ...] [--repeat 3]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# Measure the consensus in this working tree, not an installed copy that may be older.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import datasets_dir, machine, markdown_table  # noqa: E402

from consensus.data.gold import read_gold  # noqa: E402
from consensus.data.readers import read_votes  # noqa: E402
from consensus.data.votes import VoteMatrix  # noqa: E402
from consensus.models.glad import GLAD  # noqa: E402
from consensus.models.majority import MajorityVote  # noqa: E402

TIMED_WITH_CROWDKIT = ("bm", "snow_rte", "zheng_possent")


def peer_figures(path: Path) -> dict[str, str]:
    """crowd-kit GLAD accuracy (%) per dataset as text ('' where it has none)."""
    if not path.exists():
        return {}
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return dict(zip(table["dataset"], table["crowdkit_glad"], strict=True))


def gold_accuracy(codes: np.ndarray, gold: np.ndarray) -> float:
    known = gold >= 0
    return 100.0 * float((codes[known] == gold[known]).mean())


def best_time(fit: object, repeat: int) -> tuple[float, GLAD]:
    """Best wall time of ``repeat`` calls of ``fit()`` and the last result."""
    best, model = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        model = fit()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    assert model is not None
    return best, model


def run_crowdkit(votes: VoteMatrix) -> tuple[float, np.ndarray, int]:
    """crowd-kit GLAD(): seconds, predicted class codes per item, EM iterations."""
    from crowdkit.aggregation import GLAD as CrowdKitGLAD

    frame = votes.to_frame().rename(columns={"item": "task", "annotator": "worker"})
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CrowdKitGLAD().fit(frame)
    seconds = time.perf_counter() - start
    code = {str(c): k for k, c in enumerate(votes.classes)}
    labels = pd.Series(model.labels_).reindex(votes.item_ids)
    codes = np.array([code.get(str(label), -1) for label in labels])
    return seconds, codes, len(model.loss_history_)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="?", help="folder of dataset folders")
    parser.add_argument("--peers", help="peers' accuracy.csv (default: ../peers beside DATASETS)")
    parser.add_argument("--crowdkit", nargs="*", default=list(TIMED_WITH_CROWDKIT),
                        help="datasets to time crowd-kit's GLAD on (none: skip)")
    parser.add_argument("--repeat", type=int, default=3, help="our fits per dataset (best time)")
    args = parser.parse_args()
    root = datasets_dir(args.datasets)
    peers = peer_figures(Path(args.peers) if args.peers else root.parent / "peers" / "accuracy.csv")
    folders = sorted(p for p in root.iterdir() if (p / "votes.csv").exists())

    rows, timed = [], []
    for folder in folders:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # repeated votes kept, rows dropped: reported elsewhere
            votes = read_votes(folder / "votes.csv", on_missing="drop")
            gold = read_gold(folder / "gold.csv", votes).per_item(votes.n_items)
        seconds, model = best_time(lambda v=votes: GLAD().fit(v), args.repeat)
        ours = gold_accuracy(model.label_codes_, gold)
        majority = gold_accuracy(MajorityVote().fit(votes).label_codes_, gold)
        theirs = peers.get(folder.name, "")
        diff = f"{round(ours, 2) - float(theirs) + 0.0:+.2f}" if theirs else ""
        rows.append([folder.name, f"{votes.n_votes:,}", f"{int((gold >= 0).sum()):,}",
                     f"{majority:.2f}", f"{ours:.2f}", theirs or "–", diff,
                     f"{seconds:.3f}", model.n_iter_])
        print(f"{folder.name}: ours {ours:.2f}, crowd-kit {theirs or '–'}, {seconds:.3f} s",
              file=sys.stderr, flush=True)
        if folder.name in args.crowdkit:
            ck_seconds, ck_codes, ck_iter = run_crowdkit(votes)
            agree = 100.0 * float((ck_codes == model.label_codes_).mean())
            timed.append([folder.name, f"{votes.n_votes:,}", f"{seconds:.3f}",
                          f"{ck_seconds:.1f}", f"{ck_seconds / seconds:.0f}×",
                          model.n_iter_, ck_iter, f"{gold_accuracy(ck_codes, gold):.2f}",
                          f"{agree:.1f}"])

    print(f"GLAD (ours, defaults) vs crowd-kit 1.4.2 GLAD (defaults); {machine()}\n")
    print(markdown_table(
        ["dataset", "votes", "gold", "MV % (ties: first class)", "ours GLAD %",
         "crowd-kit GLAD %", "ours − ck", "our fit s", "our EM iterations"], rows))
    if timed:
        print("\nSide by side (crowd-kit run here on the same votes):\n")
        print(markdown_table(
            ["dataset", "votes", "ours s", "crowd-kit s", "speed-up", "our iterations",
             "crowd-kit iterations", "crowd-kit %", "same label %"], timed))


if __name__ == "__main__":
    main()
