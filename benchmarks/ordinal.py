"""Ordinal scales (issue 15): exact accuracy, mean absolute error and within-one share.

On the ordered real datasets (adult_content G < P < R < X; trec2010_rel4 grades 0 < 1 < 2
with "3", broken link, nominal beside them; web grades 1..5) and on simulated ordinal
crowds, this fits the ordinal model (pure, and with ``prior_strength=4``), our default
``auto``, pooled Dawid–Skene, our EBCC, majority vote and crowd-kit's DawidSkene
(defaults), and scores each against the truth three ways: exact accuracy, mean absolute
error in steps over items whose truth and label are both on the scale, and the share
within one step (a nominal class counts only when exact). Each model is scored on its
most probable label and on its posterior median (the label that minimises expected
absolute error, :func:`consensus.models.ordinal.ordinal_summary`). The peers' EBCC
figures (the authors' code, ``../shared/peers/accuracy.csv``) are accuracy only: the
file has no labels to compute MAE from.

Which code is "broken link" in trec2010_rel4 is undocumented; "3" is the one whose
votes follow no order: on gold items of classes 0, 1, 2 the crowd gives 3 at 4%, on
gold 3 at 62%, while 0, 1, 2 are given in an order that follows the gold grade.

Simulated crowds: ``ordinal_crowd`` draws annotators who read level k as the nearest
level to k + bias + noise (bias ~ N(0, 0.3), noise ~ noise x lognormal(0, 0.35)),
spammers whose answers ignore the item, and optionally a nominal class ("can't tell")
that annotators recognise with their own recall. Bayes is the accuracy of the true
parameters' posterior.

Usage::

    python benchmarks/ordinal.py [DATASETS] [--seeds 2] [--quick]

Writes benchmarks/results/ordinal.md and ordinal.json. Small matrices dominate the
ordinal M-step, so BLAS is kept to one thread (on a shared machine a multi-threaded
BLAS made the M-step ten times slower).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import RESULTS, datasets_dir, markdown_table  # noqa: E402

from consensus.data.readers import read_votes  # noqa: E402
from consensus.data.votes import VoteMatrix  # noqa: E402
from consensus.models import (  # noqa: E402
    EBCC,
    AutoAggregator,
    MajorityVote,
    OrdinalDawidSkene,
    PooledDawidSkene,
)
from consensus.models.ordinal import ordinal_summary, scale_positions  # noqa: E402
from consensus.simulate import Simulation, bayes_posteriors, simulate  # noqa: E402

#: Real ordered datasets: label order and the labels outside the scale.
DATASETS: dict[str, tuple[list[str], list[str]]] = {
    "adult_content": (["G", "P", "R", "X"], []),
    "trec2010_rel4": (["0", "1", "2", "3"], ["3"]),
    "web": (["1", "2", "3", "4", "5"], []),
}

#: Simulated regimes: ordinal_crowd's keyword arguments.
REGIMES: dict[str, dict[str, Any]] = {
    "dense 5 levels": dict(n_items=2000, n_annotators=30, n_levels=5, votes_per_item=5),
    "sparse 5 levels": dict(n_items=20000, n_annotators=3000, n_levels=5, votes_per_item=3,
                            activity=1.0),
    "sparse + 20% spammers": dict(n_items=20000, n_annotators=3000, n_levels=5,
                                  votes_per_item=3, activity=1.0, spammer_share=0.2),
    "noisy 4 levels": dict(n_items=5000, n_annotators=300, n_levels=4, votes_per_item=3,
                           activity=0.8, noise=1.3),
    "sparse + nominal class": dict(n_items=20000, n_annotators=3000, n_levels=4,
                                   votes_per_item=3, activity=1.0, nominal_share=0.15),
}

Model = Callable[[list[str]], Any]
MODELS: dict[str, Model] = {
    "ordinal": lambda nominal: OrdinalDawidSkene(nominal=nominal),
    "ordinal s=4": lambda nominal: OrdinalDawidSkene(nominal=nominal, prior_strength=4.0),
    "auto (default)": lambda nominal: AutoAggregator(),
    "pooled": lambda nominal: PooledDawidSkene(),
    "EBCC (ours)": lambda nominal: EBCC(),
    "majority vote": lambda nominal: MajorityVote(),
}


# ----------------------------------------------------------------- simulation
def ordinal_crowd(n_items: int, n_annotators: int, n_levels: int, *, votes_per_item: int = 3,
                  activity: float = 0.0, noise: float = 0.8, bias: float = 0.3,
                  spammer_share: float = 0.0, nominal_share: float = 0.0,
                  seed: int = 0) -> tuple[Simulation, list[str]]:
    """A crowd of ordinal readers on ``simulate``'s design; the truth's last class is the
    nominal one when ``nominal_share`` > 0. Returns the simulation and the nominal labels."""
    from scipy.stats import norm

    rng = np.random.default_rng(seed)
    n_classes = n_levels + (nominal_share > 0)
    priors = np.r_[np.full(n_levels, (1 - nominal_share) / n_levels),
                   [nominal_share] if nominal_share > 0 else []]
    design = simulate(n_items, n_annotators, n_classes, votes_per_item=votes_per_item,
                      activity=activity, priors=priors, seed=rng)
    shift = rng.normal(0.0, bias, n_annotators)
    sigma = noise * np.exp(rng.normal(0.0, 0.35, n_annotators))
    edges = np.r_[-np.inf, np.arange(n_levels - 1) + 0.5, np.inf]
    reading = np.diff(norm.cdf((edges[None, None, :] - np.arange(n_levels)[None, :, None]
                                - shift[:, None, None]) / sigma[:, None, None]), axis=2)
    confusion = np.zeros((n_annotators, n_classes, n_classes))
    confusion[:, :n_levels, :n_levels] = reading
    if nominal_share > 0:
        recall = rng.beta(8.0, 2.0, n_annotators)
        slip = 0.02  # scale items called "can't tell" now and then
        confusion[:, :n_levels, :n_levels] *= 1 - slip
        confusion[:, :n_levels, n_levels] = slip
        confusion[:, n_levels, n_levels] = recall
        confusion[:, n_levels, :n_levels] = ((1 - recall) / n_levels)[:, None]
    spam = rng.random(n_annotators) < spammer_share
    confusion[spam] = rng.dirichlet(np.ones(n_classes), int(spam.sum()))[:, None, :]
    v = design.votes
    rows = confusion[v.annotator_codes, design.truth[v.item_codes]].cumsum(axis=1)
    labels = (rows < rng.random(len(rows))[:, None]).sum(axis=1).clip(0, n_classes - 1)
    classes = np.array([str(k) for k in range(n_levels)]
                       + (["can't tell"] if nominal_share > 0 else []), dtype=object)
    votes = VoteMatrix(v.item_codes, v.annotator_codes, labels.astype(np.int32), v.item_ids,
                       v.annotator_ids, classes)
    nominal = ["can't tell"] if nominal_share > 0 else []
    return replace(design, votes=votes, confusion=confusion), nominal


# -------------------------------------------------------------------- scoring
def scores(codes: np.ndarray, truth: np.ndarray, positions: np.ndarray) -> dict[str, float]:
    """Exact accuracy, MAE over items with truth and label on the scale, within-one share."""
    both = np.isfinite(positions[codes]) & np.isfinite(positions[truth])
    steps = np.abs(np.nan_to_num(positions[codes]) - np.nan_to_num(positions[truth]))
    return {
        "accuracy": float((codes == truth).mean()),
        "mae": float(steps[both].mean()) if both.any() else math.nan,
        "within_one": float(np.where(both, steps <= 1, codes == truth).mean()),
    }


def median_codes(posteriors: np.ndarray, classes: np.ndarray, nominal: list[str]) -> np.ndarray:
    """The posterior median on the scale, or the most probable class when that is nominal."""
    summary = ordinal_summary(posteriors, classes, nominal=nominal)
    lookup = {str(c): k for k, c in enumerate(classes)}
    codes = np.array([lookup[str(c)] for c in summary["median"]])
    top = posteriors.argmax(axis=1)
    positions = scale_positions(classes, nominal)
    return np.where(np.isfinite(positions[top]), codes, top)


def evaluate(votes: VoteMatrix, truth: np.ndarray, rows: np.ndarray, nominal: list[str],
             extra: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, Any]]:
    """Every model's scores on the items ``rows`` (whose truth is ``truth``)."""
    positions = scale_positions(votes.classes, nominal)
    out: dict[str, dict[str, Any]] = {}
    for name, make in MODELS.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = make(nominal).fit(votes)
        seconds = time.perf_counter() - start
        entry = scores(model.label_codes_[rows], truth, positions)
        median = scores(median_codes(model.posteriors_, votes.classes, nominal)[rows], truth,
                        positions)
        entry.update({f"median_{k}": v for k, v in median.items()}, seconds=seconds)
        out[name] = entry
    out["crowd-kit DS"] = crowdkit_scores(votes, truth, rows, nominal, positions)
    for name, posteriors in (extra or {}).items():
        entry = scores(posteriors.argmax(axis=1)[rows], truth, positions)
        median = scores(median_codes(posteriors, votes.classes, nominal)[rows], truth, positions)
        out[name] = {**entry, **{f"median_{k}": v for k, v in median.items()}}
    return out


