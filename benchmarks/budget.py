"""Budget: do the planner's predictions come true, and does the next pass pick the right items?

Everything is measured against known answers: gold on real datasets, the truth in
simulations. The library is used as a user would use it: ``aggregate`` then
``crowd_from_fit``, ``plan_budget`` (target 95%, at most 9 annotators, the vote
correlation ``rho`` from ``consensus.workflows.budget.vote_correlation``) and
``plan_next_pass``.

**Datasets.** Every folder of DATASETS with ``votes.csv`` and ``gold.csv`` where at
least half of the items have five votes or more. Votes are read with
``read_votes(path, on_missing="drop", duplicates="first")`` (one vote per annotator
and item, as the planner draws distinct annotators), gold with pandas; gold labels
outside the vote classes are skipped. Each dataset is fitted twice on all its
votes: without gold, and anchored on gold (``aggregate(votes, gold=...)``, what
``consensus budget --gold`` does). Each fit gives its own plan, so there are two
predictions; the headline is the gold one, and the one without gold is what a user
with no gold gets. With gold the plan *measures* what the votes can show (as
``consensus budget --gold`` does): the accuracy on gold of k random votes per item,
refitted, for k up to the votes most gold items have (``measure_by_k``, its own
random subsets, not the seeds' orders below), and the adaptive rules replayed on the
gold items' real votes (``replay_rules``, likewise); the model's curve only carries
it beyond. Each seed draws a random order of every item's votes; "the first j votes"
below are the first j in that order.

1. **Fixed k against reality.** For k = 1, 3, 5 the first k votes of every item
   (items with fewer keep all theirs) are aggregated without gold, and the labels
   are scored on the gold items with at least five votes (the same items for every
   k, each labelled from exactly k votes). The mean over seeds is set beside the
   ``k`` row of each plan's ``by_k``: the difference, and whether it falls inside
   the predicted interval. Aims: within 3 points, inside at least 90% of the time.
   A diagnostic table labels the same k votes with each full-data fit's own
   parameters (one E-step, no refit): what the prediction literally simulates, so
   the gap between the two tables is the cost of estimating the parameters from
   k votes per item. (Those parameters were fitted on the same items, so this
   column flatters them a little.) The summary repeats the counts for k >= 3 alone.
2. **Adaptive strategies against reality.** The library's two rules replayed on
   the real votes, revealed in each seed's order: "two, a third only on
   disagreement" (the first two votes' labels differ), and "one at a time until
   95% sure (at most 9)", whose confidence after j votes is computed as
   ``consensus.budget.plan.strategies`` does: the full-data fit's log prior plus
   the log-likelihood of those votes under its confusion matrices, scaled by
   1 / (1 + (j - 1) rho), softmax. The label is the argmax of that fit's posterior
   after the last vote taken. An item stops early when its votes run out
   ("ran out": its share is shown). Scored on the gold items with at least three
   votes, beside ``plan.strategies`` of the same fit; labels per item are counted
   on the same items. A third column refits ``aggregate`` (no gold) on the votes
   the rule collected on every item. Where more than 10% of the items ran out the
   replay is not like for like; the summary repeats the counts without those cases.
3. **Next pass.** Which items should get one more vote? ``budget`` labels (5%, 10%,
   20% of the candidate items), one per chosen item, are spent by: ours
   (``plan_next_pass`` on the honest posteriors, a vote from the pool); random;
   lowest confidence (lowest max of ``aggregate``'s posteriors); lowest vote share
   (Toloka-style: the share of the item's votes that agree with its majority
   label). The baselines break ties at random (ours keeps ``plan_next_pass``'s
   order). The new votes are added and ``aggregate`` is
   refitted; the score is the net number of labels turned right per 100 labels
   spent (100 x accuracy gain x items scored / labels). Target: ours above all
   three; misses are marked **MISS** (ties named). A second table splits the gain:
   the part on the chosen items themselves (the rest is the refit moving other
   labels, which can swamp a small budget), and how many of each baseline's items
   ours chose too.

   a. Simulated (``consensus.simulate``): 5,000 items, 200 annotators with Zipf(1)
      activity, 3 classes, two votes per item, one accuracy per annotator from
      Beta(3, 1) (mixed: about a quarter above 0.9, one in eight below 0.5),
      errors spread by a Dirichlet(1), 5% spammers. Every item holds back one more
      vote, from an annotator drawn by activity among those who have not voted on
      it, labelled from that annotator's true confusion row. Candidates: every
      item; scored on every item.
   b. Real: the first two votes of every item are the starting data; candidates
      are the gold items with at least three votes, and a chosen item gets its
      third vote in the seed's order. Scored on the candidates.
   c. Simulated, with named annotators (``--annotators``): 20 annotators drawn from
      the active pool can answer any item they have not labelled; ours picks items
      and the best available annotator for each, the baselines pick items by their
      rule and give each to an available annotator at random.
   d. Real, the answerer known: as b, but who gives each item's third vote is
      known (the tool has queued the item for them) and ours weighs them.

Usage::

    python benchmarks/budget.py                    # ~4 min on 2 cores
    python benchmarks/budget.py --quick            # smoke run, ~10 s
    python benchmarks/budget.py --only dog web --seeds 0 1 2

Writes benchmarks/results/budget.md and budget.json (budget_quick.* with --quick).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
# Measure the consensus in this working tree, not an installed copy that may be older.
sys.path.insert(0, str(ROOT))

from _common import RESULTS, datasets_dir, machine, markdown_table, save_json  # noqa: E402

from consensus import PooledDawidSkene, aggregate, read_votes  # noqa: E402
from consensus.budget import Crowd, crowd_from_fit, plan_budget, plan_next_pass  # noqa: E402
from consensus.budget.measured import (  # noqa: E402
    first_votes,
    measure_by_k,
    replay_rules,
    reveal_order,
)
from consensus.budget.next_pass import available_annotators  # noqa: E402
from consensus.budget.plan import BudgetPlan  # noqa: E402
from consensus.budget.rules import rule_stops  # noqa: E402
from consensus.data.votes import VoteMatrix  # noqa: E402
from consensus.exceptions import ConvergenceWarning, InputWarning  # noqa: E402
from consensus.simulate import simulate  # noqa: E402
from consensus.workflows.aggregation import AggregateResult  # noqa: E402
from consensus.workflows.budget import vote_correlation  # noqa: E402

KS = (1, 3, 5)
TARGET = 0.95
COST = 0.08
MAX_K = 9
BUDGETS = (0.05, 0.10, 0.20)
AIM_POINTS = 0.03
AIM_INSIDE = 0.90
MAX_RAN_OUT = 0.10  # an until-sure replay whose items ran out more is not like for like
MIN_SHARE_FIVE = 0.5  # "at least five votes on most items"
QUICK_DATASETS = ("bluebirds", "snow_wsd", "sp_amt", "dog")
FITS = ("gold", "no gold")  # the headline first
THIRD = "two, a third only on disagreement"
CONFIDENT = f"one at a time until {TARGET:.0%} sure (at most {MAX_K})"
RULE_NAMES = {THIRD: "third on disagreement", CONFIDENT: "until sure"}
SELECTORS = ("ours", "random", "lowest confidence", "vote share")
SIM = {"n_annotators": 200, "n_classes": 3, "votes_per_item": 2, "activity": 1.0,
       "accuracy": (3.0, 1.0), "class_specific": False, "spammer_share": 0.05}
#: 3c: how many named annotators are available to answer the next pass.
NAMED_AVAILABLE = 20


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the readers' duplicate/missing notes and EM's convergence notes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def fmt(value: float, digits: int = 1) -> str:
    return f"{100 * value:.{digits}f}"


def interval(low: float, high: float) -> str:
    return f"[{fmt(low)}, {fmt(high)}]"


# ---------------------------------------------------------------- data
@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    votes: VoteMatrix
    gold: np.ndarray  # (n_items,) class code, -1 where unknown

    def gold_items(self, min_votes: int) -> np.ndarray:
        return np.flatnonzero((self.gold >= 0) & (self.votes.votes_per_item >= min_votes))


def load(folder: Path) -> Dataset:
    with quiet():
        votes = read_votes(folder / "votes.csv", on_missing="drop", duplicates="first")
    table = pd.read_csv(folder / "gold.csv", dtype=str, keep_default_na=False)
    table = table.drop_duplicates("item")
    position = pd.Index(votes.item_ids.astype(str)).get_indexer(table["item"].str.strip())
    code = table["label"].str.strip().map({str(c): k for k, c in enumerate(votes.classes)})
    keep = (position >= 0) & code.notna().to_numpy()
    gold = np.full(votes.n_items, -1, dtype=np.int64)
    gold[position[keep]] = code[keep].to_numpy(dtype=np.int64)
    return Dataset(folder.name, votes, gold)


def labels_of(votes: VoteMatrix) -> np.ndarray:
    """The consensus labels ``aggregate`` gives without gold (honest confidence skipped:
    it never changes a label)."""
    with quiet():
        return aggregate(votes, honest_confidence=False).label_codes


# ---------------------------------------------------------------- full-data fits
@dataclass(frozen=True, eq=False)
class Fit:
    result: AggregateResult
    crowd: Crowd
    rho: float
    plan: BudgetPlan

    def scores(self, annotators: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(n, depth, K): log prior plus the log-likelihood of the first j + 1 votes
        under this fit's confusion matrices (constant past an item's last vote)."""
        evidence = self.crowd.log_confusion[annotators.clip(0), :, labels.clip(0)]
        evidence[annotators < 0] = 0.0
        return self.crowd.log_priors + np.cumsum(evidence, axis=1)


