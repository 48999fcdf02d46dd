"""``--ordinal`` on the command line: the ordinal model, its columns, ordinal agreement."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from consensus.cli import cli


def _ratings(tmp_path):
    rows = []
    for i in range(40):
        truth = i % 4
        for a in range(3):
            given = min(3, max(0, truth + (1 if (i + a) % 7 == 0 else 0)))
            rows.append((f"i{i}", f"a{(i + a) % 9}", "GPRX"[given]))
    pd.DataFrame(rows, columns=["item", "annotator", "label"]).to_csv(tmp_path / "r.csv",
                                                                      index=False)
    return tmp_path / "r.csv"


def test_ordinal_fits_the_ordinal_model_and_adds_the_scale_columns(tmp_path):
    path = _ratings(tmp_path)
    result = CliRunner().invoke(cli, ["aggregate", str(path), "--ordinal", "--labels",
                                      "G,P,R,X", "-o", str(tmp_path / "l.csv")])
    assert result.exit_code == 0, result.output
    assert "method ordinal" in result.output
    labels = pd.read_csv(tmp_path / "l.csv", dtype=str)
    for name in ("ordinal_median", "ordinal_mean", "ordinal_low", "ordinal_high"):
        assert name in labels.columns
    assert set(labels["ordinal_median"]) <= set("GPRX")


def test_nominal_needs_ordinal(tmp_path):
    path = _ratings(tmp_path)
    result = CliRunner().invoke(cli, ["aggregate", str(path), "--nominal", "X"])
    assert result.exit_code == 2
    assert "--ordinal" in result.output


def test_ordinal_agreement_adds_weighted_statistics(tmp_path):
    path = _ratings(tmp_path)
    result = CliRunner().invoke(cli, ["agreement", str(path), "--ordinal", "--labels", "G,P,R,X",
                                      "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    assert "Krippendorff's alpha, ordinal" in result.output
    assert "Mean weighted kappa, quadratic" in result.output


def test_ordinal_gold_scoring_adds_mae_and_within_one(tmp_path):
    path = _ratings(tmp_path)
    gold = pd.DataFrame({"item": [f"i{i}" for i in range(40)],
                         "label": ["GPRX"[i % 4] for i in range(40)]})
    gold.to_csv(tmp_path / "gold.csv", index=False)
    result = CliRunner().invoke(cli, ["score", str(path), "--gold", str(tmp_path / "gold.csv"),
                                      "--ordinal", "--labels", "G,P,R,X", "-o",
                                      str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    assert "mean absolute error" in result.output
    scores = pd.read_csv(tmp_path / "s.csv")
    assert {"mae", "within_one"} <= set(scores.columns)
