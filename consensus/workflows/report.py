"""Everything ``consensus report`` shows, gathered from one fit.

The model is fitted once (:func:`~consensus.workflows.aggregation.aggregate`) and every
section reads that fit: flags, confusions and the budget take the fitted result, not the
votes, so nothing is refitted per section. Only agreement needs the votes alone; it runs
beside the fit, on the other core. On large inputs the slow parts use cheap settings
(:data:`FULL_UP_TO_VOTES`), and :attr:`ReportSettings.notes` says which, for the page.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..agreement import AgreementReport, agreement_report
from ..budget.crowd import crowd_from_fit
from ..budget.measured import measure_by_k, replay_rules
from ..budget.plan import BudgetPlan, plan_budget
from ..data.gold import GoldSet
from ..data.predictions import Predictions
from ..data.votes import VoteMatrix
from ..exceptions import InputError
from ..flags import ConfusionReport, FlagReport, confusion_pairs, flag_items
from ..models import DEFAULT_METHOD, make_model
from ..quality.scoring import ScoreReport, score_annotators
from .aggregation import AggregateResult, aggregate
from .budget import vote_correlation

if TYPE_CHECKING:
    from ..review.log import ReviewLog
    from ..review.results import AuditReport

#: Up to this many votes the report computes what the single commands do (budget curve
#: refitted on simulated data, measured on gold); above, the cheap settings below.
FULL_UP_TO_VOTES = 50_000
#: Cheap budget settings: parameter draws and simulated items per draw, fitted
#: confusion matrices used as known (no refit).
FAST_BUDGET_DRAWS, FAST_BUDGET_ITEMS = 20, 5_000
#: Flagged items (and, separately, votes) kept for the page: the top of each ranking.
DEFAULT_TOP_FLAGS = 100
#: Class pairs shown in "What to fix".
TOP_CONFUSIONS = 5


@dataclass(frozen=True)
class ReportSettings:
    """How the report was computed; ``notes`` says it in words when settings were cheap.

    Attributes
    ----------
    fast : bool
        Cheap settings (large input, or asked for).
    n_bootstrap : int
        Bootstrap draws asked of the agreement intervals (the agreement module may use
        its jackknife instead on many items, and says so).
    budget_refit : bool
        The budget curve refits the model on simulated data sets, as ``consensus budget``.
    budget_draws, budget_items : int
        Parameter draws behind each budget interval, and items simulated for each.
    top_flags : int
        Flagged items and votes kept (each).
    notes : list of str
        Sentences for the page about what was simplified and why.
    """

    fast: bool
    n_bootstrap: int
    budget_refit: bool
    budget_draws: int
    budget_items: int
    top_flags: int
    notes: list[str] = field(default_factory=list)


def report_settings(votes: VoteMatrix, *, n_bootstrap: int = 1000, quick: bool = False,
                    top_flags: int = DEFAULT_TOP_FLAGS) -> ReportSettings:
    """Full settings for small inputs, cheap ones above :data:`FULL_UP_TO_VOTES` votes or
    when ``quick``."""
    from ..budget.plan import N_DRAWS, N_ITEMS

    large = votes.n_votes > FULL_UP_TO_VOTES
    if not (large or quick):
        return ReportSettings(False, n_bootstrap, True, N_DRAWS, N_ITEMS, top_flags)
    why = (f"{votes.n_votes:,} votes is more than {FULL_UP_TO_VOTES:,}" if large
           else "a quick report was asked for")
    notes = [
        f"Cheap settings ({why}): the budget curve labels {FAST_BUDGET_ITEMS:,} simulated "
        f"items per draw with the fitted confusion matrices taken as known, over "
        f"{FAST_BUDGET_DRAWS} parameter draws, instead of refitting the model on simulated "
        f"data sets as the budget command does; it is optimistic where a few votes per item "
        f"cannot teach the model who is reliable.",
    ]
    return ReportSettings(True, n_bootstrap, False, FAST_BUDGET_DRAWS, FAST_BUDGET_ITEMS,
                          top_flags, notes)


@dataclass(frozen=True, eq=False)
class ReportData:
    """The results every section of the report reads.

    Attributes
    ----------
    source : str
        What the votes are called on the page (usually the file name).
    votes : VoteMatrix
        The crowd's votes (``result.votes`` adds a model's predictions, when given).
    result : AggregateResult
        The one fit.
    agreement : AgreementReport or None
        None when agreement cannot be measured; ``agreement_note`` says why.
    flags : FlagReport
        The top :attr:`ReportSettings.top_flags` items and votes.
    confusions : ConfusionReport
    budget : BudgetPlan
    gold_scores : ScoreReport or None
        Annotators scored against the golden set, when one was given.
    audit : AuditReport or None
        The review database's audit, when one was given.
    settings : ReportSettings
    seed : int
    options : dict
        The model options the fit used (method, max_iter, tol, smoothing).
    agreement_note : str
        Why there is no agreement report, when there is none.
    """

    source: str
    votes: VoteMatrix
    result: AggregateResult
    agreement: AgreementReport | None
    flags: FlagReport
    confusions: ConfusionReport
    budget: BudgetPlan
    gold_scores: ScoreReport | None
    audit: AuditReport | None
    settings: ReportSettings
    seed: int
    options: dict[str, Any]
    agreement_note: str = ""


def gather_report(
    votes: VoteMatrix,
    *,
    source: str = "votes",
    gold: GoldSet | None = None,
    predictions: Predictions | None = None,
    review_log: ReviewLog | None = None,
    method: str = DEFAULT_METHOD,
    max_iter: int | None = None,
    tol: float | None = None,
    smoothing: float | None = None,
    n_folds: int = 5,
    seed: int = 0,
    honest_confidence: bool = True,
    settings: ReportSettings | None = None,
    target_accuracy: float = 0.95,
    cost_per_label: float = 0.08,
    max_annotators: int = 9,
) -> ReportData:
    """Fit once and compute every section's results; see the module docstring.

    Parameters are those of :func:`~consensus.workflows.aggregation.aggregate`, plus
    ``review_log`` (its accepted corrections are clamped like gold, and its audit is
    shown), ``settings`` (:func:`report_settings` of the votes by default) and the
    budget's ``target_accuracy``, ``cost_per_label`` and ``max_annotators``.
    """
    settings = settings or report_settings(votes)
    model_options: dict[str, Any] = {"max_iter": max_iter, "tol": tol, "smoothing": smoothing}
    reviews = review_log.accepted_labels() if review_log is not None else None
    # agreement needs only the votes: it runs beside the fit (numpy releases the GIL)
    with ThreadPoolExecutor(max_workers=1) as pool:
        agreement_job = pool.submit(agreement_report, votes, n_bootstrap=settings.n_bootstrap,
                                    seed=seed)
        result = aggregate(votes, method=method, gold=gold, predictions=predictions,
                           reviews=reviews, n_folds=n_folds, seed=seed,
                           honest_confidence=honest_confidence, **model_options)
        flags = flag_items(result, top=settings.top_flags)
        try:
            agreement, agreement_note = agreement_job.result(), ""
        except InputError as exc:  # e.g. one vote per item: nothing to agree on
            agreement, agreement_note = None, str(exc)
    budget = plan_from_fit(result, votes, settings, model_options, seed=seed,
                           target_accuracy=target_accuracy, cost_per_label=cost_per_label,
                           max_annotators=max_annotators)
    scores = score_annotators(votes, gold) if gold is not None else None
    return ReportData(
        source=source,
        votes=votes,
        result=result,
        agreement=agreement,
        flags=flags,
        confusions=confusion_pairs(result, top=TOP_CONFUSIONS),
        budget=budget,
        gold_scores=scores,
        audit=review_log.audit() if review_log is not None else None,
        settings=settings,
        seed=seed,
        options={"method": method, **model_options},
        agreement_note=agreement_note,
    )


def plan_from_fit(
    result: AggregateResult, votes: VoteMatrix, settings: ReportSettings,
    model_options: dict[str, Any], *, seed: int = 0, target_accuracy: float = 0.95,
    cost_per_label: float = 0.08, max_annotators: int = 9,
) -> BudgetPlan:
    """The budget plan of :func:`consensus.workflows.budget.budget_plan`, from a fit at hand.

    ``votes`` are the crowd's votes (without a model's predictions, whose annotator is
    left out of the simulated pool). With full settings and gold, the accuracy of k votes
    is measured on gold and the adaptive rules replayed, as ``budget_plan`` does; with
    cheap settings the gold only scales the curve.
    """
    method = str(getattr(result.model, "chosen_", result.method))
    crowd = crowd_from_fit(result.votes, result.model)
    if result.model_annotator is not None:
        humans = np.asarray(result.votes.annotator_ids != result.model_annotator)
        crowd = crowd.restricted_to(humans)
    rho = vote_correlation(result)
    observed = measured = replayed = None
    if result.accuracy is not None:
        observed = (result.accuracy.accuracy, result.accuracy.ci_low, result.accuracy.ci_high)
    gold_codes = result.model.gold_codes_
    if gold_codes is not None and not settings.fast:
        def labels_of(subset: VoteMatrix) -> np.ndarray:
            return make_model(method, **model_options).fit(subset).label_codes_

        measured = measure_by_k(votes, gold_codes, labels_of, max_annotators, seed=seed)
        replayed = replay_rules(votes, gold_codes, crowd, target_accuracy,
                                min(max_annotators, int(np.count_nonzero(crowd.share > 0))),
                                rho, seed=seed)
    return plan_budget(
        crowd, target_accuracy=target_accuracy, cost_per_label=cost_per_label,
        max_annotators=max_annotators, n_items=votes.n_items, rho=rho,
        annotator_accuracy=result.model.accuracy_, gold_accuracy=observed,
        current_k=float(np.mean(votes.votes_per_item)), measured=measured, replayed=replayed,
        refit=(lambda: make_model(method, **model_options)) if settings.budget_refit else None,
        refit_items=votes.n_items, n_draws=settings.budget_draws, n_sim=settings.budget_items,
        seed=seed,
    )
