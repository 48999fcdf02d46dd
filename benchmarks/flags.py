"""Flags: do likely-error votes and item doubt point at the real errors, beside baselines?

**Simulated regimes** (``consensus.simulate``, so every wrong vote and every wrong
consensus label is known). A crowd of mixed quality: one accuracy per annotator
from Beta(3, 1) (mean 0.75; about a quarter above 0.9, one in eight below 0.5),
errors spread over the wrong labels by a Dirichlet(1), 5% spammers, Zipf(1)
activity. Each regime runs without predictions and with a simulated classifier
of accuracy 0.85 and 0.95, on ``--seeds`` draws.

The classifier: its confidence ``c`` in its own label is ``1/K + (1 - 1/K) * B``
with ``B ~ Beta`` of concentration 4 and the mean that makes ``E[c]`` the target
accuracy; the label is the truth with probability ``c`` (so it is calibrated),
else a uniformly drawn wrong class; the remaining ``1 - c`` is spread over the
other classes by a Dirichlet(1) (evenly where that would outrank the label). Its
errors are independent of the crowd's: an easy case for any method that uses it.

Our method is ``aggregate(votes, predictions=...)`` then
``flag_items(result, top=0.05)``. Measured, per draw:

* **vote flags**: precision of the ``likely_error`` vote rows (share whose label is
  not the item's truth). Each baseline flags the same number of votes, its
  highest ``1 - P(vote's label)`` under its own posteriors: for MV the posteriors
  are vote shares (a lone dissent among three votes scores 2/3), so its vote
  score is the share of the item's votes that disagree with that vote. A tie
  across the cut counts at its mean precision (random tie-breaking's expectation).
* **item score**: AUROC and AUPRC of each method's doubt for "this method's own
  consensus label is wrong": ours ``item_doubt(result)``; MV the share of votes
  that differ from the MV label; DS0 ``1 - max posterior`` of
  ``DawidSkene(smoothing=0)`` on the crowd's votes; DS0+clf the same with the
  classifier's label as one more annotator (what ``aggregate`` does with
  predictions, unpooled); CROWDLAB ``1 - P(its consensus)``. Positives differ
  between methods, so an AUPRC is read beside its method's error rate.
* **rare class**: its share of items (consensus), of flagged items, and the ratio.
* **the item queue** (no target): how many flagged items have a wrong consensus,
  and the share of all our wrong consensus labels in the queue, beside as many
  items taken by ``item_doubt`` alone.

CROWDLAB (Goh, Tkachenko & Mueller 2022; cleanlab's
``get_label_quality_multiannotator`` with its defaults, re-implemented here in
numpy): consensus starts as majority vote (ties to the classifier's most probable
class); ``P(k)`` is the weighted mean of the classifier's ``p(k)`` and, per vote,
``c`` if the vote says ``k`` else ``(1 - c) / (K - 1)``, where ``c`` is the mean
share of an item's votes that agree with the consensus. An annotator weighs
``max(1 - (1 - agreement with co-annotators) / e, 1e-6)``, the classifier
``max(1 - (its disagreement with the consensus) / e, 1e-6) * sqrt(mean votes per
item)``, ``e`` being the error of always answering the most common consensus
class. The consensus becomes the argmax (ties keep MV), the weights are recomputed
for it, and its score is ``1 - P(consensus)``; a vote's is ``1 - P(vote's label)``.
CROWDLAB needs a classifier, so it runs only with predictions.

Targets, on the mean over seeds: our AUROC, AUPRC and vote precision above every
baseline's (a tie at precision 1.000 is not a miss); the rare class's share of
flagged items at most twice its share of items on every seed. Misses are marked
**MISS** and listed.

**Real datasets**: every folder of DATASETS with ``votes.csv`` and ``gold.csv``;
``aggregate(votes)`` without the gold; AUROC and AUPRC of ``item_doubt`` for
"consensus != gold" on the gold items whose label is among the vote classes,
beside plain DS's (and MV's); datasets where our consensus is never wrong on gold,
or where every gold item's votes are unanimous (no score can rank them), are skipped.

Usage::

    python benchmarks/flags.py                      # ~20 s on 2 cores
    python benchmarks/flags.py --quick              # smoke run, ~12 s
    python benchmarks/flags.py --seeds 0 1 2 3 4 --datasets PATH

Writes benchmarks/results/flags.md and flags.json (flags_quick.* with --quick).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# Measure the consensus in this working tree, not an installed copy that may be older.
sys.path.insert(0, str(ROOT))

from _common import RESULTS, datasets_dir, machine, markdown_table, save_json  # noqa: E402

from consensus import aggregate, read_votes  # noqa: E402
from consensus.data.predictions import Predictions  # noqa: E402
from consensus.data.votes import VoteMatrix  # noqa: E402
from consensus.exceptions import ConvergenceWarning, InputWarning  # noqa: E402
from consensus.flags import flag_items  # noqa: E402
from consensus.flags.flagging import DEFAULT_TOP, item_doubt  # noqa: E402
from consensus.models import DawidSkene, MajorityVote  # noqa: E402
from consensus.simulate import simulate  # noqa: E402
from consensus.workflows.aggregation import with_model_votes  # noqa: E402

try:
    from sklearn.metrics import average_precision_score, roc_auc_score
except ImportError:  # a small numpy version below
    average_precision_score = roc_auc_score = None

TARGET_RARE_RATIO = 2.0
CLASSIFIERS: tuple[float | None, ...] = (None, 0.85, 0.95)
CONFIDENCE_CONCENTRATION = 4.0
FLOOR = 1e-6  # cleanlab's CLIPPING_LOWER_BOUND
BASELINES = ("MV", "DS0", "DS0+clf", "CROWDLAB")
METRICS = {"auroc": "AUROC", "auprc": "AUPRC", "vote_precision": "vote-flag precision"}


@dataclass(frozen=True)
class Regime:
    name: str
    n_items: int
    n_annotators: int
    n_classes: int
    votes_per_item: int
    priors: tuple[float, ...]
    quick_items: int = 5_000

    @property
    def rare(self) -> int:
        return int(np.argmin(self.priors))

    def describe(self, quick: bool) -> str:
        items = self.quick_items if quick else self.n_items
        return (f"{self.name}: {items:,} items, {self.n_annotators:,} annotators, "
                f"K={self.n_classes}, {self.votes_per_item} votes/item, priors "
                f"{', '.join(f'{p:g}' for p in self.priors)}")


REGIMES = [
    Regime("K4-rare", 20_000, 1_000, 4, 3, (0.5, 0.3, 0.175, 0.025)),
    Regime("K2-5votes", 20_000, 1_000, 2, 5, (0.8, 0.2)),
]
CROWD = {"activity": 1.0, "accuracy": (3.0, 1.0), "class_specific": False,
         "spammer_share": 0.05}


# ---------------------------------------------------------------- scores
def auroc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``positive``; NaN with one class only."""
    if positive.all() or not positive.any():
        return float("nan")
    if roc_auc_score is not None:
        return float(roc_auc_score(positive, score))
    from scipy.stats import rankdata

    ranks = rankdata(score)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auprc(positive: np.ndarray, score: np.ndarray) -> float:
    """Average precision (step-wise area under precision-recall), as scikit-learn's."""
    if positive.all() or not positive.any():
        return float("nan")
    if average_precision_score is not None:
        return float(average_precision_score(positive, score))
    order = np.argsort(-score, kind="stable")
    hits = positive[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(score[order])), len(score) - 1]  # end of each tie
    tp = np.cumsum(hits)[last]
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * tp / (last + 1)))


