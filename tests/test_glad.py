"""GLAD: its pure functions, recovery on simulated crowds, the model contract, edge cases,
and a cross-check against crowd-kit 1.4.2's GLAD."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import dataset_path
from scipy.special import expit

from consensus import InputError, InputWarning, MajorityVote, NotFittedError, VoteMatrix, read_votes
from consensus.data.gold import read_gold
from consensus.models.glad import GLAD, implied_confusion, log_joint, newton_block, softplus

#: A few very good annotators, a middle, and a tail near chance (0) or just below.
ABILITY = np.array([4.0, 3.0, 2.5, 1.5, 1.2, 1.0, 0.8, 0.5, 0.3, 0.2, 0.1, -0.1])


def simulate_glad(
    n_items: int = 400, n_classes: int = 3, votes_per_item: int = 5, seed: int = 0
) -> tuple[VoteMatrix, np.ndarray, np.ndarray]:
    """Votes drawn from GLAD itself: 30 % of items hard (β = e^-1), the rest easy (e^0.7).

    Returns the votes, the true classes and the true log β per item.
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(n_classes, size=n_items)
    log_beta = np.where(rng.random(n_items) < 0.3, -1.0, 0.7)
    who = np.argsort(rng.random((n_items, ABILITY.size)), axis=1)[:, :votes_per_item]
    items = np.repeat(np.arange(n_items), votes_per_item)
    annotators = who.ravel()
    right = rng.random(items.size) < expit(ABILITY[annotators] * np.exp(log_beta[items]))
    wrong = (truth[items] + rng.integers(1, n_classes, size=items.size)) % n_classes
    labels = np.where(right, truth[items], wrong)
    return VoteMatrix.from_codes(items, annotators, labels, n_classes), truth, log_beta


@pytest.fixture(scope="module")
def crowd() -> tuple[VoteMatrix, np.ndarray, np.ndarray]:
    return simulate_glad()


@pytest.fixture(scope="module")
def fitted(crowd) -> GLAD:
    return GLAD().fit(crowd[0])


# ------------------------------------------------------------ pure functions
def test_log_joint_matches_the_model_written_out_per_vote():
    rng = np.random.default_rng(1)
    k, n_items, n_annotators, n_votes = 4, 6, 5, 30
    items = rng.integers(n_items, size=n_votes)
    annotators = rng.integers(n_annotators, size=n_votes)
    labels = rng.integers(k, size=n_votes)
    ability = rng.normal(size=n_annotators) * 2
    log_beta = rng.normal(size=n_items)
    log_prior = np.log(rng.dirichlet(np.ones(k)))
    joint = log_joint(items, annotators, labels, n_items, ability, log_beta, log_prior)
    expected = np.tile(log_prior[:, None], (1, n_items))
    for i, a, label in zip(items, annotators, labels, strict=True):  # the reference: per vote
        p_right = expit(ability[a] * np.exp(log_beta[i]))
        for true in range(k):
            expected[true, i] += np.log(p_right if label == true else (1 - p_right) / (k - 1))
    np.testing.assert_allclose(joint, expected, rtol=1e-10, atol=1e-10)


def test_log_joint_stays_finite_for_extreme_parameters():
    items, annotators, labels = np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([0, 1, 1])
    joint = log_joint(
        items, annotators, labels, 2, np.array([100.0, -100.0]), np.array([20.0, -20.0]),
        np.log([0.5, 0.5]),
    )
    assert np.isfinite(joint).all()
    assert np.isfinite(softplus(np.array([-1e10, 0.0, 1e10]))).all()


