"""The synthetic crowd: shapes, determinism, the sampling scheme and the Bayes bound."""

from __future__ import annotations

import numpy as np
import pytest

from consensus.exceptions import InputError
from consensus.models import DawidSkene, MajorityVote
from consensus.simulate import (
    ADVERSARY,
    RELIABLE,
    SPAMMER,
    SharedBias,
    Simulation,
    bayes_accuracy,
    bayes_posteriors,
    phantom_class_crowd,
    simulate,
    zipf_activity,
)


def empirical_confusion(sim: Simulation) -> np.ndarray:
    """Observed P(label | annotator, truth), NaN where an annotator never met a class."""
    v = sim.votes
    k = v.n_classes
    counts = np.zeros((v.n_annotators, k, k))
    np.add.at(counts, (v.annotator_codes, sim.truth[v.item_codes], v.label_codes), 1)
    with np.errstate(invalid="ignore"):
        return counts / counts.sum(axis=2, keepdims=True)


def test_shapes_and_spaces() -> None:
    sim = simulate(500, 40, 4, votes_per_item=5, seed=1)
    v = sim.votes
    assert (v.n_items, v.n_annotators, v.n_classes, v.n_votes) == (500, 40, 4, 2500)
    assert sim.truth.shape == (500,) and sim.truth.dtype == np.int64
    assert sim.confusion.shape == (40, 4, 4)
    np.testing.assert_allclose(sim.confusion.sum(axis=2), 1.0)
    assert sim.priors.shape == (4,) and sim.activity.shape == (40,)
    assert list(v.classes) == [0, 1, 2, 3]
    np.testing.assert_array_equal(v.votes_per_item, 5)
    assert set(sim.kind) == {RELIABLE}


def test_annotators_on_an_item_are_distinct() -> None:
    sim = simulate(20_000, 6, 2, votes_per_item=5, activity=1.5, seed=2)
    picked = np.sort(sim.votes.annotator_codes.reshape(-1, 5), axis=1)
    assert (np.diff(picked, axis=1) > 0).all()


def test_same_seed_same_votes_other_seed_not() -> None:
    a = simulate(300, 20, 3, activity=1.0, spammer_share=0.1, seed=5)
    b = simulate(300, 20, 3, activity=1.0, spammer_share=0.1, seed=np.random.default_rng(5))
    c = simulate(300, 20, 3, activity=1.0, spammer_share=0.1, seed=6)
    for name in ("item_codes", "annotator_codes", "label_codes"):
        np.testing.assert_array_equal(getattr(a.votes, name), getattr(b.votes, name))
    np.testing.assert_array_equal(a.confusion, b.confusion)
    np.testing.assert_array_equal(a.truth, b.truth)
    assert not np.array_equal(a.votes.label_codes, c.votes.label_codes)


def test_truth_follows_priors_and_votes_follow_confusion() -> None:
    sim = simulate(60_000, 8, 3, votes_per_item=4, priors=[0.6, 0.3, 0.1], seed=3)
    np.testing.assert_allclose(np.bincount(sim.truth) / 60_000, [0.6, 0.3, 0.1], atol=0.01)
    # Each (annotator, class) row holds thousands of votes: sampling error ~0.01.
    np.testing.assert_allclose(empirical_confusion(sim), sim.confusion, atol=0.04)


def test_selection_matches_gumbel_top_k() -> None:
    """Successive sampling equals taking the top picks of log-weight + Gumbel noise."""
    n, per_item = 100_000, 3
    sim = simulate(n, 8, 2, votes_per_item=per_item, activity=1.2, seed=4)
    rng = np.random.default_rng(0)
    keys = np.log(sim.activity) + rng.gumbel(size=(n, 8))
    reference = np.argsort(-keys, axis=1)[:, :per_item]
    ours = sim.votes.annotator_codes.reshape(n, per_item)
    for j in range(per_item):  # distribution of the j-th pick
        np.testing.assert_allclose(
            np.bincount(ours[:, j], minlength=8) / n,
            np.bincount(reference[:, j], minlength=8) / n,
            atol=0.006,
        )


def test_zipf_activity() -> None:
    np.testing.assert_allclose(zipf_activity(4, 0.0), 0.25)
    w = zipf_activity(1000, 1.0)
    assert w[0] / w[9] == pytest.approx(10.0)
    sim = simulate(30_000, 200, 2, activity=1.0, seed=7)
    shares = sim.votes.votes_per_annotator / sim.votes.n_votes
    # The head is slightly capped (one vote per item each), the tail follows the weights.
    assert shares[0] < sim.activity[0]
    np.testing.assert_allclose(shares[50:].sum(), sim.activity[50:].sum(), rtol=0.1)


