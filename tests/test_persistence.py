"""Fitted models pickle, clone and compare by content: never by object identity."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
from conftest import EXAMPLES, GOLDEN

from consensus import (
    DawidSkene,
    GoldSet,
    InputError,
    MajorityVote,
    OneCoinDawidSkene,
    PooledDawidSkene,
    VoteMatrix,
    read_gold,
    read_votes,
)

MODELS = [
    MajorityVote(),
    DawidSkene(),
    OneCoinDawidSkene(),
    PooledDawidSkene(),
    PooledDawidSkene(leave_one_out=True, max_iter=20),
]
IDS = ["mv", "ds", "one-coin", "pooled", "pooled-loo"]


@pytest.fixture(scope="module")
def votes() -> VoteMatrix:
    return read_votes(EXAMPLES / "sentiment_votes.csv")


def equal_copy(votes: VoteMatrix) -> VoteMatrix:
    """The same votes as a new object with new arrays (what reading the file again gives)."""
    return VoteMatrix(*(np.array(a, copy=True) for a in (
        votes.item_codes, votes.annotator_codes, votes.label_codes,
        votes.item_ids, votes.annotator_ids, votes.classes)))


@pytest.mark.filterwarnings("ignore::consensus.ConvergenceWarning")
@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_fitted_model_survives_pickle_with_identical_predictions(model, votes):
    fitted = copy.deepcopy(model).fit(votes)
    restored = pickle.loads(pickle.dumps(fitted))
    for other in (votes, equal_copy(votes), read_votes(EXAMPLES / "sentiment_votes.csv")):
        np.testing.assert_array_equal(restored.predict_proba(other), fitted.predict_proba(other))
    np.testing.assert_array_equal(restored.posteriors_, fitted.posteriors_)
    np.testing.assert_array_equal(restored.confusion_, fitted.confusion_)
    part = VoteMatrix.from_frame(votes.to_frame().iloc[:2000])
    np.testing.assert_array_equal(restored.predict_proba(part), fitted.predict_proba(part))


@pytest.mark.filterwarnings("ignore::consensus.ConvergenceWarning")
@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_an_equal_copy_of_the_training_votes_gives_identical_results(model, votes):
    fitted = copy.deepcopy(model).fit(votes)
    np.testing.assert_array_equal(fitted.predict_proba(equal_copy(votes)), fitted.posteriors_)
    np.testing.assert_array_equal(fitted.predict(equal_copy(votes)), fitted.labels_)
    again = copy.deepcopy(model).fit(equal_copy(votes))
    np.testing.assert_array_equal(again.posteriors_, fitted.posteriors_)


def test_leave_one_out_accepts_an_equal_copy_and_refuses_other_votes(votes):
    model = PooledDawidSkene().fit(votes)
    np.testing.assert_array_equal(model.leave_one_out_proba(equal_copy(votes)),
                                  model.leave_one_out_proba(votes))
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.leave_one_out_proba(votes),
                                  model.leave_one_out_proba(votes))
    changed = equal_copy(votes)
    changed.label_codes[0] = 1 - changed.label_codes[0]
    with pytest.raises(InputError, match="fitted on"):
        model.leave_one_out_proba(changed)


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_clone_gives_an_unfitted_model_with_equal_parameters(model, votes):
    sklearn_base = pytest.importorskip("sklearn.base", reason="scikit-learn is not installed")
    fitted = copy.deepcopy(model).fit(votes)
    twin = sklearn_base.clone(fitted)
    assert type(twin) is type(model) and twin.get_params() == model.get_params()
    assert not hasattr(twin, "posteriors_")
    assert twin.get_params(deep=True) == twin.get_params(deep=False)


def test_get_params_lists_the_constructor_and_set_params_checks_names():
    model = PooledDawidSkene(prior_strength=3.0)
    params = model.get_params()
    assert params["prior_strength"] == 3.0
    assert set(params) == {"class_prior", "leave_one_out", "learn_prior", "max_iter",
                           "prior_steps", "prior_strength", "smoothing", "tol"}
    assert "progress" not in DawidSkene().get_params()
    assert model.set_params(tol=1e-3) is model and model.tol == 1e-3
    with pytest.raises(InputError, match="no parameter 'tolerance'.*max_iter"):
        model.set_params(tolerance=1e-3)
    assert repr(MajorityVote(smoothing=0.5)) == "MajorityVote(smoothing=0.5)"


def test_majority_vote_has_the_fitted_attributes_of_the_em_models(votes):
    mv, ds = MajorityVote().fit(votes), DawidSkene().fit(votes)
    for name in ("params_", "annotator_ids_", "annotator_votes_", "log_likelihood_history_",
                 "confusion_", "class_priors_", "n_iter_", "converged_", "ties_"):
        assert hasattr(mv, name) and hasattr(ds, name), name
    assert mv.n_iter_ == 0 and mv.log_likelihood_history_.shape == (0,)
    np.testing.assert_allclose(np.exp(mv.params_.log_prior), mv.class_priors_)
    with pytest.raises(InputError, match="smoothing"):
        MajorityVote(smoothing=-1.0).fit(votes)


def test_majority_vote_columns_follow_the_fitted_classes():
    frame = pd.DataFrame({"item": ["i", "i", "j", "j", "j"], "annotator": list("ababc"),
                          "label": ["x", "x", "y", "y", "x"]})
    model = MajorityVote().fit(VoteMatrix.from_frame(frame))
    assert list(model.classes_) == ["x", "y"]
    flipped = VoteMatrix.from_frame(frame, labels=["y", "x"])
    np.testing.assert_allclose(model.predict_proba(flipped), [[1.0, 0.0], [1 / 3, 2 / 3]])
    np.testing.assert_array_equal(model.predict(flipped), ["x", "y"])
    with pytest.raises(InputError, match="'z'"):
        model.predict_proba(VoteMatrix.from_frame(frame.assign(label=["x", "z"] * 2 + ["x"])))


@pytest.mark.parametrize("model_cls", [MajorityVote, DawidSkene, PooledDawidSkene])
def test_gold_is_checked_against_the_votes_wherever_it_enters(model_cls, votes):
    gold = read_gold(GOLDEN / "sentiment_gold.csv", votes)
    by_set = model_cls().fit(votes, gold=gold)
    as_mapping = dict(zip(gold.to_frame()["item"], gold.to_frame()["label"], strict=True))
    by_mapping = model_cls().fit(votes, gold=as_mapping)
    by_codes = model_cls().fit(votes, gold=gold.per_item(votes.n_items))
    np.testing.assert_array_equal(by_set.gold_codes_, by_mapping.gold_codes_)
    np.testing.assert_array_equal(by_set.gold_codes_, by_codes.gold_codes_)
    np.testing.assert_array_equal(by_set.posteriors_, by_mapping.posteriors_)
    other = VoteMatrix.from_frame(votes.to_frame().iloc[: votes.n_votes // 2])
    with pytest.raises(InputError, match="different vote table"):
        model_cls().fit(other, gold=gold)
    with pytest.raises(InputError, match="not among the votes' classes"):
        model_cls().fit(votes, gold={str(votes.item_ids[0]): "maybe"})
    with pytest.raises(InputError, match="one code per item"):
        model_cls().fit(votes, gold=np.zeros(3, dtype=int))
    assert isinstance(gold, GoldSet)
