"""Flags on crowds with errors at known places: they point at the wrong votes and items,
respect the ``top`` cap, and do not single out a rare class for being rare."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES

from consensus import InputError, VoteMatrix, aggregate
from consensus.cli import cli
from consensus.data.predictions import Predictions, predictions_from_frame
from consensus.flags import confusion_pairs, flag_items
from consensus.flags.flagging import item_doubt
from consensus.simulate import simulate


@pytest.fixture(scope="module")
def rare_crowd():
    """4 classes, one at 3%; mixed annotators (Beta(6, 2) accuracies, 5% spammers)."""
    return simulate(6000, 300, n_classes=4, votes_per_item=3, priors=[0.45, 0.3, 0.22, 0.03],
                    activity=0.8, accuracy=(6.0, 2.0), spammer_share=0.05, seed=11)


@pytest.fixture(scope="module")
def rare_result(rare_crowd):
    return aggregate(rare_crowd.votes)


def test_likely_error_votes_are_mostly_wrong_votes(rare_crowd, rare_result):
    report = flag_items(rare_result)
    votes = report.table[report.table["annotator"] != ""]
    assert len(votes) > 50
    truth = rare_crowd.truth[votes["item"].astype(int).to_numpy()]
    wrong = votes["label"].astype(int).to_numpy() != truth
    assert wrong.mean() >= 0.9


def test_item_doubt_ranks_wrong_consensus_labels_first(rare_crowd, rare_result):
    doubt = item_doubt(rare_result)
    wrong = rare_result.label_codes != rare_crowd.truth
    assert 0.02 < wrong.mean() < 0.3
    # AUROC by ranks (Mann-Whitney): a random score gives 0.5
    ranks = pd.Series(doubt).rank().to_numpy()
    auroc = (ranks[wrong].sum() - wrong.sum() * (wrong.sum() + 1) / 2) / (
        wrong.sum() * (~wrong).sum())
    assert auroc > 0.8


def test_a_rare_class_gets_no_more_than_twice_its_share_of_flags(rare_result):
    shares = flag_items(rare_result).per_class.set_index("class")
    rare = shares.loc[3]
    assert rare["item_share"] < 0.05
    assert rare["flag_share"] <= 2 * rare["item_share"]
    assert shares["item_share"].sum() == pytest.approx(1.0)
    assert shares["flag_share"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize(("top", "expected"), [(0.05, 300), (0.01, 60), (25, 25)])
def test_top_caps_the_flagged_items(rare_result, top, expected):
    report = flag_items(rare_result, top=top)
    items = report.table[report.table["annotator"] == ""]
    votes = report.table[report.table["annotator"] != ""]
    assert len(items) == items["item"].nunique() == expected
    assert report.n_candidate_items > expected
    assert len(votes) == (expected * 3 if top < 1 else expected)  # 3 votes per item
    for rows in (items, votes):  # most suspicious first; near-certain ones tie
        assert (np.diff(np.minimum(rows["score"].to_numpy(), 0.99)) <= 1e-12).all()


def test_top_never_stretches_to_everything():
    rows = [(f"i{i}", a, "pq"[i % 2]) for i in range(30) for a in "xyz"]
    rows += [("odd", "x", "p"), ("odd", "y", "p"), ("odd", "z", "q"), ("lone", "x", "q")]
    votes = VoteMatrix.from_frame(pd.DataFrame(rows, columns=["item", "annotator", "label"]))
    report = flag_items(aggregate(votes), top=0.9)
    assert 0 < report.n_candidate_items <= 3
    assert report.n_flagged_items == report.n_candidate_items
    assert report.n_flagged_votes == report.n_candidate_votes == 1
    for bad in (0, -1, 1.5, float("nan"), True):
        with pytest.raises(InputError, match="top"):
            flag_items(aggregate(votes), top=bad)


def test_every_reason_fires_where_it_should():
    rows = []
    for i in range(40):  # a crowd of five reliable annotators who agree
        for a in "abcde":
            rows.append((f"i{i}", a, "cat" if i % 2 else "dog"))
    rows += [("split", a, lab) for a, lab in zip("abcde", ["cat", "cat", "dog", "dog", "cat"],
                                                 strict=True)]
    rows += [("single", "a", "cat"), ("slip", "a", "cat"), ("slip", "b", "cat"),
             ("slip", "c", "cat"), ("slip", "d", "cat"), ("slip", "e", "dog")]
    votes = VoteMatrix.from_frame(pd.DataFrame(rows, columns=["item", "annotator", "label"]))
    predictions = Predictions(np.tile([0.5, 0.5], (votes.n_items, 1)),
                              np.ones(votes.n_items, dtype=bool), "clf")
    proba = predictions.proba.copy()
    proba[list(votes.item_ids).index("single")] = [0.02, 0.98]  # dog, confidently
    result = aggregate(votes, predictions=Predictions(proba, predictions.known, "clf"))
    table = flag_items(result, top=1000).table
    reasons = {(r.item, r.annotator): r.reasons for r in table.itertuples()}
    assert "likely_error" in reasons[("slip", "e")]
    assert "ambiguous" in reasons[("split", "")]
    split = table.loc[(table["item"] == "split") & (table["annotator"] == ""), "split"].iloc[0]
    assert set(split.split("/")) == {"cat", "dog"}
    assert "low_coverage" in reasons[("single", "")]
    assert "model_disagrees" in reasons[("single", "")]
    assert table["votes"][table["item"] == "slip"].iloc[0] == "cat×4 dog×1"


def test_gold_conflict_uses_the_consensus_fitted_without_that_gold(tmp_path):
    rows = [(f"i{i}", a, "cat" if i % 3 else "dog") for i in range(60) for a in "abc"]
    votes = VoteMatrix.from_frame(pd.DataFrame(rows, columns=["item", "annotator", "label"]))
    gold = {f"i{i}": ("cat" if i % 3 else "dog") for i in range(30)}
    gold["i3"] = "cat"  # the crowd says dog, unanimously
    result = aggregate(votes, gold=gold)
    table = flag_items(result, top=1000).table
    conflicts = table[table["reasons"].str.contains("gold_conflict")]
    assert list(conflicts["item"]) == ["i3"]
    assert conflicts["score"].iloc[0] > 0.5


def test_confusions_find_the_injected_systematic_confusion():
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, 3000)
    annotators = rng.integers(0, 30, (3000, 3))
    labels = np.repeat(truth[:, None], 3, axis=1)
    confused = (annotators < 5) & (truth[:, None] == 0) & (rng.random((3000, 3)) < 0.6)
    labels[confused] = 1  # annotators 0-4 often say 1 for 0
    noise = rng.random((3000, 3)) < 0.05
    labels[noise] = rng.integers(0, 3, noise.sum())
    votes = VoteMatrix.from_codes(np.repeat(np.arange(3000), 3), annotators.ravel(),
                                  labels.ravel())
    report = confusion_pairs(aggregate(votes), top=3)
    first = report.table.iloc[0]
    assert (first["true"], first["given"]) == ("0", "1")
    assert set(first["top_annotators"].split(", ")) <= {"0", "1", "2", "3", "4"}
    assert first["top_share"] > 0.5
    assert "0 → 1" in report.summary()


def test_predictions_are_weighed_as_an_annotator_and_never_outvote_a_confident_crowd():
    sim = simulate(3000, 200, n_classes=3, votes_per_item=3, activity=1.0, seed=2)
    truth = sim.truth
    rng = np.random.default_rng(0)
    predicted = np.where(rng.random(3000) < 0.9, truth, (truth + 1) % 3)
    proba = np.full((3000, 3), 0.05)
    proba[np.arange(3000), predicted] = 0.9
    with_model = aggregate(sim.votes, predictions=Predictions(proba, np.ones(3000, bool), "m"))
    crowd_only = aggregate(sim.votes)
    assert (with_model.label_codes == truth).mean() > (crowd_only.label_codes == truth).mean()
    assert with_model.changed_by_predictions > 0
    info = with_model.to_dict()["predictions"]
    assert info["ci_low"] < 0.9 < info["ci_high"] + 0.02
    crowd = with_model.crowd_posteriors
    sure = crowd.max(axis=1) >= 0.9
    np.testing.assert_array_equal(with_model.label_codes[sure], crowd.argmax(axis=1)[sure])


def test_prediction_files_in_both_layouts_and_their_errors():
    votes = VoteMatrix.from_frame(pd.DataFrame({"item": ["a", "a", "b", "b"],
                                                "annotator": ["x", "y", "x", "y"],
                                                "label": ["cat", "cat", "dog", "cat"]}))
    soft = predictions_from_frame(pd.DataFrame({"item": ["b", "a"], "p_cat": ["0.2", "0.7"],
                                                "p_dog": ["0.8", "0.3"]}), votes)
    np.testing.assert_allclose(soft.proba, [[0.7, 0.3], [0.2, 0.8]])
    hard = predictions_from_frame(pd.DataFrame({"item": ["a"], "label": ["dog"],
                                                "confidence": ["0.6"]}), votes)
    assert hard.known.tolist() == [True, False] and hard.label_codes.tolist() == [1, -1]
    with pytest.raises(InputError, match="'bird'.*line 2"):
        predictions_from_frame(pd.DataFrame({"item": ["a"], "label": ["bird"]}), votes,
                               source="p.csv", first_line=2)
    with pytest.raises(InputError, match="sum to 1"):
        predictions_from_frame(pd.DataFrame({"item": ["a"], "p_cat": ["0.9"], "p_dog": ["0.9"]}),
                               votes)


def test_reviewed_labels_are_clamped_like_gold():
    sim = simulate(500, 30, n_classes=2, seed=4)
    first = str(sim.votes.item_ids[0])
    plain = aggregate(sim.votes)
    flipped = "1" if plain.label_codes[0] == 0 else "0"
    result = aggregate(sim.votes, reviews={first: flipped})
    assert str(result.votes.classes[result.label_codes[0]]) == flipped
    assert result.n_reviews == 1 and result.to_dict()["reviewed_items"] == 1
    assert "1 reviewed label clamped like gold" in result.summary()


def test_flag_and_confusions_commands(tmp_path):
    out = tmp_path / "flags.csv"
    result = CliRunner().invoke(cli, ["flag", str(EXAMPLES / "sentiment_votes.csv"), "--top",
                                      "20", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("20 items and 20 votes flagged of 1,000 items and 5,000")
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(table.columns[:8]) == ["item", "annotator", "label", "consensus", "confidence",
                                       "score", "reasons", "votes"]
    assert (table["annotator"] == "").sum() == 20
    bad = CliRunner().invoke(cli, ["flag", str(EXAMPLES / "sentiment_votes.csv"), "--top", "0"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: top must be")
    conf = CliRunner().invoke(cli, ["confusions", str(EXAMPLES / "weather_votes.csv"), "--top",
                                    "2", "--json"])
    assert conf.exit_code == 0 and len(__import__("json").loads(conf.stdout)["pairs"]) == 2


def test_near_certain_errors_are_shared_out_among_classes(sentiment_csv):
    """On the sentiment crowd hundreds of votes are wrong with probability > 0.99; which of
    them come first must not depend on the class (it once gave class 1 96% of the flags)."""
    from consensus import read_votes

    shares = flag_items(aggregate(read_votes(sentiment_csv))).per_class
    assert (shares["flag_share"] <= 2 * shares["item_share"]).all()
    assert (shares["flag_share"] >= shares["item_share"] / 2).all()


def test_a_bad_predictions_file_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "pred.csv"
    path.write_text("item,label\n201,0\n401,maybe\n")
    for command in ("flag", "aggregate"):
        result = CliRunner().invoke(cli, [command, str(EXAMPLES / "sentiment_votes.csv"),
                                          "--predictions", str(path), "-o",
                                          str(tmp_path / "out.csv")])
        assert result.exit_code == 2, result.output
        assert result.stderr == (f"error: {path}: predicted label 'maybe' at line 3 is not one "
                                 f"of the votes' classes 0, 1\n")
