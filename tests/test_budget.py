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


def test_refitted_predictions_include_what_learning_from_k_votes_costs(crowd_sim, fitted):
    """Small data sets pay for estimating the annotators from few votes; the refitted curve
    predicts that, where labelling with the fitted (known) confusions would not."""
    from consensus.models import PooledDawidSkene

    _, crowd = fitted
    small = 300
    plan = plan_budget(crowd, max_annotators=3, refit=PooledDawidSkene, refit_items=small)
    assert list(plan.by_k["method"]) == ["the vote", "refitted", "refitted"]
    fresh = simulate(small, 60, n_classes=3, votes_per_item=3, accuracy=(5.0, 2.0), seed=3)
    realised = (aggregate(fresh.votes).label_codes == fresh.truth).mean()
    row = plan.by_k.set_index("k").loc[3]
    assert abs(row.expected_accuracy - realised) < 0.03
    assert row.ci_high - row.ci_low > 0.01  # finite data: a visible interval
