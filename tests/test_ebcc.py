"""EBCC: correlated annotators, gold, determinism, degenerate inputs, and the maths pieces."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import EXAMPLES, dataset_path
from scipy.special import digamma, gammaln
from scipy.stats import dirichlet, dirichlet_multinomial

from consensus import (
    ConvergenceWarning,
    DawidSkene,
    InputError,
    NotFittedError,
    VoteMatrix,
    read_votes,
)
from consensus.data.gold import read_gold
from consensus.models.ebcc import (
    EBCC,
    dirichlet_kl,
    pooled_row_prior,
    row_log_evidence,
    subtype_e_step,
)


@pytest.fixture(scope="module")
def weather() -> VoteMatrix:
    return read_votes(EXAMPLES / "weather_votes.csv")


@pytest.fixture(scope="module")
def weather_fit(weather) -> EBCC:
    return EBCC().fit(weather)


def correlated_crowd(seed: int = 0, n_items: int = 400):
    """Four heavy annotators who label every item and all give the same wrong label on
    half of the class-0 items, plus three sparse independent votes per item (80% right).

    On those items the group outvotes the independents, so majority vote starts
    wrong, and Dawid–Skene, finding the group in constant agreement, trusts it more.
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n_items)
    hard = (truth == 0) & (rng.random(n_items) < 0.5)
    items, annotators, labels = [], [], []
    for a in range(4):
        said = np.where(rng.random(n_items) < 0.9, truth, 1 - truth)
        said[hard] = 1
        items.append(np.arange(n_items))
        annotators.append(np.full(n_items, a))
        labels.append(said)
    for _ in range(3):
        items.append(np.arange(n_items))
        annotators.append(4 + rng.integers(0, 200, n_items))
        labels.append(np.where(rng.random(n_items) < 0.8, truth, 1 - truth))
    votes = VoteMatrix.from_codes(
        np.concatenate(items), np.concatenate(annotators), np.concatenate(labels), n_classes=2
    )
    return votes, truth, hard


def sparse_crowd(seed: int = 0, n_items: int = 500):
    """400 annotators with about 6 votes each, 5 votes per item, all sharing one confusion:
    class 2 is called 1 nearly as often as 2, and hardly ever 0."""
    rng = np.random.default_rng(seed)
    confusion = np.array([[0.85, 0.1, 0.05], [0.1, 0.8, 0.1], [0.05, 0.45, 0.5]])
    truth = rng.integers(0, 3, n_items)
    items = np.repeat(np.arange(n_items), 5)
    said = (rng.random(items.size)[:, None] > confusion[truth[items]].cumsum(axis=1)).sum(axis=1)
    votes = VoteMatrix.from_codes(items, rng.integers(0, 400, items.size), said, n_classes=3)
    return votes, truth


@pytest.mark.parametrize("prior_strength", [None, 1.5])
def test_a_subtype_explains_a_group_error_that_fools_dawid_skene(prior_strength):
    votes, truth, hard = correlated_crowd()
    ds = DawidSkene().fit(votes).label_codes_
    ebcc = EBCC(prior_strength=prior_strength).fit(votes)
    assert (ds[hard] == truth[hard]).mean() < 0.2
    assert (ebcc.label_codes_[hard] == truth[hard]).mean() > 0.7
    assert (ebcc.label_codes_ == truth).mean() > (ds == truth).mean() + 0.1
    # the group's error lives in a class-0 subtype: its marginal class-0 row leans wrong
    assert (ebcc.confusion_[:4, 0, 1] > 0.3).all()