def crowdkit_scores(votes: VoteMatrix, truth: np.ndarray, rows: np.ndarray, nominal: list[str],
                    positions: np.ndarray) -> dict[str, Any]:
    from crowdkit.aggregation import DawidSkene as CkDS

    frame = votes.to_frame().rename(columns={"item": "task", "annotator": "worker"})
    frame["task"], frame["label"] = frame["task"].astype(str), frame["label"].astype(str)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proba = CkDS(n_iter=100, tol=1e-5).fit(frame).probas_
    seconds = time.perf_counter() - start
    proba = proba.reindex(index=votes.item_ids.astype(str),
                          columns=[str(c) for c in votes.classes]).fillna(0.0).to_numpy()
    entry = scores(proba.argmax(axis=1)[rows], truth, positions)
    median = scores(median_codes(proba, votes.classes, nominal)[rows], truth, positions)
    return {**entry, **{f"median_{k}": v for k, v in median.items()}, "seconds": seconds}


# ------------------------------------------------------------------ real data
def real(folder: Path, labels: list[str], nominal: list[str],
         peers: pd.DataFrame) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        votes = read_votes(folder / "votes.csv", labels=labels)
    gold = pd.read_csv(folder / "gold.csv", dtype=str)
    rows = pd.Index(votes.item_ids.astype(str)).get_indexer(gold["item"].str.strip())
    keep = rows >= 0
    truth = np.array([labels.index(x.strip()) for x in gold["label"][keep]])
    result = evaluate(votes, truth, rows[keep], nominal)
    if folder.name in peers.index:
        result["EBCC (authors', peers file)"] = {
            "accuracy": float(peers.loc[folder.name, "ebcc"]) / 100.0}
    return {"gold_items": int(keep.sum()), "nominal": nominal, "models": result}


