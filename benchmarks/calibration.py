"""Is the confidence honest? Calibration on every real dataset with at least 300 gold items.

For each folder of DATASETS holding ``votes.csv`` and ``gold.csv`` with enough
gold, three expected calibration errors (ECE, 10 equal-width bins of the top
class's probability) are measured on the gold items:

* **DS0, no gold**: ``DawidSkene(smoothing=0)`` fitted on all votes, gold unused;
  ECE of its posteriors on all gold items.
* **pooled, no gold**: the same for ``PooledDawidSkene()``, its raw posteriors.
* **default, no gold**: what ``consensus aggregate`` reports without gold
  (``consensus.aggregate(votes).posteriors``): the default method's labels (with
  pooled DS, each with its confidence computed leaving the item out of its
  annotators' confusion estimates), discounted for correlated votes
  (consensus/quality/overdispersion.py).
* **default + gold calibration**: gold split at random into halves
  (``held_out_posteriors(votes, gold, <the default method>, n_folds=2, seed=s)``):
  each half's posteriors come from a model anchored on the other half's gold,
  never its own. A calibrator (``fit_calibrator``, kind ``auto``: isotonic on
  300 or more items, else Platt) is fitted on one half and applied to the other,
  both ways round, so every gold item is measured by a calibrator that never
  saw it. Repeated for ``--splits`` random halvings; the mean is reported with
  the range across splits and a bootstrap 95% interval (``ece_spread``) for the
  first split.

Targets: without gold, the median ECE of the default over datasets at most
half that of DS0; with gold calibration, ECE <= 0.05 on every dataset with >= 2,000 gold
items, and <= max(0.08, DS0's ECE / 2) on those with 300-1,999.

A second table compares the calibrators (isotonic, Platt, temperature, each
forced) on the same held-out halves, and counts the gold items whose label
changed when calibrated (a calibrator should only change the confidence).

Usage::

    python benchmarks/calibration.py [DATASETS] [--splits 5] [--only NAME ...]
                                     [-o FILE] [--json FILE]

DATASETS defaults to $CONSENSUS_DATASETS, else ../shared/datasets beside the
repository. About 70 s on 2 cores with 5 splits.
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

ROOT = Path(__file__).resolve().parents[1]
# Measure the consensus in this working tree, not an installed copy that may be older.
sys.path.insert(0, str(ROOT))

from _common import datasets_dir, emit, machine, markdown_table  # noqa: E402

from consensus.data.gold import GoldSet  # noqa: E402
from consensus.data.readers import read_votes  # noqa: E402
from consensus.exceptions import ConvergenceWarning, InputWarning  # noqa: E402
from consensus.models import DEFAULT_METHOD, DawidSkene, PooledDawidSkene, make_model  # noqa: E402
from consensus.quality.calibration import (  # noqa: E402
    brier_score,
    ece_spread,
    expected_calibration_error,
    fit_calibrator,
)
from consensus.quality.crossval import HeldOut, held_out_posteriors  # noqa: E402
from consensus.workflows.aggregation import aggregate  # noqa: E402

MIN_GOLD = 300
LARGE_GOLD = 2_000
TARGET_LARGE = 0.05
TARGET_SMALL_FLOOR = 0.08
KINDS = ("auto", "isotonic", "platt", "temperature")


def cross_fitted(held: HeldOut, kind: str) -> tuple[np.ndarray, list[str]]:
    """Each fold's posteriors calibrated by a calibrator fitted on the other fold(s)."""
    calibrated = np.empty_like(held.posteriors)
    used = []
    for f in np.unique(held.fold):
        test = held.fold == f
        calibrator = fit_calibrator(held.posteriors[~test], held.truth[~test], kind)
        calibrated[test] = calibrator.apply(held.posteriors[test])
        used.append(calibrator.kind)
    return calibrated, used


def with_spread(posteriors: np.ndarray, truth: np.ndarray, n_bins: int,
                n_bootstrap: int) -> dict[str, float]:
    low, high = ece_spread(posteriors, truth, n_bins, n_bootstrap=n_bootstrap, seed=0)
    return {"ece": expected_calibration_error(posteriors, truth, n_bins), "low": low,
            "high": high}


