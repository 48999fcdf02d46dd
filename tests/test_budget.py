"""Budgets: predictions that come true on crowds whose truth is known, and the next pass."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES

from consensus import InputError, VoteMatrix, aggregate
from consensus.budget import crowd_from_fit, plan_budget, plan_next_pass
from consensus.budget.draws import draw_annotators, draw_votes
from consensus.budget.plan import accuracy_by_k, exact_single
from consensus.cli import cli
from consensus.simulate import simulate


@pytest.fixture(scope="module")
def crowd_sim():
    """Independent votes (the model's world): 5 per item, mixed annotators."""
    return simulate(4000, 60, n_classes=3, votes_per_item=5, accuracy=(5.0, 2.0), seed=3)


@pytest.fixture(scope="module")
def fitted(crowd_sim):
    result = aggregate(crowd_sim.votes)
    return result, crowd_from_fit(result.votes, result.model)


def test_predicted_accuracy_comes_true_on_fresh_votes(crowd_sim, fitted):
    _, crowd = fitted
    plan = plan_budget(crowd, max_annotators=5, n_draws=20)
    for k in (1, 3, 5):
        fresh = simulate(4000, 60, n_classes=3, votes_per_item=k, accuracy=(5.0, 2.0), seed=3)
        # same crowd (same seed draws the same confusions), new items and votes
        np.testing.assert_allclose(fresh.confusion, crowd_sim.confusion)
        realised = (aggregate(fresh.votes).label_codes == fresh.truth).mean()
        row = plan.by_k.set_index("k").loc[k]
        assert abs(row.expected_accuracy - realised) < 0.025, (k, row, realised)
        assert row.ci_low - 0.01 <= realised <= row.ci_high + 0.01


def test_one_annotator_is_exact_and_the_simulation_agrees(fitted):
    _, crowd = fitted
    draws, priors = accuracy_by_k(crowd, 1, n_draws=3, n_items=200_000)
    confusions, _ = crowd.draws(3, np.random.default_rng(0))
    exact = exact_single(crowd, crowd.confusion[None], crowd.priors[None])[0]
    assert draws[0, 0] == pytest.approx(exact)
    # the Monte Carlo path at k = 1, run by hand, agrees with the exact sum
    rng = np.random.default_rng(1)
    truth = rng.choice(3, size=200_000, p=crowd.priors)
    who = draw_annotators(crowd.share, 200_000, 1, rng)
    said = draw_votes(crowd.confusion, who, truth, rng.random((200_000, 1)))
    decided = (crowd.log_priors + crowd.log_confusion[who[:, 0], :, said[:, 0]]).argmax(axis=1)
    assert (decided == truth).mean() == pytest.approx(exact, abs=0.004)
    assert confusions.shape == (3, *crowd.confusion.shape)


def test_correlated_votes_have_the_asked_correlation_and_the_same_marginals():
    rng = np.random.default_rng(0)
    confusion = np.array([[[0.8, 0.2], [0.3, 0.7]]] * 4)
    n = 100_000
    who = np.tile(np.arange(4), (n, 1))
    truth = np.zeros(n, dtype=np.int64)
    for rho in (0.0, 0.2):
        labels = draw_votes(confusion, who, truth, rng.random((n, 4)), rho)
        assert labels.mean() == pytest.approx(0.2, abs=0.005)  # P(says 1 | true 0)
        pairs = np.corrcoef(labels[:, 0], labels[:, 3])[0, 1]
        assert pairs == pytest.approx(rho, abs=0.01)


def test_annotators_are_distinct_per_item_and_drawn_by_their_share():
    share = np.array([0.6, 0.2, 0.1, 0.1, 0.0])
    drawn = draw_annotators(share, 50_000, 3, np.random.default_rng(2))
    assert (np.sort(drawn, axis=1)[:, 1:] != np.sort(drawn, axis=1)[:, :-1]).all()
    assert not (drawn == 4).any()
    assert (drawn[:, 0] == 0).mean() == pytest.approx(0.6, abs=0.01)
    with pytest.raises(InputError, match="only 4 have votes"):
        draw_annotators(share, 10, 5, np.random.default_rng(0))


def test_plan_recommends_the_smallest_k_and_prices_it(fitted):
    _, crowd = fitted
    plan = plan_budget(crowd, target_accuracy=0.9, cost_per_label=0.1, max_annotators=6,
                       n_items=1000, n_draws=10)
    reached = plan.by_k[plan.by_k["expected_accuracy"] >= 0.9]["k"]
    assert plan.recommended_k == reached.min()
    assert (np.diff(plan.by_k["expected_accuracy"]) > -0.01).all()
    info = plan.to_dict()
    assert [row["k"] for row in info["by_k"]] == list(range(1, 7))
    assert set(info["by_k"][0]) == {"k", "expected_accuracy", "ci_low", "ci_high",
                                    "cost_per_item"}
    assert {s["name"] for s in info["strategies"]} >= {"two, a third only on disagreement"}
    third = plan.strategies.set_index("name").loc["two, a third only on disagreement"]
    assert 2.0 < third.labels_per_item < 3.0
    confident = plan.strategies.iloc[2]
    assert 1.0 <= confident.labels_per_item <= 6.0
    assert f"{plan.recommended_k * 0.1 * 1000:,.2f} for 1,000 items" in plan.summary()


def test_an_unreachable_target_says_so_and_what_would_reach_it(fitted):
    result, crowd = fitted
    plan = plan_budget(crowd, target_accuracy=0.999, max_annotators=2, n_draws=5,
                       annotator_accuracy=result.model.accuracy_)
    assert plan.recommended_k is None and plan.to_dict()["reachable"] is False
    assert "not reachable" in plan.summary()
    assert plan.suggestion.startswith(("drawing only from the best", "not even the best"))


def test_next_pass_spends_the_budget_where_it_helps_most(crowd_sim):
    thin = VoteMatrix.from_frame(crowd_sim.votes.to_frame().groupby("item").head(2))
    result = aggregate(thin)
    crowd = crowd_from_fit(result.votes, result.model)
    plan = plan_next_pass(crowd, result.posteriors, result.label_codes, thin.item_ids,
                          thin.classes, 300)
    table = plan.table
    assert len(table) == 300 and list(table["rank"]) == list(range(1, 301))
    assert (np.diff(table["expected_gain"]) <= 1e-12).all() and (table["expected_gain"] >= 0).all()
    assert plan.accuracy_after > plan.accuracy_before
    # reveal the held-back third vote of the chosen items, against as many random items
    third = crowd_sim.votes.to_frame().groupby("item").nth(2)
    gained = {}
    for name, items in {"ours": table["item"].astype(int),
                        "random": pd.Series(np.random.default_rng(0).choice(
                            thin.n_items, 300, replace=False))}.items():
        extra = third[third["item"].astype(int).isin(set(items))]
        votes = VoteMatrix.from_frame(pd.concat([thin.to_frame(), extra]))
        codes = aggregate(votes).label_codes
        truth = crowd_sim.truth[votes.item_ids.astype(int)]
        gained[name] = (codes == truth).mean()
    assert gained["ours"] > gained["random"]


def test_next_pass_with_named_annotators_and_the_commands(tmp_path):
    out = tmp_path / "next.csv"
    result = CliRunner().invoke(cli, ["next-pass", str(EXAMPLES / "sentiment_votes.csv"),
                                      "--budget", "10", "--annotators",
                                      "A2H3M1JVY991Q3,A1SCNO7L71ITFY", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype=str)
    assert list(table.columns) == ["rank", "item", "current_label", "confidence",
                                   "expected_gain", "suggested_annotator"]
    assert set(table["suggested_annotator"]) <= {"A2H3M1JVY991Q3", "A1SCNO7L71ITFY"}
    bad = CliRunner().invoke(cli, ["next-pass", str(EXAMPLES / "sentiment_votes.csv"),
                                   "--budget", "10", "--annotators", "nobody"])
    assert bad.exit_code == 2 and "'nobody'" in bad.stderr
    plan = CliRunner().invoke(cli, ["budget", str(EXAMPLES / "sentiment_votes.csv"),
                                    "--max-annotators", "4", "--json"])
    assert plan.exit_code == 0, plan.output
    info = json.loads(plan.stdout)
    assert {"by_k", "recommended_k", "strategies"} <= set(info)


def test_next_pass_sends_items_to_annotators_who_can_tell_and_have_not_looked():
    """Two equally doubtful items: one only a spammer can answer, one a reliable annotator
    can. Lowest confidence cannot tell them apart; the expected gain can. Nobody is
    suggested for an item they already labelled."""
    from consensus.budget.crowd import Crowd
    from consensus.budget.next_pass import available_annotators

    reliable = np.array([[0.95, 0.05], [0.05, 0.95]])
    spammer = np.full((2, 2), 0.5)
    confusion = np.stack([reliable, spammer, reliable])
    crowd = Crowd(np.full(3, 1 / 3), confusion, np.array([0.5, 0.5]), confusion * 10 + 1,
                  np.array([10.0, 10.0]))
    posteriors = np.array([[0.5, 0.5], [0.5, 0.5], [0.9, 0.1]])
    # item 0: annotators 0 and 2 already labelled it, so only the spammer (1) is left
    voted_items, voted_annotators = np.array([0, 0, 1]), np.array([0, 2, 1])
    available = available_annotators(voted_items, voted_annotators, 3, 3, np.array([0, 1, 2]))
    assert available.toarray().tolist() == [[0, 1, 0], [1, 0, 1], [1, 1, 1]]
    plan = plan_next_pass(crowd, posteriors, np.zeros(3, dtype=np.int64),
                          np.array(["a", "b", "c"]), np.array(["x", "y"]), 2,
                          available=available, annotator_ids=np.array(["r1", "spam", "r2"]))
    table = plan.table
    assert list(table["item"]) == ["b", "c"]
    assert table["suggested_annotator"].iloc[0] in {"r1", "r2"}
    assert table["expected_gain"].iloc[0] == pytest.approx(0.45)


def test_the_pools_next_vote_comes_from_someone_who_has_not_labelled_the_item():
    from consensus.budget.crowd import Crowd

    reliable = np.array([[0.95, 0.05], [0.05, 0.95]])
    confusion = np.stack([reliable, np.full((2, 2), 0.5)])
    crowd = Crowd(np.array([0.5, 0.5]), confusion, np.array([0.5, 0.5]), confusion * 10 + 1,
                  np.array([10.0, 10.0]))
    posteriors = np.full((2, 2), 0.5)
    # item 0 was labelled by the reliable annotator, so only the spammer is left for it
    plan = plan_next_pass(crowd, posteriors, np.zeros(2, dtype=np.int64), np.array(["a", "b"]),
                          np.array(["x", "y"]), 2, voted=(np.array([0, 1]), np.array([0, 1])))
    gains = plan.table.set_index("item")["expected_gain"]
    assert list(plan.table["item"]) == ["b", "a"]
    assert gains["b"] == pytest.approx(0.45) and gains["a"] == pytest.approx(0.0)


def test_refitted_predictions_include_what_learning_from_k_votes_costs(crowd_sim, fitted):
    """Small data sets pay for estimating the annotators from few votes; the refitted curve
    predicts that, where labelling with the fitted (known) confusions would not."""
    from consensus.models import PooledDawidSkene

    _, crowd = fitted
    small = 300
    plan = plan_budget(crowd, max_annotators=3, refit=PooledDawidSkene, refit_items=small)
    assert list(plan.by_k["method"]) == ["the vote", "refitted", "refitted"]
    fresh = simulate(small, 60, n_classes=3, votes_per_item=3, accuracy=(5.0, 2.0), seed=3)
    realised = (aggregate(fresh.votes, method="pooled").label_codes == fresh.truth).mean()
    row = plan.by_k.set_index("k").loc[3]
    assert abs(row.expected_accuracy - realised) < 0.03
    assert row.ci_high - row.ci_low > 0.01  # finite data: a visible interval


def test_with_gold_what_the_votes_can_show_is_measured_not_predicted(crowd_sim, fitted):
    """Up to the votes the gold items have, the plan reports the measurement (k random
    votes per item, refitted, scored on gold), which fresh votes then confirm; beyond,
    the model's curve carries it."""
    from consensus.budget.measured import measure_by_k, replay_rules
    from consensus.models import PooledDawidSkene

    def labels_of(votes):
        return PooledDawidSkene().fit(votes).label_codes_

    votes, truth = crowd_sim.votes, crowd_sim.truth
    measured = measure_by_k(votes, truth, labels_of, 9, repeats=2)
    assert measured is not None and measured.max_k == 5 and measured.n_items == votes.n_items
    assert np.all(np.diff(measured.accuracy) > -0.01) and np.all(measured.se > 0)
    # the measurement is what a refit on k votes per item gives on fresh votes
    fresh = simulate(4000, 60, n_classes=3, votes_per_item=3, accuracy=(5.0, 2.0), seed=3)
    realised = (aggregate(fresh.votes).label_codes == fresh.truth).mean()
    assert abs(measured.accuracy[2] - realised) < 3 * measured.se[2] + 0.01
    # too little gold: nothing is measured
    few = np.full(votes.n_items, -1)
    few[:10] = truth[:10]
    assert measure_by_k(votes, few, labels_of, 9) is None

    _, crowd = fitted
    replayed = replay_rules(votes, truth, crowd, 0.95, 5, 0.0, repeats=2)
    assert 2.0 < replayed["third"].labels_per_item < 3.0
    plan = plan_budget(crowd, max_annotators=7, n_draws=10, n_sim=4000,
                       measured=measured, replayed=replayed)
    rows = plan.by_k.set_index("k")
    np.testing.assert_allclose(rows.loc[1:5, "expected_accuracy"], measured.accuracy)
    assert list(rows["method"]) == ["measured on gold"] * 5 + ["scaled to gold"] * 2
    assert (rows["ci_low"] <= rows["expected_accuracy"]).all()
    assert (rows["expected_accuracy"] <= rows["ci_high"]).all()
    assert "measured on gold" in plan.summary() and " *" in plan.summary()
    third = plan.strategies.set_index("name").loc["two, a third only on disagreement"]
    assert third.expected_accuracy == pytest.approx(replayed["third"].accuracy)


def test_budget_command_with_gold_marks_the_measured_rows():
    result = CliRunner().invoke(cli, ["budget", str(EXAMPLES / "sentiment_votes.csv"),
                                      "--gold", str(EXAMPLES.parent.parent / "golden_sets" /
                                                    "sentiment_gold_full.csv"),
                                      "--max-annotators", "6"])
    assert result.exit_code == 0, result.output
    assert "measured on gold: k = 1..5" in result.stdout
    without = CliRunner().invoke(cli, ["budget", str(EXAMPLES / "sentiment_votes.csv"),
                                       "--max-annotators", "3"])
    assert "Give gold to measure them" in without.stdout


@pytest.mark.parametrize("k", [2, 3])
def test_pool_expected_right_after_is_the_weighted_table(k):
    """The pool's chance, by chunks or (two classes) by sorted breakpoints, equals the
    full items x annotators table weighted by share, edge cases included."""
    from consensus.budget.next_pass import expected_right_after, pool_expected_right_after

    rng = np.random.default_rng(k)
    posteriors = rng.dirichlet(np.ones(k), 3000)
    posteriors[:k] = np.eye(k)  # certain items sit on the breakpoints' ends
    confusion = rng.dirichlet(np.ones(k), (30, k))
    confusion[3] = 0.0  # an annotator with no confusion mass adds nothing
    weight = rng.random(30)
    weight /= weight.sum()
    full = expected_right_after(posteriors, confusion) @ weight
    np.testing.assert_allclose(pool_expected_right_after(posteriors, confusion, weight), full,
                               rtol=0, atol=1e-12)
