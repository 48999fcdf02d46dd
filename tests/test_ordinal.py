"""Ordinal scales: the reader model, posterior summaries, gold scoring and agreement.

Expected values come from independent references where one exists: the
``krippendorff`` package for alpha and ``statsmodels.stats.inter_rater.cohens_kappa``
for weighted kappa; the rest from hand-worked examples.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from consensus import InputError, PooledDawidSkene, VoteMatrix
from consensus.agreement.ordinal import ordinal_agreement, ordinal_alpha, weighted_kappa_mean
from consensus.data.gold import GoldSet
from consensus.models import make_model
from consensus.models.ordinal import (
    OrdinalDawidSkene,
    OrdinalState,
    fit_readers,
    fit_scale,
    ordinal_summary,
    probit_reading,
    scale_positions,
)
from consensus.quality.scoring import ordinal_columns, ordinal_score, score_annotators
from consensus.simulate import simulate


def ordinal_crowd(n_items=1500, n_annotators=300, n_levels=5, per_item=3, activity=1.0,
                  noise=0.8, seed=0):
    """Annotators who read level k as round(k + bias + noise), clipped to the scale."""
    rng = np.random.default_rng(seed)
    design = simulate(n_items, n_annotators, n_levels, votes_per_item=per_item,
                      activity=activity, seed=rng)
    bias = rng.normal(0.0, 0.3, n_annotators)
    sigma = noise * np.exp(rng.normal(0.0, 0.35, n_annotators))
    edges = np.concatenate([[-np.inf], np.arange(n_levels - 1) + 0.5, [np.inf]])
    cdf = norm.cdf((edges[None, None, :] - np.arange(n_levels)[None, :, None]
                    - bias[:, None, None]) / sigma[:, None, None])
    confusion = np.diff(cdf, axis=2)
    v = design.votes
    rows = confusion[v.annotator_codes, design.truth[v.item_codes]].cumsum(axis=1)
    labels = (rows < rng.random(len(rows))[:, None]).sum(axis=1).clip(0, n_levels - 1)
    votes = VoteMatrix(v.item_codes, v.annotator_codes, labels.astype(np.int32), v.item_ids,
                       v.annotator_ids, v.classes)
    return votes, design.truth, bias, sigma


@pytest.fixture(scope="module")
def crowd():
    return ordinal_crowd()


@pytest.fixture(scope="module")
def fitted(crowd):
    return OrdinalDawidSkene().fit(crowd[0])


# ------------------------------------------------------------------ the scale
def test_scale_positions_follow_class_order_without_the_nominal_classes():
    positions = scale_positions(np.array(["0", "1", "2", "broken"]), ["broken"])
    np.testing.assert_array_equal(positions[:3], [0, 1, 2])
    assert np.isnan(positions[3])
    with pytest.raises(InputError, match="'gone' are not classes"):
        scale_positions(["a", "b"], ["gone"])
    with pytest.raises(InputError, match="at least two ordered classes"):
        scale_positions(["a", "b"], ["b"])


def test_a_reading_is_a_distribution_and_monotone_in_the_true_level():
    reading = probit_reading(np.array([0.4, 1.5, 2.6]), np.arange(4.0),
                             np.array([0.3, -1.0]), np.array([0.5, 2.0]))
    np.testing.assert_allclose(reading.sum(axis=2), 1.0)
    at_least = np.cumsum(reading[:, :, ::-1], axis=2)[:, :, ::-1]  # P(label >= j | k)
    assert (np.diff(at_least, axis=1) >= -1e-12).all()


def test_fisher_scoring_recovers_readers_and_scale_from_exact_counts():
    """Counts equal to their expectation under known parameters: the Fisher steps must
    find those parameters again (a flat prior on the readers)."""
    thresholds, locations = np.array([0.4, 1.6, 2.5]), np.array([0.0, 1.2, 1.9, 3.0])
    reader = np.array([[0.3, math.log(0.6)], [-0.4, math.log(1.2)], [0.0, math.log(0.9)]])
    counts = 1000.0 * probit_reading(thresholds, locations, reader[:, 0], np.exp(reader[:, 1]))
    flat = OrdinalState(thresholds, locations, np.zeros((3, 2)), np.zeros(2), np.full(2, 1e6),
                        np.zeros(3), np.full((3, 4), 0.25), 0.0, np.full(4, 0.25))
    found, _ = fit_readers(counts, flat, 30)
    np.testing.assert_allclose(found, reader, atol=1e-4)
    state = replace(flat, thresholds=np.array([0.5, 1.5, 2.5]), locations=np.arange(4.0),
                    reader=reader)
    for _ in range(30):
        moved, located = fit_scale(counts, state)
        state = replace(state, thresholds=moved, locations=located)
    np.testing.assert_allclose(state.thresholds, thresholds, atol=1e-4)
    np.testing.assert_allclose(state.locations, locations, atol=1e-4)


# ------------------------------------------------------------------ the model
def test_fitted_model_has_the_shared_interface(fitted, crowd):
    votes = crowd[0]
    p = fitted.posteriors_
    assert p.shape == (votes.n_items, 5) and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    assert fitted.confusion_.shape == (votes.n_annotators, 5, 5)
    np.testing.assert_allclose(fitted.confusion_.sum(axis=2), 1.0, atol=1e-9)
    np.testing.assert_allclose(fitted.class_priors_.sum(), 1.0)
    assert fitted.converged_ and np.isfinite(fitted.log_likelihood_)
    np.testing.assert_array_equal(fitted.predict(votes), OrdinalDawidSkene().fit_predict(votes))
    np.testing.assert_allclose(fitted.predict_proba(votes), p)
    history = fitted.log_likelihood_history_
    assert (np.diff(history) >= -1e-6 * np.abs(history[1:])).all()


def test_fitted_confusions_stay_monotone(fitted):
    at_least = np.cumsum(fitted.confusion_[:, :, ::-1], axis=2)[:, :, ::-1]
    assert (np.diff(at_least, axis=1) >= -1e-9).all()


def test_recovers_readers_and_beats_pooled_on_a_sparse_ordinal_crowd(fitted, crowd):
    votes, truth, bias, sigma = crowd
    heavy = votes.votes_per_annotator >= 40
    assert np.corrcoef(fitted.bias_[heavy], bias[heavy])[0, 1] > 0.8
    assert np.corrcoef(fitted.noise_[heavy], sigma[heavy])[0, 1] > 0.5
    ours = (fitted.label_codes_ == truth).mean()
    pooled = (PooledDawidSkene().fit(votes).label_codes_ == truth).mean()
    assert ours > pooled + 0.02


def test_a_nominal_class_is_read_as_itself_and_never_as_a_level():
    frame = pd.DataFrame({
        "item": ["a"] * 3 + ["b"] * 3 + ["c"] * 3 + ["d"] * 3,
        "annotator": ["x", "y", "z"] * 4,
        "label": ["0", "1", "0", "2", "2", "1", "broken", "broken", "2", "1", "1", "1"],
    })
    votes = VoteMatrix.from_frame(frame, labels=["0", "1", "2", "broken"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = OrdinalDawidSkene(nominal="broken").fit(votes)
    assert model.labels_[2] == "broken"
    # a scale item gets "broken" only as a random answer; a broken item read is "broken"
    rate = model.random_rate_[:, None]
    assert (model.confusion_[:, :3, 3] <= rate + 1e-12).all()
    assert (model.confusion_[:, 3, 3] >= 1 - rate[:, 0] - 1e-12).all()
    assert np.isnan(model.positions_[3])


def test_gold_is_clamped_and_prior_strength_pulls_towards_the_counts(crowd):
    votes, truth = crowd[0], crowd[1]
    gold = np.where(np.arange(votes.n_items) < 100, truth, -1)
    model = OrdinalDawidSkene(prior_strength=4.0).fit(votes, gold=gold)
    np.testing.assert_array_equal(model.label_codes_[:100], truth[:100])
    assert model.params_.concentration is not None


def test_make_model_passes_nominal_and_bad_options_are_named():
    votes = ordinal_crowd(n_items=200, n_annotators=20, activity=0.0)[0]
    model = make_model("ordinal", nominal=["4"], max_iter=None)
    assert model.fit(votes).positions_[4] != model.positions_[4]  # NaN: nominal
    with pytest.raises(InputError, match="prior_strength"):
        OrdinalDawidSkene(prior_strength=0).fit(votes)
    with pytest.raises(InputError, match="rate_prior"):
        OrdinalDawidSkene(rate_prior=-1).fit(votes)


# ------------------------------------------------------------- the summary
def test_ordinal_summary_by_hand():
    posteriors = np.array([[0.1, 0.2, 0.4, 0.3], [0.45, 0.0, 0.1, 0.45]])
    table = ordinal_summary(posteriors, ["G", "P", "R", "X"])
    assert list(table["median"]) == ["R", "R"]
    np.testing.assert_allclose(table["mean"], [1.9, 1.55])
    assert list(table["low"]) == ["P", "G"] and list(table["high"]) == ["X", "X"]
    np.testing.assert_allclose(table["interval_mass"], [0.9, 1.0])
    np.testing.assert_allclose(table["expected_error"], [0.1 * 2 + 0.2 + 0.3, 0.9 + 0.45])


def test_ordinal_summary_reads_numbers_and_sets_nominal_classes_aside():
    posteriors = np.array([[0.2, 0.0, 0.5, 0.3]])
    table = ordinal_summary(posteriors, ["1", "3", "5", "broken"], nominal="broken", mass=0.5)
    np.testing.assert_allclose(table["off_scale"], 0.3)
    np.testing.assert_allclose(table["mean"], (0.2 * 1 + 0.5 * 5) / 0.7)
    assert table.loc[0, "low"] == table.loc[0, "high"] == "5"
    with pytest.raises(InputError, match="one column per class"):
        ordinal_summary(posteriors[:, :3], ["1", "3", "5", "broken"])


# ------------------------------------------------------------- gold scoring
def test_ordinal_columns_by_hand():
    confusion = np.array([[3, 1, 0, 0], [0, 2, 2, 1], [1, 0, 0, 0], [0, 0, 1, 2]])
    positions = np.array([0.0, 1.0, 2.0, np.nan])
    errors = ordinal_columns(confusion, positions)
    assert errors["n_on_scale"] == 9
    assert errors["mae"] == pytest.approx((1 + 2 + 2) / 9)
    assert errors["within_one"] == pytest.approx((3 + 1 + 2 + 2 + 2) / 13)


def test_ordinal_score_and_annotator_columns(crowd):
    votes, truth = crowd[0], crowd[1]
    gold = GoldSet.from_frame(pd.DataFrame({"item": votes.item_ids[:300],
                                            "label": votes.classes[truth[:300]]}), votes)
    labels = OrdinalDawidSkene().fit(votes).label_codes_
    score = ordinal_score(labels, votes, gold)
    off = np.abs(labels[:300] - truth[:300])
    assert score.mae == pytest.approx(off.mean())
    assert score.within_one == pytest.approx((off <= 1).mean())
    assert score.mae_low < score.mae < score.mae_high and score.off_scale_errors == 0
    plain = score_annotators(votes, gold, consensus_labels=labels)
    ordinal = score_annotators(votes, gold, consensus_labels=labels, ordinal=True)
    assert "mae" not in plain.annotators and plain.ordinal is None
    pd.testing.assert_frame_equal(ordinal.annotators.drop(columns=["mae", "within_one"]),
                                  plain.annotators)
    assert ordinal.ordinal is not None and "ordinal" in ordinal.to_dict()
    assert "mean absolute error" in ordinal.summary()


# -------------------------------------------------------------- agreement
def reliability(seed=0, n_annotators=6, n_items=40, n_levels=5):
    """Sparse reliability data (annotators x items, NaN missing) and its VoteMatrix."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_levels, n_items)
    data = np.where(rng.random((n_annotators, n_items)) < 0.7,
                    np.clip(truth + rng.integers(-1, 2, (n_annotators, n_items)), 0,
                            n_levels - 1), np.nan)
    a, i = np.nonzero(np.isfinite(data))
    frame = pd.DataFrame({"item": i.astype(str), "annotator": a.astype(str),
                          "label": [f"L{int(x)}" for x in data[a, i]]})
    votes = VoteMatrix.from_frame(frame, labels=[f"L{k}" for k in range(n_levels)])
    return data, votes