def full_fit(data: Dataset, anchored: bool, quick: bool) -> Fit:
    with quiet():
        result = aggregate(data.votes, gold=data.gold if anchored else None)
    crowd = crowd_from_fit(result.votes, result.model)
    rho = vote_correlation(result)
    size = {"n_draws": 10, "n_sim": 5_000} if quick else {}
    # what `consensus budget [--gold]` does (workflows.budget.budget_plan): refit on
    # simulated data sets the size of this one; with gold, measure k random votes per
    # item on the gold items and replay the adaptive rules on their real votes
    observed = measured = replayed = None
    if anchored:
        if result.accuracy is not None:
            observed = (result.accuracy.accuracy, result.accuracy.ci_low,
                        result.accuracy.ci_high)
        measured = measure_by_k(data.votes, data.gold, labels_of, MAX_K, seed=0)
        replayed = replay_rules(data.votes, data.gold, crowd, TARGET, MAX_K, rho, seed=0)
    plan = plan_budget(crowd, target_accuracy=TARGET, cost_per_label=COST,
                       max_annotators=MAX_K, rho=rho, annotator_accuracy=result.model.accuracy_,
                       gold_accuracy=observed,
                       current_k=float(np.mean(data.votes.votes_per_item)),
                       measured=measured, replayed=replayed,
                       refit=PooledDawidSkene, refit_items=data.votes.n_items, seed=0, **size)
    return Fit(result, crowd, rho, plan)


