"""Is a confidence of 0.9 right 90% of the time? Measure it on gold, and fix it.

Calibration is measured on *held-out* posteriors of gold items (see
:mod:`consensus.quality.crossval`): the consensus on an item is computed without its
own gold label. The fix maps the confidence of the chosen label through a
monotone function fitted on those held-out items — isotonic regression when
there are at least ``ISOTONIC_MIN_GOLD`` of them, else Platt scaling of its
log-odds (two parameters, safe on little data) — and shares the remaining
probability among the other classes in their old proportions, so the label
and the order of classes never change. Temperature scaling (one parameter on
the log-posteriors) is available too. The error reported after calibration is
measured by nested cross-validation: on items the calibrator never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..models.em import normalize_log, safe_log, top_two
from ..report.text import records
from . import CALIBRATORS
from .crossval import HeldOut, fold_assignment

DEFAULT_BINS = 10
#: Temperatures are searched on log scale within these bounds.
T_MIN, T_MAX = 0.05, 50.0
#: Fewer held-out gold items than this get Platt scaling instead of isotonic regression.
ISOTONIC_MIN_GOLD = 300



@dataclass(frozen=True)
class Calibrator:
    """A fitted map from model posteriors to calibrated posteriors."""

    kind: str
    temperature: float = 1.0
    platt: tuple[float, float] = (1.0, 0.0)
    knots: tuple[np.ndarray, np.ndarray] | None = None

    def apply(self, posteriors: np.ndarray) -> np.ndarray:
        if self.kind == "temperature":
            return temper(posteriors, self.temperature)
        confidence = posteriors.max(axis=1)
        if self.kind == "platt":
            slope, intercept = self.platt
            mapped = 1.0 / (1.0 + np.exp(-(slope * _logit(confidence) + intercept)))
        else:
            x, y = self.knots  # type: ignore[misc]
            mapped = np.interp(confidence, x, y)
        n_classes = posteriors.shape[1]
        return with_confidence(posteriors, np.clip(mapped, 1.0 / n_classes, 1.0))

    def describe(self) -> str:
        if self.kind == "temperature":
            return f"temperature scaling (T = {self.temperature:.2f})"
        if self.kind == "platt":
            return f"Platt scaling of the confidence (slope {self.platt[0]:.2f})"
        return "isotonic regression of the confidence"


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def with_confidence(posteriors: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Set the top class's probability, sharing the rest in the old proportions.

    The new confidence is kept at or above the level where the runner-up would
    overtake it, ``p2 / (1 - p1 + p2)``, so the label never changes; a
    calibrator that wants less is answered with a near tie.
    """
    rows = np.arange(len(posteriors))
    top = posteriors.argmax(axis=1)
    best, runner_up = top_two(posteriors)
    rest = 1.0 - best
    floor = runner_up / np.maximum(rest + runner_up, 1e-300)
    confidence = np.maximum(confidence, floor * (1 + 1e-9))
    n_classes = posteriors.shape[1]
    share = np.where(rest[:, None] > 1e-300, posteriors / np.maximum(rest, 1e-300)[:, None],
                     1.0 / (n_classes - 1))
    out = share * (1.0 - confidence)[:, None]
    out[rows, top] = confidence
    return out


def fit_calibrator(posteriors: np.ndarray, truth: np.ndarray, kind: str = "auto") -> Calibrator:
    """Fit a calibrator on held-out posteriors of gold items and their true classes."""
    if kind not in CALIBRATORS:
        raise InputError(f"unknown calibrator {kind!r}; choose one of {', '.join(CALIBRATORS)}")
    if kind == "auto":
        kind = "isotonic" if len(truth) >= ISOTONIC_MIN_GOLD else "platt"
    if kind == "temperature":
        return Calibrator("temperature", temperature=fit_temperature(posteriors, truth))
    from scipy.optimize import isotonic_regression, minimize  # a quarter second: only with gold

    confidence = posteriors.max(axis=1)
    correct = (posteriors.argmax(axis=1) == truth).astype(float)
    if kind == "platt":
        z = _logit(confidence)

        def nll(w: np.ndarray) -> float:
            s = w[0] * z + w[1]
            return float(np.sum(np.logaddexp(0.0, s) - correct * s))

        slope, intercept = minimize(nll, np.array([1.0, 0.0]), method="Nelder-Mead").x
        return Calibrator("platt", platt=(float(slope), float(intercept)))
    order = np.argsort(confidence, kind="stable")
    fitted = isotonic_regression(correct[order]).x
    # no claim of more certainty than the gold items can support
    ceiling = 1.0 - 0.5 / len(truth)
    return Calibrator("isotonic", knots=(confidence[order], np.minimum(fitted, ceiling)))


def temper(posteriors: np.ndarray, temperature: float) -> np.ndarray:
    """Posteriors raised to 1/T and renormalised (T > 1 softens, T < 1 sharpens)."""
    if temperature == 1.0:
        return posteriors
    return normalize_log(safe_log(posteriors) / temperature)[0]


