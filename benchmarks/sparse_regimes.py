"""Sparse crowds: how much of plain Dawid-Skene's gap to the Bayes-optimal does pooling close?

Every regime is drawn by ``consensus.simulate`` (known truth and confusion
matrices; Beta(8, 2) accuracies, errors spread by a Dirichlet(1)), three votes
per item, annotator activity Zipf-distributed so that most annotators cast
fewer than ten votes. On each draw we fit MajorityVote, DawidSkene(smoothing=0)
("DS0", plain maximum-likelihood DS as in crowd-kit), DawidSkene() (smoothing
0.01) and PooledDawidSkene(), and compare their accuracy with the Bayes-optimal
labels (argmax of the posterior under the true parameters,
``simulate.bayes_posteriors``). The figure of merit is the share of DS0's gap
to Bayes that pooling closes, (pooled - DS0) / (Bayes - DS0), per seed; the
target is a mean of at least 50% in every core regime.

The *stress* regimes go beyond what the issue asks (a mixed population with
spammers and adversaries, a weaker crowd, systematic errors); they carry no
target and are printed to show where the single population prior stops being
enough.

A last section times PooledDawidSkene against DawidSkene at equal iterations
(``tol=0``, so both run exactly ``--speed-iters`` EM iterations) on 1M items x
3 votes x 500 annotators; target: pooled within 2x. Best of ``--repeats``
interleaved runs, since the machine may be shared.

Usage::

    python benchmarks/sparse_regimes.py                 # everything, ~1.5 min on 2 cores
    python benchmarks/sparse_regimes.py --no-speed --no-stress --seeds 0   # ~10 s
    python benchmarks/sparse_regimes.py --only-speed --speed-items 1000000

Prints markdown tables; ``-o FILE`` also writes them to FILE and ``--json FILE``
the raw per-seed numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# Measure the consensus in this working tree, not an installed copy that may be older.
sys.path.insert(0, str(ROOT))

from _common import emit, machine, markdown_table  # noqa: E402

from consensus.exceptions import ConvergenceWarning  # noqa: E402
from consensus.models import DawidSkene, MajorityVote, PooledDawidSkene  # noqa: E402
from consensus.simulate import bayes_posteriors, simulate  # noqa: E402

TARGET_GAP_SHARE = 0.5
TARGET_SPEED_RATIO = 2.0


@dataclass(frozen=True)
class Regime:
    name: str
    n_items: int
    n_annotators: int
    n_classes: int
    zipf: float
    core: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        notes = ", ".join(f"{k}={v}" for k, v in self.extra.items())
        return self.name + (f" ({notes})" if notes else "")


REGIMES = [
    Regime("A", 20_000, 2_000, 2, 1.2),
    Regime("B", 20_000, 5_000, 3, 0.8),
    Regime("C", 30_000, 3_000, 4, 1.0),
    Regime("D", 50_000, 5_000, 5, 1.2),
    Regime("S1", 30_000, 3_000, 3, 1.0, core=False, extra={"spammer_share": 0.1}),
    Regime("S2", 30_000, 3_000, 3, 1.0, core=False,
           extra={"spammer_share": 0.1, "adversary_share": 0.05}),
    Regime("S3", 30_000, 3_000, 3, 1.0, core=False, extra={"accuracy": (4, 2)}),
    Regime("S4", 30_000, 3_000, 4, 1.0, core=False, extra={"error_concentration": 0.2}),
]

MODELS = {
    "DS0": lambda: DawidSkene(smoothing=0.0),
    "DS": lambda: DawidSkene(),
    "pooled": lambda: PooledDawidSkene(),
}


def run_regime(regime: Regime, seed: int) -> dict[str, Any]:
    """Accuracy of every model and of the Bayes-optimal labels on one draw."""
    sim = simulate(regime.n_items, regime.n_annotators, regime.n_classes, votes_per_item=3,
                   activity=regime.zipf, seed=seed, **regime.extra)
    votes = sim.votes
    per_annotator = votes.votes_per_annotator[votes.votes_per_annotator > 0]
    row: dict[str, Any] = {
        "regime": regime.name,
        "seed": seed,
        "active_annotators": int(len(per_annotator)),
        "share_under_10": float(np.mean(per_annotator < 10)),
        "median_votes": float(np.median(per_annotator)),
        "MV": sim.accuracy(MajorityVote().fit(votes).label_codes_),
        "Bayes": sim.accuracy(bayes_posteriors(sim).argmax(axis=1)),
    }
    for name, make in MODELS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            model = make().fit(votes)
            row[f"{name}_seconds"] = time.perf_counter() - start
        row[name] = sim.accuracy(model.label_codes_)
        row[f"{name}_iter"] = int(model.n_iter_)
        row[f"{name}_converged"] = bool(model.converged_)
    row["gap_share"] = (row["pooled"] - row["DS0"]) / (row["Bayes"] - row["DS0"])
    return row


def pct(values: list[float]) -> str:
    """Mean ± sample sd of accuracies, in percent."""
    arr = 100 * np.asarray(values)
    return f"{arr.mean():.2f} ± {arr.std(ddof=1):.2f}" if len(arr) > 1 else f"{arr[0]:.2f}"


def gap_cell(share: np.ndarray) -> str:
    spread = 100 * share.std(ddof=1) if len(share) > 1 else 0.0
    return f"{100 * share.mean():.0f}% ± {spread:.0f} (min {100 * share.min():.0f}%)"


def verdict(regime: Regime, share: np.ndarray) -> str:
    met = share.mean() >= TARGET_GAP_SHARE
    if regime.core:
        return "PASS" if met else "**FAIL**"
    return "(no target: ≥ 50%)" if met else "(no target: < 50%)"


def regime_tables(regimes: list[Regime], rows: list[dict[str, Any]]) -> str:
    """The summary table (mean ± sd over seeds), fit times, and every seed's numbers."""
    summary, timing = [], []
    for regime in regimes:
        mine = [r for r in rows if r["regime"] == regime.name]
        col = {key: [r[key] for r in mine] for key in mine[0]}
        share = np.asarray(col["gap_share"])
        sparse = (f"{100 * np.mean(col['share_under_10']):.0f}% "
                  f"(median {np.median(col['median_votes']):.0f})")
        summary.append([
            regime.describe(), regime.n_classes, f"{regime.n_annotators:,}", regime.zipf,
            f"{regime.n_items:,}", sparse,
            *(pct(col[m]) for m in ("MV", "DS0", "DS", "pooled", "Bayes")),
            gap_cell(share), verdict(regime, share),
        ])
        per_iter = {m: np.sum(col[f"{m}_seconds"]) / np.sum(col[f"{m}_iter"]) for m in MODELS}
        timing.append([
            regime.name,
            *(f"{np.mean(col[f'{m}_seconds']):.2f} s / {np.mean(col[f'{m}_iter']):.0f} it"
              f"{'' if all(col[f'{m}_converged']) else ' (not all converged)'}" for m in MODELS),
            f"{per_iter['pooled'] / per_iter['DS0']:.1f}×",
        ])
    head = ["regime", "K", "annotators", "Zipf", "items", "active annotators with < 10 votes",
            "MV %", "DS0 %", "DS(0.01) %", "pooled %", "Bayes %",
            "gap closed (pooled−DS0)/(Bayes−DS0)", "target ≥ 50%"]
    per_seed = [[r["regime"], r["seed"],
                 *(f"{100 * r[m]:.2f}" for m in ("MV", "DS0", "DS", "pooled", "Bayes")),
                 f"{100 * r['gap_share']:.0f}%"] for r in rows]
    return "\n\n".join([
        markdown_table(head, summary),
        "Fit time (mean over seeds) and EM iterations; last column: pooled's time per "
        "iteration over DS0's.",
        markdown_table(["regime", *MODELS, "pooled / DS0 per iteration"], timing),
        "Per seed (accuracy %):",
        markdown_table(["regime", "seed", "MV", "DS0", "DS(0.01)", "pooled", "Bayes",
                        "gap closed"], per_seed),
    ])