# ---------------------------------------------------------------- 1 and 2: real data
def fixed_k(data: Dataset, fits: dict[str, Fit], rank: np.ndarray) -> dict[str, Any]:
    """Accuracy on gold of k votes per item: refitted, and labelled by each fit's parameters."""
    items = data.gold_items(max(KS))
    truth = data.gold[items]
    annotators, labels = first_votes(data.votes, rank, max(KS))
    out: dict[str, Any] = {"items": len(items),
                           "gold_top_share": float(np.bincount(truth).max() / len(items))}
    for k in KS:
        refit = labels_of(data.votes.take_votes(rank < k))
        row = {"refit": float(np.mean(refit[items] == truth)),
               "refit_top_share": float(np.bincount(refit[items]).max() / len(items))}
        for name, fit in fits.items():
            decided = fit.scores(annotators[items], labels[items])[:, k - 1].argmax(axis=1)
            row[name] = float(np.mean(decided == truth))
        out[str(k)] = row
    return out


def adaptive(data: Dataset, fits: dict[str, Fit], rank: np.ndarray) -> dict[str, Any]:
    """Both adaptive rules replayed on the real votes in ``rank`` order, with each fit."""
    votes = data.votes
    items = data.gold_items(3)
    truth = data.gold[items]
    annotators, labels = first_votes(votes, rank, MAX_K)
    available = np.minimum(votes.votes_per_item, MAX_K)
    every = np.arange(votes.n_items)
    out: dict[str, Any] = {"items": len(items)}
    for name, fit in fits.items():
        score = fit.scores(annotators, labels)
        decided = score.argmax(axis=2)
        # the library's own rules (consensus.budget.rules), on the real votes
        taken, stop, reached = rule_stops(score, labels, available, TARGET, fit.rho, MAX_K)
        third, confident = decided[every, taken - 1], decided[every, stop - 1]
        ran_out = ~reached & (available < MAX_K)
        out[name] = {}
        for rule, label, used in ((THIRD, third, taken), (CONFIDENT, confident, stop)):
            refit = labels_of(votes.take_votes(rank < used[votes.item_codes]))
            out[name][rule] = {
                "accuracy": float(np.mean(label[items] == truth)),
                "refit": float(np.mean(refit[items] == truth)),
                "labels_per_item": float(used[items].mean()),
                "ran_out": float(ran_out[items].mean()) if rule == CONFIDENT else 0.0,
            }
    return out


# ---------------------------------------------------------------- 3: next pass
def lowest(score: np.ndarray, candidates: np.ndarray, budget: int,
           rng: np.random.Generator) -> np.ndarray:
    """The ``budget`` candidates with the lowest score, ties in random order."""
    order = np.lexsort((rng.random(len(candidates)), score))
    return candidates[order[:budget]]


