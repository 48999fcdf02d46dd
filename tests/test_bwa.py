"""BWA (Bayesian weighted averaging): the paper's updates, weighting, gold, edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import dataset_path

from consensus import InputError, MajorityVote, NotFittedError, VoteMatrix, read_votes
from consensus.models.bwa import BWA
from consensus.simulate import simulate


@pytest.fixture(scope="module")
def spammy():
    """Three classes, seven votes per item, 40% of the annotators spammers."""
    return simulate(400, 30, 3, votes_per_item=7, spammer_share=0.4, seed=1)


def dense_reference(votes: VoteMatrix, a_v: float = 15.0, lam: float = 1.0, n_iter: int = 500):
    """BWA written from the paper's formulas on dense item x annotator arrays, one class
    at a time with plain loops: an independent reference for the vectorised model.
    Needs at most one vote per (item, annotator)."""
    n, n_ann, n_cls = votes.n_items, votes.n_annotators, votes.n_classes
    voted = np.zeros((n, n_ann))
    label = np.full((n, n_ann), -1)
    voted[votes.item_codes, votes.annotator_codes] = 1.0
    label[votes.item_codes, votes.annotator_codes] = votes.label_codes
    per_item = voted.sum(axis=1)
    per_annotator = voted.sum(axis=0)
    scores = np.zeros((n, n_cls))
    precision = np.zeros((n_ann, n_cls))
    for k in range(n_cls):
        y = (label == k).astype(float)
        z = y.sum(axis=1) / per_item
        b_v = a_v * (per_item @ (z * (1 - z))) / voted.sum() * 4 * (1 - 1 / n_cls)
        for _ in range(n_iter):
            previous = z.copy()
            mu = z.mean()
            v = (a_v + per_annotator) / (b_v + (voted * (z[:, None] - y) ** 2).sum(axis=0))
            z = (lam * mu + y @ v) / (lam + voted @ v)
            if np.allclose(previous, z, rtol=1e-3):
                break
        scores[:, k], precision[:, k] = z, v
    return scores, precision


def test_matches_a_dense_reference_of_the_papers_updates(spammy):
    model = BWA().fit(spammy.votes)
    scores, precision = dense_reference(spammy.votes)
    np.testing.assert_allclose(model.scores_, scores, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.precision_, precision, rtol=1e-10)
    np.testing.assert_allclose(model.posteriors_, scores / scores.sum(axis=1, keepdims=True))


def test_weighting_beats_majority_vote_and_finds_spammers(spammy):
    model = BWA().fit(spammy.votes)
    majority = MajorityVote().fit(spammy.votes)
    assert spammy.accuracy(model.label_codes_) > spammy.accuracy(majority.label_codes_) + 0.03
    spammer = spammy.kind == "spammer"
    weight = model.weights_.mean(axis=1)
    assert weight[spammer].max() < np.median(weight[~spammer])
    np.testing.assert_allclose(spammy.votes.votes_per_annotator @ model.weights_,
                               spammy.votes.n_votes)  # 1 is the crowd's vote-weighted mean


def test_fitted_attributes_and_monotone_objective(spammy):
    votes = spammy.votes
    calls: list[tuple[int, float]] = []
    model = BWA().fit(votes, progress=lambda i, value: calls.append((i, value)))
    assert [i for i, _ in calls] == list(range(1, model.n_iter_ + 1))
    k = votes.n_classes
    assert model.posteriors_.shape == (votes.n_items, k)
    np.testing.assert_allclose(model.posteriors_.sum(axis=1), 1.0)
    assert model.confusion_.shape == (votes.n_annotators, k, k)
    np.testing.assert_allclose(model.confusion_.sum(axis=2), 1.0)
    np.testing.assert_allclose(model.class_priors_.sum(), 1.0)
    assert model.precision_.shape == model.weights_.shape == (votes.n_annotators, k)
    assert model.params_.log_weights.shape == (votes.n_annotators * k, k)
    assert model.converged_ and isinstance(model.n_iter_, int)
    # every update is a coordinate-ascent step on the log joint density
    history = model.log_likelihood_history_
    assert history.size == model.n_iter_ and history[-1] == model.log_likelihood_
    assert np.all(np.diff(history) >= -1e-9 * np.abs(history[1:]))


def test_gold_items_are_clamped_and_help(spammy):
    votes = spammy.votes
    gold = np.full(votes.n_items, -1)
    gold[:100] = spammy.truth[:100]
    model = BWA().fit(votes, gold)
    np.testing.assert_array_equal(model.label_codes_[:100], spammy.truth[:100])
    np.testing.assert_array_equal(model.posteriors_[:100].max(axis=1), 1.0)
    free = BWA().fit(votes)
    assert spammy.accuracy(model.label_codes_) >= spammy.accuracy(free.label_codes_)


def test_deterministic_and_predict_equals_fit_predict(spammy):
    votes = spammy.votes
    fitted = BWA().fit(votes)
    again = BWA().fit(votes)
    np.testing.assert_array_equal(fitted.posteriors_, again.posteriors_)
    np.testing.assert_array_equal(fitted.predict(votes), BWA().fit_predict(votes))
    np.testing.assert_array_equal(fitted.predict_proba(votes), fitted.posteriors_)


def test_predict_proba_on_reordered_votes_reruns_the_last_update(spammy):
    frame = spammy.votes.to_frame()
    shuffled = frame.iloc[np.random.default_rng(0).permutation(len(frame))]
    votes = VoteMatrix.from_frame(shuffled, labels=list(spammy.votes.classes))
    model = BWA(tol=1e-9).fit(spammy.votes)
    proba = pd.DataFrame(model.predict_proba(votes), index=votes.item_ids)
    np.testing.assert_allclose(proba.loc[spammy.votes.item_ids].to_numpy(), model.posteriors_,
                               atol=1e-6)


def test_unseen_annotators_get_the_crowds_precision(spammy):
    model = BWA().fit(spammy.votes)
    new = VoteMatrix.from_frame(pd.DataFrame(
        {"item": ["x", "x", "x"], "annotator": [0, 1, "newcomer"], "label": [2, 2, 1]}
    ), labels=[0, 1, 2])
    proba = model.predict_proba(new)
    assert np.isfinite(proba).all() and proba[0, 1] > 0.1  # the newcomer's vote counts
    np.testing.assert_allclose(proba.sum(), 1.0)


@pytest.mark.parametrize(
    "items, annotators, labels",
    [
        ([0, 0, 1, 1, 2], [0, 1, 0, 1, 2], [1, 1, 1, 1, 1]),  # one class only voted
        ([0, 1, 2, 3], [0, 1, 0, 1], [0, 1, 1, 0]),  # single-vote items
        ([0, 0, 0, 1, 1, 2], [0, 1, 2, 0, 1, 3], [1, 1, 0, 0, 0, 1]),  # one-vote annotators
        ([0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 1, 1]),  # unanimous: no disagreement at all
        ([0, 0, 2, 2], [0, 1, 0, 1], [0, 1, 1, 1]),  # an item code without votes
    ],
)
def test_degenerate_inputs_give_finite_results(items, annotators, labels):
    votes = VoteMatrix.from_codes(items, annotators, labels, n_classes=3)
    gold = np.full(votes.n_items, -1)
    gold[0] = 2
    for model in (BWA().fit(votes), BWA().fit(votes, gold)):
        for value in (model.posteriors_, model.confusion_, model.precision_, model.weights_,
                      model.log_likelihood_history_):
            assert np.isfinite(value).all()
    voted = np.bincount(votes.item_codes, minlength=votes.n_items) > 0
    unanimous = np.array([len(set(np.asarray(labels)[np.asarray(items) == i])) == 1
                          for i in range(votes.n_items)]) & voted
    first = {i: lab for i, lab in zip(items, labels, strict=True)}
    expected = [first[i] for i in np.flatnonzero(unanimous)]
    np.testing.assert_array_equal(BWA().fit(votes).label_codes_[unanimous], expected)


def test_parameters_round_trip_and_validation(spammy):
    model = BWA(prior_votes=5.0, mean_weight=2.0)
    params = model.get_params()
    assert params["prior_votes"] == 5.0 and params["mean_weight"] == 2.0
    assert set(params) == {"prior_votes", "mean_weight", "prior_correction", "max_iter", "tol",
                           "smoothing"}
    assert BWA(**params).get_params() == params
    model.set_params(prior_correction=False)
    assert model.prior_correction is False
    with pytest.raises(InputError, match="its parameters are"):
        model.set_params(a_v=3)
    with pytest.raises(NotFittedError):
        model.predict(spammy.votes)
    for bad in ({"max_iter": 0}, {"mean_weight": 0.0}, {"prior_votes": -1.0},
                {"tol": float("nan")}):
        with pytest.raises(InputError):
            BWA(**bad).fit(spammy.votes)


def test_convergence_warning_names_the_fix(spammy):
    with pytest.warns(Warning, match="raise max_iter"):
        model = BWA(max_iter=2, tol=0.0).fit(spammy.votes)
    assert not model.converged_ and model.n_iter_ == 2


# Accuracy of the authors' code (yuan-li/truth-inference-at-scale, defaults) on the shared
# datasets, from shared/peers/accuracy.csv: datasets without repeated votes, where the
# authors' merging of repeats cannot make a difference.
AUTHORS = {"bluebirds": 75.93, "dog": 83.15, "web": 82.25, "zheng_product": 91.94}


@pytest.mark.parametrize("name", sorted(AUTHORS))
def test_real_data_accuracy_equals_the_authors_code(name):
    folder = dataset_path(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        votes = read_votes(folder / "votes.csv")
    gold = pd.read_csv(folder / "gold.csv", dtype=str)
    labels = pd.Series(BWA().fit(votes).labels_.astype(str), index=votes.item_ids.astype(str))
    accuracy = 100 * np.mean(labels.loc[gold["item"]].to_numpy() == gold["label"].to_numpy())
    assert round(accuracy, 2) == AUTHORS[name]