def test_pooled_rows_learn_the_crowds_confusion_for_sparse_annotators():
    """With ~6 votes each, the fixed prior leaves every annotator symmetric; the pooled
    prior learns that class 2 is mistaken for 1 (not 0) and reads the votes by it."""
    votes, truth = sparse_crowd()
    fixed, pooled = EBCC().fit(votes), EBCC(prior_strength=1.5).fit(votes)
    assert (pooled.label_codes_ == truth).mean() > (fixed.label_codes_ == truth).mean() + 0.02
    centre = pooled.row_prior_
    assert centre.shape == (3, 10, 3)
    np.testing.assert_array_equal(centre, np.repeat(centre[:, :1], 10, axis=1))  # per class
    np.testing.assert_allclose(centre.sum(axis=2), 1.5 * 3)
    typical = centre[:, 0] / centre[:, 0].sum(axis=1, keepdims=True)
    assert typical[2, 1] > 0.25 > 0.05 > typical[2, 0]
    # never below the fixed prior's diagonal share, 4 / (4 + 2)
    assert (np.diagonal(typical) >= 4 / 6 - 1e-12).all()
    np.testing.assert_array_equal(fixed.row_prior_, np.broadcast_to(
        np.full((3, 3), 1.0) + 3.0 * np.eye(3), (10, 3, 3)).transpose(1, 0, 2))


def test_fitted_attributes_are_complete_and_consistent(weather, weather_fit):
    model = weather_fit
    n, k, a = weather.n_items, weather.n_classes, weather.n_annotators
    p = model.posteriors_
    assert p.shape == (n, k) and p.dtype == np.float64
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(model.label_codes_, p.argmax(axis=1))
    assert model.confusion_.shape == (a, k, k)
    np.testing.assert_allclose(model.confusion_.sum(axis=2), 1.0, atol=1e-12)
    np.testing.assert_allclose(model.class_priors_.sum(), 1.0)
    assert model.params_.log_weights.shape == (a * k, k)
    assert np.isfinite(model.params_.log_weights).all()
    assert model.params_.concentration is not None
    assert model.params_.concentration.shape == (a, k, k)
    np.testing.assert_allclose(model.subtype_weights_.sum(axis=1), 1.0)
    assert model.subtype_weights_.shape == (k, 10)
    assert isinstance(model.n_iter_, int) and isinstance(model.converged_, bool)
    assert model.converged_ and model.n_iter_ == len(model.log_likelihood_history_)
    assert model.elbo_ == model.log_likelihood_ == model.log_likelihood_history_[-1]


def test_lower_bound_never_decreases(weather, weather_fit):
    """Each variational update maximises the bound in its own block, and each empirical-
    Bayes move of the pooled prior is kept only where it raises it (float32 slack)."""
    fits = [weather_fit, EBCC(prior_strength=1.5).fit(weather),
            EBCC(prior_strength=1.5).fit(sparse_crowd()[0]),
            EBCC(prior_strength=0.5, n_subtypes=3).fit(correlated_crowd(seed=5)[0])]
    for model in fits:
        history = model.log_likelihood_history_
        assert len(history) > 5
        assert (np.diff(history) > -1e-6 * np.abs(history[:-1])).all()


def test_pooled_prior_step_raises_the_evidence_and_keeps_its_shape():
    """On fractional counts a fixed-point step can overshoot; the step keeps a class's new
    row only where the counts' evidence rises, at the same strength, above the floor."""
    rng = np.random.default_rng(3)
    for trial in range(20):
        stats = rng.gamma(0.3, 2.0, size=(30, 3, 4, 3)) * (rng.random((30, 1, 4, 1)) < 0.5)
        beta = np.repeat((rng.gamma(2.0, size=(3, 3)) + 0.2)[:, None], 4, axis=1)
        beta += np.eye(3)[:, None] * beta.max()  # diagonal-dominant, as in a fit
        moved = pooled_row_prior(stats, beta, floor=0.5, n_steps=1 + trial % 3)
        rows = stats.transpose(0, 2, 1, 3).reshape(-1, 3, 3)
        before = row_log_evidence(rows, beta[None, :, 0]).sum(axis=0)
        after = row_log_evidence(rows, moved[None, :, 0]).sum(axis=0)
        assert (after >= before - 1e-9).all()
        np.testing.assert_allclose(moved.sum(axis=2), beta.sum(axis=2))
        np.testing.assert_array_equal(moved, moved[:, :1].repeat(4, axis=1))
        changed = ~np.isclose(moved[:, 0], beta[:, 0]).all(axis=1)
        share = np.diagonal(moved[:, 0]) / moved[:, 0].sum(axis=1)
        assert (share[changed] >= 0.5 - 1e-12).all()


