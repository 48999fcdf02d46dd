"""With gold, measure what fewer votes per item really give, instead of predicting it.

A model of the votes cannot see the items a crowd gets wrong together (gold
disagreeing with unanimous votes), so without gold its budget curve is optimistic.
Gold can show it directly: keep k random votes of every item, refit, and score the
consensus on the gold items; repeat with other random subsets. That is a
measurement, not a model, for every k up to the votes the gold items have. The
adaptive rules are measured the same way, by revealing each gold item's real votes
in a random order and stopping as the rule says.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..data.votes import VoteMatrix
from ..exceptions import ConvergenceWarning, InputWarning
from .crowd import Crowd
from .rules import rule_stops

#: Fewest gold items a measured figure may rest on.
MIN_GOLD_ITEMS = 20
#: Random subsets (reveal orders) per measured figure.
REPEATS = 3
#: A replayed rule whose items ran out of real votes more often than this is not
#: measured (its figure would describe a shorter rule).
MAX_RAN_OUT = 0.10


@dataclass(frozen=True, eq=False)
class Measured:
    """Accuracy on gold at k = 1..``max_k`` votes per item, measured by subsampling.

    ``accuracy``, ``se`` (binomial over the gold items plus the spread over random
    subsets) and ``n_items`` (the gold items scored: those with at least ``max_k`` votes,
    the same items for every k).
    """

    accuracy: np.ndarray
    se: np.ndarray
    n_items: int

    @property
    def max_k(self) -> int:
        return len(self.accuracy)


def reveal_order(votes: VoteMatrix, rng: np.random.Generator) -> np.ndarray:
    """Each vote's 0-based position in a random order of its item's votes (n_votes,)."""
    order = np.lexsort((rng.random(votes.n_votes), votes.item_codes))
    start = np.concatenate([[0], np.cumsum(votes.votes_per_item)[:-1]])
    rank = np.empty(votes.n_votes, dtype=np.int64)
    rank[order] = np.arange(votes.n_votes) - start[votes.item_codes[order]]
    return rank


def first_votes(votes: VoteMatrix, rank: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_items, depth) annotator and label codes of each item's first votes; -1 past its last."""
    keep = rank < depth
    annotators = np.full((votes.n_items, depth), -1, dtype=np.int64)
    labels = np.full((votes.n_items, depth), -1, dtype=np.int64)
    annotators[votes.item_codes[keep], rank[keep]] = votes.annotator_codes[keep]
    labels[votes.item_codes[keep], rank[keep]] = votes.label_codes[keep]
    return annotators, labels


def measurable_k(votes: VoteMatrix, gold_codes: np.ndarray, max_k: int) -> int:
    """The largest k (≤ ``max_k``) that at least half of the gold items, and at least
    MIN_GOLD_ITEMS of them, have votes for; 0 when there is none."""
    counts = votes.votes_per_item[gold_codes >= 0]
    if len(counts) < MIN_GOLD_ITEMS:
        return 0
    k = int(min(np.median(counts), max_k))
    while k > 0 and np.count_nonzero(counts >= k) < MIN_GOLD_ITEMS:
        k -= 1
    return k


def _se(per_repeat: np.ndarray, n: int) -> np.ndarray:
    """Standard error of a measured accuracy: the binomial error of ``n`` gold items plus
    the spread over random subsets (per_repeat (R, ...))."""
    p = per_repeat.mean(axis=0)
    spread = per_repeat.var(axis=0, ddof=1) / len(per_repeat) if len(per_repeat) > 1 else 0.0
    return np.sqrt(p * (1.0 - p) / max(n, 1) + spread)


def measure_by_k(
    votes: VoteMatrix, gold_codes: np.ndarray, labels_of: Callable[[VoteMatrix], np.ndarray],
    max_k: int, *, repeats: int = REPEATS, seed: int = 0,
) -> Measured | None:
    """Accuracy on gold of the consensus from k random votes per item, refitted by
    ``labels_of`` (votes → label codes), for k up to what the gold items have; None
    when the gold is too small or too thinly voted to measure anything."""
    top = measurable_k(votes, gold_codes, max_k)
    if top < 1:
        return None
    scored = np.flatnonzero((gold_codes >= 0) & (votes.votes_per_item >= top))
    truth = gold_codes[scored]
    right = np.empty((repeats, top))
    for r in range(repeats):
        rank = reveal_order(votes, np.random.default_rng([seed, 11, r]))
        for k in range(1, top + 1):
            subset = votes.take_votes(rank < k)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", (ConvergenceWarning, InputWarning))
                labels = labels_of(subset)
            right[r, k - 1] = np.mean(labels[scored] == truth)
    return Measured(right.mean(axis=0), _se(right, len(scored)), len(scored))


@dataclass(frozen=True)
class Replayed:
    """A rule replayed on the real votes of the gold items: accuracy, its standard error,
    labels per item, and the share of items whose votes ran out before the rule stopped."""

    accuracy: float
    se: float
    labels_per_item: float
    ran_out: float


def replay_rules(
    votes: VoteMatrix, gold_codes: np.ndarray, crowd: Crowd, target: float, max_k: int,
    rho: float, *, repeats: int = REPEATS, seed: int = 0,
) -> dict[str, Replayed]:
    """"third" (two, a third on disagreement) and "confident" (one at a time until the
    tempered posterior reaches ``target``, at most ``max_k``) replayed on the gold items'
    real votes in random orders, deciding with the fitted crowd as the plan does."""
    scored = np.flatnonzero((gold_codes >= 0) & (votes.votes_per_item >= 3))
    if len(scored) < MIN_GOLD_ITEMS:
        return {}
    truth = gold_codes[scored]
    available = np.minimum(votes.votes_per_item[scored], max_k)
    every = np.arange(len(scored))
    results: dict[str, list[tuple[float, float, float]]] = {"third": [], "confident": []}
    for r in range(repeats):
        rank = reveal_order(votes, np.random.default_rng([seed, 13, r]))
        annotators, labels = first_votes(votes, rank, max_k)
        annotators, labels = annotators[scored], labels[scored]
        evidence = crowd.log_confusion[annotators.clip(0), :, labels.clip(0)]
        evidence[annotators < 0] = 0.0
        score = crowd.log_priors + np.cumsum(evidence, axis=1)  # (n, max_k, K)
        right = score.argmax(axis=2) == truth[:, None]
        third, until_sure, reached = rule_stops(score, labels, available, target, rho, max_k)
        results["third"].append((right[every, third - 1].mean(), third.mean(), 0.0))
        ran_out = (~reached & (available < max_k)).mean()
        results["confident"].append((right[every, until_sure - 1].mean(), until_sure.mean(),
                                     ran_out))
    out = {}
    for name, rows in results.items():
        values = np.array(rows)
        if values[:, 2].mean() > MAX_RAN_OUT:
            continue
        out[name] = Replayed(float(values[:, 0].mean()),
                             float(_se(values[:, :1], len(scored))[0]),
                             float(values[:, 1].mean()), float(values[:, 2].mean()))
    return out