def evaluate(folder: Path, splits: int, n_bins: int, n_bootstrap: int) -> dict[str, Any] | None:
    """Every figure for one dataset, or None when it has fewer than MIN_GOLD gold items."""
    gold_frame = pd.read_csv(folder / "gold.csv", dtype=str)
    if len(gold_frame) < MIN_GOLD:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        votes = read_votes(folder / "votes.csv", on_missing="drop")
        gold = GoldSet.from_frame(gold_frame, votes, source=str(folder / "gold.csv"))
    if gold.n_items < MIN_GOLD:
        return None
    codes = gold.per_item(votes.n_items).astype(np.int64)
    items = np.flatnonzero(codes >= 0)
    truth = codes[items]
    result: dict[str, Any] = {"dataset": folder.name, "classes": votes.n_classes,
                              "gold": len(items), "votes": votes.n_votes}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, model in (("DS0", DawidSkene(smoothing=0.0)), ("pooled", PooledDawidSkene())):
            posteriors = model.fit(votes).posteriors_[items]
            result[name] = with_spread(posteriors, truth, n_bins, n_bootstrap)
            result[name]["accuracy"] = float(np.mean(posteriors.argmax(axis=1) == truth))
            result[name]["converged"] = bool(model.converged_)
        reported = aggregate(votes)
        posteriors = reported.posteriors[items]
        result["default"] = with_spread(posteriors, truth, n_bins, n_bootstrap)
        result["default"]["accuracy"] = float(np.mean(posteriors.argmax(axis=1) == truth))
        result["rho"] = reported.to_dict()["vote_correlation"]
        per_split: list[dict[str, Any]] = []
        for seed in range(splits):
            held = held_out_posteriors(votes, codes, lambda: make_model(DEFAULT_METHOD),
                                       n_folds=2, seed=seed)
            split: dict[str, Any] = {
                "held_out_ece": expected_calibration_error(held.posteriors, held.truth, n_bins),
                "held_out_brier": brier_score(held.posteriors, held.truth),
            }
            for kind in KINDS:
                calibrated, used = cross_fitted(held, kind)
                split[kind] = expected_calibration_error(calibrated, held.truth, n_bins)
                if kind == "auto":
                    split["auto_kinds"] = sorted(set(used))
                    split["brier_after"] = brier_score(calibrated, held.truth)
                    split["label_changes"] = int(
                        np.sum(calibrated.argmax(axis=1) != held.posteriors.argmax(axis=1)))
                    split["accuracy_before"] = float(np.mean(held.correct))
                    split["accuracy_after"] = float(
                        np.mean(calibrated.argmax(axis=1) == held.truth))
                    if seed == 0:
                        result["calibrated_spread"] = with_spread(calibrated, held.truth, n_bins,
                                                                  n_bootstrap)
            per_split.append(split)
    result["splits"] = per_split
    after = np.array([s["auto"] for s in per_split])
    if len(items) >= LARGE_GOLD:
        result["target"], result["target_text"] = TARGET_LARGE, f"≤ {TARGET_LARGE:.2f}"
    else:
        result["target"] = max(TARGET_SMALL_FLOOR, result["DS0"]["ece"] / 2)
        result["target_text"] = f"≤ {result['target']:.3f}"
    result["calibrated"] = float(after.mean())
    result["passed"] = bool(after.mean() <= result["target"])
    result["worst_split_passed"] = bool(after.max() <= result["target"])
    return result


def interval(figure: dict[str, float]) -> str:
    return f"{figure['ece']:.3f} ({figure['low']:.3f}–{figure['high']:.3f})"


