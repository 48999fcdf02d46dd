"""How many annotators per item, for what accuracy and money, and what adaptivity saves.

For k = 1..max_k the expected accuracy of the consensus is what happens when items
are drawn from the fitted class priors, k annotators are drawn as the pool is drawn,
their votes from their confusion matrices, and the fitted model labels the item. It
is exact for one annotator and a Monte Carlo average beyond (common random numbers
across k). The interval repeats this for plausible confusion matrices and priors
drawn from their posteriors (:meth:`Crowd.draws`), so it says how sure the fit is,
not only how many items were simulated.

Votes on an item are drawn correlated as the real ones are (a Pólya urn with the
intra-item correlation the votes show, :func:`~consensus.budget.draws.draw_votes`): five
agreeing votes are worth fewer than five independent ones, and the curve says so.

Adaptive strategies run on the same draws: "two, then a third on disagreement", and
"one more at a time until the confidence reaches the target", where the confidence is
the model's posterior tempered by the design effect of correlated votes (the
honest confidence of :mod:`consensus.quality.overdispersion`), so the rule is not
fooled by overconfident posteriors.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from ..data.votes import VoteMatrix
from ..exceptions import ConvergenceWarning, InputError
from ..models.base import Aggregator
from ..report.text import records, text_table
from .crowd import Crowd
from .draws import draw_annotators, draw_truth, draw_votes, vote_evidence
from .measured import REPEATS, Measured, Replayed
from .rules import rule_stops

#: Plausible parameter sets behind each interval, and items simulated for each.
N_DRAWS, N_ITEMS = 40, 20_000
#: Simulated data sets refitted per k (each the size of the real one, at most N_ITEMS).
N_REFITS = 12
#: What a plan without gold says about itself: on 18 real crowds such curves were
#: 8-10 points optimistic (benchmarks/RESULTS.md, section 8).
NO_GOLD_NOTE = ("without gold these figures assume annotators err independently given the "
                "true label; crowds that agree on wrong answers make them optimistic (by 8-10 "
                "points on real crowds). Give gold to measure them instead")
#: Pool sizes tried, best annotators first, when the target is out of reach.
POOL_FRACTIONS = (0.5, 0.25, 0.1, 0.05)


@dataclass(frozen=True, eq=False)
class BudgetPlan:
    """Expected accuracy against annotators per item, the recommendation, and strategies.

    ``by_k``: ``k, expected_accuracy, ci_low, ci_high, cost_per_item, method``;
    ``strategies``: ``name, expected_accuracy, ci_low, ci_high, labels_per_item,
    cost_per_item``. ``recommended_k`` is None when the target is out of reach, and
    ``suggestion`` then says what would reach it.
    """

    by_k: pd.DataFrame
    strategies: pd.DataFrame
    recommended_k: int | None
    target_accuracy: float
    cost_per_label: float
    n_items: int | None
    confidence: float
    suggestion: str = ""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        interval = (f"{self.confidence:.0%} intervals: measured on gold where marked *, else "
                    f"over the fit's uncertainty"
                    if self.by_k["method"].eq("measured on gold").any()
                    else f"{self.confidence:.0%} interval over the fit's uncertainty")
        lines = [f"expected accuracy of the consensus by annotators per item ({interval}):"]
        lines += chart(self.by_k, self.target_accuracy)
        if self.recommended_k is not None:
            row = self.by_k.set_index("k").loc[self.recommended_k]
            text = (f"recommended: {self.recommended_k} annotators per item reach "
                    f"{row.expected_accuracy:.1%} [{row.ci_low:.1%}, {row.ci_high:.1%}] "
                    f"(target {self.target_accuracy:.1%}) at {money(row.cost_per_item)} per item")
            if self.n_items:
                text += f", {money(row.cost_per_item * self.n_items)} for {self.n_items:,} items"
            lines.append(text)
        else:
            lines.append(f"the target {self.target_accuracy:.1%} is not reachable with this "
                         f"pool within {int(self.by_k['k'].max())} annotators per item")
        if self.suggestion:
            lines.append(self.suggestion)
        lines.append("strategies:")
        lines.append(text_table(self.strategies))
        lines += self.notes
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_accuracy": self.target_accuracy,
            "cost_per_label": self.cost_per_label,
            "items": self.n_items,
            "by_k": records(self.by_k[["k", "expected_accuracy", "ci_low", "ci_high",
                                       "cost_per_item"]]),
            "recommended_k": self.recommended_k,
            "reachable": self.recommended_k is not None,
            "suggestion": self.suggestion or None,
            "strategies": records(self.strategies[["name", "expected_accuracy",
                                                   "labels_per_item", "cost_per_item"]]),
        }


def money(value: float) -> str:
    return f"{value:,.2f}"


def chart(by_k: pd.DataFrame, target: float, width: int = 40) -> list[str]:
    """One bar per k from the lowest accuracy shown to 100%, '|' at the target."""
    low = max(0.0, math.floor(10 * min(by_k["ci_low"].min(), target) - 1e-9) / 10)
    scale = width / max(1.0 - low, 1e-9)
    mark = int(round((target - low) * scale))
    lines = [f"   k  {low:.0%}{'':{width - 8}}100%   accuracy [interval]  cost/item"]
    for row in by_k.itertuples():
        bar = ["#"] * int(round((row.expected_accuracy - low) * scale)) + [" "] * width
        bar = bar[:width]
        bar[min(mark, width - 1)] = "|"
        mark_measured = " *" if row.method == "measured on gold" else ""
        lines.append(f"  {row.k:2d}  {''.join(bar)}  {row.expected_accuracy:6.1%} "
                     f"[{row.ci_low:.1%}, {row.ci_high:.1%}]  {money(row.cost_per_item)}"
                     f"{mark_measured}")
    return lines


def accuracy_by_k(
    crowd: Crowd, max_k: int, *, rho: float = 0.0, n_draws: int = N_DRAWS,
    n_items: int = N_ITEMS, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected accuracy (R, max_k) for each parameter draw (draw 0 is the fit) and
    k = 1..max_k, and the priors drawn (R, K)."""
    rng = np.random.default_rng(seed)
    confusions, priors = crowd.draws(n_draws, rng)
    annotators = draw_annotators(crowd.share, n_items, max_k, rng)
    u_truth, u_votes = rng.random(n_items), rng.random((n_items, max_k))
    accuracy = np.empty((n_draws, max_k))
    log_conf, log_prior = crowd.log_confusion, crowd.log_priors
    for r in range(n_draws):
        truth = draw_truth(priors[r], u_truth)
        labels = draw_votes(confusions[r], annotators, truth, u_votes, rho)
        score = log_prior + np.cumsum(vote_evidence(log_conf, annotators, labels), axis=1)
        accuracy[r] = (score.argmax(axis=2) == truth[:, None]).mean(axis=0)
    accuracy[:, 0] = exact_single(crowd, confusions, priors)
    return accuracy, priors


