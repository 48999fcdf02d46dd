"""The main job in one call: fit a model, anchor it on gold, estimate its accuracy.

``consensus aggregate`` is this function plus file reading and writing, so the
Python API and the command line always give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd

from . import report
from .calibration import CalibrationReport, calibrate_held_out
from .crossval import (
    MIN_GOLD_FOR_ESTIMATE,
    AccuracyEstimate,
    consensus_accuracy,
    held_out_posteriors,
)
from .models import DEFAULT_METHOD, make_model
from .models._em import clamp_to_gold
from .models.base import Aggregator, ProgressCallback
from .votes import VoteMatrix


@dataclass(frozen=True, eq=False)
class AggregateResult:
    """A fitted model with its tables and summary."""

    votes: VoteMatrix
    model: Aggregator
    method: str
    accuracy: AccuracyEstimate | None
    calibration: CalibrationReport | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def posteriors(self) -> Any:
        """Reported posteriors: the model's, or calibrated on gold when it was given."""
        if self.calibration is None:
            return self.model.posteriors_
        calibrated = self.calibration.calibrator.apply(self.model.posteriors_)
        return clamp_to_gold(calibrated, getattr(self.model, "gold_codes_", None))

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
        With gold, temperature-scale the reported posteriors so that confidence
        matches accuracy on held-out gold items.
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
    result = AggregateResult(votes, model, method, accuracy, calibration)
    info = report.summary(votes, model, method, result.annotators, result.posteriors)
    if gold_codes is not None:
        info["gold_items"] = int((gold_codes >= 0).sum())
        info["confidence_note"] = (
            "model-based and uncalibrated (too few gold items to calibrate)"
            if calibration is None
            else f"calibrated on gold ({calibration.calibrator.describe()})"
        )
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
