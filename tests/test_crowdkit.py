"""Cross-checks against crowd-kit 1.4.2, the reference implementation.

Iteration schemes: crowd-kit's DawidSkene(n_iter=N) runs N E-steps after the
majority-vote initialisation; ours runs ``max_iter`` (E, M) rounds and one final
E-step, so ``max_iter=N-1`` with ``tol=0`` and ``smoothing=0`` is the same run.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import EXAMPLES, dataset_path

from consensus import (
    ConvergenceWarning,
    DawidSkene,
    MajorityVote,
    OneCoinDawidSkene,
    VoteMatrix,
    read_votes,
)

aggregation = pytest.importorskip("crowdkit.aggregation", reason="crowd-kit (test extra) missing")

# crowd-kit's own toy data (tests/conftest.py, toy_answers_df), Apache-2.0.
TOY = pd.DataFrame(
    [("w1", "t1", "no"), ("w1", "t2", "yes"), ("w1", "t3", "yes"), ("w1", "t4", "yes"),
     ("w1", "t5", "yes"), ("w2", "t1", "yes"), ("w2", "t2", "yes"), ("w2", "t3", "no"),
     ("w2", "t4", "yes"), ("w2", "t5", "no"), ("w3", "t2", "yes"), ("w3", "t3", "no"),
     ("w3", "t4", "yes"), ("w3", "t5", "no"), ("w4", "t1", "yes"), ("w4", "t2", "no"),
     ("w4", "t3", "yes"), ("w4", "t4", "yes"), ("w4", "t5", "no"), ("w5", "t1", "no"),
     ("w5", "t2", "no"), ("w5", "t3", "no"), ("w5", "t4", "yes"), ("w5", "t5", "no")],
    columns=["worker", "task", "label"],
)
N_ITER = 30


def crowdkit_frame(votes: VoteMatrix) -> pd.DataFrame:
    return votes.to_frame().rename(columns={"item": "task", "annotator": "worker"})


def aligned(probas: pd.DataFrame, votes: VoteMatrix) -> np.ndarray:
    return probas.reindex(index=votes.item_ids, columns=votes.classes).to_numpy(dtype=float)


def check_ds(votes: VoteMatrix) -> None:
    df = crowdkit_frame(votes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = aggregation.DawidSkene(n_iter=N_ITER, tol=-1e9).fit(df)
        ours = DawidSkene(smoothing=0, max_iter=N_ITER - 1, tol=0).fit(votes)
    np.testing.assert_allclose(ours.posteriors_, aligned(theirs.probas_, votes), atol=1e-3)
    np.testing.assert_allclose(
        ours.class_priors_, theirs.priors_.reindex(votes.classes).to_numpy(float), atol=1e-3
    )


def test_dawid_skene_matches_on_crowdkit_toy_data():
    check_ds(VoteMatrix.from_frame(TOY))


def test_dawid_skene_matches_on_bundled_sentiment():
    check_ds(read_votes(EXAMPLES / "sentiment_votes.csv"))


@pytest.mark.parametrize("name", ["dog", "zheng_product", "web"])
def test_dawid_skene_matches_on_real_dataset(name):
    folder = dataset_path(name)
    check_ds(read_votes(folder / "votes.csv"))


def test_one_coin_matches_crowdkit():
    votes = read_votes(EXAMPLES / "weather_votes.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = aggregation.OneCoinDawidSkene(n_iter=N_ITER, tol=-1e9).fit(crowdkit_frame(votes))
        ours = OneCoinDawidSkene(smoothing=0, max_iter=N_ITER - 1, tol=0).fit(votes)
    np.testing.assert_allclose(ours.posteriors_, aligned(theirs.probas_, votes), atol=1e-3)


@pytest.mark.parametrize("source", ["toy", "weather", "sentiment"])
def test_majority_vote_labels_match_where_no_tie(source):
    if source == "toy":
        votes = VoteMatrix.from_frame(TOY)
    else:
        votes = read_votes(EXAMPLES / f"{source}_votes.csv")
    theirs = aggregation.MajorityVote().fit(crowdkit_frame(votes))
    ours = MajorityVote().fit(votes)
    mask = ~ours.ties_
    assert mask.sum() > 0
    expected = theirs.labels_.reindex(votes.item_ids).to_numpy()
    assert (ours.labels_[mask] == expected[mask]).all()
    np.testing.assert_allclose(ours.posteriors_, aligned(theirs.probas_, votes).__array__(),
                               atol=1e-12)


def test_no_convergence_warning_at_defaults_on_example():
    votes = read_votes(EXAMPLES / "sentiment_votes.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        DawidSkene().fit(votes)
