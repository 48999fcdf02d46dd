"""Is the confidence honest? The whole check behind ``consensus calibration``, in one call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.gold import GoldSet
from ..data.votes import VoteMatrix
from ..models import DEFAULT_METHOD, make_model
from ..quality.calibration import (
    DEFAULT_BINS,
    CalibrationReport,
    calibrate_held_out,
    expected_calibration_error,
)
from ..quality.crossval import held_out_posteriors
from .aggregation import aggregate


@dataclass(frozen=True, eq=False)
class CalibrationCheck:
    """Calibration on held-out gold, and how honest ``aggregate`` is without that gold.

    Attributes
    ----------
    report : CalibrationReport
        Reliability before and after calibration, on held-out gold items.
    ece_model_without_gold, ece_reported_without_gold : float
        Expected calibration error on the gold items of a fit that never saw the
        gold: of the model's own posteriors, and of the confidence ``aggregate``
        reports (leave-one-out and correlated-votes adjustments included).
    """

    report: CalibrationReport
    ece_model_without_gold: float
    ece_reported_without_gold: float

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.report.to_dict(),
            "without_gold": {
                "ece_model": self.ece_model_without_gold,
                "ece_reported": self.ece_reported_without_gold,
            },
        }

    def summary(self) -> str:
        from ..report.summary import calibration_check_text

        return calibration_check_text(self)


def ece_without_gold(
    votes: VoteMatrix,
    gold_codes: np.ndarray,
    method: str = DEFAULT_METHOD,
    n_bins: int = DEFAULT_BINS,
    **model_options: Any,
) -> tuple[float, float]:
    """How honest is the confidence ``aggregate`` reports when it is given no gold?

    Fits without the gold, then measures on the gold items the expected
    calibration error of the model's own posteriors and of the reported ones.
    """
    result = aggregate(votes, method=method, **model_options)
    known = np.flatnonzero(gold_codes >= 0)
    truth = gold_codes[known]
    return (
        expected_calibration_error(result.model.posteriors_[known], truth, n_bins),
        expected_calibration_error(result.posteriors[known], truth, n_bins),
    )


def check_calibration(
    votes: VoteMatrix,
    gold: GoldSet,
    *,
    method: str = DEFAULT_METHOD,
    calibrator: str = "auto",
    n_bins: int = DEFAULT_BINS,
    n_folds: int = 5,
    seed: int = 0,
    max_iter: int = 100,
    tol: float = 1e-5,
    smoothing: float | None = None,
) -> CalibrationCheck:
    """Cross-validate the gold items' posteriors, calibrate them, and fit once without gold.

    Every figure is measured on gold items whose own label was not used (see
    :func:`consensus.quality.calibration.calibrate_held_out`).
    """
    options = {"max_iter": max_iter, "tol": tol, "smoothing": smoothing}
    gold.check_matches(votes)
    codes = gold.per_item(votes.n_items)
    held = held_out_posteriors(
        votes, codes, lambda: make_model(method, **options), n_folds=n_folds, seed=seed
    )
    report = calibrate_held_out(held, n_bins=n_bins, seed=seed, kind=calibrator)
    model_ece, reported_ece = ece_without_gold(votes, codes, method, n_bins, **options)
    return CalibrationCheck(report, model_ece, reported_ece)