def test_row_log_evidence_against_scipy_dirichlet_multinomial():
    """For whole counts it is the Dirichlet–multinomial log-pmf without the multinomial
    coefficient (scipy as the reference); no counts give exactly 0."""
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 6, size=(5, 4)).astype(float)
    alpha = rng.gamma(2.0, size=4) + 0.1
    for row in counts:
        n = int(row.sum())
        coefficient = gammaln(n + 1) - gammaln(row + 1).sum()
        reference = dirichlet_multinomial.logpmf(row, alpha, n) - coefficient
        assert row_log_evidence(row, alpha) == pytest.approx(reference, rel=1e-10)
    np.testing.assert_array_equal(row_log_evidence(np.zeros((2, 4)), alpha), 0.0)


@pytest.mark.parametrize("prior_strength", [None, 1.5])
def test_lower_bound_equals_its_definition_term_by_term(prior_strength):
    """The bound from log normalisers and KLs equals E[log p(votes, z, θ)] + H(q), summed
    vote by vote and row by row with scipy's Dirichlet entropy, for the prior in use (with
    prior_strength, the learned one: the bound is conditional on it)."""
    if prior_strength is None:
        votes = correlated_crowd(seed=4, n_items=120)[0]
    else:  # three classes, so the learned rows differ from the start off the diagonal too
        votes = sparse_crowd(seed=1, n_items=150)[0]
    model = EBCC(n_subtypes=3, prior_strength=prior_strength).fit(votes)
    q, k = model.variational_, votes.n_classes
    resp, _ = subtype_e_step(votes.item_annotator_label, q.log_weights(), q.log_prior())
    resp = resp.astype(np.float64).reshape(votes.n_items, k, 3)
    e_log_pi = digamma(q.subtypes) - digamma(q.subtypes.sum(axis=1, keepdims=True))
    e_log_tau = digamma(q.classes) - digamma(q.classes.sum())
    per_vote = q.expected_log_rows[votes.annotator_codes, :, :, votes.label_codes]
    bound = (resp[votes.item_codes] * per_vote).sum()
    bound += (resp * (e_log_tau[:, None] + e_log_pi)[None]).sum() - (resp * np.log(resp)).sum()
    beta = model.row_prior_
    if prior_strength is None:
        np.testing.assert_array_equal(beta[:, 0], np.full((k, k), 1.0) + 3.0 * np.eye(k))
    else:
        assert abs(beta[2, 0, 1] - beta[2, 0, 0]) > 0.5  # learned, not the start's b_v
    rows = [(q.rows[a, c, m], beta[c, m]) for a in range(len(q.rows)) for c in range(k)
            for m in range(3)]
    rows += [(q.subtypes[c], np.full(3, 0.1 / 3)) for c in range(k)] + [(q.classes, np.ones(k))]
    for post, prior in rows:
        e_log = digamma(post) - digamma(post.sum())
        bound += gammaln(prior.sum()) - gammaln(prior).sum() + ((prior - 1) * e_log).sum()
        bound += dirichlet.entropy(post)
    assert model.elbo_ == pytest.approx(bound, rel=1e-6)


def test_dirichlet_kl_against_scipy_entropy():
    """KL(q || p) = -H(q) - E_q[log p], with scipy's Dirichlet entropy as the reference."""
    rng = np.random.default_rng(1)
    q, p = rng.gamma(2.0, size=(3, 4)) + 0.1, rng.gamma(2.0, size=(3, 4)) + 0.1
    expected = 0.0
    for qi, pi in zip(q, p, strict=True):
        e_log = digamma(qi) - digamma(qi.sum())
        cross = gammaln(pi.sum()) - gammaln(pi).sum() + ((pi - 1) * e_log).sum()
        expected += -dirichlet.entropy(qi) - cross
    assert dirichlet_kl(q, p) == pytest.approx(expected, rel=1e-10)
    assert dirichlet_kl(q, q) == pytest.approx(0.0, abs=1e-12)
    assert dirichlet_kl(q, p[0]) == pytest.approx(dirichlet_kl(q, np.tile(p[0], (3, 1))))


