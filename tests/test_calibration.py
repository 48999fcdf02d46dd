"""Calibration: hand-computed reliability figures, recovery of a known miscalibration, the CLI.

Synthetic posteriors are made calibrated by construction: true class
probabilities p are drawn from a Dirichlet and the truth is drawn from p, so
P(truth = argmax p | p) = max p. Raising p to the power 1/T with T = 0.5 and
renormalising (``temper``) makes them overconfident by a known amount, which a
temperature calibrator should undo with T = 2.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, GOLDEN

from consensus.cli import cli
from consensus.quality.calibration import (
    brier_score,
    calibrate_held_out,
    expected_calibration_error,
    fit_calibrator,
    reliability_table,
    temper,
)
from consensus.quality.crossval import HeldOut, fold_assignment

SENTIMENT = str(EXAMPLES / "sentiment_votes.csv")
GOLD = str(GOLDEN / "sentiment_gold.csv")
KINDS = ("isotonic", "platt", "temperature")

# Five items, two classes. Confidence (top probability), its bin of width 0.1,
# the predicted class and whether it is right:
#   [0.95, 0.05] truth 0 -> 0.95, bin 9, says 0, right
#   [0.85, 0.15] truth 0 -> 0.85, bin 8, says 0, right
#   [0.85, 0.15] truth 1 -> 0.85, bin 8, says 0, wrong
#   [0.35, 0.65] truth 1 -> 0.65, bin 6, says 1, right
#   [0.55, 0.45] truth 1 -> 0.55, bin 5, says 0, wrong
HAND_POSTERIORS = np.array([[0.95, 0.05], [0.85, 0.15], [0.85, 0.15], [0.35, 0.65], [0.55, 0.45]])
HAND_TRUTH = np.array([0, 0, 1, 1, 1])


def synthetic(n: int, n_classes: int, temperature: float, seed: int):
    """(reported posteriors, truth, calibrated posteriors): the reported ones tempered."""
    rng = np.random.default_rng(seed)
    calibrated = rng.dirichlet(np.full(n_classes, 0.6), size=n)
    truth = (rng.random(n)[:, None] > np.cumsum(calibrated, axis=1)).sum(axis=1)
    truth = np.minimum(truth, n_classes - 1)
    return temper(calibrated, temperature), truth, calibrated


# ------------------------------------------------------------ by hand
def test_reliability_table_by_hand():
    table = reliability_table(HAND_POSTERIORS, HAND_TRUTH)
    assert list(table["items"]) == [0, 0, 0, 0, 0, 1, 1, 0, 2, 1]
    used = table["items"] > 0
    # bin 5: 0.55, wrong; bin 6: 0.65, right; bin 8: (0.85 + 0.85) / 2, 1 of 2 right; bin 9
    np.testing.assert_allclose(table["mean_confidence"][used], [0.55, 0.65, 0.85, 0.95])
    np.testing.assert_allclose(table["accuracy"][used], [0.0, 1.0, 0.5, 1.0])
    assert table["mean_confidence"][~used].isna().all() and table["accuracy"][~used].isna().all()
    np.testing.assert_allclose(table["bin_low"], np.arange(10) / 10)
    np.testing.assert_allclose(table["bin_high"], np.arange(1, 11) / 10)


def test_ece_by_hand():
    # gaps |conf - acc| weighted by items: (1*0.55 + 1*0.35 + 2*0.35 + 1*0.05) / 5 = 1.65 / 5
    assert expected_calibration_error(HAND_POSTERIORS, HAND_TRUTH) == pytest.approx(0.33)
    # with 2 bins, [0, 0.5) is empty and all five share [0.5, 1]:
    # mean confidence (0.95 + 0.85 + 0.85 + 0.65 + 0.55) / 5 = 0.77, accuracy 3/5
    assert expected_calibration_error(HAND_POSTERIORS, HAND_TRUTH, n_bins=2) == pytest.approx(
        0.17
    )


def test_brier_by_hand():
    # squared distance to one-hot, per item (both classes count):
    # 2*0.05^2 = 0.005, 2*0.15^2 = 0.045, 2*0.85^2 = 1.445, 2*0.35^2 = 0.245, 2*0.55^2 = 0.605
    # mean = 2.345 / 5
    assert brier_score(HAND_POSTERIORS, HAND_TRUTH) == pytest.approx(0.469)
    assert brier_score(np.eye(3), np.arange(3)) == 0.0
    # uniform over 3 classes: (2/3)^2 + 2 * (1/3)^2 = 2/3
    assert brier_score(np.full((2, 3), 1 / 3), np.array([0, 2])) == pytest.approx(2 / 3)


def test_ece_is_zero_when_every_bin_is_honest():
    # four items at 0.75, three right; two at 0.5 (ties go to class 0), one right
    posteriors = np.array([[0.75, 0.25]] * 4 + [[0.5, 0.5]] * 2)
    truth = np.array([0, 0, 0, 1, 0, 1])
    assert expected_calibration_error(posteriors, truth) == pytest.approx(0.0, abs=1e-12)


def test_bin_edges():
    # confidence 1.0 falls in the last bin, 0.5 in [0.5, 0.6)
    table = reliability_table(np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([0, 0]))
    assert table["items"][9] == 1 and table["items"][5] == 1


# ------------------------------------------------------------ calibrators
@pytest.mark.parametrize("kind", KINDS)
def test_fit_calibrator_recovers_overconfidence(kind):
    train, train_truth, _ = synthetic(20_000, 3, temperature=0.5, seed=1)
    test, test_truth, honest = synthetic(20_000, 3, temperature=0.5, seed=2)
    before = expected_calibration_error(test, test_truth)
    assert before > 0.10  # measured 0.128
    assert expected_calibration_error(honest, test_truth) < 0.01  # the generator is honest
    after = expected_calibration_error(fit_calibrator(train, train_truth, kind).apply(test),
                                       test_truth)
    # measured: isotonic 0.010, Platt 0.013, temperature 0.003
    assert after < 0.15 * before


def test_temperature_is_recovered():
    for reported, expected in ((0.5, 2.0), (2.0, 0.5)):
        posteriors, truth, _ = synthetic(20_000, 3, temperature=reported, seed=3)
        fitted = fit_calibrator(posteriors, truth, "temperature").temperature
        assert fitted == pytest.approx(expected, rel=0.05)


def test_auto_picks_isotonic_from_300_items_else_platt():
    posteriors, truth, _ = synthetic(300, 2, temperature=0.5, seed=4)
    assert fit_calibrator(posteriors, truth).kind == "isotonic"
    assert fit_calibrator(posteriors[:299], truth[:299]).kind == "platt"


LABEL_FLIP = (
    "with_confidence shares the mass taken from the top class among the others in proportion, "
    "and clips the new top only at 1/K: an isotonic or Platt map that lowers 0.5 to 0.34 turns "
    "[0.5, 0.45, 0.05] into [0.34, 0.59, 0.07], so the label changes (isotonic 1,843 and Platt "
    "1,986 of the 20,000 items below)"
)


@pytest.mark.parametrize(
    "kind",
    [
        "isotonic",
        "platt",
        "temperature",
    ],
)
def test_labels_never_change_after_calibration(kind):
    train, train_truth, _ = synthetic(20_000, 3, temperature=0.5, seed=5)
    test, _, _ = synthetic(20_000, 3, temperature=0.5, seed=6)
    calibrated = fit_calibrator(train, train_truth, kind).apply(test)
    np.testing.assert_array_equal(calibrated.argmax(axis=1), test.argmax(axis=1))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_calibrated_posteriors_are_distributions(kind, n_classes):
    train, train_truth, _ = synthetic(5_000, n_classes, temperature=0.5, seed=7)
    test, _, _ = synthetic(2_000, n_classes, temperature=0.5, seed=8)
    # edge rows: one-hot (nothing left to share) and uniform
    test = np.vstack([test, np.eye(n_classes)[:1], np.full((1, n_classes), 1 / n_classes)])
    calibrated = fit_calibrator(train, train_truth, kind).apply(test)
    assert calibrated.shape == test.shape
    assert np.isfinite(calibrated).all() and (calibrated >= 0).all()
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0, rtol=0, atol=1e-9)


# ------------------------------------------------------------ nested cross-validation
def held_out(n: int, n_folds: int = 5, seed: int = 9) -> HeldOut:
    posteriors, truth, _ = synthetic(n, 3, temperature=0.5, seed=seed)
    return HeldOut(np.arange(n), truth, posteriors, fold_assignment(n, n_folds, seed))


def test_calibrate_held_out_after_is_measured_out_of_fold():
    data = held_out(3_000)
    report = calibrate_held_out(data, seed=0)
    assert report.calibrator.kind == "isotonic" and report.n_gold == 3_000
    assert report.n_folds == 5
    assert report.ece_before == pytest.approx(
        expected_calibration_error(data.posteriors, data.truth))
    assert report.ece_after < 0.3 * report.ece_before
    assert report.brier_after < report.brier_before
    # 'after' is each fold calibrated by a calibrator fitted on the other four
    fold = fold_assignment(3_000, 5, 0 + 1)
    by_hand = np.empty_like(data.posteriors)
    for f in range(5):
        test = fold == f
        calibrator = fit_calibrator(data.posteriors[~test], data.truth[~test], "isotonic")
        by_hand[test] = calibrator.apply(data.posteriors[test])
    assert report.ece_after == pytest.approx(expected_calibration_error(by_hand, data.truth))
    # ... which is less flattering than scoring the final calibrator on its own training items
    in_sample = expected_calibration_error(report.calibrator.apply(data.posteriors), data.truth)
    assert report.ece_after > in_sample
    assert int(report.before["items"].sum()) == int(report.after["items"].sum()) == 3_000


def test_calibrate_held_out_small_gold_uses_platt():
    report = calibrate_held_out(held_out(200), seed=0)
    assert report.calibrator.kind == "platt" and report.n_gold == 200
    assert report.ece_after < report.ece_before


# ------------------------------------------------------------ the command
def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_cli_writes_table_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    table, plot = tmp_path / "reliability.csv", tmp_path / "reliability.png"
    result = invoke("calibration", SENTIMENT, "--gold", GOLD, "-o", str(table),
                    "--plot", str(plot))
    assert result.exit_code == 0, result.output
    assert "expected calibration error" in result.stdout
    assert "without gold, `consensus aggregate` reports confidence" in result.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    frame = pd.read_csv(table)
    assert list(frame.columns) == [
        "bin_low", "bin_high", "items", "mean_confidence", "accuracy", "stage"
    ]
    assert list(frame["stage"]) == ["before"] * 10 + ["after"] * 10
    assert (frame.groupby("stage")["items"].sum() == 300).all()


def test_cli_json(tmp_path):
    result = invoke("calibration", SENTIMENT, "--gold", GOLD, "--json", "--bins", "5")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert set(info) == {
        "calibrator", "ece_before", "ece_after", "brier_before", "brier_after",
        "n_gold", "n_folds", "bins_before", "bins_after", "without_gold",
    }
    # what aggregate reports without gold is less overconfident than the raw model
    assert 0 < info["without_gold"]["ece_reported"] < info["without_gold"]["ece_model"]
    assert info["n_gold"] == 300 and info["n_folds"] == 5 and info["calibrator"] == "isotonic"
    assert len(info["bins_before"]) == len(info["bins_after"]) == 5
    assert 0 <= info["ece_after"] < info["ece_before"]


@pytest.mark.parametrize(
    ("gold_text", "message"),
    [
        ("item,label\n3,7\n9,1\n", "not among the votes' classes"),
        ("item,label\nno-such-item,1\n", "none of the 1 gold items appears in the votes"),
        ("item,answer_given\n3,1\n", "no label column"),
        ("item,label\n3,1\n3,0\n", "conflicting labels"),
    ],
)
def test_cli_bad_gold_exits_2(tmp_path, gold_text, message):
    gold = tmp_path / "gold.csv"
    gold.write_text(gold_text)
    result = invoke("calibration", SENTIMENT, "--gold", str(gold))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.output


def test_cli_missing_gold_file_exits_2(tmp_path):
    result = invoke("calibration", SENTIMENT, "--gold", str(tmp_path / "absent.csv"))
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