def simulated(name: str, seed: int) -> dict[str, Any]:
    sim, nominal = ordinal_crowd(**REGIMES[name], seed=seed)
    bayes = bayes_posteriors(sim)
    rows = np.arange(sim.votes.n_items)
    return {"seed": seed, "nominal": nominal,
            "models": evaluate(sim.votes, sim.truth, rows, nominal, {"Bayes (true parameters)":
                                                                     bayes})}


# ------------------------------------------------------------------- report
def table(results: dict[str, Any]) -> str:
    """One markdown table: a row per (data, model), the three scores of the most probable
    label and of the posterior median, averaged over seeds."""
    header = ["data", "model", "accuracy", "MAE", "within 1", "median: acc", "MAE", "within 1"]
    rows = []
    for data, runs in results.items():
        runs = runs if isinstance(runs, list) else [runs]
        for model in runs[0]["models"]:
            cells = []
            for key in ("accuracy", "mae", "within_one", "median_accuracy", "median_mae",
                        "median_within_one"):
                values = [r["models"][model].get(key, math.nan) for r in runs]
                mean = float(np.mean(values))
                cells.append("n/a" if math.isnan(mean) else
                             f"{100 * mean:.1f}" if "mae" not in key else f"{mean:.3f}")
            rows.append([data, model, *cells])
    return markdown_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("datasets", nargs="?")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="real data and one seed only")
    args = parser.parse_args()
    folder = datasets_dir(args.datasets)
    peers = pd.read_csv(folder.parent / "peers" / "accuracy.csv").set_index("dataset")
    started = time.perf_counter()
    real_results = {name: real(folder / name, labels, nominal, peers)
                    for name, (labels, nominal) in DATASETS.items() if (folder / name).exists()}
    sim_results = {} if args.quick else {
        name: [simulated(name, seed) for seed in range(args.seeds)] for name in REGIMES}
    text = "\n\n".join([
        "# Ordinal scales: accuracy, mean absolute error (steps), share within one step",
        f"Python {platform.python_version()}, numpy {np.__version__}; "
        f"{time.perf_counter() - started:.0f} s in all.",
        "Most probable label (left) and posterior median (right). MAE is over items whose "
        "truth and label are both on the scale; within 1 counts a nominal class only when "
        "exact. EBCC (authors') is the peers' accuracy figure: no labels, so no MAE.",
        "## Real datasets (gold items)", table(real_results),
        *([f"## Simulated ordinal crowds (mean of {args.seeds} seeds; truth of every item)",
           table(sim_results)] if sim_results else []),
    ])
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    (RESULTS / f"ordinal{suffix}.md").write_text(text + "\n")
    (RESULTS / f"ordinal{suffix}.json").write_text(json.dumps(
        {"real": real_results, "simulated": sim_results}, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
