"""Choosing a model on the evidence the votes give, and on gold where there is enough.

No model is best on every crowd. Dawid–Skene variants read the shared mistakes of
correlated annotators as skill; EBCC explains them with latent subtypes of each
class, but has more to learn and several optima where there is nothing to explain.
The votes say which describes them better: fit each candidate on most of the items
and ask how probable it finds the votes of the items it did not see (held-out
log-likelihood by item folds: a model that merely has more parameters gains nothing
there). The difference is tested item by item, and a challenger replaces the first
candidate only when it wins by ``z`` standard errors *and* by ``min_gain`` nats per
vote: on 24 crowds simulated with independent annotators (2-6 classes, 20-300
annotators, 3-5 votes per item) EBCC's flexibility bought at most 0.0037 per vote
(z up to 6.8) and changed accuracy by at most 0.3 points, while the correlated real
crowds show 0.013 (ZenCrowd) to 0.08 (ducks). With at least MIN_GOLD gold
items, cross-validated accuracy on gold decides instead wherever it separates the
candidates as clearly.

On large data the choice is made on a random subset of the items holding about
``max_selection_votes`` votes (the question is which structure the crowd has, not
every item's label); the chosen model is then fitted on all the votes. The subset
must not be too thin: on a simulated crowd of independent annotators (1M items, 500
annotators) a 10,000-vote subset, about 20 votes per annotator, wrongly preferred
EBCC, while 20,000 and 30,000 kept pooled; 30,000 is a floor, not a tuned optimum.
What matters is the votes per annotator, so the subset also holds at least
``votes_per_annotator`` (40) per annotator, up to MAX_SUBSET_VOTES: with 5,000
annotators, 30,000 votes (6 each) chose EBCC on 2-class crowds of independent
annotators (EBCC +0.006 per vote, z = 15-18, on two seeds and two crowds) and 100,000
(20 each) still did, while 150,000 (30), 200,000 (40) and 300,000 (60) kept pooled, EBCC's
gain falling to 0.004, 0.003 and 0.002. Checked where it was not tuned: 40 per
annotator keeps pooled on Zipf-active, 3- and 5-class simulated crowds (1,000-5,000
annotators), and changes no choice on the five real datasets it enlarges the subset of
(adult_content, hitspam_cf, trec2010_rel4, trec2011_vuurens, trec_zhang_binary).

Above MAX_EBCC_CLASSES classes EBCC is not compared. Its fit holds a confusion row per
(annotator, class, subtype), so each of its fold fits grows as K² (on 50,000 items x 3
votes from 300 annotators, one fold fit took 2 s of CPU at 20 classes and 36 s at 100),
while the subset leaves ever fewer votes per class to compare on (300 at 100 classes).
On those simulated crowds it lost clearly: -0.23 log-likelihood per vote (z = -60) at
20 classes, -1.5 (z = -129) at 100. Without EBCC and without gold nothing is left to
compare, as majority vote never wins on held-out likelihood (-0.21 per vote at 100
classes), so auto keeps the first candidate; with gold the rest are compared as usual.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..data.gold import gold_per_item
from ..data.votes import VoteMatrix
from ..exceptions import ConvergenceWarning, InputError, InputWarning
from .base import Aggregator, ProgressCallback

#: Gold items needed before cross-validated accuracy on gold may decide.
MIN_GOLD = 30
#: Items needed before held-out items can tell models apart at all.
MIN_ITEMS = 50
#: Classes above which EBCC is left out of the comparison (see the module docstring).
MAX_EBCC_CLASSES = 20
#: Most votes the comparison's subset holds, however many annotators there are.
MAX_SUBSET_VOTES = 1_000_000
#: Candidates that never win on held-out likelihood, only on gold.
GOLD_ONLY = frozenset({"mv"})


def paired_z(diff: np.ndarray) -> float:
    """Mean of per-item differences in standard errors (0 when they do not vary)."""
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
    return float(diff.mean() / se) if se > 0 else 0.0


class AutoAggregator(Aggregator):
    """The candidate the data support, fitted on all the votes; behaves as that model.

    Parameters
    ----------
    candidates : tuple of method names
        The first is the default, kept unless another wins clearly. Majority vote
        never wins on held-out likelihood (its one M-step fits the votes worse than
        EM), but gold can show that the crowd's plain majority is right where the
        models' weighting is not.
    n_folds : int
        Item folds of the held-out comparison (and of the gold cross-validation).
    z : float
        Standard errors by which a challenger must win.
    min_gain : float
        Held-out log-likelihood per vote by which a challenger must win.
    max_selection_votes : int
        Votes the comparison runs on, at most (a random subset of the items), unless
        ``votes_per_annotator`` asks for more.
    votes_per_annotator : int
        Votes per annotator the subset holds at least (up to MAX_SUBSET_VOTES votes):
        thinner, the comparison favours EBCC on crowds it does not describe better.
    max_iter, tol, smoothing : optional
        Passed to the candidates that take them (None keeps their defaults).
    seed : int
        Folds and the subset.

    Attributes
    ----------
    model_ : Aggregator
        The chosen model, fitted on all the votes; its fitted attributes are this
        model's too.
    chosen_ : str
        Its method name.
    selection_ : DataFrame
        One row per candidate: ``method``, ``held_out_per_vote`` (mean held-out log-
        likelihood per vote), ``gain_per_vote`` and ``z`` against the first candidate,
        ``gold_accuracy`` (cross-validated, with enough gold) and ``gold_z``, ``chosen``.
    reason_ : str
        One sentence: what was chosen and on what evidence.
    """

    def __init__(
        self,
        *,
        candidates: tuple[str, ...] = ("pooled", "ebcc", "mv"),
        n_folds: int = 5,
        z: float = 2.0,
        min_gain: float = 0.005,
        max_selection_votes: int = 30_000,
        votes_per_annotator: int = 40,
        max_iter: int | None = None,
        tol: float | None = None,
        smoothing: float | None = None,
        seed: int = 0,
    ) -> None:
        self.candidates = candidates
        self.n_folds = n_folds
        self.z = z
        self.min_gain = min_gain
        self.max_selection_votes = max_selection_votes
        self.votes_per_annotator = votes_per_annotator
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing
        self.seed = seed

    # The chosen model's own surface (leave_one_out_proba, variational_, …) shows
    # through, so an auto model is used exactly as the model it chose.
    def __getattr__(self, name: str) -> Any:
        model = self.__dict__.get("model_")
        if model is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(model, name)

    @property
    def weighs_annotators(self) -> bool:  # type: ignore[override]
        model = self.__dict__.get("model_")
        return True if model is None else bool(model.weighs_annotators)

    def _make(self, method: str) -> Aggregator:
        from . import make_model

        return make_model(method, max_iter=self.max_iter, tol=self.tol,
                          smoothing=self.smoothing)

    def _validate(self) -> None:
        from . import METHODS

        names = list(self.candidates)
        if not names or "auto" in names or any(m not in METHODS for m in names):
            raise InputError(f"candidates must name methods other than 'auto' "
                             f"({', '.join(m for m in METHODS if m != 'auto')}), "
                             f"not {self.candidates!r}")
        if not isinstance(self.n_folds, (int, np.integer)) or self.n_folds < 2:
            raise InputError(f"n_folds must be a whole number >= 2, not {self.n_folds!r}")
        for name in ("z", "min_gain"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise InputError(f"{name} must be a non-negative number, not {value!r}")

    def fit(
        self, votes: VoteMatrix, gold: Any = None, *, progress: ProgressCallback | None = None
    ) -> AutoAggregator:
        """Compare the candidates, then fit the chosen one on ``votes`` (with ``gold``)."""
        self._validate()
        gold_codes = gold_per_item(votes, gold)
        if np.count_nonzero(votes.votes_per_item) < MIN_ITEMS:
            first = self.candidates[0]
            self.selection_ = pd.DataFrame({"method": list(self.candidates),
                                            "chosen": [m == first for m in self.candidates]})
            return self._fit_chosen(first, f"auto kept {first}: too few items with votes to "
                                    f"compare models on held-out items (under {MIN_ITEMS})",
                                    votes, gold, progress)
        n_gold = 0 if gold_codes is None else int(np.count_nonzero(gold_codes >= 0))
        settled = self.choice_without_comparison(votes.n_classes, votes.n_votes, n_gold)
        if settled is not None:
            self.selection_ = pd.DataFrame({"method": list(self.candidates),
                                            "chosen": [m == settled[0] for m in self.candidates]})
            return self._fit_chosen(*settled, votes, gold, progress)
        rng = np.random.default_rng(self.seed)
        subset = self._selection_items(votes, gold_codes, rng)
        fold = rng.integers(0, self.n_folds, votes.n_items)
        # The folds' fits and scores all come from the subset's items: take them once.
        restricted = votes if subset.all() else votes.take_items(subset)
        chosen, reason, table = self.select(
            restricted, fold[subset], None if gold_codes is None else gold_codes[subset])
        self.selection_ = table
        return self._fit_chosen(chosen, reason, votes, gold, progress)

    def select(self, votes: VoteMatrix, fold: np.ndarray,
               gold_codes: np.ndarray | None = None) -> tuple[str, str, pd.DataFrame]:
        """Compare the candidates on every item of ``votes``, split into the given folds:
        (chosen method, reason, comparison table). :meth:`fit` calls it on a random
        subset of items; a distributed engine calls it on the subset it gathered.

        ``gold_codes`` (per item, -1 where unknown) adds the comparison on gold when
        at least MIN_GOLD items have it.
        """
        self._validate()
        held_out = {m: self._held_out(m, votes, fold) for m in self.compared(votes.n_classes)}
        table = self._compare(held_out, votes.votes_per_item,
                              np.isfinite(held_out[self.candidates[0]]))
        if gold_codes is not None and np.count_nonzero(gold_codes >= 0) >= MIN_GOLD:
            self._compare_on_gold(table, votes, gold_codes)
        chosen, reason = self._choose(table)
        table["chosen"] = table["method"] == chosen
        return chosen, reason, table

    def compared(self, n_classes: int) -> tuple[str, ...]:
        """The candidates compared on votes with ``n_classes`` classes: all of them, but
        EBCC as a challenger only up to MAX_EBCC_CLASSES classes."""
        first, *others = self.candidates
        if n_classes > MAX_EBCC_CLASSES:
            others = [m for m in others if m != "ebcc"]
        return (first, *others)

    def choice_without_comparison(self, n_classes: int, n_votes: int,
                                  n_gold: int) -> tuple[str, str] | None:
        """(method, reason) when there is nothing to compare: EBCC left out for its class
        count and no challenger left that can win without gold (fewer than MIN_GOLD
        gold items). None when the candidates are to be compared."""
        compared = self.compared(n_classes)
        if (len(compared) == len(self.candidates) or n_gold >= MIN_GOLD
                or not set(compared[1:]) <= GOLD_ONLY):
            return None
        first, others = compared[0], " or ".join(compared[1:])
        per_class = min(n_votes, self.max_selection_votes) // n_classes
        gold = (f"; {others} can win only on gold (give {MIN_GOLD} gold items or more)"
                if others else "")
        return first, (
            f"auto kept {first} without comparing: at {n_classes} classes (over "
            f"{MAX_EBCC_CLASSES}) EBCC is not compared, as its fit grows with the square of "
            f"the classes and the comparison would have about {per_class:,} votes per class"
            f"{gold}")

    def _fit_chosen(self, chosen: str, reason: str, votes: VoteMatrix, gold: Any,
                    progress: ProgressCallback | None) -> AutoAggregator:
        """Fit the chosen model on all the votes and take on its fitted attributes."""
        self.chosen_, self.reason_ = chosen, reason
        self.model_ = self._make(chosen).fit(votes, gold, progress=progress)
        for name, value in vars(self.model_).items():
            if name.endswith("_") and not name.startswith("_"):
                setattr(self, name, value)
        return self

    def predict_proba(self, votes: VoteMatrix) -> np.ndarray:
        self._check_fitted()
        return self.model_.predict_proba(votes)

    # ------------------------------------------------------------ evidence
    def _selection_items(self, votes: VoteMatrix, gold_codes: np.ndarray | None,
                         rng: np.random.Generator) -> np.ndarray:
        """Mask of the items the comparison runs on: all, or a random share (plus gold)."""
        share = self.subset_share(votes.n_votes, votes.n_annotators)
        if share is None:
            return np.ones(votes.n_items, dtype=bool)
        keep = rng.random(votes.n_items) < share
        if gold_codes is not None:
            keep |= gold_codes >= 0
        return keep

    def subset_share(self, n_votes: int, n_annotators: int) -> float | None:
        """The share of items the comparison keeps, or None when it keeps every item."""
        floor = min(self.votes_per_annotator * n_annotators, MAX_SUBSET_VOTES)
        target = max(self.max_selection_votes, floor)
        return None if n_votes <= target else target / n_votes

    def _held_out(self, method: str, votes: VoteMatrix, fold: np.ndarray) -> np.ndarray:
        """log P(votes of each item) from a fit on the other folds' items (NaN where a
        fold is left empty). Each fit sees only its own items."""
        out = np.full(votes.n_items, np.nan)
        for f in range(self.n_folds):
            test = fold == f
            train = ~test
            if not test.any() or not train.any():
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", (ConvergenceWarning, InputWarning))
                model = self._make(method).fit(votes.take_items(train))
            out[test] = model.item_log_likelihood(votes.take_items(test))
        return out

    def _compare(self, held_out: dict[str, np.ndarray], votes_per_item: np.ndarray,
                 subset: np.ndarray) -> pd.DataFrame:
        """Held-out log-likelihood per vote, and each candidate's paired gain over the first."""
        n_votes = float(votes_per_item[subset].sum())
        first = held_out[self.candidates[0]][subset]
        rows = []
        for method, values in held_out.items():
            diff = values[subset] - first
            rows.append({
                "method": method,
                "held_out_per_vote": float(values[subset].sum() / n_votes),
                "gain_per_vote": float(diff.sum() / n_votes),
                "z": paired_z(diff),
                "gold_accuracy": np.nan,
                "gold_z": np.nan,
            })
        return pd.DataFrame(rows)

    def _compare_on_gold(self, table: pd.DataFrame, votes: VoteMatrix,
                         gold_codes: np.ndarray) -> None:
        """Cross-validated accuracy on gold per candidate, paired against the first."""
        from ..quality.crossval import held_out_posteriors

        right = {}
        for method in table["method"]:
            def make(name: str = method) -> Aggregator:
                return self._make(name)

            held = held_out_posteriors(votes, gold_codes, make,
                                       n_folds=self.n_folds, seed=self.seed)
            right[method] = (held.posteriors.argmax(axis=1) == held.truth).astype(float)
        first = right[self.candidates[0]]
        for i, method in enumerate(table["method"]):
            table.loc[i, "gold_accuracy"] = right[method].mean()
            table.loc[i, "gold_z"] = paired_z(right[method] - first)

    def _choose(self, table: pd.DataFrame) -> tuple[str, str]:
        first = self.candidates[0]
        on_gold = table["gold_z"].notna().all()
        if on_gold:
            clear = table[table["gold_z"] >= self.z]
            if len(clear):
                best = clear.loc[clear["gold_accuracy"].idxmax()]
                return str(best.method), (
                    f"auto chose {best.method}: cross-validated accuracy on gold "
                    f"{best.gold_accuracy:.1%} against {first}'s "
                    f"{table.loc[0, 'gold_accuracy']:.1%} (z = {best.gold_z:.1f})")
        clear = table[(table["z"] >= self.z) & (table["gain_per_vote"] >= self.min_gain)]
        if len(clear):
            best = clear.loc[clear["gain_per_vote"].idxmax()]
            return str(best.method), (
                f"auto chose {best.method}: the votes of items it had not seen are more "
                f"probable under it than under {first} (+{best.gain_per_vote:.4f} log-"
                f"likelihood per vote, z = {best.z:.1f}), so the crowd has structure "
                f"{first} does not describe")
        others = table.iloc[1:]
        best = others.loc[others["z"].idxmax()] if len(others) else None
        detail = ("" if best is None else
                  f" ({best.method}: {best.gain_per_vote:+.4f} per vote, z = {best.z:.1f})")
        gold = ("; nor does gold (cross-validated accuracy " + ", ".join(
            f"{m} {a:.1%}" for m, a in zip(table["method"], table["gold_accuracy"], strict=True))
            + ")") if on_gold else ""
        return first, (f"auto kept {first}: no other candidate describes held-out items' votes "
                       f"clearly better (by {self.min_gain:g} per vote and z >= {self.z:g})"
                       f"{detail}{gold}")