def test_explicit_activity_can_silence_annotators() -> None:
    weights = np.array([1.0, 1.0, 0.0, 2.0])
    sim = simulate(1000, 4, 2, votes_per_item=3, activity=weights, seed=8)
    assert sim.votes.votes_per_annotator[2] == 0
    assert sim.votes.n_annotators == 4  # ids kept so codes index the confusion


def test_sparse_regime_is_one_call() -> None:
    sim = simulate(20_000, 5_000, 5, votes_per_item=3, activity=1.2, seed=9)
    assert sim.votes.n_annotators == 5_000
    assert (sim.votes.votes_per_annotator == 0).any()
    assert sim.votes.votes_per_annotator[0] > 1000


def test_recovery_rate_matches_binomial_formula() -> None:
    """Identical one-coin annotators of accuracy p, 3 votes: MV is right w.p. p^3 + 3p^2(1-p)."""
    p = 0.8
    sim = simulate(40_000, 30, 2, votes_per_item=3, accuracy=(p * 1e5, (1 - p) * 1e5),
                   class_specific=False, error_concentration=None, seed=10)
    expected = p**3 + 3 * p**2 * (1 - p)
    mv = MajorityVote().fit(sim.votes)
    assert sim.accuracy(mv.label_codes_) == pytest.approx(expected, abs=0.006)
    # With interchangeable annotators and even priors, the Bayes rule is majority vote.
    assert bayes_accuracy(sim) == pytest.approx(sim.accuracy(mv.label_codes_), abs=1e-9)