@pytest.mark.parametrize("metric", ["ordinal", "interval"])
def test_alpha_equals_the_krippendorff_package(metric):
    krippendorff = pytest.importorskip("krippendorff")
    data, votes = reliability()
    result = ordinal_alpha(votes, metric=metric, n_bootstrap=200)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=metric,
                                  value_domain=list(range(5)))
    assert result.estimate == pytest.approx(expected, abs=1e-12)
    assert result.ci_low < result.estimate < result.ci_high
    jackknife = ordinal_alpha(votes, metric=metric, interval="jackknife")
    assert jackknife.interval == "jackknife" and jackknife.estimate == result.estimate


@pytest.mark.parametrize("weights", ["linear", "quadratic"])
def test_weighted_kappa_equals_statsmodels_pair_by_pair(weights):
    from statsmodels.stats.inter_rater import cohens_kappa

    data, votes = reliability(seed=1)
    kappas = []
    for a in range(data.shape[0]):
        for b in range(a + 1, data.shape[0]):
            both = np.isfinite(data[a]) & np.isfinite(data[b])
            table = np.zeros((5, 5))
            np.add.at(table, (data[a, both].astype(int), data[b, both].astype(int)), 1)
            kappas.append(cohens_kappa(table, wt=weights).kappa)
    result = weighted_kappa_mean(votes, weights=weights, min_shared_items=1, n_bootstrap=200)
    assert result.estimate == pytest.approx(np.mean(kappas), abs=1e-12)
    assert result.ci_low < result.estimate < result.ci_high


