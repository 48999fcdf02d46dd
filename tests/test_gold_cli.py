"""Gold on the command line: anchored aggregation, scoring, vetting, and bad gold files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, GOLDEN

from consensus import DawidSkene, read_votes
from consensus.cli import cli
from consensus.data.gold import read_gold
from consensus.quality.crossval import consensus_accuracy, fold_assignment, held_out_posteriors
from consensus.workflows.aggregation import aggregate

SENTIMENT = str(EXAMPLES / "sentiment_votes.csv")
GOLD = str(GOLDEN / "sentiment_gold.csv")


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_gold_items_keep_their_label_and_accuracy_is_cross_validated(tmp_path):
    out = tmp_path / "labels.csv"
    result = invoke("aggregate", SENTIMENT, "--gold", GOLD, "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["gold_items"] == 300
    estimate = info["gold_accuracy"]
    assert estimate["n_gold"] == 300 and estimate["n_folds"] == 5
    assert estimate["ci_low"] < estimate["accuracy"] < estimate["ci_high"]
    labels = pd.read_csv(out, dtype={"item": str, "label": str})
    gold = pd.read_csv(GOLD, dtype=str).set_index("item")["label"]
    on_gold = labels.set_index("item").loc[gold.index]
    assert (on_gold["label"] == gold).all() and on_gold["gold"].all()
    assert (on_gold["confidence"] == 1.0).all()


def test_accuracy_sentence_in_summary():
    result = invoke("aggregate", SENTIMENT, "--gold", GOLD, "-o", "-")
    assert "your consensus labels are about" in result.stderr


def test_cross_validation_is_honest_and_deterministic():
    votes = read_votes(SENTIMENT)
    gold = read_gold(GOLD, votes).per_item(votes.n_items)
    held = held_out_posteriors(votes, gold, lambda: DawidSkene(), n_folds=5, seed=1)
    again = held_out_posteriors(votes, gold, lambda: DawidSkene(), n_folds=5, seed=1)
    assert np.array_equal(held.posteriors, again.posteriors)
    # held-out items are never clamped: their posteriors are not one-hot
    assert (held.posteriors.max(axis=1) < 1.0).mean() > 0.9
    estimate = consensus_accuracy(held)
    unanchored = (DawidSkene().fit(votes).label_codes_[held.item_codes] == held.truth).mean()
    assert abs(estimate.accuracy - unanchored) < 0.05


def test_fold_assignment_balanced():
    fold = fold_assignment(103, 5, seed=0)
    assert np.bincount(fold).tolist() == [21, 21, 21, 20, 20]


def test_pipeline_without_enough_gold_gives_no_estimate():
    votes = read_votes(SENTIMENT)
    gold = np.full(votes.n_items, -1)
    gold[:3] = 0
    result = aggregate(votes, gold=gold)
    assert result.accuracy is None and result.to_dict()["gold_items"] == 3


def test_score_command(tmp_path):
    out = tmp_path / "scores.csv"
    result = invoke("score", SENTIMENT, "--gold", GOLD, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "Consensus on gold" in result.stdout
    table = pd.read_csv(out)
    for column in ["annotator", "n_gold", "correct", "accuracy", "ci_low", "ci_high", "kappa",
                   "worst_pair"]:
        assert column in table.columns


def test_vet_command_exit_status_and_table(tmp_path):
    out = tmp_path / "decisions.csv"
    result = invoke("vet", SENTIMENT, "--gold", GOLD, "--min-accuracy", "0.75", "-o", str(out))
    table = pd.read_csv(out)
    assert {"annotator", "decision", "n_gold", "accuracy", "ci_low", "ci_high",
            "more_items_needed"} <= set(table.columns)
    assert table["decision"].value_counts().to_dict() == {"undecided": 78, "fail": 4, "pass": 1}
    assert result.exit_code == 1  # at least one candidate failed
    assert "no one voted" not in result.stderr


@pytest.mark.parametrize(("right", "expected"), [(40, 0), (2, 3)])
def test_vet_exit_status_all_passed_or_undecided(tmp_path, right, expected):
    """40 right answers pass at 0.75 (exit 0); 2 right answers leave it open (exit 3)."""
    gold = tmp_path / "gold.csv"
    gold.write_text("item,label\n" + "".join(f"g{i},{'ab'[i % 2]}\n" for i in range(40)))
    answers = tmp_path / "answers.csv"
    answers.write_text("item,annotator,label\n" + "".join(
        f"g{i},cand,{'ab'[i % 2]}\n" for i in range(right)))
    result = invoke("vet", str(answers), "--gold", str(gold), "--min-accuracy", "0.75")
    assert result.exit_code == expected, result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("item,label\n201,0\n201,1\n", "conflicting"),
        ("item,label\n201,7\n", "7"),
        ("itm,label\n201,0\n", "item"),
        ("item,label\nnope,0\n", "none of the"),
    ],
)
def test_bad_gold_exits_2(tmp_path, content, message):
    gold = tmp_path / "gold.csv"
    gold.write_text(content)
    for command in ("aggregate", "score"):
        result = invoke(command, SENTIMENT, "--gold", str(gold), "-o", str(tmp_path / "o.csv"))
        assert result.exit_code == 2, (command, result.output)
        assert message in result.stderr and "Traceback" not in result.output