def precision_at(score: np.ndarray, wrong: np.ndarray, n: int) -> float:
    """Share of ``wrong`` among the ``n`` highest scores; a tie across the cut counts at
    its mean (the expected precision when ties are broken at random)."""
    if n == 0:
        return float("nan")
    order = np.argsort(-score, kind="stable")
    ranked, hits = score[order], wrong[order]
    cut = ranked[min(n, len(ranked)) - 1]
    above = ranked > cut
    tied = ranked == cut
    return float((hits[above].sum() + (n - above.sum()) * hits[tied].mean()) / n)


# ---------------------------------------------------------------- simulated classifier
def simulated_classifier(truth: np.ndarray, n_classes: int, accuracy: float,
                         rng: np.random.Generator) -> Predictions:
    """Predictions right with probability ``accuracy``, calibrated; see the module docstring."""
    n, k = len(truth), n_classes
    floor = 1.0 / k
    mean = (accuracy - floor) / (1.0 - floor)
    confidence = floor + (1.0 - floor) * rng.beta(mean * CONFIDENCE_CONCENTRATION,
                                                   (1.0 - mean) * CONFIDENCE_CONCENTRATION, n)
    right = rng.random(n) < confidence
    label = np.where(right, truth, (truth + rng.integers(1, k, n)) % k)
    rest = rng.dirichlet(np.ones(k - 1), n) * (1.0 - confidence)[:, None]
    outranks = rest.max(axis=1) >= confidence
    rest[outranks] = ((1.0 - confidence[outranks]) / (k - 1))[:, None]
    rows = np.arange(n)
    proba = np.empty((n, k))
    proba[rows, label] = confidence
    proba[rows[:, None], (label[:, None] + np.arange(1, k)) % k] = rest
    return Predictions(proba, np.ones(n, dtype=bool), "sim-classifier")