def test_nominal_votes_are_left_out_of_ordinal_agreement():
    data, votes = reliability(seed=2)
    frame = votes.to_frame()
    extra = pd.DataFrame({"item": ["x", "x", "y"], "annotator": ["0", "1", "2"],
                          "label": ["broken"] * 3})
    both = VoteMatrix.from_frame(pd.concat([frame, extra]),
                                 labels=[f"L{k}" for k in range(5)] + ["broken"])
    results = ordinal_agreement(both, nominal="broken", n_bootstrap=50)
    alone = ordinal_agreement(votes, n_bootstrap=50)
    for name, result in results.items():
        assert result.estimate == pytest.approx(alone[name].estimate), name
        assert "3 votes for nominal classes left out" in result.note
    assert math.isfinite(results["weighted_kappa_quadratic"].estimate)


def test_single_votes_keep_their_vote_and_nothing_is_nan():
    from consensus import InputWarning

    votes = ordinal_crowd(n_items=300, n_annotators=30, per_item=1, activity=0.0)[0]
    with pytest.warns(InputWarning, match="single vote"):
        model = OrdinalDawidSkene().fit(votes)
    np.testing.assert_array_equal(model.label_codes_, votes.label_codes)
    assert np.isfinite(model.confusion_).all() and np.isfinite(model.posteriors_).all()