def test_bayes_posteriors_against_direct_sum() -> None:
    sim = simulate(400, 12, 3, votes_per_item=4, priors=[0.5, 0.3, 0.2], seed=11)
    v = sim.votes
    log_joint = np.tile(np.log(sim.priors), (v.n_items, 1))
    np.add.at(log_joint, v.item_codes, np.log(sim.confusion[v.annotator_codes, :, v.label_codes]))
    expected = np.exp(log_joint - log_joint.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(bayes_posteriors(sim), expected, rtol=1e-10, atol=1e-12)


def test_bayes_beats_majority_and_bounds_dawid_skene() -> None:
    sim = simulate(20_000, 50, 3, votes_per_item=3, accuracy=(3, 1.5),
                   spammer_share=0.2, adversary_share=0.1, seed=12)
    bayes = bayes_accuracy(sim)
    mv = sim.accuracy(MajorityVote().fit(sim.votes).label_codes_)
    ds = sim.accuracy(DawidSkene().fit(sim.votes).label_codes_)
    assert bayes > mv + 0.02
    assert ds <= bayes + 0.005


def test_spammers_and_adversaries() -> None:
    sim = simulate(100, 40, 2, spammer_share=0.25, adversary_share=0.1,
                   accuracy=(50, 1), seed=13)
    spam = sim.kind == SPAMMER
    adv = sim.kind == ADVERSARY
    assert spam.sum() == 10 and adv.sum() == 4
    # A spammer's answer does not depend on the truth.
    np.testing.assert_allclose(sim.confusion[spam, 0], sim.confusion[spam, 1])
    # Two-class adversaries flip: accurate annotators with the columns swapped.
    assert (np.diagonal(sim.confusion[adv], axis1=1, axis2=2) < 0.2).all()
    assert (sim.annotator_accuracy[sim.kind == RELIABLE] > 0.8).all()


def test_one_coin_structure() -> None:
    sim = simulate(10, 6, 4, class_specific=False, error_concentration=None, seed=14)
    diag = np.diagonal(sim.confusion, axis1=1, axis2=2)
    np.testing.assert_allclose(diag, diag[:, :1].repeat(4, axis=1))
    off = sim.confusion[:, 0, 1:]
    np.testing.assert_allclose(off, ((1 - diag[:, 0]) / 3)[:, None].repeat(3, axis=1))


def test_error_weights_steer_errors_and_leave_the_rest_of_the_draw_alone() -> None:
    plain = simulate(2_000, 30, 3, error_concentration=None, seed=16)
    steered = simulate(2_000, 30, 3, error_concentration=None, error_weights=[1, 1, 0.01],
                       seed=16)
    np.testing.assert_array_equal(plain.truth, steered.truth)
    np.testing.assert_array_equal(np.diagonal(plain.confusion, axis1=1, axis2=2),
                                  np.diagonal(steered.confusion, axis1=1, axis2=2))
    # class 0's errors: 1/101 of them to label 2, the rest to label 1
    errors = 1 - steered.confusion[:, 0, 0]
    np.testing.assert_allclose(steered.confusion[:, 0, 2], errors / 101)
    # with a Dirichlet spread the weight scales the draws (heavy-tailed ratios, so medians)
    drawn = simulate(2_000, 30, 3, error_weights=[1, 1, 0.01], seed=16)
    free = simulate(2_000, 30, 3, seed=16)
    assert np.median(drawn.confusion[:, :2, 2]) < 0.1 * np.median(free.confusion[:, :2, 2])


def test_shared_bias_redraws_only_affected_votes_from_its_rows() -> None:
    group_rows = np.array([[0.1, 0.9], [0.5, 0.5]])
    other_rows = np.array([[1.0, 0.0], [0.5, 0.5]])
    bias = SharedBias(0.5, (0.4, 0.0), group_rows, other_rows)
    sim = simulate(30_000, 10, 2, votes_per_item=4, shared_bias=bias, seed=17)
    plain = simulate(30_000, 10, 2, votes_per_item=4, seed=17)
    assert sim.in_group.sum() == 5 and sim.shared_bias is bias
    assert not sim.affected[sim.truth == 1].any()
    np.testing.assert_allclose(sim.affected[sim.truth == 0].mean(), 0.4, atol=0.02)
    v = sim.votes
    hit = sim.affected[v.item_codes]
    np.testing.assert_array_equal(v.label_codes[~hit], plain.votes.label_codes[~hit])
    group = sim.in_group[v.annotator_codes]
    assert v.label_codes[hit & group].mean() == pytest.approx(0.9, abs=0.01)
    assert (v.label_codes[hit & ~group] == 0).all()


def test_bayes_posteriors_with_a_shared_bias_against_direct_sum() -> None:
    rows = np.array([[0.2, 0.7, 0.1], [0.0, 1.0, 0.0], [0.3, 0.3, 0.4]])
    bias = SharedBias(0.3, (0.5, 0.0, 1.0), rows)  # others keep their own rows
    sim = simulate(300, 12, 3, votes_per_item=4, priors=[0.5, 0.3, 0.2], shared_bias=bias,
                   seed=18)
    v = sim.votes
    effective = sim.confusion.copy()
    effective[sim.in_group] = rows
    a, lab, i = v.annotator_codes, v.label_codes, v.item_codes
    plain = np.zeros((v.n_items, 3))
    biased = np.zeros((v.n_items, 3))
    np.add.at(plain, i, np.log(sim.confusion[a, :, lab]))
    np.add.at(biased, i, np.log(np.maximum(effective[a, :, lab], 1e-300)))
    share = np.array([0.5, 0.0, 1.0])
    with np.errstate(divide="ignore"):
        joint = np.log(sim.priors) + np.logaddexp(np.log(1 - share) + plain,
                                                  np.log(share) + biased)
    expected = np.exp(joint - joint.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(bayes_posteriors(sim), expected, rtol=1e-9, atol=1e-12)


def test_phantom_class_crowd_has_a_rare_label_and_a_biased_group() -> None:
    sim = phantom_class_crowd(20_000, 40, seed=19)
    v = sim.votes
    assert (v.n_items, v.n_annotators, v.n_classes) == (20_000, 40, 3)
    np.testing.assert_array_equal(v.votes_per_item, 5)
    assert 0.001 < np.mean(v.label_codes == 2) < 0.005
    assert sim.in_group.sum() == 12 and sim.affected[sim.truth == 2].all()
    confused = sim.affected[v.item_codes] & (sim.truth[v.item_codes] == 0)
    group = sim.in_group[v.annotator_codes]
    assert np.mean(v.label_codes[confused & group] == 1) > 0.9
    assert np.mean(v.label_codes[confused & ~group] == 0) > 0.9
    assert phantom_class_crowd(100, 10, n_classes=5, seed=0).votes.n_classes == 5


def test_accuracy_checks_length() -> None:
    sim = simulate(10, 5, 2, seed=15)
    with pytest.raises(InputError, match="one label code per item"):
        sim.accuracy(np.zeros(9, dtype=int))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_items": 0}, "n_items"),
        ({"n_classes": 1}, "n_classes"),
        ({"votes_per_item": 6}, "votes_per_item"),
        ({"priors": [1.0, -1.0]}, "priors"),
        ({"activity": -1.0}, "Zipf"),
        ({"activity": [1.0, 2.0]}, "activity weights"),
        ({"accuracy": (0.0, 1.0)}, "Beta"),
        ({"spammer_share": 1.5}, "spammer_share"),
        ({"spammer_share": 0.6, "adversary_share": 0.6}, "exceed"),
        ({"error_concentration": 0.0}, "error_concentration"),
        ({"error_weights": [1.0, -1.0]}, "error_weights"),
        ({"error_weights": [0.0, 1.0]}, "no wrong label"),
        ({"shared_bias": SharedBias(1.5, (0.1, 0.1), np.eye(2))}, "group_share"),
        ({"shared_bias": SharedBias(0.5, (0.1,), np.eye(2))}, "items"),
        ({"shared_bias": SharedBias(0.5, (0.1, 0.1), np.ones((2, 2)))}, "group_rows"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict, message: str) -> None:
    params = {"n_items": 10, "n_annotators": 5, "n_classes": 2, **kwargs}
    with pytest.raises(InputError, match=message):
        simulate(**params)
