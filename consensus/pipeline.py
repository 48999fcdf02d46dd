"""The main job in one call: fit a model, anchor it on gold, estimate its accuracy.

``consensus aggregate`` is this function plus file reading and writing, so the
Python API and the command line always give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from . import report
from .calibration import (
    CalibrationReport,
    calibrate_held_out,
    expected_calibration_error,
    with_confidence,
)
from .crossval import (
    MIN_GOLD_FOR_ESTIMATE,
    AccuracyEstimate,
    consensus_accuracy,
    held_out_posteriors,
)
from .models import DEFAULT_METHOD, make_model
from .models._em import clamp_to_gold
from .models.base import Aggregator, ProgressCallback
from .overdispersion import VoteCorrelation, fit_vote_correlation
from .votes import VoteMatrix


@dataclass(frozen=True, eq=False)
class AggregateResult:
    """A fitted model with its tables and summary."""

    votes: VoteMatrix
    model: Aggregator
    method: str
    accuracy: AccuracyEstimate | None
    calibration: CalibrationReport | None = None
    correlation: VoteCorrelation | None = None
    #: Confidence of each consensus label with the item left out of its annotators'
    #: confusion estimates (models that can compute it); set only without calibration,
    #: like ``correlation``.
    held_out_confidence: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def posteriors(self) -> Any:
        """Reported posteriors: calibrated on gold when there was enough of it; else the
        model's, with the label's confidence computed leaving each item out of its
        annotators' confusion estimates and discounted for correlated votes (see
        :mod:`consensus.overdispersion`). Labels are the model's either way."""
        posteriors = self.model.posteriors_
        if self.calibration is not None:
            posteriors = self.calibration.calibrator.apply(posteriors)
        if self.held_out_confidence is not None:
            posteriors = with_confidence(posteriors, self.held_out_confidence)
        if self.correlation is not None:
            posteriors = self.correlation.discount(posteriors, self.votes.votes_per_item)
        if posteriors is self.model.posteriors_:
            return posteriors
        return clamp_to_gold(posteriors, getattr(self.model, "gold_codes_", None))

    @property
    def items(self) -> pd.DataFrame:
        table = report.item_table(self.votes, self.model, self.posteriors)
        gold_codes = getattr(self.model, "gold_codes_", None)
        if gold_codes is not None:
            table.insert(table.columns.get_loc("tie") + 1, "gold", gold_codes >= 0)
        return table

    @cached_property
    def annotators(self) -> pd.DataFrame:
        return report.annotator_table(self.votes, self.model)

    @property
    def confusion(self) -> pd.DataFrame:
        return report.confusion_table(self.votes, self.model)

    def summary(self) -> str:
        return report.format_summary(self.info)


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
    """
    params = {"max_iter": max_iter, "tol": tol, "smoothing": smoothing}
    model = make_model(method, progress=progress, **params).fit(votes, gold=gold)
    accuracy = calibration = None
    gold_codes = getattr(model, "gold_codes_", None)
    if gold_codes is not None and (gold_codes >= 0).sum() >= MIN_GOLD_FOR_ESTIMATE:
        held = held_out_posteriors(
            votes, gold_codes, lambda: make_model(method, **params), n_folds=n_folds, seed=seed
        )
        accuracy = consensus_accuracy(held)
        if calibrate:
            calibration = calibrate_held_out(held, seed=seed)
    correlation = held_out = None
    if calibration is None and honest_confidence and method != "mv":
        correlation = fit_vote_correlation(votes, model.posteriors_)
        if hasattr(model, "leave_one_out_proba"):
            rows = np.arange(votes.n_items)
            held_out = model.leave_one_out_proba(votes)[rows, model.label_codes_]
    result = AggregateResult(votes, model, method, accuracy, calibration, correlation, held_out)
    info = report.summary(votes, model, method, result.annotators, result.posteriors)
    if correlation is not None:
        info["vote_correlation"] = correlation.rho
        typical = float(np.median(votes.votes_per_item))
        info["confidence_note"] = (
            ("model-based (each item left out of its annotators' confusion estimates), "
             if held_out is not None else "model-based, ")
            + f"discounted for correlated votes (intra-item correlation "
            f"{correlation.rho:.3f}: {typical:g} votes weigh as "
            f"{correlation.effective_votes(typical):.1f} independent ones), and not calibrated: "
            + ("too few gold items" if gold_codes is not None else "no gold was given")
        )
    if gold_codes is not None:
        info["gold_items"] = int((gold_codes >= 0).sum())
        if calibration is not None:
            info["confidence_note"] = f"calibrated on gold ({calibration.calibrator.describe()})"
        elif correlation is None:
            info["confidence_note"] = "model-based and uncalibrated (too few gold items)"
    if accuracy is not None:
        info["gold_accuracy"] = accuracy.to_dict()
        info["gold_accuracy_text"] = accuracy.summary()
    if calibration is not None:
        info["calibration"] = {
            key: value for key, value in calibration.to_dict().items() if "bins" not in key
        }
        info["calibration_text"] = (
            f"calibration error on held-out gold {calibration.ece_before:.3f} → "
            f"{calibration.ece_after:.3f} ({calibration.calibrator.describe()})"
        )
    result.info.update(info)
    return result


def ece_without_gold(
    votes: VoteMatrix, gold_codes: np.ndarray, method: str = DEFAULT_METHOD, n_bins: int = 10
) -> dict[str, float]:
    """How honest is the confidence ``aggregate`` reports when it is given no gold?

    Fits without the gold, then measures on the gold items the expected
    calibration error of the model's own posteriors and of the reported ones.
    """
    result = aggregate(votes, method=method)
    known = np.flatnonzero(gold_codes >= 0)
    truth = gold_codes[known]
    return {
        "ece_model": expected_calibration_error(result.model.posteriors_[known], truth, n_bins),
        "ece_reported": expected_calibration_error(result.posteriors[known], truth, n_bins),
    }