def refit_accuracy_by_k(
    crowd: Crowd, max_k: int, make_model: Callable[[], Aggregator], n_items: int, *,
    rho: float = 0.0, n_draws: int = N_REFITS, seed: int = 0,
) -> np.ndarray:
    """Expected accuracy (R, max_k) when the model is fitted on the k votes themselves.

    Each draw simulates a data set the size of the real one with k votes per item and
    fits ``make_model()`` on it, so the figure includes what learning the annotators
    from k votes costs (large for few votes and small data sets), not only the votes'
    noise. One vote per item is each item's vote (nothing can be learned from it).
    """
    rng = np.random.default_rng(seed + 3)
    confusions, priors = crowd.draws(n_draws, rng)
    n_items = max(int(n_items), 10)
    annotators = draw_annotators(crowd.share, n_items, max_k, rng)
    u_truth, u_votes = rng.random(n_items), rng.random((n_items, max_k))
    accuracy = np.empty((n_draws, max_k))
    for r in range(n_draws):
        truth = draw_truth(priors[r], u_truth)
        labels = draw_votes(confusions[r], annotators, truth, u_votes, rho)
        accuracy[r, 0] = (labels[:, 0] == truth).mean()
        for k in range(2, max_k + 1):
            votes = VoteMatrix.from_codes(np.repeat(np.arange(n_items), k),
                                          annotators[:, :k].ravel(), labels[:, :k].ravel(),
                                          n_classes=crowd.n_classes)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = make_model().fit(votes)
            accuracy[r, k - 1] = (model.label_codes_ == truth).mean()
    return accuracy