def choose(method: str, result: AggregateResult, crowd: Crowd, candidates: np.ndarray,
           budget: int, rng: np.random.Generator,
           available: sp.csr_matrix | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Item codes that get one more vote under ``method``, and who answers them when
    ``available`` (who can answer which item) is known: ours picks the best available
    annotator per item, the baselines one at random among them (as a queue would)."""
    if method == "ours":
        votes = result.votes
        position = np.full(votes.n_items, -1, dtype=np.int64)
        position[candidates] = np.arange(len(candidates))
        cast = position[votes.item_codes] >= 0
        plan = plan_next_pass(crowd, result.posteriors[candidates],
                              result.label_codes[candidates], candidates,
                              result.votes.classes, budget,
                              available=None if available is None else available[candidates],
                              annotator_ids=np.arange(crowd.n_annotators),
                              voted=(position[votes.item_codes[cast]],
                                     votes.annotator_codes[cast]))
        items = plan.table["item"].to_numpy(dtype=np.int64)
        if available is None:
            return items, None
        return items, plan.table["suggested_annotator"].to_numpy(dtype=np.int64)
    if method == "random":
        items = rng.choice(candidates, size=budget, replace=False)
    elif method == "lowest confidence":
        items = lowest(result.posteriors.max(axis=1)[candidates], candidates, budget, rng)
    else:
        counts = result.votes.label_counts[candidates]
        items = lowest(counts.max(axis=1) / counts.sum(axis=1), candidates, budget, rng)
    if available is None:
        return items, None
    start, size = available.indptr[items], np.diff(available.indptr)[items]
    keep = size > 0
    pick = start[keep] + (rng.random(int(keep.sum())) * size[keep]).astype(np.int64)
    return items[keep], available.indices[pick].astype(np.int64)


def with_votes(votes: VoteMatrix, items: np.ndarray, annotators: np.ndarray,
               labels: np.ndarray) -> VoteMatrix:
    """``votes`` plus one vote per item in ``items``."""
    return VoteMatrix(
        np.concatenate([votes.item_codes, items.astype(np.int32)]),
        np.concatenate([votes.annotator_codes, annotators.astype(np.int32)]),
        np.concatenate([votes.label_codes, labels.astype(np.int32)]),
        votes.item_ids, votes.annotator_ids, votes.classes,
    )


#: ``answer(items, annotators)``: the annotators and labels of the next vote on ``items``
#: (``annotators`` None: whoever answers next in the held-back data).
Answer = Callable[[np.ndarray, "np.ndarray | None"], tuple[np.ndarray, np.ndarray]]


def next_pass_trial(votes: VoteMatrix, answer: Answer, candidates: np.ndarray,
                    truth: np.ndarray, seed: int,
                    available: sp.csr_matrix | None = None) -> dict[str, Any]:
    """Per budget and method: net labels turned right per 100 spent (``gain``), the part
    of it on the chosen items themselves (``direct``; the rest is the refit moving other
    labels), and the share of the chosen items ours chose too (``overlap``).

    ``truth`` is scored on the candidates; ``available`` (n_items, A), when given, says
    who can answer which item (see :func:`choose`).
    """
    with quiet():
        result = aggregate(votes)
    crowd = crowd_from_fit(result.votes, result.model)
    right = result.label_codes == truth
    refits: dict[bytes, np.ndarray] = {}  # the same chosen votes need only one refit
    out: dict[str, Any] = {"items": len(candidates),
                           "accuracy_before": float(right[candidates].mean())}
    for share in BUDGETS:
        budget = max(1, int(round(share * len(candidates))))
        row: dict[str, Any] = {"labels": budget}
        ours = np.empty(0, dtype=np.int64)
        for number, method in enumerate(SELECTORS):
            rng = np.random.default_rng([seed, number, budget])
            chosen, asked = choose(method, result, crowd, candidates, budget, rng, available)
            order = np.argsort(chosen)
            chosen = chosen[order]
            asked = None if asked is None else asked[order]
            ours = chosen if method == "ours" else ours
            who, label = answer(chosen, asked)
            key = chosen.tobytes() + who.tobytes()
            if key not in refits:
                refits[key] = labels_of(with_votes(votes, chosen, who, label)) == truth
            now = refits[key]
            row[method] = {
                "gain": 100.0 * float(now[candidates].sum() - right[candidates].sum()) / budget,
                "direct": 100.0 * float(now[chosen].sum() - right[chosen].sum()) / budget,
                "overlap": float(np.isin(chosen, ours).mean()),
            }
        out[f"{share:g}"] = row
    return out


def held_back(extra_annotator: np.ndarray, extra_label: np.ndarray) -> Answer:
    """The answer of data that hold one more vote per item (asked annotators must match)."""
    def answer(items: np.ndarray, annotators: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if annotators is not None:
            assert np.array_equal(annotators, extra_annotator[items])
        return extra_annotator[items], extra_label[items]
    return answer


def simulated_trial(n_items: int, seed: int, named: bool = False) -> dict[str, Any]:
    """3a: a simulated crowd, each item holding back one vote from a pool-drawn annotator.
    3c (``named``): NAMED_AVAILABLE annotators drawn from the active pool can answer any
    item they have not labelled, with their true confusion rows."""
    sim = simulate(n_items, seed=seed, **SIM)
    rng = np.random.default_rng([seed, 7])
    annotators, _ = first_votes(sim.votes, reveal_order(sim.votes, rng), SIM["votes_per_item"])
    u = rng.random(n_items)  # common random numbers: the same item answers alike

    def label_of(items: np.ndarray, who: np.ndarray) -> np.ndarray:
        rows = sim.confusion[who, sim.truth[items]]
        return (u[items][:, None] >= np.cumsum(rows, axis=1)[:, :-1]).sum(axis=1)

    if named:
        active = np.flatnonzero(sim.votes.votes_per_annotator > 0)
        pool = rng.choice(active, size=min(NAMED_AVAILABLE, len(active)), replace=False)
        available = available_annotators(sim.votes.item_codes, sim.votes.annotator_codes,
                                          n_items, sim.votes.n_annotators, pool)

        def answer(items: np.ndarray, who: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
            assert who is not None
            return who, label_of(items, who)

        out = next_pass_trial(sim.votes, answer, np.arange(n_items), sim.truth, seed,
                              available)
    else:
        cdf = np.cumsum(sim.activity)
        extra = np.full(n_items, -1, dtype=np.int64)
        todo = np.arange(n_items)
        while len(todo):  # redraw where the drawn annotator already voted on the item
            extra[todo] = np.minimum(np.searchsorted(cdf, rng.random(len(todo)) * cdf[-1]),
                                     len(cdf) - 1)
            todo = todo[(annotators[todo] == extra[todo, None]).any(axis=1)]
        every = np.arange(n_items)
        out = next_pass_trial(sim.votes, held_back(extra, label_of(every, extra)), every,
                              sim.truth, seed)
    out["seed"] = seed
    return out


def real_next_pass(data: Dataset, rank: np.ndarray, seed: int,
                   known: bool = False) -> dict[str, Any]:
    """3b: start from each item's first two votes; a chosen item gets its third.
    3d (``known``): who gives each item's third vote is known beforehand (as when the
    tool has already queued the item for that annotator), and ours weighs them."""
    votes = data.votes
    start = votes.take_votes(rank < 2)
    third = rank == 2
    extra_annotator = np.full(votes.n_items, -1, dtype=np.int64)
    extra_label = np.full(votes.n_items, -1, dtype=np.int64)
    extra_annotator[votes.item_codes[third]] = votes.annotator_codes[third]
    extra_label[votes.item_codes[third]] = votes.label_codes[third]
    available = None
    if known:
        has = np.flatnonzero(extra_annotator >= 0)
        available = sp.csr_matrix((np.ones(len(has), dtype=np.int8),
                                   (has, extra_annotator[has])),
                                  shape=(votes.n_items, votes.n_annotators))
    return next_pass_trial(start, held_back(extra_annotator, extra_label),
                           data.gold_items(3), data.gold, seed, available)


# ---------------------------------------------------------------- tables
def verdict(diff: float, inside: bool) -> str:
    near = "yes" if abs(diff) <= AIM_POINTS else "**no**"
    return f"{near} / {'yes' if inside else '**no**'}"


def fixed_k_tables(rows: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Predicted against realised for fixed k; the checks, one per (dataset, k, fit)."""
    table, diagnosis, checks = [], [], []
    for r in rows:
        n = r["fixed"][0]["items"]
        for k in KS:
            realised = float(np.mean([s[str(k)]["refit"] for s in r["fixed"]]))
            se = np.sqrt(realised * (1 - realised) / n)
            cells: list[Any] = [r["dataset"], k, n, f"{fmt(realised)} ± {fmt(se)}"]
            diag: list[Any] = [r["dataset"], k, fmt(realised)]
            for fit in FITS:
                p = r["plans"][fit]["by_k"][k - 1]
                diff = p["expected_accuracy"] - realised
                inside = p["ci_low"] <= realised <= p["ci_high"]
                near_se = p["ci_low"] - 2 * se <= realised <= p["ci_high"] + 2 * se
                checks.append({"dataset": r["dataset"], "k": k, "fit": fit, "diff": diff,
                               "inside": inside, "inside_2se": near_se})
                cells += [f"{fmt(p['expected_accuracy'])} {interval(p['ci_low'], p['ci_high'])}",
                          f"{100 * diff:+.1f}", verdict(diff, inside)]
                param = float(np.mean([s[str(k)][fit] for s in r["fixed"]]))
                diag += [fmt(param), f"{100 * (p['expected_accuracy'] - param):+.1f}"]
            top = float(np.mean([s[str(k)]["refit_top_share"] for s in r["fixed"]]))
            diag += [fmt(top, 0), fmt(r["fixed"][0]["gold_top_share"], 0)]
            table.append(cells)
            diagnosis.append(diag)
    head = ["dataset", "k", "gold items", "realised % ± SE"]
    for fit in FITS:
        head += [f"predicted, {fit} %", "pred − real", "≤ 3 pts / inside"]
    text = "\n\n".join([
        markdown_table(head, table),
        "Diagnosis: the same k votes per item labelled with each full-data fit's own "
        "parameters (no refit), which is what the prediction simulates; the refitted "
        "realised figure is repeated for comparison, with the share of the items the refit "
        "puts in its most common class beside gold's (a refit that collapses to one class "
        "shows here).",
        markdown_table(["dataset", "k", "realised (refit) %",
                        *(c for fit in FITS for c in (f"{fit} fit's params %",
                                                      "pred − that")),
                        "refit top class %", "gold top class %"], diagnosis),
    ])
    return text, checks


