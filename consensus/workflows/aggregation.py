"""The main job in one call: fit a model, anchor it on gold, report honest confidence.

``consensus aggregate`` is this function plus file reading and writing, so the
Python API and the command line always give the same answer. The result holds
data only; its sentences and JSON form are built in :mod:`consensus.report.summary`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..data.votes import VoteMatrix
from ..models import DEFAULT_METHOD, make_model
from ..models.base import Aggregator, ProgressCallback
from ..models.em import clamp_to_gold
from ..quality.calibration import CalibrationReport, calibrate_held_out, with_confidence
from ..quality.crossval import (
    MIN_GOLD_FOR_ESTIMATE,
    AccuracyEstimate,
    consensus_accuracy,
    held_out_posteriors,
)
from ..quality.overdispersion import VoteCorrelation, fit_vote_correlation
from ..report import tables


@dataclass(frozen=True, eq=False)
class AggregateResult:
    """A fitted model and what was learned about how far to trust it.

    Attributes
    ----------
    votes, model, method
        The votes, the fitted model and the method name it was made from.
    n_gold : int or None
        Gold items that anchored the fit; None when no gold was given.
    accuracy : AccuracyEstimate or None
        Cross-validated accuracy of the consensus on gold (enough gold only).
    calibration : CalibrationReport or None
        The calibrator fitted on held-out gold, when there was enough gold.
    correlation : VoteCorrelation or None
        The correlated-votes discount, applied when confidence is not calibrated.
    held_out_confidence : ndarray (n_items,) or None
        Each label's confidence with the item left out of its annotators' confusion
        estimates (models that can compute it), used beside ``correlation``.
    """

    votes: VoteMatrix
    model: Aggregator
    method: str
    n_gold: int | None = None
    accuracy: AccuracyEstimate | None = None
    calibration: CalibrationReport | None = None
    correlation: VoteCorrelation | None = None
    held_out_confidence: np.ndarray | None = None

    @cached_property
    def posteriors(self) -> np.ndarray:
        """Reported posteriors (n_items, K): calibrated on gold when there was enough of
        it; else the model's, with each label's confidence computed leaving the item out
        of its annotators' confusion estimates and discounted for correlated votes (see
        :mod:`consensus.quality.overdispersion`). Labels are the model's either way."""
        posteriors = self.model.posteriors_
        if self.calibration is not None:
            posteriors = self.calibration.calibrator.apply(posteriors)
        if self.held_out_confidence is not None:
            posteriors = with_confidence(posteriors, self.held_out_confidence)
        if self.correlation is not None:
            posteriors = self.correlation.discount(posteriors, self.votes.votes_per_item)
        if posteriors is self.model.posteriors_:
            return posteriors
        return clamp_to_gold(posteriors, self.model.gold_codes_)

    @property
    def items(self) -> pd.DataFrame:
        """One row per item: label, confidence, votes, agreement, tie, gold, posteriors."""
        table = tables.item_table(self.votes, self.model, self.posteriors)
        if self.model.gold_codes_ is not None:
            table.insert(table.columns.get_loc("tie") + 1, "gold", self.model.gold_codes_ >= 0)
        return table

    @cached_property
    def annotators(self) -> pd.DataFrame:
        """One row per annotator: votes, accuracy with its interval, agreement, recall."""
        return tables.annotator_table(self.votes, self.model)

    @property
    def confusion(self) -> pd.DataFrame:
        """Every confusion matrix in long form."""
        return tables.confusion_table(self.votes, self.model)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the summary (what ``consensus aggregate --json`` prints)."""
        from ..report.summary import aggregate_dict

        return aggregate_dict(self)

    def summary(self) -> str:
        """The terminal summary: size, convergence, priors, accuracy, confidence, weakest."""
        from ..report.summary import aggregate_text

        return aggregate_text(self)


def aggregate(
    votes: VoteMatrix,
    *,
    method: str = DEFAULT_METHOD,
    gold: Any = None,
    max_iter: int = 100,
    tol: float = 1e-5,
    smoothing: float | None = None,
    n_folds: int = 5,
    seed: int = 0,
    calibrate: bool = True,
    honest_confidence: bool = True,
    progress: ProgressCallback | None = None,
) -> AggregateResult:
    """Fit ``method`` on ``votes``; with gold, clamp it and cross-validate the accuracy.

    Parameters
    ----------
    gold : GoldSet, mapping or per-item code array, optional
        Known answers. Gold items keep their label in every EM iteration, and a
        k-fold cross-validation over them estimates how often the consensus is
        right on the other items.
    n_folds, seed
        Folds of that cross-validation and the seed that assigns them.
    smoothing : float, optional
        Uniform pseudo-count per confusion cell; None keeps the model's default.
    calibrate : bool
        With enough gold, calibrate the reported posteriors so that confidence
        matches accuracy on held-out gold items.
    honest_confidence : bool
        Without gold calibration, report each label's confidence with the item
        left out of its annotators' confusion estimates (pooled DS) and tempered
        by the design effect of its correlated votes. Labels never change;
        majority vote's vote shares are left as they are.
    progress : callable, optional
        Called as ``progress(iteration, log_likelihood_per_vote)`` during the fit.
    """
    params = {"max_iter": max_iter, "tol": tol, "smoothing": smoothing}
    model = make_model(method, **params).fit(votes, gold=gold, progress=progress)
    accuracy = calibration = None
    gold_codes = model.gold_codes_
    n_gold = None if gold_codes is None else int((gold_codes >= 0).sum())
    if gold_codes is not None and (gold_codes >= 0).sum() >= MIN_GOLD_FOR_ESTIMATE:
        held = held_out_posteriors(
            votes, gold_codes, lambda: make_model(method, **params), n_folds=n_folds, seed=seed
        )
        accuracy = consensus_accuracy(held)
        if calibrate:
            calibration = calibrate_held_out(held, seed=seed)
    correlation = held_out = None
    if calibration is None and honest_confidence and model.weighs_annotators:
        correlation = fit_vote_correlation(votes, model.posteriors_)
        leave_one_out = getattr(model, "leave_one_out_proba", None)
        if leave_one_out is not None:
            held_out = leave_one_out(votes)[np.arange(votes.n_items), model.label_codes_]
    return AggregateResult(
        votes, model, method, n_gold, accuracy, calibration, correlation, held_out
    )