def exact_single(crowd: Crowd, confusions: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Expected accuracy with one annotator per item, exactly, for every draw (R,)."""
    decision = (crowd.log_priors[None, :, None] + crowd.log_confusion).argmax(axis=1)  # (A, L)
    right = decision[:, None, :] == np.arange(crowd.n_classes)[None, :, None]  # (A, K, L)
    per_class = (confusions * right[None]).sum(axis=-1)  # (R, A, K)
    return np.einsum("a,rak,rk->r", crowd.share, per_class, priors)


def strategies(
    crowd: Crowd, max_k: int, target: float, rho: float, *,
    n_draws: int = N_DRAWS, n_items: int = N_ITEMS, seed: int = 0,
) -> dict[str, np.ndarray]:
    """Accuracy and labels per item (each (R, 2)) of the two adaptive rules."""
    rng = np.random.default_rng(seed + 1)
    confusions, priors = crowd.draws(n_draws, rng)
    active = int(np.count_nonzero(crowd.share > 0))
    depth = min(max(max_k, 3), active)
    annotators = draw_annotators(crowd.share, n_items, depth, rng)
    u_truth, u_votes = rng.random(n_items), rng.random((n_items, depth))
    log_conf, log_prior = crowd.log_confusion, crowd.log_priors
    every, full = np.arange(n_items), np.full(n_items, depth)
    out: dict[str, list[tuple[float, float]]] = {"third": [], "confident": []}
    for r in range(n_draws):
        truth = draw_truth(priors[r], u_truth)
        labels = draw_votes(confusions[r], annotators, truth, u_votes, rho)
        score = log_prior + np.cumsum(vote_evidence(log_conf, annotators, labels), axis=1)
        right = score.argmax(axis=2) == truth[:, None]  # (n, depth): after j + 1 votes
        third, until_sure, _ = rule_stops(score, labels, full, target, rho, max_k)
        if depth >= 3:
            out["third"].append((right[every, third - 1].mean(), third.mean()))
        out["confident"].append((right[every, until_sure - 1].mean(), until_sure.mean()))
    return {name: np.array(values) for name, values in out.items() if values}


def plan_budget(
    crowd: Crowd,
    *,
    target_accuracy: float = 0.95,
    cost_per_label: float = 0.08,
    max_annotators: int = 9,
    n_items: int | None = None,
    rho: float = 0.0,
    annotator_accuracy: np.ndarray | None = None,
    gold_accuracy: tuple[float, float, float] | None = None,
    current_k: float | None = None,
    measured: Measured | None = None,
    replayed: dict[str, Replayed] | None = None,
    refit: Callable[[], Aggregator] | None = None,
    refit_items: int = N_ITEMS,
    confidence: float = 0.95,
    n_draws: int = N_DRAWS,
    n_sim: int = N_ITEMS,
    seed: int = 0,
) -> BudgetPlan:
    """The whole plan; see the module docstring.

    ``annotator_accuracy`` (A,) ranks the annotators for the "best annotators only"
    suggestion when the target is out of reach. With ``refit`` (a factory of the model
    in use) the curve refits that model on simulated data sets of ``refit_items`` items
    (:func:`refit_accuracy_by_k`), which is what a real run at k votes gets; without it
    the items are labelled with the fitted confusion matrices, as if they were known.
    ``gold_accuracy`` (estimate, low, high),
    the cross-validated accuracy on gold at the current ``current_k`` votes per item,
    scales every prediction by its ratio to the model's own prediction at that k: the
    share of items a crowd gets wrong however many vote (gold disagreeing with unanimous
    votes) is invisible to any model of the votes, and gold measures it.
    ``measured`` (:func:`~consensus.budget.measured.measure_by_k`) goes further: for k up
    to what the gold items have, the figures *are* the measured accuracy on gold of k
    random votes per item, and beyond, the model's curve is scaled to the last measured
    k. ``replayed`` (:func:`~consensus.budget.measured.replay_rules`) likewise replaces
    the adaptive rules' predictions by their replay on the gold items' real votes.
    """
    if not 0.0 < target_accuracy < 1.0:
        raise InputError(f"target_accuracy must be between 0 and 1, not {target_accuracy!r}")
    if not cost_per_label >= 0:
        raise InputError(f"cost_per_label must be 0 or more, not {cost_per_label!r}")
    active = int(np.count_nonzero(crowd.share > 0))
    if not isinstance(max_annotators, (int, np.integer)) or max_annotators < 1:
        raise InputError(f"max_annotators must be a whole number >= 1, not {max_annotators!r}")
    max_k = min(int(max_annotators), active)
    notes = []
    if max_k < max_annotators:
        notes.append(f"only {active} annotators have votes: k stops at {max_k}")
    if refit is not None:
        draws = refit_accuracy_by_k(crowd, max_k, refit, min(refit_items, n_sim), rho=rho,
                                    seed=seed)
        estimate = draws.mean(axis=0)
    else:
        draws, _ = accuracy_by_k(crowd, max_k, rho=rho, n_draws=n_draws, n_items=n_sim,
                                 seed=seed)
        estimate = draws[0]
    scale, ratio = np.ones(len(draws)), 1.0
    ks = np.arange(1, max_k + 1)
    tail = (1.0 - confidence) / 2.0
    z = NormalDist().inv_cdf(1.0 - tail)
    top = 0
    if measured is not None:
        top = min(measured.max_k, max_k)
        observed, se = float(measured.accuracy[top - 1]), float(measured.se[top - 1])
        model_now = draws[:, top - 1]
        spread = np.random.default_rng(seed + 2).normal(observed, se, len(draws))
        scale = np.clip(spread, 0.0, 1.0) / np.maximum(model_now, 1e-9)
        ratio = observed / max(float(estimate[top - 1]), 1e-9)
        draws = np.clip(draws * scale[:, None], 0.0, 1.0)
        estimate = np.clip(estimate * ratio, 0.0, 1.0)
        notes.append(
            f"measured on gold: k = 1..{top} are the accuracy on {measured.n_items:,} gold "
            f"items of k random votes per item, refitted ({REPEATS} random subsets); "
            + (f"beyond, the model's curve scaled by {ratio:.3f} to meet the measurement at "
               f"k = {top}" if top < max_k else "nothing is extrapolated"))
    elif gold_accuracy is not None and current_k is not None:
        model_now = np.array([np.interp(current_k, ks, d) for d in draws])
        central = float(np.interp(current_k, ks, estimate))
        observed, low, high = gold_accuracy
        spread = np.random.default_rng(seed + 2).uniform(low, high, len(draws))
        scale = np.minimum(spread / model_now, 1.0)
        ratio = min(observed / central, 1.0)
        draws = draws * scale[:, None]
        estimate = estimate * ratio
        notes.append(
            f"scaled by gold: at {current_k:g} votes per item the cross-validated accuracy on "
            f"gold is {observed:.1%} against the model's {central:.1%}, so every "
            f"figure is multiplied by {ratio:.3f} (items the crowd gets wrong however "
            f"many vote)")
    else:
        notes.append(NO_GOLD_NOTE)
    ci_low = np.quantile(draws, tail, axis=0)
    ci_high = np.quantile(draws, 1.0 - tail, axis=0)
    method = (["the vote"] + ["refitted"] * (max_k - 1) if refit is not None
              else ["exact"] + ["monte carlo"] * (max_k - 1))
    if measured is not None:
        estimate[:top] = measured.accuracy[:top]
        ci_low[:top] = np.clip(measured.accuracy[:top] - z * measured.se[:top], 0.0, 1.0)
        ci_high[:top] = np.clip(measured.accuracy[:top] + z * measured.se[:top], 0.0, 1.0)
        method = ["measured on gold"] * top + ["scaled to gold"] * (max_k - top)
    by_k = pd.DataFrame({
        "k": ks,
        "expected_accuracy": estimate,
        "ci_low": np.minimum(ci_low, estimate),
        "ci_high": np.maximum(ci_high, estimate),
        "cost_per_item": ks * cost_per_label,
        "method": method,
    })
    reached = np.flatnonzero(estimate >= target_accuracy)
    recommended = int(ks[reached[0]]) if len(reached) else None
    suggestion = ""
    if recommended is None and annotator_accuracy is not None:
        suggestion = best_pool_suggestion(crowd, annotator_accuracy, max_k, target_accuracy,
                                          rho, ratio, seed)
    fixed = recommended or max_k
    runs = strategies(crowd, max_k, target_accuracy, rho, n_draws=n_draws, n_items=n_sim,
                      seed=seed)
    names = {"third": "two, a third only on disagreement",
             "confident": f"one at a time until {target_accuracy:.0%} sure (at most {max_k})"}
    curve = by_k.loc[fixed - 1]  # fixed k is the curve's own figure
    rows = [{"name": f"fixed {fixed} per item", "expected_accuracy": curve.expected_accuracy,
             "ci_low": curve.ci_low, "ci_high": curve.ci_high, "labels_per_item": float(fixed),
             "cost_per_item": fixed * cost_per_label}]
    for key, values in runs.items():
        if replayed and key in replayed:
            got = replayed[key]
            rows.append({"name": names[key], "expected_accuracy": got.accuracy,
                         "ci_low": max(got.accuracy - z * got.se, 0.0),
                         "ci_high": min(got.accuracy + z * got.se, 1.0),
                         "labels_per_item": got.labels_per_item,
                         "cost_per_item": got.labels_per_item * cost_per_label})
            continue
        accuracy, labels = np.clip(values[:, 0] * ratio, 0.0, 1.0), values[0, 1]
        rows.append({"name": names[key], "expected_accuracy": accuracy[0],
                     "ci_low": np.quantile(accuracy, tail),
                     "ci_high": np.quantile(accuracy, 1.0 - tail), "labels_per_item": labels,
                     "cost_per_item": labels * cost_per_label})
    if replayed:
        notes.append("strategies " + " and ".join(
            repr(names[k]) for k in names if k in replayed)
            + " replayed on the gold items' real votes in random orders (measured)")
    table = pd.DataFrame(rows)
    return BudgetPlan(by_k, table, recommended, target_accuracy, cost_per_label, n_items,
                      confidence, suggestion, notes)


def best_pool_suggestion(crowd: Crowd, accuracy: np.ndarray, max_k: int, target: float,
                         rho: float, scale: float, seed: int) -> str:
    """What would reach the target: drawing only from the best annotators, if anything.
    ``scale`` is the gold correction of :func:`plan_budget` (1 without gold)."""
    active = np.flatnonzero(crowd.share > 0)
    ranked = active[np.argsort(-accuracy[active], kind="stable")]
    for fraction in POOL_FRACTIONS:
        size = max(int(round(fraction * len(ranked))), 1)
        if size < 1 or (fraction != POOL_FRACTIONS[0] and size == len(ranked)):
            continue
        keep = np.zeros(crowd.n_annotators, dtype=bool)
        keep[ranked[:size]] = True
        pool = crowd.restricted_to(keep)
        k_max = min(max_k, size)
        point, _ = accuracy_by_k(pool, k_max, rho=rho, n_draws=1, n_items=N_ITEMS, seed=seed)
        point = point * scale
        hit = np.flatnonzero(point[0] >= target)
        if len(hit):
            return (f"drawing only from the best {size} annotators (estimated accuracy "
                    f"≥ {accuracy[ranked[size - 1]]:.2f}) reaches {point[0, hit[0]]:.1%} with "
                    f"{hit[0] + 1} per item")
    return ("not even the best annotators reach it: improve the guidelines or the training, "
            "or accept a lower target")