def check_summary(checks: list[dict[str, Any]], what: str,
                  subset: tuple[str, Callable[[dict[str, Any]], bool]] | None = None,
                  ) -> tuple[str, list[str]]:
    """Share within 3 points and inside the interval, per fit; ``subset`` adds rows for
    the cases it keeps (informative: the aims are judged on every case)."""
    lines, misses = [], []
    groups = [(fit, [c for c in checks if c["fit"] == fit]) for fit in FITS]
    if subset is not None:
        name, keep = subset
        groups += [(f"{fit}, {name}", [c for c in mine if keep(c)]) for fit, mine in groups]
    for label, mine in groups:
        if not mine:
            continue
        near = float(np.mean([abs(c["diff"]) <= AIM_POINTS for c in mine]))
        inside = float(np.mean([c["inside"] for c in mine]))
        wide = float(np.mean([c["inside_2se"] for c in mine]))
        bias = 100 * float(np.mean([c["diff"] for c in mine]))
        worst = max(mine, key=lambda c: abs(c["diff"]))
        case = f"k={worst['k']}" if "k" in worst else RULE_NAMES[worst["rule"]]
        lines.append(f"| {label} | {len(mine)} | {fmt(near, 0)} | {fmt(inside, 0)} | "
                     f"{fmt(wide, 0)} | {bias:+.1f} | {worst['dataset']} {case}: "
                     f"{100 * worst['diff']:+.1f} |")
        if label not in FITS:
            continue
        if near < 1.0:
            misses.append(f"{what}, {label}: {len(mine) - int(round(near * len(mine)))} of "
                          f"{len(mine)} predictions more than 3 points off")
        if inside < AIM_INSIDE:
            misses.append(f"{what}, {label}: realised inside the interval {fmt(inside, 0)}% "
                          f"of the time (aim ≥ {fmt(AIM_INSIDE, 0)}%)")
    head = ("| prediction from | cases | within 3 pts % | inside interval % | "
            "inside interval ± 2 SE % | mean pred − real (pts) | largest miss |")
    return "\n".join([head, "|---|---|---|---|---|---|---|", *lines]), misses