def test_gold_fixes_the_class_of_gold_items_only(weather, weather_fit):
    free = weather_fit
    gold = np.full(weather.n_items, -1)
    gold[:10] = (free.label_codes_[:10] + 1) % weather.n_classes  # against the votes
    model = EBCC().fit(weather, gold=gold)
    np.testing.assert_array_equal(model.label_codes_[:10], gold[:10])
    np.testing.assert_array_equal(model.posteriors_[:10], np.eye(weather.n_classes)[gold[:10]])
    np.testing.assert_array_equal(model.gold_codes_, gold)
    assert np.isfinite(model.posteriors_).all() and np.isfinite(model.elbo_)
    # gold on the correlated group's items teaches the model that the group errs there
    votes, truth, hard = correlated_crowd(seed=3)
    anchor = np.where(hard & (np.arange(votes.n_items) < 100), truth, -1)
    anchored = EBCC().fit(votes, gold=anchor)
    rest = hard & (anchor < 0)
    assert (anchored.label_codes_[rest] == truth[rest]).mean() > 0.7


def test_same_seed_same_fit_and_more_starts_never_lower_the_bound():
    votes, _, _ = correlated_crowd(seed=1)
    a, b = EBCC(seed=7).fit(votes), EBCC(seed=7).fit(votes)
    assert np.array_equal(a.posteriors_, b.posteriors_)
    assert a.elbo_ == b.elbo_
    several = EBCC(seed=7, n_starts=3).fit(votes)  # its first start is the single start
    assert several.elbo_ >= a.elbo_


def test_predict_after_fit_equals_fit_predict(weather, weather_fit):
    np.testing.assert_array_equal(weather_fit.predict(weather), EBCC().fit_predict(weather))
    copy = VoteMatrix(*(np.array(x, copy=True) for x in (
        weather.item_codes, weather.annotator_codes, weather.label_codes,
        weather.item_ids, weather.annotator_ids, weather.classes)))
    np.testing.assert_array_equal(weather_fit.predict_proba(copy), weather_fit.posteriors_)


def test_predict_on_new_votes_is_one_e_step_with_unseen_annotators(weather, weather_fit):
    frame = weather.to_frame()
    items = frame["item"].unique()[:60]
    part = frame[frame["item"].isin(items)].iloc[::-1]
    unseen = part["annotator"].iloc[0]
    renamed = part.assign(annotator=part["annotator"].replace({unseen: "somebody new"}))
    sub = VoteMatrix.from_frame(renamed, labels=[str(c) for c in weather.classes[::-1]])
    proba = weather_fit.predict_proba(sub)
    assert proba.shape == (sub.n_items, weather.n_classes)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    # items whose annotators all stayed, with all their votes: the fitted posteriors
    row_of = {str(i): r for r, i in enumerate(weather.item_ids)}
    touched = set(part.loc[part["annotator"] == unseen, "item"].astype(str))
    same = np.array([str(i) not in touched for i in sub.item_ids])
    rows = np.array([row_of[str(i)] for i in sub.item_ids])
    np.testing.assert_allclose(proba[same], weather_fit.posteriors_[rows[same]], atol=1e-4)


