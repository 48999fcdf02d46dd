"""Budget planning and the next pass, from one ``aggregate`` run."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..budget.crowd import crowd_from_fit
from ..budget.next_pass import NextPass, plan_next_pass
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
    refitting ``method`` on simulated data sets the size of ``votes``."""
    result = aggregate(votes, gold=gold, seed=seed, method=method, **model_options)
    crowd = crowd_from_fit(result.votes, result.model)
    observed = None
    if result.accuracy is not None:
        observed = (result.accuracy.accuracy, result.accuracy.ci_low, result.accuracy.ci_high)
    return plan_budget(crowd, target_accuracy=target_accuracy, cost_per_label=cost_per_label,
                       max_annotators=max_annotators, n_items=n_items,
                       rho=vote_correlation(result), annotator_accuracy=result.model.accuracy_,
                       gold_accuracy=observed,
                       current_k=float(np.mean(votes.votes_per_item)),
                       refit=lambda: make_model(method, **model_options),
                       refit_items=votes.n_items, seed=seed)


def next_pass(votes: VoteMatrix, budget: int, *, annotators: list[str] | None = None,
              gold: Any = None, **model_options: Any) -> NextPass:
    """The items that gain most from one more vote, within ``budget`` labels."""
    result = aggregate(votes, gold=gold, **model_options)
    crowd = crowd_from_fit(result.votes, result.model)
    codes = None
    if annotators is not None:
        known = {str(a): i for i, a in enumerate(votes.annotator_ids)}
        unknown = [a for a in annotators if a not in known]
        if unknown:
            raise InputError(f"annotator(s) not in the votes, so their reliability is unknown: "
                             f"{', '.join(map(repr, unknown[:5]))}")
        if not annotators:
            raise InputError("no annotators named")
        codes = np.array([known[a] for a in annotators], dtype=np.int64)
    return plan_next_pass(crowd, result.posteriors, result.label_codes, votes.item_ids,
                          votes.classes, budget, annotators=codes,
                          annotator_ids=votes.annotator_ids)
