"""Our EBCC against the authors' implementation, and pooled EBCC against pooled Dawid–Skene.

For each dataset it fits, for seeds 0, 1 and 2, ``EBCC(seed=s)`` (the authors'
default hyperparameters: one fixed prior for every confusion row) and
``EBCC(seed=s, prior_strength=S)`` (each row shrunk towards the crowd's typical
row of its class, learned by empirical Bayes), on the votes as the peers read
them (rows with a missing cell dropped, repeated votes kept). It prints accuracy
on the gold items (mean and range over seeds) beside ``PooledDawidSkene`` and the
peers' figures for the authors' code (``../shared/peers/accuracy.csv``), the
mean time per fit, and whether our plain EBCC's mean is inside the authors' seed
range, within 1 point of their mean, or off.

Unless ``--no-held-out``, it also prints what method "auto" would see: the held-
out log-likelihood gain per vote (and its z) of each EBCC over pooled Dawid–Skene,
computed as ``AutoAggregator(candidates=("pooled", "ebcc"))`` computes it (same
item subset, folds and seed; default settings of each model).

Usage::

    python benchmarks/ebcc_check.py [DATASETS] [--peers CSV] [--only NAME ...]
                                    [--starts N] [--strength S] [--no-held-out]

DATASETS defaults to $CONSENSUS_DATASETS, else ../shared/datasets beside the repo.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

# Measure the consensus in this working tree, not an installed copy that may be older.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import datasets_dir, markdown_table  # noqa: E402

from consensus.data.gold import read_gold  # noqa: E402
from consensus.data.readers import read_votes  # noqa: E402
from consensus.data.votes import VoteMatrix  # noqa: E402
from consensus.models import AutoAggregator  # noqa: E402
from consensus.models.base import Aggregator  # noqa: E402
from consensus.models.ebcc import EBCC  # noqa: E402
from consensus.models.pooled import PooledDawidSkene  # noqa: E402

SEEDS = (0, 1, 2)


def over_seeds(
    votes: VoteMatrix, gold: np.ndarray, make: Callable[[int], EBCC]
) -> dict[str, float]:
    """Accuracy (%) on gold over SEEDS: mean, min, max; seconds and iterations per fit."""
    known = gold >= 0
    accuracies, seconds, iterations = [], [], []
    for seed in SEEDS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model = make(seed).fit(votes)
            seconds.append(time.perf_counter() - start)
        accuracies.append(100.0 * float((model.label_codes_[known] == gold[known]).mean()))
        iterations.append(model.n_iter_)
    return {
        "mean": float(np.mean(accuracies)),
        "min": min(accuracies),
        "max": max(accuracies),
        "seconds": float(np.mean(seconds)),
        "iterations": float(np.mean(iterations)),
    }


def held_out_gain(
    votes: VoteMatrix, make: Callable[[], Aggregator], first: Callable[[], Aggregator]
) -> tuple[float, float]:
    """Held-out log-likelihood gain per vote of ``make()`` over ``first()``, and its z.

    The item subset, the folds and the statistics are AutoAggregator's (its
    defaults: seed 0, 5 folds, at most 30,000 votes), so the figures are the
    ``gain_per_vote`` and ``z`` its ``selection_`` would show for these two models.
    """
    auto = AutoAggregator()
    rng = np.random.default_rng(auto.seed)
    subset = np.ones(votes.n_items, dtype=bool)
    if votes.n_votes > auto.max_selection_votes:
        subset = rng.random(votes.n_items) < auto.max_selection_votes / votes.n_votes
    fold = rng.integers(0, auto.n_folds, votes.n_items)
    held = []
    for factory in (first, make):
        out = np.full(votes.n_items, np.nan)
        for f in range(auto.n_folds):
            test, train = subset & (fold == f), subset & (fold != f)
            if not test.any() or not train.any():
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = factory().fit(votes.take_items(train))
            out[test] = model.item_log_likelihood(votes.take_items(test))
        held.append(out)
    used = subset & np.isfinite(held[0])
    diff = held[1][used] - held[0][used]
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    return float(diff.sum() / votes.votes_per_item[used].sum()), float(diff.mean() / se)


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
    parser.add_argument("--strength", type=float, default=1.5,
                        help="prior_strength of pooled EBCC (pseudo-votes per cell)")
    parser.add_argument("--no-held-out", action="store_true",
                        help="skip the held-out comparison with pooled Dawid-Skene")
    args = parser.parse_args()
    root = datasets_dir(args.datasets)
    peers_csv = args.peers or root.parent / "peers" / "accuracy.csv"
    peers = pd.read_csv(peers_csv).set_index("dataset")
    names = args.only or [n for n in peers.index if (root / n / "votes.csv").exists()]
    variants: dict[str, Callable[..., EBCC]] = {
        "now": lambda seed=0: EBCC(seed=seed, n_starts=args.starts),
        "pooled": lambda seed=0: EBCC(seed=seed, n_starts=args.starts,
                                      prior_strength=args.strength),
    }
    rows, summary, verdicts = [], [], []
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            votes = read_votes(root / name / "votes.csv", on_missing="drop")
        gold = read_gold(root / name / "gold.csv", votes).per_item(votes.n_items)
        known = gold >= 0
        fits = {key: over_seeds(votes, gold, make) for key, make in variants.items()}
        pooled_ds = PooledDawidSkene().fit(votes)
        pooled_accuracy = 100.0 * float((pooled_ds.label_codes_[known] == gold[known]).mean())
        peer = peers.loc[name]
        verdicts.append(verdict(fits["now"]["mean"], peer))
        row = [name, f"{votes.n_votes:,}"]
        for key in variants:
            fit = fits[key]
            row += [f"{fit['mean']:.2f}", f"{fit['min']:.2f}–{fit['max']:.2f}"]
        row += [f"{pooled_accuracy:.2f}", f"{peer['ebcc']:.2f}", verdicts[-1]]
        row += [f"{fits[key]['seconds']:.2f}" for key in variants]
        record = {"now": fits["now"]["mean"], "pooled": fits["pooled"]["mean"],
                  "ds": pooled_accuracy, "peers": peer["ebcc"],
                  **{f"s_{key}": fits[key]["seconds"] for key in variants}}
        if not args.no_held_out:
            for key, make in variants.items():
                gain, z = held_out_gain(votes, make, PooledDawidSkene)
                row.append(f"{gain:+.4f} ({z:+.1f})")
                record[f"gain_{key}"] = gain
        rows.append(row)
        summary.append(record)
        print(f"{name}: EBCC {fits['now']['mean']:.2f}, pooled EBCC {fits['pooled']['mean']:.2f}, "
              f"pooled DS {pooled_accuracy:.2f}", file=sys.stderr, flush=True)
    header = ["dataset", "votes", "EBCC", "range", "pooled EBCC", "range", "pooled DS",
              "authors' EBCC", "EBCC vs authors", "s/fit", "s/fit pooled"]
    if not args.no_held_out:
        header += ["held-out gain EBCC (z)", "held-out gain pooled EBCC (z)"]
    print(markdown_table(header, rows))
    means = pd.DataFrame(summary).mean()
    print(f"\nMeans over {len(summary)} datasets: EBCC {means['now']:.2f}, pooled EBCC "
          f"(prior_strength={args.strength:g}) {means['pooled']:.2f}, pooled DS "
          f"{means['ds']:.2f}, authors' EBCC {means['peers']:.2f}; seconds per fit "
          f"{means['s_now']:.2f} and {means['s_pooled']:.2f} (n_starts={args.starts}).")
    close = sum(v in ("in range", "within 1 pt") for v in verdicts)
    print(f"{close} of {len(verdicts)} datasets have our EBCC in the authors' seed range or "
          f"within 1 point of their mean.")


if __name__ == "__main__":
    main()