def speed_section(n_items: int, n_annotators: int, classes: list[int], iters: int,
                  repeats: int) -> tuple[str, list[dict[str, Any]]]:
    """Fit time of DawidSkene and PooledDawidSkene for exactly ``iters`` iterations."""
    rows, raw = [], []
    for k in classes:
        sim = simulate(n_items, n_annotators, k, votes_per_item=3, activity=1.0, seed=0)
        votes = sim.votes
        _ = votes.item_annotator_label  # built once, outside the timings
        times: dict[str, list[float]] = {"DS": [], "pooled": []}
        makers = {"DS": lambda: DawidSkene(max_iter=iters, tol=0.0),
                  "pooled": lambda: PooledDawidSkene(max_iter=iters, tol=0.0)}
        for _ in range(repeats):
            for name, make in makers.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    start = time.perf_counter()
                    model = make().fit(votes)
                    times[name].append(time.perf_counter() - start)
                if model.n_iter_ != iters:
                    raise RuntimeError(f"{name} ran {model.n_iter_} iterations, not {iters}")
        best = {name: min(t) for name, t in times.items()}
        ratio = best["pooled"] / best["DS"]
        raw.append({"n_classes": k, "times": times, "ratio": ratio})
        rows.append([f"{n_items:,} × 3 votes, {n_annotators} annotators, K={k}", iters,
                     f"{best['DS']:.2f}", f"{best['pooled']:.2f}", f"{ratio:.2f}×",
                     "PASS" if ratio <= TARGET_SPEED_RATIO else "**FAIL**"])
    table = markdown_table(["data", "EM iterations", "DawidSkene s", "PooledDawidSkene s",
                            "pooled / DS", "target ≤ 2×"], rows)
    return table + f"\n\nBest of {repeats} interleaved runs each.", raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-stress", action="store_true", help="Core regimes only.")
    parser.add_argument("--no-speed", action="store_true", help="Skip the 1M-item timing.")
    parser.add_argument("--only-speed", action="store_true", help="Only the timing.")
    parser.add_argument("--speed-items", type=int, default=1_000_000)
    parser.add_argument("--speed-annotators", type=int, default=500)
    parser.add_argument("--speed-classes", type=int, nargs="+", default=[2, 5])
    parser.add_argument("--speed-iters", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-o", "--output", default=None, help="Also write the tables here.")
    parser.add_argument("--json", dest="json_path", default=None, help="Raw numbers as JSON.")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    parts = [f"Machine: {machine()}"]
    payload: dict[str, Any] = {}
    if not args.only_speed:
        regimes = [r for r in REGIMES if r.core or not args.no_stress]
        rows = []
        for regime in regimes:
            for seed in args.seeds:
                rows.append(run_regime(regime, seed))
                print(f"  {regime.name} seed {seed}: gap closed "
                      f"{100 * rows[-1]['gap_share']:.0f}%", file=sys.stderr, flush=True)
        parts.append(f"## Sparse regimes ({len(args.seeds)} seeds: "
                     f"{', '.join(map(str, args.seeds))}; mean ± sd over seeds)")
        parts.append(regime_tables(regimes, rows))
        core = [r for r in regimes if r.core]
        passed = sum(
            np.mean([x["gap_share"] for x in rows if x["regime"] == r.name]) >= TARGET_GAP_SHARE
            for r in core)
        parts.append(f"Core regimes meeting the 50% target: {passed} of {len(core)}.")
        payload["regimes"] = rows
    if not args.no_speed:
        table, raw = speed_section(args.speed_items, args.speed_annotators, args.speed_classes,
                                   args.speed_iters, args.repeats)
        parts.append("## Speed at equal iterations")
        parts.append(table)
        payload["speed"] = raw
    parts.append(f"Total run time {time.perf_counter() - started:.0f} s.")
    text = "\n\n".join(parts)
    emit(text, payload, args.output, args.json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