def fit_temperature(posteriors: np.ndarray, truth: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood of the true classes."""
    from scipy.optimize import minimize_scalar

    log_p = safe_log(posteriors)
    rows = np.arange(len(truth))

    def nll(log_t: float) -> float:
        tempered = log_p / np.exp(log_t)
        top = tempered.max(axis=1, keepdims=True)
        norm = np.log(np.exp(tempered - top).sum(axis=1)) + top[:, 0]
        return float((norm - tempered[rows, truth]).sum())

    best = minimize_scalar(nll, bounds=(np.log(T_MIN), np.log(T_MAX)), method="bounded",
                           options={"xatol": 1e-4})
    return float(np.exp(best.x))


def reliability_table(
    posteriors: np.ndarray, truth: np.ndarray, n_bins: int = DEFAULT_BINS
) -> pd.DataFrame:
    """Per confidence bin (equal width on [0, 1]): items, mean confidence, accuracy."""
    confidence = posteriors.max(axis=1)
    correct = posteriors.argmax(axis=1) == truth
    index = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    correct_sum = np.bincount(index, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame(
            {
                "bin_low": np.arange(n_bins) / n_bins,
                "bin_high": np.arange(1, n_bins + 1) / n_bins,
                "items": counts,
                "mean_confidence": np.where(counts > 0, conf_sum / np.maximum(counts, 1), np.nan),
                "accuracy": np.where(counts > 0, correct_sum / np.maximum(counts, 1), np.nan),
            }
        )
    return table


def expected_calibration_error(
    posteriors: np.ndarray, truth: np.ndarray, n_bins: int = DEFAULT_BINS
) -> float:
    """Share-weighted mean |confidence − accuracy| over confidence bins."""
    table = reliability_table(posteriors, truth, n_bins)
    used = table["items"] > 0
    gaps = (table["mean_confidence"] - table["accuracy"]).abs()[used]
    return float((gaps * table["items"][used]).sum() / table["items"].sum())


def brier_score(posteriors: np.ndarray, truth: np.ndarray) -> float:
    """Mean squared distance between the posterior and the one-hot truth (0 is perfect)."""
    onehot = np.zeros_like(posteriors)
    onehot[np.arange(len(truth)), truth] = 1.0
    return float(((posteriors - onehot) ** 2).sum(axis=1).mean())


def ece_spread(
    posteriors: np.ndarray, truth: np.ndarray, n_bins: int = DEFAULT_BINS,
    n_bootstrap: int = 200, seed: int = 0,
) -> tuple[float, float]:
    """Bootstrap 2.5% and 97.5% points of the ECE: how noisy the figure is on this many items."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(truth), size=(n_bootstrap, len(truth)))
    values = [expected_calibration_error(posteriors[d], truth[d], n_bins) for d in draws]
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


@dataclass(frozen=True, eq=False)
class CalibrationReport:
    """Calibration before and after the calibrator, both on held-out gold items."""

    calibrator: Calibrator
    before: pd.DataFrame
    after: pd.DataFrame
    ece_before: float
    ece_after: float
    brier_before: float
    brier_after: float
    n_gold: int
    n_folds: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "calibrator": self.calibrator.kind,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "brier_before": self.brier_before,
            "brier_after": self.brier_after,
            "n_gold": self.n_gold,
            "n_folds": self.n_folds,
            "bins_before": records(self.before),
            "bins_after": records(self.after),
        }

    def summary(self) -> str:
        lines = [
            f"calibration on {self.n_gold:,} held-out gold items ({self.n_folds}-fold):",
            f"  expected calibration error {self.ece_before:.3f} before, {self.ece_after:.3f} "
            f"after {self.calibrator.describe()}, fitted out of fold",
            f"  Brier score {self.brier_before:.3f} before, {self.brier_after:.3f} after",
            "  confidence bin   items  mean conf  accuracy   |  after: items  mean conf  accuracy",
        ]
        for b, a in zip(self.before.itertuples(), self.after.itertuples(), strict=True):
            lines.append(
                f"  {b.bin_low:.1f}–{b.bin_high:.1f}      {b.items:6d}  {_num(b.mean_confidence)}"
                f"     {_num(b.accuracy)}   |  {a.items:12d}  {_num(a.mean_confidence)}"
                f"     {_num(a.accuracy)}"
            )
        return "\n".join(lines)


def calibrate_held_out(
    held_out: HeldOut, n_bins: int = DEFAULT_BINS, seed: int = 0, kind: str = "auto"
) -> CalibrationReport:
    """Fit one calibrator on all held-out posteriors; measure 'after' by nested folds.

    The reported 'after' figures use, for each fold, a calibrator fitted on the
    other folds only, so they are not flattered by fitting and scoring on the
    same items.
    """
    posteriors, truth = held_out.posteriors, held_out.truth
    n_folds = int(held_out.fold.max()) + 1
    fold = fold_assignment(len(truth), n_folds, seed + 1) if n_folds > 1 else held_out.fold
    after = np.empty_like(posteriors)
    # the kind is chosen once, by the number of all held-out gold items
    fold_kind = kind if kind != "auto" else fit_calibrator(posteriors, truth).kind
    for f in range(n_folds):
        test = fold == f
        train = ~test if (~test).any() else test
        after[test] = fit_calibrator(posteriors[train], truth[train], fold_kind).apply(
            posteriors[test]
        )
    return CalibrationReport(
        calibrator=fit_calibrator(posteriors, truth, kind),
        before=reliability_table(posteriors, truth, n_bins),
        after=reliability_table(after, truth, n_bins),
        ece_before=expected_calibration_error(posteriors, truth, n_bins),
        ece_after=expected_calibration_error(after, truth, n_bins),
        brier_before=brier_score(posteriors, truth),
        brier_after=brier_score(after, truth),
        n_gold=len(truth),
        n_folds=n_folds,
    )


def _num(value: float) -> str:
    return "   -  " if np.isnan(value) else f"{value:6.3f}"