def main_table(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        after = np.array([s["auto"] for s in r["splits"]])
        kinds = sorted({k for s in r["splits"] for k in s["auto_kinds"]})
        spread = r["calibrated_spread"]
        rows.append([
            r["dataset"], r["classes"], f"{r['gold']:,}",
            f"{100 * r['DS0']['accuracy']:.1f} / {100 * r['pooled']['accuracy']:.1f}",
            interval(r["DS0"]), interval(r["pooled"]), f"{r['rho']:.3f}", interval(r["default"]),
            f"{r['default']['ece'] / r['DS0']['ece']:.2f}",
            f"{np.mean([s['held_out_ece'] for s in r['splits']]):.3f}",
            f"{after.mean():.3f} [{after.min():.3f}–{after.max():.3f}] "
            f"(boot {spread['low']:.3f}–{spread['high']:.3f})",
            "/".join(kinds), r["target_text"],
            ("PASS" if r["passed"] else "**FAIL**")
            + ("" if r["worst_split_passed"] or not r["passed"] else " (worst split fails)"),
        ])
    head = ["dataset", "K", "gold", "acc % DS0 / pooled", "ECE DS0, no gold (boot 95%)",
            "ECE pooled, no gold (boot 95%)", "vote correlation ρ",
            "ECE default (as reported), no gold (boot 95%)", "default / DS0",
            "ECE pooled held-out, uncalibrated",
            "ECE pooled + gold calibration: mean [split range] (boot, split 0)", "calibrator",
            "target", "gold target"]
    return markdown_table(head, rows)


def calibrator_table(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        s = r["splits"]
        rows.append([
            r["dataset"], f"{r['gold']:,}",
            *(f"{np.mean([x[k] for x in s]):.3f}" for k in KINDS),
            f"{np.mean([x['held_out_brier'] for x in s]):.3f} → "
            f"{np.mean([x['brier_after'] for x in s]):.3f}",
            f"{np.mean([x['label_changes'] for x in s]):.1f}",
            f"{100 * np.mean([x['accuracy_before'] for x in s]):.1f} → "
            f"{100 * np.mean([x['accuracy_after'] for x in s]):.1f}",
        ])
    head = ["dataset", "gold", *(f"ECE {k}" for k in KINDS), "Brier before → after (auto)",
            "gold items whose label changed (auto, mean per split)",
            "held-out accuracy % before → after (auto)"]
    return markdown_table(head, rows)


def no_gold_verdict(results: list[dict[str, Any]]) -> str:
    ds0 = float(np.median([r["DS0"]["ece"] for r in results]))
    pooled = float(np.median([r["pooled"]["ece"] for r in results]))
    default = float(np.median([r["default"]["ece"] for r in results]))
    better = sum(r["default"]["ece"] < r["DS0"]["ece"] for r in results)
    status = "PASS" if default <= ds0 / 2 else "**FAIL**"
    return (f"Without gold: median ECE over {len(results)} datasets, DS0 {ds0:.3f}, pooled "
            f"{pooled:.3f}, default (as `aggregate` reports it) {default:.3f} "
            f"(ratio {default / ds0:.2f}; lower than DS0 on {better} of {len(results)}); "
            f"target default ≤ half of DS0 (≤ {ds0 / 2:.3f}): {status}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="?", default=None)
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME")
    parser.add_argument("--splits", type=int, default=5, help="Random halvings of the gold.")
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("-o", "--output", default=None, help="Also write the tables here.")
    parser.add_argument("--json", dest="json_path", default=None, help="Raw numbers as JSON.")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    root = datasets_dir(args.datasets)
    folders = sorted(p for p in root.iterdir() if (p / "votes.csv").exists()
                     and (p / "gold.csv").exists())
    if args.only:
        folders = [p for p in folders if p.name in args.only]
    results, skipped = [], []
    for folder in folders:
        tick = time.perf_counter()
        result = evaluate(folder, args.splits, args.bins, args.bootstrap)
        if result is None:
            skipped.append(folder.name)
            continue
        results.append(result)
        print(f"  {folder.name}: {time.perf_counter() - tick:.1f} s", file=sys.stderr, flush=True)
    if not results:
        print(f"no dataset in {root} has {MIN_GOLD} or more gold items", file=sys.stderr)
        return 1

    small = [r for r in results if r["gold"] < LARGE_GOLD]
    large = [r for r in results if r["gold"] >= LARGE_GOLD]
    text = "\n\n".join([
        f"Machine: {machine()}",
        f"## Calibration on gold ({len(results)} datasets with ≥ {MIN_GOLD} gold items; "
        f"ECE with {args.bins} bins; {args.splits} random halvings of the gold)",
        main_table(results),
        no_gold_verdict(results),
        f"With gold calibration: {sum(r['passed'] for r in large)} of {len(large)} datasets "
        f"with ≥ {LARGE_GOLD:,} gold items meet ECE ≤ {TARGET_LARGE}; "
        f"{sum(r['passed'] for r in small)} of {len(small)} with {MIN_GOLD}–{LARGE_GOLD - 1:,} "
        f"meet ≤ max({TARGET_SMALL_FLOOR}, DS0 / 2).",
        "### Calibrators compared (pooled + gold, mean over splits)",
        calibrator_table(results),
        f"Skipped (fewer than {MIN_GOLD} gold items): {', '.join(skipped) or 'none'}.",
        f"Total run time {time.perf_counter() - started:.0f} s.",
    ])
    emit(text, results, args.output, args.json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