def test_newton_block_reaches_each_parameters_optimum():
    rng = np.random.default_rng(2)
    n_groups, n_votes = 7, 80
    group = rng.integers(n_groups, size=n_votes)
    scale = np.exp(rng.normal(size=n_votes))
    correct = rng.random(n_votes)
    mean, precision = 1.0, 0.5

    def logits(values):
        x = values[group] * scale
        return x, scale, np.zeros_like(scale)

    def objective(values):
        x = logits(values)[0]
        f = np.bincount(group, weights=softplus(x) - correct * x, minlength=n_groups)
        return f + 0.5 * precision * (values - mean) ** 2

    values = np.full(n_groups, mean)
    for _ in range(20):
        updated = newton_block(values, group, logits, correct, mean, precision, 100.0)
        assert (objective(updated) <= objective(values) + 1e-12).all()  # never worse
        values = updated
    step = 1e-6
    numeric = (objective(values + step) - objective(values - step)) / (2 * step)
    np.testing.assert_allclose(numeric, 0.0, atol=1e-6)


def test_implied_confusion_averages_accuracy_over_the_annotators_votes():
    items, annotators = np.array([0, 1, 1]), np.array([0, 0, 1])
    ability, log_beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, np.log(2.0)])
    confusion = implied_confusion(items, annotators, ability, log_beta, 3)
    np.testing.assert_allclose(confusion[0, 1, 1], (expit(1.0) + expit(2.0)) / 2)
    np.testing.assert_allclose(confusion[1, 0, 0], expit(4.0))
    np.testing.assert_allclose(confusion[2, 2, 2], expit(0.5 * np.exp(np.log(2.0) / 2)))
    np.testing.assert_allclose(confusion.sum(axis=2), 1.0)
    np.testing.assert_allclose(confusion[0, 0, 1], (1 - confusion[0, 0, 0]) / 2)


# ------------------------------------------------------- recovery and contract
def test_beats_majority_vote_with_unequal_annotators_and_hard_items(crowd, fitted):
    votes, truth, _ = crowd
    glad = (fitted.label_codes_ == truth).mean()
    majority = (MajorityVote().fit(votes).label_codes_ == truth).mean()
    assert glad >= majority + 0.015, (glad, majority)


def test_recovers_ability_order_and_hard_items(crowd, fitted):
    _, _, log_beta = crowd
    rank = np.argsort(np.argsort(fitted.ability_))
    true_rank = np.argsort(np.argsort(ABILITY))
    assert np.corrcoef(rank, true_rank)[0, 1] > 0.95
    hard = log_beta < 0
    assert np.median(fitted.difficulty_[hard]) > np.median(fitted.difficulty_[~hard])
    assert fitted.difficulty_.shape == (crowd[0].n_items,) and (fitted.difficulty_ > 0).all()


def test_fitted_attributes(crowd, fitted):
    votes = crowd[0]
    k = votes.n_classes
    assert fitted.ability_.shape == (votes.n_annotators,)
    assert fitted.confusion_.shape == (votes.n_annotators, k, k)
    np.testing.assert_allclose(fitted.confusion_.sum(axis=2), 1.0)
    np.testing.assert_allclose(fitted.class_priors_, np.full(k, 1 / k))
    p = fitted.posteriors_
    assert p.shape == (votes.n_items, k) and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    assert fitted.converged_ and fitted.n_iter_ == len(fitted.log_likelihood_history_)
    assert np.isfinite(fitted.log_likelihood_) and fitted.log_likelihood_ < 0
    assert fitted.params_.hyper is not None
    np.testing.assert_allclose(fitted.params_.hyper[: votes.n_annotators], fitted.ability_)
    # the implied confusion's diagonal is the mean σ(α β) over each annotator's votes
    x = fitted.ability_[votes.annotator_codes] / fitted.difficulty_[votes.item_codes]
    mean_right = np.bincount(votes.annotator_codes, expit(x)) / votes.votes_per_annotator
    np.testing.assert_allclose(fitted.confusion_[:, 0, 0], mean_right)


def test_predict_after_fit_equals_fit_predict_and_is_deterministic(crowd, fitted):
    votes = crowd[0]
    again = GLAD().fit(votes)
    assert np.array_equal(again.posteriors_, fitted.posteriors_)
    np.testing.assert_array_equal(fitted.predict(votes), GLAD().fit_predict(votes))
    np.testing.assert_array_equal(fitted.predict_proba(votes), fitted.posteriors_)


