"""Taxonomy versions: a split and a merge halfway through, with the truth at the finest level.

The crowd: items with true classes sedan, suv, person, cat, lynx (priors 0.25, 0.20,
0.25, 0.18, 0.12), each labelled at one moment of a year by three annotators (of
100, activity Gamma(2)); votes come within days of the item's moment. Halfway
through (2 July) the taxonomy changes from v1 {car, person, cat, lynx} to v2
{sedan, suv, person, feline}: ``car`` is split into ``sedan`` and ``suv``, ``cat``
and ``lynx`` are merged into ``feline``. Each annotator has a confusion matrix over
the five fine classes (accuracy Beta(6, 2); 60% of their errors go to the sibling
class, sedan↔suv and cat↔lynx, the rest evenly) and answers at the fine level; the
label they write is their answer in the version in force (v1 turns sedan and suv
into car). A tenth of the items labelled only under v1 get one more vote after the
change (a partial relabel). The votes say their version by time only
(``created_at`` against the versions' ``start``).

Compared, consensus in v2's labels:

- taxonomy-aware: ``TaxonomyDawidSkene`` (``consensus aggregate --taxonomy``).
- old label as its own class: ``PooledDawidSkene`` on the labels as written (seven
  classes); merged labels are mapped to ``feline`` afterwards (exact), ``car``
  stays ``car``, which is wrong at the fine level.
- the same, then ``car`` → the more common of sedan and suv (the best a post-hoc
  mapping can do without a model of the split).
- dropping old-version votes: ``PooledDawidSkene`` on the v2 votes only; items with
  none get no label (counted wrong; the coverage column says how many).
- Bayes: the true parameters, one E-step over the fine classes, and the most probable
  label at each level (the ceiling; the most probable fine label coarsened is not the
  most probable coarse label, so a fitted model can edge past it at the coarse level
  only through that choice).

Accuracy is measured at the fine level (v2's labels: sedan, suv, person, feline)
and at the coarse level (car, person, feline). Last, the relabel list (items
``resolved_in`` v1) is compared with (a) the items whose votes cannot separate
sedan from suv while their consensus is one of them, recomputed here from the
votes with plain Python sets (must be equal), and (b) the items the design makes
unresolvable: truth sedan or suv and no vote made under v2.

Usage::

    python benchmarks/taxonomy.py [--items 6000] [--seeds 0 1 2 3 4] [-o FILE] [--json FILE]

About 10 seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import RESULTS, emit, machine, markdown_table  # noqa: E402

from consensus.data.taxonomy import map_votes, taxonomy_from_dict  # noqa: E402
from consensus.data.votes import VoteMatrix  # noqa: E402
from consensus.models import PooledDawidSkene  # noqa: E402
from consensus.models.taxonomy import TaxonomyDawidSkene  # noqa: E402

FINE = ("sedan", "suv", "person", "cat", "lynx")
FINE_PRIORS = (0.25, 0.20, 0.25, 0.18, 0.12)
SIBLING = (1, 0, -1, 4, 3)
V1_LABEL = np.array(["car", "car", "person", "cat", "lynx"], dtype=object)
V2_LABEL = np.array(["sedan", "suv", "person", "feline", "feline"], dtype=object)
COARSE = {"sedan": "car", "suv": "car", "car": "car", "person": "person", "feline": "feline",
          "cat": "feline", "lynx": "feline"}
TAXONOMY = {"versions": [
    {"name": "v1", "labels": ["car", "person", "cat", "lynx"]},
    {"name": "v2", "labels": ["sedan", "suv", "person", "feline"], "start": "2024-07-02",
     "split": {"car": ["sedan", "suv"]}, "merge": {"feline": ["cat", "lynx"]}},
]}
YEAR_START = np.datetime64("2024-01-01T00:00:00")
BAYES = "Bayes (true parameters)"
CHANGE = 0.5  # 2 July 00:00, as a share of the year: 183 of 2024's 366 days


@dataclass(frozen=True)
class Crowd:
    frame: pd.DataFrame  # item, annotator, label, created_at, version, fine answer
    truth: np.ndarray  # fine class per item (item i is "i<i>")
    confusion: np.ndarray  # (A, 5, 5)


def simulate(n_items: int, n_annotators: int, seed: int, votes_per_item: int = 3,
             requeue: float = 0.1) -> Crowd:
    rng = np.random.default_rng(seed)
    truth = rng.choice(len(FINE), n_items, p=FINE_PRIORS)
    accuracy = rng.beta(6, 2, n_annotators)
    confusion = np.zeros((n_annotators, len(FINE), len(FINE)))
    for k, sibling in enumerate(SIBLING):
        errors = rng.dirichlet(np.ones(len(FINE) - 1), n_annotators) * 0.4
        others = [c for c in range(len(FINE)) if c != k]
        confusion[:, k, others] = errors
        if sibling >= 0:
            confusion[:, k, sibling] += 0.6
        confusion[:, k] *= (1 - accuracy)[:, None] / confusion[:, k].sum(axis=1, keepdims=True)
        confusion[:, k, k] = accuracy
    activity = rng.gamma(2.0, size=n_annotators)
    # k distinct annotators per item, drawn by activity (Gumbel top-k)
    keys = np.log(activity)[None] + rng.gumbel(size=(n_items, n_annotators))
    chosen = np.argpartition(-keys, votes_per_item, axis=1)[:, :votes_per_item]
    moment = rng.uniform(size=n_items)
    items = np.repeat(np.arange(n_items), votes_per_item)
    annotators = chosen.ravel()
    times = np.minimum(moment[items] + rng.exponential(0.01, items.size), 0.999)
    old_only = np.bincount(items, weights=times >= CHANGE, minlength=n_items) == 0
    extra = np.flatnonzero(old_only & (rng.uniform(size=n_items) < requeue))
    if extra.size:  # one more vote after the change, by someone new to the item
        keys[np.arange(n_items)[:, None], chosen] = -np.inf
        items = np.concatenate([items, extra])
        annotators = np.concatenate([annotators, keys[extra].argmax(axis=1)])
        times = np.concatenate([times, rng.uniform(CHANGE + 0.01, 0.999, extra.size)])
    rows = confusion[annotators, truth[items]].cumsum(axis=1)
    answer = (rng.uniform(size=items.size)[:, None] > rows).sum(axis=1)
    answer = np.minimum(answer, len(FINE) - 1)
    late = times >= CHANGE
    stamps = YEAR_START + (times * 366 * 86400).astype("timedelta64[s]")
    frame = pd.DataFrame({
        "item": np.char.add("i", items.astype(str)),
        "annotator": np.char.add("a", annotators.astype(str)),
        "label": np.where(late, V2_LABEL[answer], V1_LABEL[answer]),
        "created_at": np.datetime_as_string(stamps, unit="s"),
        "version": np.where(late, "v2", "v1"),
        "answer": answer,
    }).sort_values(["item", "created_at"], kind="stable")
    return Crowd(frame.reset_index(drop=True), truth, confusion)


def per_item(votes: VoteMatrix, labels: np.ndarray, n_items: int) -> np.ndarray:
    """Labels by item number (item "i<n>"), None where the votes had no such item."""
    out = np.full(n_items, None, dtype=object)
    out[np.array([int(str(i)[1:]) for i in votes.item_ids])] = labels
    return out


def bayes_labels(crowd: Crowd) -> tuple[np.ndarray, np.ndarray]:
    """The most probable v2 label and coarse label of each item under the true parameters
    (the posterior over the fine classes, summed to each level)."""
    f = crowd.frame
    items = f["item"].str[1:].astype(int).to_numpy()
    annotators = f["annotator"].str[1:].astype(int).to_numpy()
    # which fine answers produce the written label in the vote's version
    written = np.where(f["version"] == "v2", V2_LABEL[f["answer"]], V1_LABEL[f["answer"]])
    late = (f["version"] == "v2").to_numpy()
    produces = np.where(late[:, None], V2_LABEL[None] == written[:, None],
                        V1_LABEL[None] == written[:, None]).astype(float)  # (votes, fine)
    likelihood = np.einsum("vkx,vx->vk", crowd.confusion[annotators], produces)
    log_joint = np.log(FINE_PRIORS)[None].repeat(len(crowd.truth), axis=0)
    np.add.at(log_joint, items, np.log(likelihood))
    fine = np.exp(log_joint - log_joint.max(axis=1, keepdims=True))
    latest = np.stack([fine[:, 0], fine[:, 1], fine[:, 2], fine[:, 3] + fine[:, 4]], axis=1)
    coarse = np.stack([latest[:, 0] + latest[:, 1], latest[:, 2], latest[:, 3]], axis=1)
    return (np.array(["sedan", "suv", "person", "feline"], dtype=object)[latest.argmax(axis=1)],
            np.array(["car", "person", "feline"], dtype=object)[coarse.argmax(axis=1)])


def votes_of(frame: pd.DataFrame, with_times: bool) -> VoteMatrix:
    columns = ["item", "annotator", "label"] + (["created_at"] if with_times else [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VoteMatrix.from_frame(frame[columns])


def unseparated(frame: pd.DataFrame, consensus: np.ndarray) -> set[int]:
    """Items whose consensus is sedan or suv and none of whose votes covers exactly one of
    them: recomputed from the votes with sets, independently of the library."""
    cover = {("v1", "car"): {"sedan", "suv"}, ("v1", "person"): {"person"},
             ("v1", "cat"): {"feline"}, ("v1", "lynx"): {"feline"}}
    separated: set[int] = set()
    for item, version, label in zip(frame["item"], frame["version"], frame["label"],
                                    strict=True):
        covered = cover.get((version, label), {label})
        if len(covered & {"sedan", "suv"}) == 1:
            separated.add(int(item[1:]))
    return {i for i, label in enumerate(consensus) if label in ("sedan", "suv")
            and i not in separated}


def run_seed(n_items: int, seed: int) -> dict[str, Any]:
    crowd = simulate(n_items, 100, seed)
    f = crowd.frame
    taxonomy = taxonomy_from_dict(TAXONOMY, "the simulated taxonomy")
    truth = V2_LABEL[crowd.truth]
    results: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    versioned = map_votes(votes_of(f, with_times=True), taxonomy)
    model = TaxonomyDawidSkene().fit(versioned)
    seconds["taxonomy-aware"] = time.perf_counter() - started
    results["taxonomy-aware"] = per_item(versioned.votes, model.labels_, n_items)
    relabel = {int(str(i)[1:]) for i in versioned.votes.item_ids[model.resolved_in_ == "v1"]}

    started = time.perf_counter()
    raw = votes_of(f, with_times=False)
    own = PooledDawidSkene().fit(raw)
    seconds["old label as own class"] = time.perf_counter() - started
    merged = np.array([{"cat": "feline", "lynx": "feline"}.get(str(c), str(c))
                       for c in own.labels_], dtype=object)
    results["old label as own class"] = per_item(raw, merged, n_items)
    larger = max(("sedan", "suv"), key=lambda c: int((merged == c).sum()))
    results[f"own class, car → {larger}"] = per_item(
        raw, np.where(merged == "car", larger, merged), n_items)

    started = time.perf_counter()
    newer = votes_of(f[f["version"] == "v2"], with_times=False)
    dropped = PooledDawidSkene().fit(newer)
    seconds["drop old-version votes"] = time.perf_counter() - started
    results["drop old-version votes"] = per_item(newer, dropped.labels_, n_items)
    results[BAYES], bayes_coarse = bayes_labels(crowd)

    has_new = np.zeros(n_items, dtype=bool)
    has_new[f.loc[f["version"] == "v2", "item"].str[1:].astype(int)] = True
    unresolvable = np.isin(crowd.truth, (0, 1)) & ~has_new
    coarse_truth = np.array([COARSE[t] for t in truth])
    scores = {}
    for name, predicted in results.items():
        labelled = np.array([p is not None for p in predicted])
        right = predicted == truth
        coarse = np.array([p is not None and COARSE[p] == c for p, c in
                           zip(predicted, coarse_truth, strict=True)])
        if name == BAYES:  # the most probable coarse label, not the fine one coarsened
            coarse = bayes_coarse == coarse_truth
        scores[name] = {
            "fine": float(right.mean()), "coarse": float(coarse.mean()),
            "fine_resolvable": float(right[~unresolvable].mean()),
            "fine_unresolvable": float(right[unresolvable].mean()),
            "coarse_unresolvable": float(coarse[unresolvable].mean()),
            "labelled": float(labelled.mean()), "seconds": seconds.get(name),
        }
    design = set(np.flatnonzero(unresolvable).tolist())
    from_votes = unseparated(f, results["taxonomy-aware"])
    return {
        "seed": seed, "items": n_items, "votes": len(f),
        "v1_share": float((f["version"] == "v1").mean()),
        "mixed_items": int((f.groupby("item")["version"].nunique() > 1).sum()),
        "scores": scores,
        "relabel": len(relabel), "unseparated": len(from_votes),
        "relabel_equals_unseparated": relabel == from_votes,
        "design_unresolvable": len(design), "relabel_and_design": len(relabel & design),
    }


def tables(rows: list[dict[str, Any]]) -> str:
    names = list(rows[0]["scores"])

    def cell(name: str, key: str) -> str:
        values = [100 * r["scores"][name][key] for r in rows]
        return f"{np.mean(values):.1f} ({min(values):.1f}–{max(values):.1f})"

    def fit_time(name: str) -> str:
        values = [r["scores"][name]["seconds"] for r in rows]
        return "" if values[0] is None else f"{np.median(values):.2f}"

    body = [[name, cell(name, "fine"), cell(name, "coarse"), cell(name, "fine_resolvable"),
             cell(name, "fine_unresolvable"), cell(name, "coarse_unresolvable"),
             cell(name, "labelled"), fit_time(name)] for name in names]
    accuracy = markdown_table(
        ["method", "fine %", "coarse %", "fine %, resolvable items",
         "fine %, unresolvable items", "coarse %, unresolvable items", "labelled %",
         "fit s (median)"], body)
    relabel = markdown_table(
        ["seed", "votes", "v1 votes %", "mixed items", "relabel list", "= unseparated by votes",
         "design-unresolvable", "in both", "list ⊄ design", "design ⊄ list"],
        [[r["seed"], r["votes"], f"{100 * r['v1_share']:.1f}", r["mixed_items"], r["relabel"],
          "yes" if r["relabel_equals_unseparated"] else "**NO**", r["design_unresolvable"],
          r["relabel_and_design"], r["relabel"] - r["relabel_and_design"],
          r["design_unresolvable"] - r["relabel_and_design"]] for r in rows])
    return (f"### Accuracy against the fine truth (mean and range over {len(rows)} seeds)\n\n"
            f"{accuracy}\n\n### The relabel list\n\n{relabel}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=6000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("-o", "--output", default=str(RESULTS / "taxonomy.md"))
    parser.add_argument("--json", dest="json_path", default=str(RESULTS / "taxonomy.json"))
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = [run_seed(args.items, seed) for seed in args.seeds]
    text = "\n\n".join([
        f"Machine: {machine()}",
        f"## A split (car → sedan, suv) and a merge (cat, lynx → feline) halfway through: "
        f"{args.items:,} items × 3 votes, 100 annotators",
        tables(rows),
        f"Total run time {time.perf_counter() - started:.0f} s.",
    ])
    emit(text, {"items": args.items, "seeds": args.seeds, "rows": rows}, args.output,
         args.json_path)
    return 0 if all(r["relabel_equals_unseparated"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
