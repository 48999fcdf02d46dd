"""Scoring annotators against gold: values pinned on a toy set and checked against
independent references (a closed-form Wilson interval, scikit-learn's kappa, a pandas
join on the bundled data)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import EXAMPLES, GOLDEN
from scipy.stats import norm

from consensus import InputError, InputWarning, VoteMatrix
from consensus.data.gold import GoldSet, read_gold
from consensus.data.readers import read_votes
from consensus.quality.scoring import (
    gold_confusion,
    kappa_from_confusion,
    missed_gold,
    score_annotators,
    wilson_interval,
)

# Gold: g0..g5 are cat, g6..g9 lynx.
GOLD = pd.DataFrame({"item": [f"g{i}" for i in range(10)], "label": ["cat"] * 6 + ["lynx"] * 4})


def toy_votes() -> VoteMatrix:
    rows = []
    for i in range(10):  # "lazy" always says the majority class
        rows.append((f"g{i}", "lazy", "cat"))
    for i in range(10):  # "good" misses one lynx
        rows.append((f"g{i}", "good", "lynx" if i >= 6 and i != 7 else "cat"))
    rows += [("g0", "few", "lynx"), ("g0", "few", "cat"), ("x1", "few", "cat")]  # a repeat
    rows += [("x1", "nobody", "lynx"), ("x2", "nobody", "cat")]
    with pytest.warns(InputWarning, match="repeated"):
        return VoteMatrix.from_frame(pd.DataFrame(rows, columns=["item", "annotator", "label"]))


@pytest.fixture
def report():
    votes = toy_votes()
    gold = GoldSet.from_frame(GOLD, votes)
    return score_annotators(votes, gold, min_gold=5).annotators.set_index("annotator")


def closed_form_wilson(k, n, confidence):
    z = norm.ppf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_wilson_matches_closed_form_and_is_nan_without_answers():
    k, n = np.array([0, 3, 9, 50, 0]), np.array([5, 10, 10, 50, 0])
    low, high = wilson_interval(k, n, 0.9)
    ref_low, ref_high = closed_form_wilson(k[:4], n[:4], 0.9)
    np.testing.assert_allclose(low[:4], ref_low, atol=1e-12)
    np.testing.assert_allclose(high[:4], ref_high, atol=1e-12)
    assert np.isnan(low[4]) and np.isnan(high[4])


def test_toy_counts_accuracy_and_recall(report):
    lazy, good = report.loc["lazy"], report.loc["good"]
    assert (lazy.n_gold, lazy.correct, lazy.accuracy) == (10, 6, 0.6)
    assert (lazy.recall_cat, lazy.recall_lynx) == (1.0, 0.0)
    assert (good.n_gold, good.correct, good.recall_lynx) == (10, 9, 0.75)
    low, high = closed_form_wilson(9, 10, 0.95)
    assert good.ci_low == pytest.approx(low) and good.ci_high == pytest.approx(high)


def test_kappa_does_not_reward_always_saying_the_majority_class(report):
    sklearn = pytest.importorskip("sklearn.metrics")
    assert report.loc["lazy", "kappa"] == 0.0
    truth = ["cat"] * 6 + ["lynx"] * 4
    given = ["cat"] * 7 + ["lynx"] * 3
    assert report.loc["good", "kappa"] == pytest.approx(sklearn.cohen_kappa_score(truth, given))


def test_kappa_is_nan_when_chance_agreement_is_certain():
    one_class = np.array([[[4, 0], [0, 0]]])
    assert np.isnan(kappa_from_confusion(one_class)[0])


def test_worst_pair_and_empty_when_no_errors(report):
    assert report.loc["lazy", "worst_pair"] == "lynx → cat (4)"
    assert report.loc["good", "worst_pair"] == "lynx → cat (1)"
    assert report.loc["nobody", "worst_pair"] == ""


def test_repeated_votes_count_as_votes(report):
    few = report.loc["few"]
    assert (few.n_gold, few.correct, few.n_votes) == (2, 1, 3)


def test_status_and_worst_first_order():
    votes = toy_votes()
    report = score_annotators(votes, GoldSet.from_frame(GOLD, votes), min_gold=5)
    table = report.annotators
    assert list(table["annotator"]) == ["lazy", "good", "few", "nobody"]
    assert list(table["status"]) == ["ranked", "ranked", "too few gold", "no gold"]
    assert np.isnan(table.loc[3, "accuracy"])


def test_ranked_by_upper_bound_so_more_evidence_of_the_same_accuracy_comes_first():
    # a: 3 of 10 right; b: 60 of 200 right: both 0.3, b surely so.
    items = np.concatenate([np.arange(10), np.arange(200)])
    annotators = np.repeat([0, 1], [10, 200])
    labels = np.concatenate([np.arange(10) >= 3, np.arange(200) >= 60]).astype(int)
    votes = VoteMatrix.from_codes(items, annotators, labels, n_classes=2)
    gold = GoldSet.from_codes(votes, np.arange(200), np.zeros(200))
    table = score_annotators(votes, gold).annotators
    assert list(table["annotator"]) == [1, 0]


def test_consensus_accuracy_and_per_class_precision_recall():
    votes = toy_votes()
    gold = GoldSet.from_frame(GOLD, votes)
    codes = {name: k for k, name in enumerate(votes.item_ids)}
    consensus = np.zeros(votes.n_items, dtype=np.int64)  # cat everywhere ...
    consensus[[codes["g6"], codes["g8"], codes["g0"]]] = 1  # ... but two lynx right, g0 wrong
    overall = score_annotators(votes, gold, consensus_labels=consensus).overall
    assert (overall.n_gold, overall.correct, overall.accuracy) == (10, 7, 0.7)
    per_class = overall.per_class.set_index("class")
    assert per_class.loc["lynx", "precision"] == pytest.approx(2 / 3)
    assert per_class.loc["lynx", "recall"] == pytest.approx(2 / 4)
    assert per_class.loc["cat", "precision"] == pytest.approx(5 / 7)
    assert per_class.loc["cat", "recall"] == pytest.approx(5 / 6)


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.zeros(3, dtype=int), "one per item"),
        (np.full(12, 0.5), "integer class codes"),
        (np.full(12, 2), r"class codes 0..1"),
    ],
)
def test_bad_consensus_labels(labels, message):
    votes = toy_votes()
    with pytest.raises(InputError, match=message):
        score_annotators(votes, GoldSet.from_frame(GOLD, votes), consensus_labels=labels)


@pytest.mark.parametrize("option", [{"min_gold": 0}, {"confidence": 95}])
def test_bad_options(option):
    votes = toy_votes()
    with pytest.raises(InputError):
        score_annotators(votes, GoldSet.from_frame(GOLD, votes), **option)


def test_gold_from_another_vote_table_is_refused():
    votes = toy_votes()
    other = read_votes(EXAMPLES / "weather_votes.csv")
    with pytest.raises(InputError, match="different vote table"):
        score_annotators(other, GoldSet.from_frame(GOLD, votes))


def test_bundled_sentiment_matches_a_pandas_join():
    votes = read_votes(EXAMPLES / "sentiment_votes.csv")
    gold = read_gold(GOLDEN / "sentiment_gold.csv", votes)
    report = score_annotators(votes, gold, consensus_labels=votes.label_counts.argmax(axis=1))
    table = report.annotators.set_index("annotator")

    raw = pd.read_csv(EXAMPLES / "sentiment_votes.csv", dtype=str)
    truth = pd.read_csv(GOLDEN / "sentiment_gold.csv", dtype=str)[["item", "label"]]
    joined = raw.merge(truth, on="item", suffixes=("", "_gold"))
    expected = (
        joined.assign(right=joined["label"] == joined["label_gold"])
        .groupby("annotator")["right"]
        .agg(["size", "sum"])
    )
    assert table.loc[expected.index, "n_gold"].tolist() == expected["size"].tolist()
    assert table.loc[expected.index, "correct"].tolist() == expected["sum"].tolist()
    assert int(gold_confusion(votes, gold).sum()) == len(joined)
    assert report.uncovered_classes == ()
    ranked = report.annotators[report.annotators["status"] == "ranked"]
    assert ranked["ci_high"].is_monotonic_increasing
    assert 0.5 < report.overall.accuracy < 0.9


def test_summary_and_to_dict():
    votes = read_votes(EXAMPLES / "weather_votes.csv")
    gold = read_gold(GOLDEN / "weather_gold.csv", votes)
    report = score_annotators(votes, gold, consensus_labels=votes.label_counts.argmax(axis=1))
    text = report.summary(max_rows=5)
    assert "461 annotators against 149 gold items" in text
    assert "annotator" in text.splitlines()[2] and "worst_pair" in text.splitlines()[2]
    assert "... 456 more" in text
    assert "Consensus on gold: accuracy" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert len(data["annotators"]) == 461
    assert data["annotators"][-1]["accuracy"] is None  # no gold: NaN becomes null
    assert data["overall"]["per_class"][4]["gold"] == 9


def test_uncovered_class_is_named_in_the_summary():
    votes = toy_votes()
    gold = GoldSet.from_frame(GOLD[GOLD["label"] == "cat"], votes)
    report = score_annotators(votes, gold)
    assert report.uncovered_classes == ("lynx",)
    assert "no item of class lynx" in report.summary()


def test_missed_gold_carries_the_note():
    votes = toy_votes()
    gold = GoldSet.from_frame(
        GOLD.assign(note=["", "", "", "", "", "", "", "tufted ears", "", ""]), votes
    )
    missed = missed_gold(votes, gold)
    good = missed[missed["annotator"] == "good"]
    assert good[["item", "given", "gold", "note"]].values.tolist() == [
        ["g7", "cat", "lynx", "tufted ears"]
    ]
    assert len(missed) == 4 + 1 + 1  # lazy's four lynx, good's one, few's first g0