def by_k_bias(checks: list[dict[str, Any]]) -> str:
    rows = []
    for fit in FITS:
        for k in KS:
            diffs = [100 * c["diff"] for c in checks if c["fit"] == fit and c["k"] == k]
            if diffs:
                rows.append([fit, k, f"{np.mean(diffs):+.1f}", f"{np.median(diffs):+.1f}",
                             sum(d > 0 for d in diffs), len(diffs)])
    return markdown_table(["prediction from", "k", "mean pred − real (pts)", "median",
                           "optimistic", "datasets"], rows)


def adaptive_tables(rows: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    checks, parts = [], []
    for fit in FITS:
        table = []
        for r in rows:
            n = r["adaptive"][0]["items"]
            strategies = r["plans"][fit]["strategies"]
            for rule in (THIRD, CONFIDENT):
                p = strategies[rule]
                seeds = [s[fit][rule] for s in r["adaptive"]]
                real = float(np.mean([s["accuracy"] for s in seeds]))
                se = np.sqrt(real * (1 - real) / n)
                diff = p["expected_accuracy"] - real
                inside = p["ci_low"] <= real <= p["ci_high"]
                near_se = p["ci_low"] - 2 * se <= real <= p["ci_high"] + 2 * se
                ran_out = float(np.mean([s["ran_out"] for s in seeds]))
                checks.append({"dataset": r["dataset"], "rule": rule, "fit": fit, "diff": diff,
                               "inside": inside, "inside_2se": near_se,
                               "ran_out": ran_out})
                table.append([
                    r["dataset"], RULE_NAMES[rule],
                    n, f"{fmt(p['expected_accuracy'])} {interval(p['ci_low'], p['ci_high'])}",
                    f"{fmt(real)} ± {fmt(se)}", f"{100 * diff:+.1f}", verdict(diff, inside),
                    f"{p['labels_per_item']:.2f}",
                    f"{np.mean([s['labels_per_item'] for s in seeds]):.2f}",
                    fmt(float(np.mean([s["refit"] for s in seeds]))),
                    fmt(ran_out) if rule == CONFIDENT else "",
                ])
        parts += [f"Full-data fit {'anchored on gold' if fit == 'gold' else 'without gold'}"
                  + (" (headline)" if fit == FITS[0] else "") + ":",
                  markdown_table(["dataset", "rule", "gold items", "predicted %",
                                  "realised % ± SE", "pred − real", "≤ 3 pts / inside",
                                  "labels/item predicted", "labels/item realised",
                                  "refit on collected votes %", "ran out %"], table)]
    return "\n\n".join(parts), checks


def method_means(trials: list[dict[str, Any]], share: float, what: str) -> dict[str, float]:
    return {m: float(np.mean([t[f"{share:g}"][m][what] for t in trials])) for m in SELECTORS}


def beaten_by(means: dict[str, float]) -> tuple[list[str], str]:
    """Baselines ours is not above, and the verdict cell (ties named as ties)."""
    beaten = [m for m in SELECTORS[1:] if not means["ours"] > means[m]]
    named = [m + (" (tie)" if means[m] == means["ours"] else "") for m in beaten]
    return beaten, "met" if not beaten else "**MISS** (" + ", ".join(named) + ")"


NEXT_PASS_HEAD = ["budget", "labels", *SELECTORS, "ours above all three"]


def next_pass_row(label: list[Any], trials: list[dict[str, Any]],
                  share: float) -> tuple[list[Any], list[str]]:
    means = method_means(trials, share, "gain")
    beaten, mark = beaten_by(means)
    labels = int(np.mean([t[f"{share:g}"]["labels"] for t in trials]))
    cells = [*label, f"{fmt(share, 0)}%", labels,
             *(f"{means[m]:+.1f}" for m in SELECTORS), mark]
    return cells, beaten


def source_table(groups: list[list[dict[str, Any]]]) -> str:
    """Direct gain (on the chosen items) and overlap with ours, averaged over ``groups``
    (datasets; each a list of seeds)."""
    table = []
    for share in BUDGETS:
        cells: list[Any] = [f"{fmt(share, 0)}%"]
        for what, digits in (("direct", 1), ("overlap", 0)):
            means = {m: np.mean([method_means(g, share, what)[m] for g in groups])
                     for m in SELECTORS}
            cells += [f"{means[m]:+.1f}" if what == "direct" else fmt(means[m], digits)
                      for m in (SELECTORS if what == "direct" else SELECTORS[1:])]
        table.append(cells)
    return markdown_table(["budget", *(f"{m}: on chosen" for m in SELECTORS),
                           *(f"{m}: overlap with ours %" for m in SELECTORS[1:])], table)


def simulated_table(trials: list[dict[str, Any]],
                    what: str = "simulated") -> tuple[str, list[str]]:
    table, misses = [], []
    for share in BUDGETS:
        cells, beaten = next_pass_row([], trials, share)
        table.append(cells)
        if beaten:
            misses.append(f"next pass, {what}, budget {fmt(share, 0)}%: ours not above "
                          + ", ".join(beaten))
    before = np.mean([t["accuracy_before"] for t in trials])
    return "\n\n".join([
        f"Accuracy before the extra votes {fmt(before, 2)}% (mean over seeds). Net labels "
        "turned right per 100 labels spent, mean over seeds:",
        markdown_table(NEXT_PASS_HEAD, table),
        "Where it comes from: the net gain on the chosen items alone (per 100 labels; the "
        "rest is the refit moving other labels), and the share of each baseline's chosen "
        "items that ours chose too:",
        source_table([trials]),
    ]), misses


def real_next_pass_table(rows: list[dict[str, Any]],
                         key: str = "next_pass") -> tuple[str, list[str]]:
    what = "next pass" if key == "next_pass" else "next pass, answerer known"
    table, misses = [], []
    for r in rows:
        trials = r[key]
        before = np.mean([t["accuracy_before"] for t in trials])
        for share in BUDGETS:
            cells, beaten = next_pass_row([r["dataset"], trials[0]["items"], fmt(before)],
                                          trials, share)
            table.append(cells)
            if beaten:
                misses.append(f"{what}, {r['dataset']}, budget {fmt(share, 0)}%: ours not "
                              "above " + ", ".join(beaten))
    groups = [r[key] for r in rows]
    for share in BUDGETS:
        means = {m: float(np.mean([method_means(g, share, "gain")[m] for g in groups]))
                 for m in SELECTORS}
        beaten, mark = beaten_by(means)
        table.append(["**mean**", "", "", f"{fmt(share, 0)}%", "",
                      *(f"{means[m]:+.1f}" for m in SELECTORS), mark])
        if beaten:
            misses.append(f"{what}, mean over datasets, budget {fmt(share, 0)}%: ours not "
                          "above " + ", ".join(beaten))
    return "\n\n".join([
        markdown_table(["dataset", "candidates", "accuracy before %", *NEXT_PASS_HEAD], table),
        "Where it comes from, mean over datasets: net gain on the chosen items alone (per "
        "100 labels), and overlap with ours:",
        source_table(groups),
    ]), misses


# ---------------------------------------------------------------- main
def plan_record(fit: Fit) -> dict[str, Any]:
    strategies = fit.plan.strategies.set_index("name")
    return {
        "rho": fit.rho,
        "by_k": fit.plan.by_k[["k", "expected_accuracy", "ci_low", "ci_high"]]
        .to_dict("records"),
        "strategies": {rule: strategies.loc[rule, ["expected_accuracy", "ci_low", "ci_high",
                                                   "labels_per_item"]].astype(float).to_dict()
                       for rule in (THIRD, CONFIDENT)},
    }


def evaluate(data: Dataset, seeds: list[int], quick: bool) -> dict[str, Any]:
    fits = {fit: full_fit(data, fit == "gold", quick) for fit in FITS}
    row: dict[str, Any] = {"dataset": data.name, "items": data.votes.n_items,
                           "classes": data.votes.n_classes,
                           "gold": int((data.gold >= 0).sum()),
                           "plans": {fit: plan_record(f) for fit, f in fits.items()},
                           "fixed": [], "adaptive": [], "next_pass": [], "next_known": []}
    for seed in seeds:
        rank = reveal_order(data.votes, np.random.default_rng(seed))
        row["fixed"].append(fixed_k(data, fits, rank))
        row["adaptive"].append(adaptive(data, fits, rank))
        row["next_pass"].append(real_next_pass(data, rank, seed))
        row["next_known"].append(real_next_pass(data, rank, seed, known=True))
    return row


def qualifying(root: Path, only: list[str] | None,
               quick: bool) -> tuple[list[Dataset], list[str]]:
    chosen, skipped = [], []
    for folder in sorted(p for p in root.iterdir()
                         if (p / "votes.csv").is_file() and (p / "gold.csv").is_file()):
        if only and folder.name not in only:
            continue
        if quick and not only and folder.name not in QUICK_DATASETS:
            continue
        data = load(folder)
        share = float(np.mean(data.votes.votes_per_item >= max(KS)))
        if share >= MIN_SHARE_FIVE:
            chosen.append(data)
        else:
            skipped.append(f"{folder.name} ({fmt(share, 0)}% of items with ≥ 5 votes)")
    return chosen, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="Seeds (default 0 1 2 3 4; 0 1 with --quick).")
    parser.add_argument("--quick", action="store_true",
                        help=f"Two seeds, {', '.join(QUICK_DATASETS)} only, 2,000 simulated "
                             "items, smaller plan simulations: a smoke run.")
    parser.add_argument("--datasets", default=None,
                        help="Folder of dataset folders (default $CONSENSUS_DATASETS, else "
                             "../shared/datasets beside the repository).")
    parser.add_argument("--only", nargs="+", default=None, help="Only these datasets.")
    parser.add_argument("--no-datasets", action="store_true", help="Simulation only.")
    args = parser.parse_args(argv)
    seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2, 3, 4])
    n_sim = 2_000 if args.quick else 5_000

    started = time.perf_counter()
    simulated, named = [], []
    for seed in seeds:
        simulated.append(simulated_trial(n_sim, seed))
        named.append(simulated_trial(n_sim, seed, named=True))
        print(f"  simulated seed {seed}: ours {simulated[-1]['0.1']['ours']['gain']:+.1f} per 100 "
              f"labels at 10%", file=sys.stderr, flush=True)
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    root = datasets_dir(args.datasets)
    if not args.no_datasets:
        chosen, skipped = qualifying(root, args.only, args.quick)
        for data in chosen:
            tick = time.perf_counter()
            rows.append(evaluate(data, seeds, args.quick))
            print(f"  {data.name}: {time.perf_counter() - tick:.1f} s", file=sys.stderr,
                  flush=True)

    misses: list[str] = []
    parts = [f"## Budget predictions against reality ({len(seeds)} seed(s): "
             f"{', '.join(map(str, seeds))}; target {TARGET:.0%}, at most {MAX_K} per item)"]
    if rows:
        fixed_text, fixed_checks = fixed_k_tables(rows)
        fixed_summary, fixed_misses = check_summary(
            fixed_checks, "fixed k", ("k ≥ 3", lambda c: c["k"] >= 3))
        adaptive_text, adaptive_checks = adaptive_tables(rows)
        adaptive_summary, adaptive_misses = check_summary(
            adaptive_checks, "adaptive",
            (f"≤ {fmt(MAX_RAN_OUT, 0)}% ran out", lambda c: c["ran_out"] <= MAX_RAN_OUT))
        misses += fixed_misses + adaptive_misses
        parts += [
            f"Datasets ({root}) with ≥ 5 votes on at least half of their items: "
            + ", ".join(f"{r['dataset']} ({r['items']:,} items, K={r['classes']})"
                        for r in rows)
            + ". Not qualifying: " + (", ".join(skipped) or "none") + ".",
            "### 1. Fixed k: predicted (`plan_budget(...).by_k`) against realised",
            "Realised: `aggregate` (no gold) on the first k votes of every item, accuracy on "
            "the gold items with ≥ 5 votes, mean over seeds; ± one binomial SE over those "
            "items. Predicted: with gold (headline; measured on other random subsets where the "
            "gold items have the votes, the model's curve scaled to it beyond), and "
            "without gold, with their 95% intervals. Aims: |pred − real| ≤ 3 points; "
            "realised inside the interval.",
            fixed_text,
            "Summary over datasets and k:",
            fixed_summary,
            by_k_bias(fixed_checks),
            "### 2. Adaptive strategies: predicted (`plan.strategies`) against the replay",
            "Real votes revealed in random order; labels from the full-data fit's posterior "
            "(the rule's own decision, as the library simulates it); gold items with ≥ 3 "
            "votes. 'ran out': the item's real votes ended before the rule stopped.",
            adaptive_text,
            "Summary over datasets and both rules:",
            adaptive_summary,
        ]
    sim_text, sim_misses = simulated_table(simulated)
    misses += sim_misses
    parts += ["### 3a. Next pass on simulated crowds",
              f"{n_sim:,} items, {SIM['n_annotators']} annotators (Zipf(1) activity), "
              f"{SIM['n_classes']} classes, {SIM['votes_per_item']} votes per item, accuracy "
              "Beta(3, 1) per annotator, 5% spammers; one held-back vote per item from a "
              "pool-drawn annotator's true confusion row. Scored on every item.",
              sim_text]
    named_text, named_misses = simulated_table(named, "simulated, named annotators")
    misses += named_misses
    parts += ["### 3c. Next pass on simulated crowds, with named annotators",
              f"The same crowds; {NAMED_AVAILABLE} annotators drawn from the active pool are "
              "available (`--annotators`) and each can answer any item they have not "
              "labelled, from their true confusion row. Ours picks items and the best "
              "available annotator for each; the baselines pick items by their rule and "
              "give each to one of its available annotators at random, as a queue would.",
              named_text]
    if rows:
        real_text, real_misses = real_next_pass_table(rows)
        known_text, known_misses = real_next_pass_table(rows, "next_known")
        misses += real_misses + known_misses
        parts += ["### 3b. Next pass on real votes",
                  "Start: each item's first two votes. Candidates and scored items: gold "
                  "items with ≥ 3 votes; a chosen item gets its third real vote. Net labels "
                  "turned right per 100 labels spent, mean over seeds. Ours does not know "
                  "who answers (a vote from the pool).",
                  real_text,
                  "### 3d. Next pass on real votes, the answerer known",
                  "As 3b, but who gives each item's third vote is known beforehand (the "
                  "tool has queued the item for that annotator), and ours weighs that "
                  "annotator's confusion matrix; the baselines cannot use it.",
                  known_text]
    parts.append("## Targets missed\n\n" + ("\n".join(f"- {m}" for m in misses) if misses
                                          else "None."))
    elapsed = time.perf_counter() - started
    parts.append(f"Machine: {machine()}\n\nTotal run time {elapsed:.0f} s.")
    text = "\n\n".join(parts)
    print(text)
    suffix = "_quick" if args.quick else ""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"budget{suffix}.md").write_text(text + "\n")
    save_json(f"budget{suffix}.json", {"seeds": seeds, "quick": args.quick,
                                       "simulated": simulated, "named": named, "datasets": rows,
                                       "skipped": skipped, "misses": misses,
                                       "seconds": elapsed})
    return 0


if __name__ == "__main__":
    sys.exit(main())