@pytest.mark.parametrize("prior_strength", [None, 1.5])
def test_degenerate_inputs_stay_finite(prior_strength):
    """Only one class ever voted, an annotator with one vote, an item with one vote.

    The model rules a class with no items out (its subtype weights' Dirichlet of
    a_pi / M = 0.01 gives E[log weight] near -90), so its posteriors sit at the
    floor, e**-80, but are never exactly 0."""
    frame = pd.DataFrame(
        [("i1", "a", "x"), ("i1", "b", "x"), ("i1", "c", "x"),
         ("i2", "a", "x"), ("i2", "b", "x"),
         ("i3", "a", "x"), ("i3", "lonely", "x"),
         ("i4", "c", "x")],
        columns=["item", "annotator", "label"],
    )
    votes = VoteMatrix.from_frame(frame, labels=["x", "y", "never"])
    model = EBCC(prior_strength=prior_strength).fit(votes)
    assert np.isfinite(model.posteriors_).all() and np.isfinite(model.elbo_)
    assert np.isfinite(model.params_.log_weights).all()
    assert (model.labels_ == "x").all()
    assert (model.posteriors_ > 0).all()


def test_one_vote_per_item_keeps_each_vote():
    """The diagonal-heavy prior holds each lone vote; nothing collapses to one class."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 300)
    labels = np.where(rng.random(300) < 0.8, truth, (truth + 1) % 3)
    votes = VoteMatrix.from_codes(np.arange(300), rng.integers(0, 20, 300), labels)
    model = EBCC().fit(votes)
    np.testing.assert_array_equal(model.label_codes_, labels)
    assert model.posteriors_.max() < 0.95


def test_progress_reports_every_iteration():
    votes, _, _ = correlated_crowd(seed=2)
    seen: list[tuple[int, float]] = []
    model = EBCC(n_starts=2).fit(votes, progress=lambda i, bound: seen.append((i, bound)))
    assert [i for i, _ in seen] == list(range(1, len(seen) + 1))
    assert model.n_iter_ <= len(seen)


def test_convergence_warning_says_what_to_do(weather):
    with pytest.warns(ConvergenceWarning, match="did not converge in 3 iterations.*raise max_iter"):
        EBCC(max_iter=3, tol=0).fit(weather)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert not EBCC(max_iter=1).fit(weather).converged_


def test_fitted_model_survives_pickle(weather, weather_fit):
    restored = pickle.loads(pickle.dumps(weather_fit))
    np.testing.assert_array_equal(restored.predict_proba(weather), weather_fit.posteriors_)
    part = weather.take_votes(np.arange(weather.n_votes) % 3 > 0)
    np.testing.assert_array_equal(restored.predict_proba(part), weather_fit.predict_proba(part))


def test_params_round_trip_and_not_fitted(weather):
    model = EBCC(n_subtypes=3, a_pi=0.5, seed=4)
    params = model.get_params()
    assert params["n_subtypes"] == 3 and params["seed"] == 4 and params["tol"] == 1e-7
    assert params["prior_strength"] is None  # the authors' fixed prior unless asked
    assert repr(EBCC(**params)) == repr(model)
    assert model.set_params(n_starts=2) is model and model.n_starts == 2
    with pytest.raises(InputError, match="has no parameter 'n_groups'"):
        model.set_params(n_groups=3)
    with pytest.raises(NotFittedError, match="call fit"):
        model.predict(weather)


@pytest.mark.parametrize("bad", [{"n_subtypes": 0}, {"a_pi": 0.0}, {"a_v": -1.0},
                                 {"tol": float("nan")}, {"max_iter": 2.5}, {"seed": "x"},
                                 {"alpha": "1"}, {"prior_strength": 0.0},
                                 {"prior_strength": "1.5"}, {"prior_strength": float("inf")}])
def test_bad_parameters_rejected_in_fit(bad, weather):
    with pytest.raises(InputError):
        EBCC(**bad).fit(weather)


def test_dog_dataset_matches_the_authors():
    """The authors' code gives 83.89% on dog for each of 3 seeds (shared peers table)."""
    folder = dataset_path("dog")
    votes = read_votes(folder / "votes.csv")
    gold = read_gold(folder / "gold.csv", votes).per_item(votes.n_items)
    known = gold >= 0
    accuracy = (EBCC().fit(votes).label_codes_[known] == gold[known]).mean()
    assert accuracy == pytest.approx(0.8389, abs=0.005)
