"""Phantom classes: a label almost nobody chooses must not become a common consensus.

The crowd is a small ``phantom_class_crowd`` (5,000 items x 5 votes, 20 annotators,
the rare class 0.4% of the items): on seeds 0-5 plain EM lets DawidSkene and
PooledDawidSkene turn the rare class into the consensus of 22-39 times its true
share, 8-12 points below majority vote; with the better-than-chance rule every
variant stays within 0.6-0.8 times the true share, 1-3 points above majority
vote. The same assertions run with the rule switched off, and must fail there.
"""

from __future__ import annotations

import numpy as np
import pytest

from consensus.models import DawidSkene, MajorityVote, PooledDawidSkene
from consensus.models.dawid_skene import among_most_voted, crowd_accuracy, hold_to_votes
from consensus.simulate import Simulation, phantom_class_crowd, simulate
from consensus.workflows.aggregation import AggregateResult, aggregate

SEEDS = (0, 1, 2)


class UnheldDawidSkene(DawidSkene):
    hold_below_chance = False


class UnheldPooledDawidSkene(PooledDawidSkene):
    hold_below_chance = False


MODELS = {
    "DS(s=0)": (lambda: DawidSkene(smoothing=0.0), lambda: UnheldDawidSkene(smoothing=0.0)),
    "DS": (DawidSkene, UnheldDawidSkene),
    "pooled": (PooledDawidSkene, UnheldPooledDawidSkene),
}


@pytest.fixture(scope="module")
def crowds() -> dict[int, Simulation]:
    return {seed: phantom_class_crowd(5_000, 20, rare_share=0.004, seed=seed) for seed in SEEDS}


@pytest.fixture(scope="module")
def fits(crowds):
    """(rule on, rule off) fitted models per model name and seed."""
    return {(name, seed): (on().fit(crowds[seed].votes), off().fit(crowds[seed].votes))
            for name, (on, off) in MODELS.items() for seed in SEEDS}


def keeps_the_rare_class_rare(sim: Simulation, label_codes: np.ndarray) -> bool:
    """The issue's target: rare-class consensus share within a factor of 2 of its true
    share, and accuracy at least majority vote's."""
    rare = sim.votes.n_classes - 1
    ratio = np.mean(label_codes == rare) / np.mean(sim.truth == rare)
    majority = sim.accuracy(MajorityVote().fit(sim.votes).label_codes_)
    return bool(0.5 <= ratio <= 2.0 and sim.accuracy(label_codes) >= majority)


# ---------------------------------------------------------------- the drift and the fix
def test_the_crowd_has_the_shape_of_the_failure(crowds):
    for sim in crowds.values():
        vote_share = np.mean(sim.votes.label_codes == 2)
        assert 0.001 < vote_share < 0.006  # a label almost nobody chooses


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("seed", SEEDS)
def test_every_dawid_skene_variant_keeps_the_rare_class_rare(crowds, fits, name, seed):
    held, _ = fits[name, seed]
    assert keeps_the_rare_class_rare(crowds[seed], held.label_codes_)
    assert list(held.held_classes_) == [False, False, True]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("seed", SEEDS)
def test_without_the_rule_the_same_check_fails(crowds, fits, name, seed):
    """The assertion above can fail: plain EM drifts on every one of these crowds."""
    _, free = fits[name, seed]
    assert not keeps_the_rare_class_rare(crowds[seed], free.label_codes_)
    assert np.mean(free.label_codes_ == 2) > 10 * np.mean(crowds[seed].truth == 2)
    assert not free.held_classes_.any()


def test_held_classes_stay_held_in_predictions_and_leave_one_out(crowds, fits):
    model, _ = fits["pooled", 0]
    votes = crowds[0].votes
    most_voted = among_most_voted(votes.label_counts.T)
    loo = model.leave_one_out_proba(votes)
    assert (loo[~most_voted[2], 2] == 0).all() and np.allclose(loo.sum(axis=1), 1.0)
    half = votes.take_votes(votes.item_codes < 2_500)  # an equal-content copy is not this
    proba = model.predict_proba(half)
    counts = half.label_counts.T
    assert (proba[~among_most_voted(counts)[2], 2] == 0).all()


def test_the_rule_is_silent_on_an_ordinary_crowd():
    sim = simulate(3_000, 60, 3, votes_per_item=3, activity=1.0, seed=4)
    for model in (DawidSkene(smoothing=0.0), PooledDawidSkene()):
        model.fit(sim.votes)
        assert not model.held_classes_.any()
    plain = UnheldPooledDawidSkene().fit(sim.votes)
    np.testing.assert_array_equal(PooledDawidSkene().fit(sim.votes).posteriors_,
                                  plain.posteriors_)


# ---------------------------------------------------------------- the pure functions
def test_crowd_accuracy_is_the_diagonal_of_the_vote_weighted_confusion():
    counts = np.array([[3.0, 0.0, 1.0], [1.0, 2.0, 1.0]])  # (K=2, 3 items)
    posteriors = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]])
    # class 0: items 0 (3 of 4 votes say 0) and half of item 2 (1 of 2)
    expected = [(3 + 0.5) / (4 + 1), (2 + 0.5) / (2 + 1)]
    np.testing.assert_allclose(crowd_accuracy(posteriors, counts), expected)
    assert np.isnan(crowd_accuracy(np.zeros((2, 3)), counts)).all()


def test_hold_to_votes_keeps_held_classes_where_most_voted_ties_included():
    counts = np.array([[2.0, 1.0, 1.0], [1.0, 2.0, 1.0], [0.0, 0.0, 1.0]])
    posteriors = np.array([[0.2, 0.3, 0.2], [0.2, 0.3, 0.2], [0.6, 0.4, 0.6]])
    before = posteriors.copy()
    out, log_kept = hold_to_votes(posteriors, counts, np.array([False, False, True]))
    np.testing.assert_array_equal(posteriors, before)  # input untouched
    np.testing.assert_allclose(out[:, 0], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(out[:, 2], posteriors[:, 2])  # a three-way tie keeps class 2
    assert log_kept == pytest.approx(np.log(0.4) + np.log(0.6))


# ---------------------------------------------------------------- the summary warns
def test_the_summary_names_an_inflated_class_its_shares_and_what_to_do(crowds, fits):
    votes = crowds[0].votes
    _, free = fits["pooled", 0]
    result = AggregateResult(votes, free, "pooled")
    row = result.inflated_classes.iloc[0]
    assert row["class"] == 2 and row["consensus_share"] > 0.1 and row["vote_share"] < 0.006
    text = result.summary()
    share, votes_share = f"{row['consensus_share']:.1%}", f"{row['vote_share']:.2%}"
    warning = next(line for line in text.splitlines() if line.startswith("warning: class '2'"))
    assert share in warning and votes_share in warning
    assert "gold" in warning and 'method="mv"' in warning and "--" not in warning
    assert result.to_dict()["warnings"] == [warning.removeprefix("warning: ")]


def test_the_summary_says_when_a_class_was_held(crowds):
    result = aggregate(crowds[0].votes, method="pooled", honest_confidence=False)
    assert result.held_classes == ["2"] and result.inflated_classes.empty
    (warning,) = result.to_dict()["warnings"]
    assert warning.startswith("class '2' was held to its votes") and "--" not in warning


def test_no_warning_on_an_ordinary_crowd():
    sim = simulate(2_000, 40, 3, votes_per_item=3, activity=1.0, seed=5)
    result = aggregate(sim.votes, honest_confidence=False)
    assert result.to_dict()["warnings"] == [] and "warning" not in result.summary()
