"""Whole jobs in one call each: what a command runs, without the files."""

from .aggregation import AggregateResult, aggregate
from .calibration import CalibrationCheck, check_calibration
from .score import score_with_consensus

__all__ = [
    "AggregateResult",
    "CalibrationCheck",
    "aggregate",
    "check_calibration",
    "score_with_consensus",
]