def test_predict_proba_on_new_votes(crowd, fitted):
    votes = crowd[0]
    frame = votes.to_frame()
    frame = frame[frame["item"].isin(range(20))].copy()
    frame["item"] = "new" + frame["item"].astype(str)
    stranger = pd.DataFrame({"item": ["new0"], "annotator": ["nobody"], "label": [1]})
    new = VoteMatrix.from_frame(pd.concat([frame, stranger]).astype(str))
    p = fitted.predict_proba(new)
    assert p.shape == (new.n_items, votes.n_classes) and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # by hand: known annotators keep their ability, the stranger gets the vote-weighted
    # mean, every new item the mean log beta
    ability = dict(zip(votes.annotator_ids.astype(str), fitted.ability_, strict=True))
    crowd_ability = fitted.annotator_votes_ @ fitted.ability_ / fitted.annotator_votes_.sum()
    beta = np.exp(np.mean(np.log(1 / fitted.difficulty_)))
    item0 = new.to_frame().query("item == 'new0'")
    log_p = np.zeros(votes.n_classes)
    for annotator, label in zip(item0["annotator"], item0["label"], strict=True):
        right = expit(ability.get(annotator, crowd_ability) * beta)
        said = np.full(votes.n_classes, (1 - right) / (votes.n_classes - 1))
        said[int(label)] = right
        log_p += np.log(said)
    expected = np.exp(log_p - log_p.max())
    row = list(new.item_ids).index("new0")
    np.testing.assert_allclose(p[row], expected / expected.sum(), rtol=1e-9)


def test_gold_items_are_clamped_and_anchor_the_fit(crowd):
    votes, truth, _ = crowd
    gold = np.full(votes.n_items, -1)
    gold[:40] = (truth[:40] + 1) % votes.n_classes  # gold that contradicts the crowd
    model = GLAD().fit(votes, gold)
    np.testing.assert_array_equal(model.label_codes_[:40], gold[:40])
    assert (model.posteriors_[np.arange(40), gold[:40]] == 1.0).all()
    np.testing.assert_array_equal(model.predict_proba(votes), model.posteriors_)
    # right gold raises accuracy on the other items too (or at least keeps it)
    gold[:40] = truth[:40]
    anchored = GLAD().fit(votes, gold)
    plain = GLAD().fit(votes)
    rest = slice(40, None)
    assert (anchored.label_codes_[rest] == truth[rest]).mean() >= (
        plain.label_codes_[rest] == truth[rest]
    ).mean() - 0.005


def test_params_round_trip_and_validation():
    model = GLAD(max_iter=7, ability_prior_sd=2.0, m_step_iter=3)
    params = model.get_params()
    assert params["max_iter"] == 7 and params["ability_prior_sd"] == 2.0
    assert set(params) == {
        "max_iter", "tol", "ability_prior_mean", "ability_prior_sd", "log_beta_prior_mean",
        "log_beta_prior_sd", "learn_class_priors", "smoothing", "m_step_iter",
    }
    assert repr(GLAD(**params)) == repr(model)
    assert model.set_params(tol=1e-3) is model and model.tol == 1e-3
    with pytest.raises(InputError, match="no parameter 'alpha'"):
        model.set_params(alpha=1)
    votes = simulate_glad(n_items=20)[0]
    for bad in ({"ability_prior_sd": 0.0}, {"log_beta_prior_sd": float("nan")},
                {"ability_prior_mean": float("inf")}, {"m_step_iter": 0}, {"max_iter": 0}):
        with pytest.raises(InputError, match=next(iter(bad))):
            GLAD(**bad).fit(votes)
    with pytest.raises(NotFittedError, match="call fit"):
        GLAD().predict(votes)


# ------------------------------------------------------------------ edge cases
def _finite(model: GLAD) -> None:
    assert np.isfinite(model.posteriors_).all()
    assert np.isfinite(model.ability_).all() and np.isfinite(model.difficulty_).all()
    assert (model.difficulty_ > 0).all()
    assert np.isfinite(model.params_.log_weights).all()
    assert np.isfinite(model.log_likelihood_)