# ---------------------------------------------------------------- CROWDLAB
def crowdlab(votes: VoteMatrix, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CROWDLAB's posteriors (n_items, K) and consensus codes; see the module docstring."""
    k = votes.n_classes
    counts = votes.label_counts
    n_votes = votes.votes_per_item.astype(np.float64)
    # agreement of each annotator with co-annotators: agreeing pairs over all pairs
    others = n_votes[votes.item_codes] - 1
    agreeing = counts[votes.item_codes, votes.label_codes] - 1
    pairs = np.bincount(votes.annotator_codes, weights=others, minlength=votes.n_annotators)
    agreed = np.bincount(votes.annotator_codes, weights=agreeing, minlength=votes.n_annotators)
    overlap = pairs > 0
    agreement = np.full(votes.n_annotators, np.nan)
    agreement[overlap] = agreed[overlap] / pairs[overlap]
    agreement[~overlap] = agreement[overlap].mean()
    multi = n_votes != 1
    tied = counts == counts.max(axis=1, keepdims=True)
    majority = np.where(tied, proba, -np.inf).argmax(axis=1)

    def posteriors(consensus: np.ndarray) -> np.ndarray:
        share = counts[np.arange(votes.n_items), consensus] / n_votes
        likely = share[multi].mean()
        unlikely = (1.0 - likely) / (k - 1)
        chosen = consensus[multi]
        baseline_error = max(float(np.mean(chosen != np.bincount(chosen, minlength=k).argmax())),
                             FLOOR)
        weight = np.maximum(1.0 - (1.0 - agreement) / baseline_error, FLOOR)
        model_error = float(np.mean(proba[multi].argmax(axis=1) != chosen))
        model_weight = max(1.0 - model_error / baseline_error, FLOOR) * np.sqrt(n_votes.mean())
        vote_weight = weight[votes.annotator_codes]
        total = np.bincount(votes.item_codes, weights=vote_weight, minlength=votes.n_items)
        flat = votes.item_codes.astype(np.int64) * k + votes.label_codes
        said = np.bincount(flat, weights=vote_weight, minlength=votes.n_items * k)
        said = said.reshape(votes.n_items, k)
        mixed = model_weight * proba + likely * said + unlikely * (total[:, None] - said)
        return mixed / (model_weight + total)[:, None]

    first = posteriors(majority)
    best = first.argmax(axis=1)
    ties = (first == first.max(axis=1, keepdims=True)).sum(axis=1) > 1
    best[ties] = majority[ties]
    return posteriors(best), best


# ---------------------------------------------------------------- one draw
@dataclass(frozen=True)
class Method:
    """A method's consensus codes, posteriors (for vote scores) and item doubt."""

    codes: np.ndarray
    posteriors: np.ndarray
    doubt: np.ndarray


def fitted(model: Any) -> Method:
    codes = model.label_codes_
    posteriors = model.posteriors_
    return Method(codes, posteriors, 1.0 - posteriors[np.arange(len(codes)), codes])


def run(regime: Regime, seed: int, classifier: float | None, quick: bool) -> dict[str, Any]:
    """Our flags and every baseline on one draw of ``regime``."""
    n_items = regime.quick_items if quick else regime.n_items
    sim = simulate(n_items, regime.n_annotators, regime.n_classes,
                   votes_per_item=regime.votes_per_item, priors=regime.priors, seed=seed,
                   **CROWD)
    votes, truth = sim.votes, sim.truth
    predictions = None
    if classifier is not None:
        rng = np.random.default_rng([seed, int(round(1000 * classifier))])
        predictions = simulated_classifier(truth, regime.n_classes, classifier, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = aggregate(votes, predictions=predictions)
        report = flag_items(result, top=DEFAULT_TOP)
        methods = {"MV": fitted(MajorityVote().fit(votes)),
                   "DS0": fitted(DawidSkene(smoothing=0.0).fit(votes))}
        if predictions is not None:
            joint = with_model_votes(votes, predictions, "model:sim-classifier")
            methods["DS0+clf"] = fitted(DawidSkene(smoothing=0.0).fit(joint))
            posteriors, codes = crowdlab(votes, predictions.proba)
            methods["CROWDLAB"] = Method(codes, posteriors,
                                         1.0 - posteriors[np.arange(n_items), codes])

    table = report.table
    flagged = table[table["reasons"] == "likely_error"]
    flagged_wrong = (flagged["label"].to_numpy(dtype=np.int64)
                     != truth[flagged["item"].to_numpy(dtype=np.int64)])
    n_flagged = len(flagged)
    vote_wrong = votes.label_codes != truth[votes.item_codes]
    rare = report.per_class.iloc[regime.rare]
    row: dict[str, Any] = {
        "regime": regime.name,
        "seed": seed,
        "classifier": classifier,
        "classifier_accuracy": (None if predictions is None
                                else float(np.mean(predictions.label_codes == truth))),
        "n_items": n_items,
        "n_votes": votes.n_votes,
        "vote_error_rate": float(vote_wrong.mean()),
        "flagged_items": report.n_flagged_items,
        "flagged_votes": n_flagged,
        "reason_counts": report.reason_counts,
        "rare_item_share": float(rare["item_share"]),
        "rare_flag_share": float(rare["flag_share"]),
        "rare_ratio": float(rare["flag_share"] / rare["item_share"]),
        "rare_true_share": float(np.mean(truth == regime.rare)),
    }
    ours = result.label_codes
    doubt = item_doubt(result)
    queue = table.loc[table["annotator"] == "", "item"].to_numpy(dtype=np.int64)
    row["queue_wrong"] = int(np.sum(ours[queue] != truth[queue]))
    row["errors"] = int(np.sum(ours != truth))
    row["doubt_top_wrong"] = precision_at(doubt, ours != truth, len(queue)) * len(queue)
    row["ours"] = {
        "accuracy": float(np.mean(ours == truth)),
        "auroc": auroc(ours != truth, doubt),
        "auprc": auprc(ours != truth, doubt),
        "vote_precision": float(flagged_wrong.mean()) if n_flagged else float("nan"),
    }
    for name, method in methods.items():
        wrong = method.codes != truth
        vote_score = 1.0 - method.posteriors[votes.item_codes, votes.label_codes]
        row[name] = {
            "accuracy": float(np.mean(~wrong)),
            "auroc": auroc(wrong, method.doubt),
            "auprc": auprc(wrong, method.doubt),
            "vote_precision": precision_at(vote_score, vote_wrong, n_flagged),
        }
    return row


# ---------------------------------------------------------------- tables
def cell(values: Sequence[float], worst: Callable[..., Any] = np.min, digits: int = 3,
         scale: float = 1.0) -> str:
    """Mean over seeds, with the worst seed in brackets when there are several."""
    arr = scale * np.asarray(values, dtype=np.float64)
    if len(arr) == 0 or np.isnan(arr).all():
        return "n/a"
    text = f"{np.nanmean(arr):.{digits}f}"
    return text + (f" ({worst(arr):.{digits}f})" if len(arr) > 1 else "")


def group_key(row: dict[str, Any]) -> tuple[str, float | None]:
    return row["regime"], row["classifier"]


def clf_name(classifier: float | None) -> str:
    return "none" if classifier is None else f"acc {classifier:.2f}"


def metric_values(rows: list[dict[str, Any]], method: str, metric: str) -> list[float]:
    return [r[method][metric] for r in rows if method in r]


def misses_of(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per metric: the baselines whose mean is at least ours (empty when the target is met).
    A tie at the ceiling (both 1.000: every flagged vote wrong) is not a miss."""
    found: dict[str, list[str]] = {}
    for metric in METRICS:
        ours = float(np.nanmean(metric_values(rows, "ours", metric)))
        found[metric] = []
        for name in BASELINES:
            if not metric_values(rows, name, metric):
                continue
            theirs = float(np.nanmean(metric_values(rows, name, metric)))
            if not (ours > theirs or ours == theirs == 1.0):
                found[metric].append(f"{name} {theirs:.3f}")
    return found


def simulated_tables(rows: list[dict[str, Any]]) -> tuple[str, list[str]]:
    groups: dict[tuple[str, float | None], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(group_key(row), []).append(row)
    names = ("ours", *BASELINES)
    accuracy: list[list[Any]] = []
    rare: list[list[Any]] = []
    tables: dict[str, list[list[Any]]] = {metric: [] for metric in METRICS}
    misses: list[str] = []
    for (regime, classifier), mine in groups.items():
        label = [regime, clf_name(classifier)]
        actual = [r["classifier_accuracy"] for r in mine if r["classifier_accuracy"] is not None]
        accuracy.append([*label, cell(actual, scale=100, digits=1),
                         *(cell(metric_values(mine, n, "accuracy"), scale=100, digits=2)
                           for n in names)])
        found = misses_of(mine)
        for metric, title in METRICS.items():
            verdict = "met" if not found[metric] else "**MISS** (" + ", ".join(found[metric]) + ")"
            extra = ([cell([r["flagged_votes"] for r in mine], digits=0),
                      cell([100 * r["vote_error_rate"] for r in mine], digits=1)]
                     if metric == "vote_precision" else [])
            tables[metric].append([*label, *extra,
                                   *(cell(metric_values(mine, n, metric)) for n in names),
                                   verdict])
            if found[metric]:
                misses.append(f"{regime}, predictions {clf_name(classifier)}: {title} ours "
                              f"{np.nanmean(metric_values(mine, 'ours', metric)):.3f} not above "
                              + ", ".join(found[metric]))
        worst = max(r["rare_ratio"] for r in mine)
        ok = worst <= TARGET_RARE_RATIO
        rare.append([*label, cell([100 * r["rare_true_share"] for r in mine], digits=2),
                     cell([100 * r["rare_item_share"] for r in mine], digits=2),
                     cell([100 * r["rare_flag_share"] for r in mine], digits=2, worst=np.max),
                     cell([r["rare_ratio"] for r in mine], digits=2, worst=np.max),
                     "met" if ok else "**MISS**"])
        if not ok:
            misses.append(f"{regime}, predictions {clf_name(classifier)}: rare-class flag "
                          f"ratio {worst:.2f} > {TARGET_RARE_RATIO:g} on the worst seed")
    head = ["regime", "predictions"]
    queue = [[r["regime"], clf_name(r["classifier"]), r["seed"], r["flagged_items"],
              r["reason_counts"]["likely_mislabeled"], r["queue_wrong"], r["errors"],
              f"{100 * r['queue_wrong'] / max(r['errors'], 1):.1f}",
              f"{r['doubt_top_wrong']:.0f}",
              f"{100 * r['doubt_top_wrong'] / max(r['errors'], 1):.1f}"] for r in rows]
    parts = [
        "Consensus accuracy, % (mean, worst seed in brackets); classifier: its realised "
        "accuracy.",
        markdown_table([*head, "classifier %", *(f"{n} %" for n in names)], accuracy),
    ]
    for metric, title in METRICS.items():
        extra = ["flagged votes", "vote error rate %"] if metric == "vote_precision" else []
        what = ("share of flagged votes whose label is wrong; baselines flag as many votes, "
                "ranked by 1 − P(vote's label)" if metric == "vote_precision"
                else "of each method's item doubt for its own consensus label being wrong")
        parts += [f"{title} ({what}); mean (worst seed). Target: ours above every baseline.",
                  markdown_table([*head, *extra, *names, "target"], tables[metric])]
    parts += ["Rare class (least prevalent): share of items by truth and by our consensus, "
              "share of flagged items, and flagged share / item share; mean (worst = "
              "highest seed). Target: ratio ≤ 2 on every seed.",
              markdown_table([*head, "true share %", "consensus share %", "flag share %",
                              "ratio", "target ≤ 2"], rare)]
    parts += ["What the item queue holds (no target): flagged items, how many carry "
              "`likely_mislabeled`, how many have a wrong consensus, and the share of all our "
              "wrong consensus labels that made the queue; beside the same number of items "
              "taken by `item_doubt` alone.",
              markdown_table([*head, "seed", "flagged items", "likely_mislabeled rows",
                              "flagged with wrong consensus", "our wrong labels",
                              "caught by queue %", "top by item_doubt: wrong",
                              "caught by item_doubt %"], queue)]
    return "\n\n".join(parts), misses


# ---------------------------------------------------------------- real datasets
def evaluate_dataset(folder: Path) -> dict[str, Any]:
    """AUROC/AUPRC of our item doubt, DS0's and MV's for their label != gold."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        votes = read_votes(folder / "votes.csv", on_missing="drop")
    gold = pd.read_csv(folder / "gold.csv", dtype=str, keep_default_na=False)
    gold = gold.drop_duplicates("item")
    position = pd.Index(votes.item_ids.astype(str)).get_indexer(gold["item"].str.strip())
    lookup = {str(c): k for k, c in enumerate(votes.classes)}
    code = gold["label"].str.strip().map(lookup)
    keep = (position >= 0) & code.notna().to_numpy()
    items, truth = position[keep], code[keep].to_numpy(dtype=np.int64)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = aggregate(votes)
        methods = {"ours": Method(result.label_codes, result.posteriors, item_doubt(result)),
                   "DS0": fitted(DawidSkene(smoothing=0.0).fit(votes)),
                   "MV": fitted(MajorityVote().fit(votes))}
    row: dict[str, Any] = {
        "dataset": folder.name, "classes": votes.n_classes, "items": votes.n_items,
        "gold": int(keep.sum()), "gold_skipped": int((~keep).sum()),
        "split_gold": int(np.sum((votes.label_counts[items] > 0).sum(axis=1) > 1)),
        "seconds": time.perf_counter() - start,
    }
    for name, method in methods.items():
        wrong = method.codes[items] != truth
        row[name] = {"accuracy": float(np.mean(~wrong)), "errors": int(wrong.sum()),
                     "auroc": auroc(wrong, method.doubt[items]),
                     "auprc": auprc(wrong, method.doubt[items])}
    return row


def dataset_section(root: Path) -> tuple[str, list[dict[str, Any]]]:
    folders = sorted(p for p in root.iterdir()
                     if (p / "votes.csv").is_file() and (p / "gold.csv").is_file())
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for folder in folders:
        row = evaluate_dataset(folder)
        print(f"  {folder.name}: ours AUROC {row['ours']['auroc']:.3f}", file=sys.stderr,
              flush=True)
        (rows if row["ours"]["errors"] and row["split_gold"] else skipped).append(row)
    table = []
    for r in rows:
        diff = r["ours"]["auroc"] - r["DS0"]["auroc"]
        table.append([r["dataset"], r["classes"], f"{r['items']:,}", f"{r['gold']:,}",
                      f"{100 * r['ours']['accuracy']:.2f}", r["ours"]["errors"],
                      f"{r['ours']['auroc']:.3f}", f"{r['ours']['auprc']:.3f}",
                      f"{100 * r['DS0']['accuracy']:.2f}", f"{r['DS0']['auroc']:.3f}",
                      f"{r['DS0']['auprc']:.3f}", f"{r['MV']['auroc']:.3f}",
                      f"{diff:+.3f}" if np.isfinite(diff) else "n/a"])

    def mean(name: str, metric: str) -> float:
        return float(np.nanmean([r[name][metric] for r in rows]))

    table.append(["**mean**", "", "", "", f"{100 * mean('ours', 'accuracy'):.2f}", "",
                  f"{mean('ours', 'auroc'):.3f}", f"{mean('ours', 'auprc'):.3f}",
                  f"{100 * mean('DS0', 'accuracy'):.2f}", f"{mean('DS0', 'auroc'):.3f}",
                  f"{mean('DS0', 'auprc'):.3f}", f"{mean('MV', 'auroc'):.3f}",
                  f"{mean('ours', 'auroc') - mean('DS0', 'auroc'):+.3f}"])
    below = [r["dataset"] for r in rows if r["ours"]["auroc"] < r["DS0"]["auroc"]]
    mv_above = [r["dataset"] for r in rows if r["MV"]["auroc"] > r["ours"]["auroc"]]
    text = "\n\n".join([
        markdown_table(["dataset", "K", "items", "gold used", "ours acc %", "ours wrong",
                        "ours AUROC", "ours AUPRC", "DS0 acc %", "DS0 AUROC", "DS0 AUPRC",
                        "MV AUROC", "AUROC ours − DS0"], table),
        f"Our AUROC is below DS0's on {len(below)} of {len(rows)} datasets"
        + (f": {', '.join(below)}." if below else ".")
        + f" MV's share of dissenting votes ranks MV's own errors better than our doubt ranks "
        f"ours on {len(mv_above)} of {len(rows)}"
        + (f": {', '.join(mv_above)}." if mv_above else "."),
        "Skipped (our consensus never wrong on gold, or every gold item's votes unanimous, "
        "so no score can rank them): "
        + (", ".join(f"{r['dataset']} ({r['ours']['errors']} wrong, {r['split_gold']} of "
                     f"{r['gold']} gold items with split votes)" for r in skipped) or "none")
        + ".",
    ])
    return text, rows + skipped


# ---------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="Simulation seeds (default 0 1 2; 0 with --quick).")
    parser.add_argument("--quick", action="store_true",
                        help="One seed and 5,000 items per regime: a smoke run.")
    parser.add_argument("--datasets", default=None,
                        help="Folder of dataset folders (default $CONSENSUS_DATASETS, else "
                             "../shared/datasets beside the repository).")
    parser.add_argument("--no-datasets", action="store_true", help="Simulations only.")
    args = parser.parse_args(argv)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])

    started = time.perf_counter()
    rows = []
    for regime in REGIMES:
        for classifier in CLASSIFIERS:
            for seed in seeds:
                rows.append(run(regime, seed, classifier, args.quick))
                r = rows[-1]
                print(f"  {regime.name} {clf_name(classifier)} seed {seed}: vote precision "
                      f"{r['ours']['vote_precision']:.3f}, AUROC {r['ours']['auroc']:.3f}",
                      file=sys.stderr, flush=True)
    tables, misses = simulated_tables(rows)
    parts = [
        f"## Flags on simulated votes ({len(seeds)} seed(s): {', '.join(map(str, seeds))}; "
        f"top {100 * DEFAULT_TOP:g}% of items)",
        "Crowd: one accuracy per annotator from Beta(3, 1), errors spread by Dirichlet(1), "
        "5% spammers, Zipf(1) activity.\n\n"
        + "\n".join(f"- {r.describe(args.quick)}" for r in REGIMES),
        tables,
    ]
    payload: dict[str, Any] = {"seeds": seeds, "quick": args.quick, "simulated": rows}
    if not args.no_datasets:
        root = datasets_dir(args.datasets)
        text, real = dataset_section(root)
        parts += [f"## Item doubt against gold on real datasets ({root})",
                  "AUROC/AUPRC of each method's item doubt for its own label != gold, on "
                  "the gold items whose label is among the vote classes; ours is "
                  "`item_doubt(aggregate(votes))`, without the gold.", text]
        payload["datasets"] = real
    parts.append("## Targets missed\n\n" + ("\n".join(f"- {m}" for m in misses) if misses
                                          else "None."))
    elapsed = time.perf_counter() - started
    parts.append(f"Machine: {machine()}\n\nTotal run time {elapsed:.0f} s.")
    payload.update(misses=misses, seconds=elapsed)
    text = "\n\n".join(parts)
    print(text)
    suffix = "_quick" if args.quick else ""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"flags{suffix}.md").write_text(text + "\n")
    save_json(f"flags{suffix}.json", payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
