"""method="auto": the model the held-out votes (or gold) support, used as that model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES
from test_ebcc import correlated_crowd

from consensus import aggregate
from consensus.cli import cli
from consensus.exceptions import InputError
from consensus.models import AutoAggregator, PooledDawidSkene, make_model
from consensus.simulate import simulate


def test_a_correlated_crowd_gets_ebcc_and_an_independent_one_keeps_pooled():
    votes, truth, _ = correlated_crowd(seed=1, n_items=600)
    auto = AutoAggregator().fit(votes)
    assert auto.chosen_ == "ebcc" and auto.reason_.startswith("auto chose ebcc")
    assert (auto.label_codes_ == truth).mean() > (
        PooledDawidSkene().fit(votes).label_codes_ == truth).mean() + 0.1

    independent = simulate(1500, 40, n_classes=3, votes_per_item=4, seed=2).votes
    kept = AutoAggregator().fit(independent)
    assert kept.chosen_ == "pooled" and kept.reason_.startswith("auto kept pooled")
    table = kept.selection_.set_index("method")
    assert list(table.columns) == ["held_out_per_vote", "gain_per_vote", "z", "gold_accuracy",
                                   "gold_z", "chosen"]
    assert table.loc["pooled", "gain_per_vote"] == 0 and table.loc["pooled", "chosen"]
    assert table.loc["ebcc", "gain_per_vote"] < 0.005


def test_the_auto_model_is_the_chosen_model():
    independent = simulate(1000, 30, n_classes=2, votes_per_item=3, seed=4).votes
    auto = AutoAggregator().fit(independent)
    alone = PooledDawidSkene().fit(independent)
    np.testing.assert_allclose(auto.posteriors_, alone.posteriors_)
    np.testing.assert_allclose(auto.confusion_, alone.confusion_)
    # the chosen model's own methods show through (aggregate's honest confidence uses this)
    np.testing.assert_allclose(auto.leave_one_out_proba(independent),
                               alone.leave_one_out_proba(independent))
    np.testing.assert_allclose(auto.predict_proba(independent), alone.posteriors_)
    assert not hasattr(AutoAggregator(), "leave_one_out_proba")  # unfitted: nothing to show


def test_gold_decides_where_it_separates_the_candidates_clearly():
    votes, truth, _ = correlated_crowd(seed=3, n_items=600)
    gold = np.where(np.arange(votes.n_items) < 200, truth, -1)
    auto = AutoAggregator().fit(votes, gold)
    table = auto.selection_.set_index("method")
    assert table["gold_accuracy"].notna().all()
    assert table.loc["ebcc", "gold_accuracy"] > table.loc["pooled", "gold_accuracy"]
    assert auto.chosen_ == "ebcc" and "gold" in auto.reason_


def test_large_data_choose_on_a_subset_and_the_choice_is_deterministic():
    votes = simulate(3000, 40, n_classes=2, votes_per_item=3, seed=5).votes
    small = AutoAggregator(max_selection_votes=3000).fit(votes)
    again = AutoAggregator(max_selection_votes=3000).fit(votes)
    assert small.selection_.equals(again.selection_)
    assert small.chosen_ == "pooled"


def test_aggregate_with_auto_and_bad_candidates():
    votes, truth, _ = correlated_crowd(seed=1, n_items=600)
    result = aggregate(votes, method="auto")
    assert result.model.chosen_ == "ebcc"
    assert np.isfinite(result.posteriors).all()
    with pytest.raises(InputError, match="candidates"):
        make_model("auto", candidates=("pooled", "auto")).fit(votes)
    with pytest.raises(InputError, match="candidates"):
        AutoAggregator(candidates=("nope",)).fit(votes)
    with pytest.raises(InputError, match="min_gain must be a non-negative number"):
        AutoAggregator(min_gain=-1.0).fit(votes)
    with pytest.raises(InputError, match="n_folds"):
        AutoAggregator(n_folds=1).fit(votes)


def test_the_summary_says_what_auto_chose_and_why(tmp_path):
    result = CliRunner().invoke(cli, ["aggregate", str(EXAMPLES / "sentiment_votes.csv"),
                                      "--method", "auto", "--json",
                                      "-o", str(tmp_path / "labels.csv")])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["method"] == "auto" and info["chosen_method"] == "pooled"
    assert info["method_choice"].startswith("auto kept pooled")
    text = CliRunner().invoke(cli, ["aggregate", str(EXAMPLES / "sentiment_votes.csv"),
                                    "--method", "auto", "-o", str(tmp_path / "labels.csv")])
    assert "method auto → pooled" in text.output and "auto kept pooled" in text.output
