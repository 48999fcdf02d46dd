"""Budget planning and the next pass, from one ``aggregate`` run."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..budget.crowd import crowd_from_fit
from ..budget.measured import measure_by_k, replay_rules
from ..budget.next_pass import NextPass, available_annotators, plan_next_pass
from ..budget.plan import BudgetPlan, plan_budget
from ..data.votes import VoteMatrix
from ..exceptions import InputError
from ..models import DEFAULT_METHOD, make_model
from ..quality.overdispersion import fit_vote_correlation
from .aggregation import AggregateResult, aggregate


def vote_correlation(result: AggregateResult) -> float:
    """The intra-item correlation of the votes (fitted here if ``aggregate`` did not)."""
    if result.correlation is not None:
        return result.correlation.rho
    return fit_vote_correlation(result.votes, result.model.posteriors_).rho


def budget_plan(votes: VoteMatrix, *, gold: Any = None, target_accuracy: float = 0.95,
                cost_per_label: float = 0.08, max_annotators: int = 9,
                n_items: int | None = None, seed: int = 0, method: str = DEFAULT_METHOD,
                **model_options: Any) -> BudgetPlan:
    """Fit (anchored on gold when given), then plan annotators per item for the target,
    refitting ``method`` on simulated data sets the size of ``votes``.

    With gold, what the votes at hand can show is measured rather than predicted: the
    accuracy on gold of k random votes per item (refitted without gold) for every k the
    gold items have votes for, and the adaptive rules replayed on their real votes."""
    result = aggregate(votes, gold=gold, seed=seed, method=method, **model_options)
    method = getattr(result.model, "chosen_", method)  # "auto" chose once, on the real votes
    crowd = crowd_from_fit(result.votes, result.model)
    rho = vote_correlation(result)
    observed = measured = replayed = None
    if result.accuracy is not None:
        observed = (result.accuracy.accuracy, result.accuracy.ci_low, result.accuracy.ci_high)
    gold_codes = result.model.gold_codes_
    if gold_codes is not None:
        def labels_of(subset: VoteMatrix) -> np.ndarray:
            return make_model(method, **model_options).fit(subset).label_codes_

        measured = measure_by_k(votes, gold_codes, labels_of, max_annotators, seed=seed)
        replayed = replay_rules(votes, gold_codes, crowd, target_accuracy,
                                min(max_annotators, int(np.count_nonzero(crowd.share > 0))),
                                rho, seed=seed)
    return plan_budget(crowd, target_accuracy=target_accuracy, cost_per_label=cost_per_label,
                       max_annotators=max_annotators, n_items=n_items,
                       rho=rho, annotator_accuracy=result.model.accuracy_,
                       gold_accuracy=observed,
                       current_k=float(np.mean(votes.votes_per_item)),
                       measured=measured, replayed=replayed,
                       refit=lambda: make_model(method, **model_options),
                       refit_items=votes.n_items, seed=seed)


def next_pass(votes: VoteMatrix, budget: int, *, annotators: list[str] | None = None,
              gold: Any = None, **model_options: Any) -> NextPass:
    """The items that gain most from one more vote, within ``budget`` labels.

    With ``annotators`` (ids) each item may go to any of them who has not labelled it."""
    result = aggregate(votes, gold=gold, **model_options)
    crowd = crowd_from_fit(result.votes, result.model)
    available = None
    if annotators is not None:
        known = {str(a): i for i, a in enumerate(votes.annotator_ids)}
        unknown = [a for a in annotators if a not in known]
        if unknown:
            raise InputError(f"annotator(s) not in the votes, so their reliability is unknown: "
                             f"{', '.join(map(repr, unknown[:5]))}")
        if not annotators:
            raise InputError("no annotators named")
        codes = np.array([known[a] for a in annotators], dtype=np.int64)
        available = available_annotators(votes.item_codes, votes.annotator_codes,
                                         votes.n_items, votes.n_annotators, codes)
    return plan_next_pass(crowd, result.posteriors, result.label_codes, votes.item_ids,
                          votes.classes, budget, available=available,
                          voted=(votes.item_codes, votes.annotator_codes),
                          annotator_ids=votes.annotator_ids)
