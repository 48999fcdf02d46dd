"""Model invariants: shapes, sums, determinism, permutation equivariance, edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from consensus import (
    ConvergenceWarning,
    DawidSkene,
    InputError,
    InputWarning,
    MajorityVote,
    NotFittedError,
    OneCoinDawidSkene,
    PooledDawidSkene,
    VoteMatrix,
    read_votes,
)
from consensus.models import METHODS, em, make_model
from consensus.simulate import simulate

MODELS = [MajorityVote, DawidSkene, OneCoinDawidSkene, PooledDawidSkene]


@pytest.fixture(scope="module")
def weather():
    from conftest import EXAMPLES

    return read_votes(EXAMPLES / "weather_votes.csv")


@pytest.mark.parametrize("model_cls", MODELS)
def test_posteriors_are_distributions_and_fitted_attributes_exist(model_cls, weather):
    model = model_cls().fit(weather)
    p = model.posteriors_
    assert p.shape == (weather.n_items, weather.n_classes)
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    assert model.confusion_.shape == (weather.n_annotators, 5, 5)
    np.testing.assert_allclose(model.confusion_.sum(axis=2), 1.0, atol=1e-9)
    np.testing.assert_allclose(model.class_priors_.sum(), 1.0)
    np.testing.assert_array_equal(model.label_codes_, p.argmax(axis=1))
    np.testing.assert_array_equal(model.labels_, weather.classes[p.argmax(axis=1)])
    top = np.sort(p, axis=1)
    np.testing.assert_array_equal(model.ties_, top[:, -1] - top[:, -2] <= 1e-12)
    assert np.isfinite(model.log_likelihood_)
    assert isinstance(model.n_iter_, int) and isinstance(model.converged_, bool)


@pytest.mark.parametrize("model_cls", MODELS)
def test_predict_after_fit_equals_fit_predict(model_cls, weather):
    fitted = model_cls().fit(weather)
    np.testing.assert_array_equal(fitted.predict(weather), model_cls().fit_predict(weather))
    np.testing.assert_allclose(fitted.predict_proba(weather), fitted.posteriors_, atol=1e-12)


@pytest.mark.parametrize("model_cls", MODELS)
def test_not_fitted_error(model_cls, weather):
    with pytest.raises(NotFittedError, match="call fit"):
        model_cls().predict(weather)


def _by_item(votes, model):
    return pd.DataFrame(model.posteriors_, index=[str(i) for i in votes.item_ids],
                        columns=[str(c) for c in votes.classes]).sort_index().sort_index(axis=1)


@pytest.mark.filterwarnings("ignore::consensus.ConvergenceWarning")  # equal iterations suffice
@pytest.mark.parametrize("model_cls", MODELS)
def test_reordering_rows_and_renaming_changes_nothing_but_order(model_cls, weather):
    frame = weather.to_frame()
    rng = np.random.default_rng(3)
    shuffled = frame.iloc[rng.permutation(len(frame))]
    # rename annotators and items, relabel classes with names sorting in another order
    renamed = shuffled.assign(
        annotator="w" + shuffled["annotator"].astype(str),
        item="t" + shuffled["item"].astype(str),
        label=shuffled["label"].map({"0": "e", "1": "d", "2": "c", "3": "b", "4": "a"}),
    )
    base = model_cls(**({} if model_cls is MajorityVote else {"tol": 1e-10})).fit(weather)
    other_votes = VoteMatrix.from_frame(renamed)
    other = model_cls(**({} if model_cls is MajorityVote else {"tol": 1e-10})).fit(other_votes)
    a = _by_item(weather, base)
    b = _by_item(other_votes, other)
    b.index = [i[1:] for i in b.index]
    b = b.rename(columns={"e": "0", "d": "1", "c": "2", "b": "3", "a": "4"})
    b = b.sort_index().sort_index(axis=1)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), atol=1e-6)


@pytest.mark.parametrize("model_cls", MODELS)
def test_deterministic(model_cls, weather):
    a = model_cls().fit(weather).posteriors_
    b = model_cls().fit(weather).posteriors_
    assert np.array_equal(a, b)


def test_edge_cases_stay_finite():
    # one annotator with a single vote; a declared class nobody chose; unanimous items
    frame = pd.DataFrame(
        [("i1", "a", "x"), ("i1", "b", "x"), ("i1", "c", "x"),
         ("i2", "a", "y"), ("i2", "b", "y"), ("i2", "c", "y"),
         ("i3", "a", "x"), ("i3", "b", "x"), ("i3", "lonely", "y")],
        columns=["item", "annotator", "label"],
    )
    votes = VoteMatrix.from_frame(frame, labels=["x", "y", "never"])
    for smoothing in (0.0, 0.01):
        for cls in (DawidSkene, OneCoinDawidSkene):
            model = cls(smoothing=smoothing).fit(votes)
            assert np.isfinite(model.posteriors_).all()
            assert np.isfinite(model.params_.log_weights).all()
            assert np.isfinite(model.log_likelihood_)
            assert list(model.labels_) == ["x", "y", "x"]
    unanimous = VoteMatrix.from_frame(frame.assign(label="x"), labels=["x", "y"])
    model = DawidSkene(smoothing=0).fit(unanimous)
    assert np.isfinite(model.posteriors_).all() and (model.labels_ == "x").all()


def test_smoothing_keeps_one_vote_annotator_from_looking_perfect():
    frame = pd.DataFrame(
        [(f"i{i}", a, "x" if i % 2 else "y") for i in range(20) for a in "abc"]
        + [("i0", "new", "y")],
        columns=["item", "annotator", "label"],
    )
    votes = VoteMatrix.from_frame(frame)
    new = list(votes.annotator_ids).index("new")
    assert DawidSkene(smoothing=1.0).fit(votes).confusion_[new].max() < 0.9
    assert DawidSkene(smoothing=0.0).fit(votes).confusion_[new, 1, 1] == pytest.approx(1.0)


def test_convergence_warning_says_what_to_do(weather):
    with pytest.warns(ConvergenceWarning, match="did not converge in 2 iterations.*raise max_iter"):
        DawidSkene(max_iter=2, tol=0).fit(weather)


@pytest.mark.parametrize("bad", [{"max_iter": 0}, {"tol": -1.0}, {"smoothing": -0.1},
                                 {"tol": float("nan")}])
def test_bad_parameters_rejected_in_fit(bad, weather):
    model = DawidSkene(**bad)  # constructor only stores
    with pytest.raises(InputError):
        model.fit(weather)


def test_log_likelihood_never_decreases_with_ml_estimates(weather):
    model = DawidSkene(smoothing=0, tol=0, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(weather)
    history = model.log_likelihood_history_
    assert (np.diff(history) > -1e-8 * abs(history[:-1])).all()


def test_majority_vote_ties_go_to_first_class_and_are_flagged():
    frame = pd.DataFrame([("i", "a", "y"), ("i", "b", "x"), ("j", "a", "y")],
                         columns=["item", "annotator", "label"])
    votes = VoteMatrix.from_frame(frame)
    model = MajorityVote().fit(votes)
    assert list(model.labels_) == ["x", "y"]
    assert list(model.ties_) == [True, False]
    assert model.posteriors_[0].tolist() == [0.5, 0.5]


def test_gold_clamps_items(weather):
    gold = np.full(weather.n_items, -1)
    gold[:10] = 4
    model = DawidSkene().fit(weather, gold=gold)
    assert (model.label_codes_[:10] == 4).all()
    assert np.allclose(model.posteriors_[:10, 4], 1.0)


@pytest.mark.parametrize("model_cls", [DawidSkene, PooledDawidSkene])
def test_predict_on_new_votes_aligns_annotators_and_classes_by_name(model_cls, weather):
    """New votes come with other codes (annotators, items and classes in another order)
    and one unseen annotator; posteriors must follow ids and names, not codes."""
    model = model_cls().fit(weather)
    frame = weather.to_frame()
    items = frame["item"].unique()[:50]
    part = frame[frame["item"].isin(items)].iloc[::-1]  # reversed: every code changes
    unseen = part["annotator"].iloc[0]
    sub = VoteMatrix.from_frame(
        part.assign(annotator=part["annotator"].replace({unseen: "zz"})),
        labels=[str(c) for c in weather.classes[::-1]],
    )
    proba = model.predict_proba(sub)
    assert [str(c) for c in sub.classes] != [str(c) for c in model.classes_]
    row_of = {str(i): k for k, i in enumerate(weather.item_ids)}
    rows = np.array([row_of[str(i)] for i in sub.item_ids])
    touched = set(part.loc[part["annotator"] == unseen, "item"].astype(str))
    same = np.array([str(i) not in touched for i in sub.item_ids])
    # items without the renamed annotator: exactly the fitted posteriors, columns in classes_
    np.testing.assert_allclose(proba[same], model.posteriors_[rows[same]], atol=2e-5)
    # items with it: their votes weigh as the crowd's vote-weighted mean log-confusion
    share = model.annotator_votes_ / model.annotator_votes_.sum()
    crowd = np.tensordot(share, np.log(np.maximum(model.confusion_, 1e-300)), axes=1)
    known = {str(a): k for k, a in enumerate(model.annotator_ids_)}
    for i in np.flatnonzero(~same):
        votes = part[part["item"].astype(str) == str(sub.item_ids[i])]
        log_p = np.log(model.class_priors_).copy()
        for a, label in zip(votes["annotator"], votes["label"], strict=True):
            given = int(np.flatnonzero(weather.classes.astype(str) == str(label))[0])
            rows_a = crowd if a == unseen else np.log(model.confusion_[known[str(a)]])
            log_p += rows_a[:, given]
        expected = np.exp(log_p - log_p.max())
        np.testing.assert_allclose(proba[i], expected / expected.sum(), atol=2e-5)


def test_em_statistics_add_up_over_slices(weather):
    """Sufficient statistics from two halves of the items sum to the whole."""
    counts = weather.item_annotator_label
    posteriors = MajorityVote().fit(weather).posteriors_.T  # class-major, as EM keeps them
    whole = em.confusion_statistics(counts, posteriors, weather.n_classes)
    half = weather.n_items // 2
    parts = sum(
        em.confusion_statistics(counts[s], posteriors[:, s], weather.n_classes)
        for s in (slice(0, half), slice(half, None))
    )
    np.testing.assert_allclose(parts, whole, atol=1e-12)
    weights = np.log(np.full((counts.shape[1], 5), 0.2))
    _, ll_whole = em.e_step(counts, weights, np.log(np.full(5, 0.2)))
    ll_parts = sum(em.e_step(counts[s], weights, np.log(np.full(5, 0.2)))[1]
                   for s in (slice(0, half), slice(half, None)))
    assert ll_parts == pytest.approx(ll_whole)


def test_pure_functions_do_not_mutate():
    p = np.array([[0.5, 0.5], [0.2, 0.8]])
    before = p.copy()
    em.clamp_to_gold(p, np.array([1, -1]))
    em.normalize_log(np.log(p))
    assert np.array_equal(p, before)


@pytest.mark.parametrize("model_cls", [DawidSkene, PooledDawidSkene, OneCoinDawidSkene])
def test_one_vote_per_item_keeps_each_vote_instead_of_collapsing(model_cls):
    """With one vote an item nothing shows who is reliable; EM used to put every item in
    one class (26.9% on the dog dataset against 68% for the votes themselves)."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 600)
    labels = np.where(rng.random(600) < 0.8, truth, (truth + 1) % 3)
    votes = VoteMatrix.from_codes(np.arange(600), rng.integers(0, 20, 600), labels)
    with pytest.warns(InputWarning, match="single vote"):
        model = model_cls().fit(votes)
    np.testing.assert_array_equal(model.label_codes_, labels)
    assert model.n_iter_ == 0 and np.isfinite(model.log_likelihood_)
    gold = np.where(np.arange(600) < 200, truth, -1)  # gold identifies the annotators
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        anchored = model_cls().fit(votes, gold=gold)
    assert anchored.n_iter_ > 0


@pytest.mark.parametrize("method", sorted(METHODS))
def test_items_without_votes_get_the_prior_and_never_nan(method):
    """A subset of votes (``take_votes``) keeps every item, some with no vote left: they
    carry no evidence, so their posterior is the class prior, never NaN."""

    sim = simulate(600, 30, n_classes=3, votes_per_item=3, seed=1)
    votes = sim.votes.take_votes(sim.votes.item_codes >= 50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_model(method).fit(votes)
    assert np.isfinite(model.posteriors_).all()
    empty = model.posteriors_[:50]
    np.testing.assert_allclose(empty, np.broadcast_to(empty[0], empty.shape))
    assert (model.label_codes_[50:] == sim.truth[50:]).mean() > 0.8