def test_degenerate_inputs_stay_finite():
    # an annotator with one vote, an item with one vote, a declared class nobody chose
    frame = pd.DataFrame(
        [("i1", "a", "x"), ("i1", "b", "x"), ("i1", "c", "x"),
         ("i2", "a", "y"), ("i2", "b", "y"), ("i2", "c", "y"),
         ("i3", "a", "x"), ("i3", "b", "x"), ("i3", "lonely", "y"),
         ("i4", "a", "y")],
        columns=["item", "annotator", "label"],
    )
    votes = VoteMatrix.from_frame(frame, labels=["x", "y", "never"])
    for params in ({}, {"learn_class_priors": True, "smoothing": 0.0},
                   {"ability_prior_sd": np.inf, "log_beta_prior_sd": np.inf}):
        model = GLAD(**params).fit(votes)
        _finite(model)
        assert list(model.labels_) == ["x", "y", "x", "y"]
    # one class only ever voted
    unanimous = VoteMatrix.from_frame(frame.assign(label="x"), labels=["x", "y"])
    model = GLAD(ability_prior_sd=np.inf, log_beta_prior_sd=np.inf).fit(unanimous)
    _finite(model)
    assert (model.labels_ == "x").all()


def test_single_vote_per_item_keeps_each_vote():
    votes = VoteMatrix.from_codes([0, 1, 2], [0, 1, 0], [1, 0, 1], n_classes=2)
    with pytest.warns(InputWarning, match="single vote"):
        model = GLAD().fit(votes)
    _finite(model)
    np.testing.assert_array_equal(model.label_codes_, [1, 0, 1])


def test_perfect_and_adversarial_annotators_without_priors_do_not_overflow():
    rng = np.random.default_rng(4)
    truth = rng.integers(2, size=60)
    items = np.repeat(np.arange(60), 3)
    annotators = np.tile([0, 1, 2], 60)
    labels = np.where(annotators == 2, 1 - truth[items], truth[items])  # 2 always wrong
    votes = VoteMatrix.from_codes(items, annotators, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # abilities run to the bound: may not converge
        model = GLAD(ability_prior_sd=np.inf, log_beta_prior_sd=np.inf).fit(votes)
    _finite(model)
    np.testing.assert_array_equal(model.label_codes_, truth)
    assert model.ability_[2] < 0 < model.ability_[0]


# ---------------------------------------------------------------- references
def test_agrees_with_crowdkit_glad_on_a_small_simulated_crowd():
    aggregation = pytest.importorskip("crowdkit.aggregation", reason="crowd-kit missing")
    votes, truth, _ = simulate_glad(n_items=120, seed=5)
    frame = votes.to_frame().rename(columns={"item": "task", "annotator": "worker"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = aggregation.GLAD().fit(frame)
    ours = GLAD().fit(votes)
    their_labels = theirs.labels_.reindex(votes.item_ids).to_numpy()
    assert (their_labels == ours.labels_).mean() >= 0.97
    their_ability = theirs.alphas_.reindex(votes.annotator_ids).to_numpy(float)
    assert np.corrcoef(their_ability, ours.ability_)[0, 1] > 0.99


@pytest.mark.parametrize(
    ("name", "crowdkit_accuracy"),
    # crowd-kit 1.4.2 GLAD with its defaults, accuracy (%) on the gold items
    [("bluebirds", 72.22), ("web", 82.13), ("zheng_possent", 94.80)],
)
def test_real_dataset_accuracy_matches_crowdkit(name, crowdkit_accuracy):
    folder = dataset_path(name)
    votes = read_votes(folder / "votes.csv")
    gold = read_gold(folder / "gold.csv", votes).per_item(votes.n_items)
    known = gold >= 0
    accuracy = 100 * (GLAD().fit(votes).label_codes_[known] == gold[known]).mean()
    assert abs(accuracy - crowdkit_accuracy) < 1.0
