"""The Dask engine against the in-memory engine, on the shared real datasets written as
partitioned Parquet in several ways, on a real ``distributed.LocalCluster`` of 2 workers.

The reference is the in-memory models' own code. Its per-item work arrays are float32
and it sums the confusion counts in float32 too, so its result moves by up to ~1e-6
when its votes are merely reordered (measured in :func:`test_float32_matches_to_float32_noise`);
1e-9 is asserted where both run in float64: the in-memory engine with ``em.WORK_DTYPE``
and its count matrix switched to float64 (:func:`in_memory_float64`), the Dask engine with
``work_dtype=float64``.
"""

from __future__ import annotations

import os
import signal
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import dataset_path

distributed = pytest.importorskip("distributed", reason="the Dask engine needs dask[dataframe] "
                                  "and distributed (pip install 'consensus[dask]')")

from consensus.data.readers import read_table  # noqa: E402
from consensus.data.votes import VoteMatrix  # noqa: E402
from consensus.engines.dask import aggregate_parquet  # noqa: E402
from consensus.exceptions import InputError  # noqa: E402
from consensus.models import em, make_model  # noqa: E402
from consensus.quality import overdispersion  # noqa: E402
from consensus.workflows.aggregation import aggregate  # noqa: E402

TIGHT = 1e-9


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Two worker processes, one thread each: tasks really cross process boundaries."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, memory_limit="2GiB") as cluster, \
            distributed.Client(cluster) as client:
        yield client


def write_parts(frame: pd.DataFrame, folder: Path, n_parts: int, how: str) -> pd.DataFrame:
    """Write ``frame`` as ``n_parts`` Parquet files and return the votes in file order.

    ``rows``: consecutive rows per file, so an item's votes may lie in several files (the
    engine regroups them). ``items``: sorted item ids cut into ranges, each file whole.
    """
    folder.mkdir(parents=True)
    if how == "rows":
        pieces = [frame.iloc[c] for c in np.array_split(np.arange(len(frame)), n_parts)]
    else:
        codes, _ = pd.factorize(frame["item"], sort=True)
        cut = np.array_split(np.arange(codes.max() + 1), n_parts)
        part_of = np.repeat(np.arange(n_parts), [len(c) for c in cut])
        pieces = [frame[part_of[codes] == p] for p in range(n_parts)]
    for p, piece in enumerate(pieces):
        piece.to_parquet(folder / f"part-{p:03d}.parquet", index=False)
    return pd.concat(pieces, ignore_index=True)


@contextmanager
def in_memory_float64(votes: VoteMatrix) -> Iterator[None]:
    """The in-memory engine with float64 work arrays: its own code, one dtype switched."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(em, "WORK_DTYPE", np.float64)
        counts = votes.item_annotator_label  # not .astype(): that would merge repeated votes
        vars(votes)["item_annotator_label"] = sp.csr_matrix(
            (counts.data.astype(np.float64), counts.indices, counts.indptr), shape=counts.shape)
        yield


def dataset(name: str) -> pd.DataFrame:
    return read_table(dataset_path(name) / "votes.csv")


def run(client: Any, folder: Path, **kwargs: Any) -> tuple[Any, pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = aggregate_parquet(str(folder), output=str(folder) + "_labels", scheduler=client,
                                   **kwargs)
    return result, pd.read_parquet(str(folder) + "_labels")


def by_item(items: pd.DataFrame, votes: VoteMatrix) -> pd.DataFrame:
    """The written labels in the order of the in-memory item codes."""
    items = items.assign(item=items["item"].astype(str)).set_index("item")
    return items.loc[votes.item_ids.astype(str)]


def compare(result: Any, items: pd.DataFrame, votes: VoteMatrix, model: Any,
            tolerance: float) -> dict[str, float]:
    """Largest differences in posteriors, confusion, priors, log-likelihood per vote;
    the labels must be identical."""
    written = by_item(items, votes)
    posteriors = written[[f"p_{c}" for c in votes.classes]].to_numpy()
    assert (written["label"].astype(str).to_numpy()
            == model.labels_.astype(str)).all()
    same = [str(a) for a in result.annotator_ids] == [str(a) for a in votes.annotator_ids]
    assert same and [str(c) for c in result.classes] == [str(c) for c in votes.classes]
    gaps = {
        "posteriors": float(np.abs(posteriors - model.posteriors_).max()),
        "confusion": float(np.abs(result.confusion - model.confusion_).max()),
        "priors": float(np.abs(result.class_priors - model.class_priors_).max()),
        "log_lik_per_vote": abs(result.log_likelihood - model.log_likelihood_) / votes.n_votes,
    }
    assert result.n_iter == model.n_iter_
    assert max(gaps.values()) < tolerance, gaps
    return gaps


CASES = [  # dataset, method, partitions, layout
    ("bm", "ds", 1, "items"),
    ("bm", "ds", 3, "rows"),
    ("dog", "ds", 3, "items"),
    ("zencrowd_in", "pooled", 7, "rows"),
    ("web", "pooled", 3, "rows"),
    ("snow_wsd", "one-coin", 7, "items"),
]


@pytest.mark.parametrize("name,method,n_parts,how", CASES)
def test_float64_matches_in_memory_to_1e9(client, tmp_path, name, method, n_parts, how):
    frame = write_parts(dataset(name), tmp_path / "votes", n_parts, how)
    votes = VoteMatrix.from_frame(frame)
    with in_memory_float64(votes), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_model(method, max_iter=20).fit(votes)
    result, items = run(client, tmp_path / "votes", method=method, max_iter=20,
                        work_dtype=np.float64, honest_confidence=False)
    assert result.repartitioned == (how == "rows" and n_parts > 1)
    assert result.n_partitions == n_parts
    compare(result, items, votes, model, TIGHT)


def test_float32_matches_to_float32_noise(client, tmp_path):
    """In the default float32 the engines agree as closely as the in-memory engine agrees
    with itself on the same votes in another order (its float32 sums depend on order)."""
    frame = write_parts(dataset("bm"), tmp_path / "votes", 3, "rows")
    votes = VoteMatrix.from_frame(frame)
    reordered = VoteMatrix.from_frame(frame.iloc[::-1])
    model = make_model("ds").fit(votes)
    other = make_model("ds").fit(reordered)
    self_gap = np.abs(other.confusion_ - model.confusion_[
        pd.Index(votes.annotator_ids).get_indexer(reordered.annotator_ids)]).max()
    result, items = run(client, tmp_path / "votes", method="ds", honest_confidence=False)
    gaps = compare(result, items, votes, model, 1e-5)
    assert gaps["confusion"] < 20 * max(self_gap, 1e-7)


def test_gold_anchoring_matches(client, tmp_path):
    frame = write_parts(dataset("bm"), tmp_path / "votes", 3, "rows")
    gold = read_table(dataset_path("bm") / "gold.csv").iloc[:30]
    votes = VoteMatrix.from_frame(frame)
    mapping = dict(zip(gold["item"], gold["label"], strict=True))
    with in_memory_float64(votes):
        model = make_model("pooled").fit(votes, gold=mapping)
    result, items = run(client, tmp_path / "votes", method="pooled", gold=mapping,
                        work_dtype=np.float64, honest_confidence=False)
    assert result.n_gold == 30
    assert by_item(items, votes)["gold"].sum() == 30
    compare(result, items, votes, model, TIGHT)


def expand_patterns(counts: np.ndarray, weight: np.ndarray, expected: np.ndarray,
                    **kwargs: Any) -> overdispersion.VoteCorrelation:
    """Stand-in for the requested hook ``fit_pattern_correlation``: rebuilds one item per
    counted pattern (fine for test sizes) and calls the public fit on them."""
    n = weight.astype(int)
    per_item = np.repeat(counts.astype(int), n, axis=0)
    items = np.repeat(np.arange(len(per_item)), per_item.sum(axis=1))
    labels = np.concatenate([np.repeat(np.arange(counts.shape[1]), row) for row in per_item])
    votes = VoteMatrix.from_codes(items, np.zeros(len(items), int), labels, counts.shape[1])
    posteriors = np.repeat(expected / weight[:, None], n, axis=0)
    return overdispersion.fit_vote_correlation(votes, posteriors, **kwargs)


def test_honest_confidence_matches_aggregate(client, tmp_path, monkeypatch):
    """Leave-one-out confidence and the correlated-votes discount, per partition."""
    if not hasattr(overdispersion, "fit_pattern_correlation"):
        monkeypatch.setattr(overdispersion, "fit_pattern_correlation", expand_patterns,
                            raising=False)
    frame = write_parts(dataset("zencrowd_in"), tmp_path / "votes", 3, "rows")
    votes = VoteMatrix.from_frame(frame)
    with in_memory_float64(votes), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = aggregate(votes, method="pooled")
        reported = expected.items
    result, items = run(client, tmp_path / "votes", method="pooled", work_dtype=np.float64)
    assert result.leave_one_out and result.rho == pytest.approx(expected.correlation.rho,
                                                                abs=1e-9)
    written = by_item(items, votes)
    for column in ["confidence", "agreement", *[f"p_{c}" for c in votes.classes]]:
        assert np.abs(written[column].to_numpy() - reported[column].to_numpy()).max() < TIGHT
    assert (written["tie"].to_numpy() == reported["tie"].to_numpy()).all()
    annotators = result.annotators.set_index(result.annotators["annotator"].astype(str))
    memory = expected.annotators.set_index(expected.annotators["annotator"].astype(str))
    numbers = ["n_votes", "accuracy", "ci_low", "ci_high", "agreement_with_consensus"]
    gap = np.abs(annotators.loc[memory.index, numbers].to_numpy(float)
                 - memory[numbers].to_numpy(float)).max()
    assert gap < TIGHT


def test_majority_vote_and_auto_choose_as_in_memory(client, tmp_path):
    frame = write_parts(dataset("bm"), tmp_path / "votes", 3, "items")
    votes = VoteMatrix.from_frame(frame)
    with in_memory_float64(votes), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        majority = make_model("mv").fit(votes)
        auto = make_model("auto").fit(votes)
    result, items = run(client, tmp_path / "votes", method="mv", work_dtype=np.float64)
    compare(result, items, votes, majority, TIGHT)
    result, _ = run(client, tmp_path / "votes", method="auto", work_dtype=np.float64,
                    overwrite=True, honest_confidence=False)
    assert result.method == auto.chosen_ and result.reason == auto.reason_


def test_auto_subsample_is_the_in_memory_one(client, tmp_path):
    """Above max_selection_votes each partition draws its stretch of the in-memory
    engine's random stream: the gathered items and folds are the same."""
    from consensus.engines import selection
    from consensus.engines.cluster import Passes
    from consensus.engines.first_pass import encode

    frame = write_parts(dataset("zencrowd_in"), tmp_path / "votes", 7, "items")
    votes = VoteMatrix.from_frame(frame)
    auto = make_model("auto", max_iter=None)
    auto.set_params(max_selection_votes=2000, votes_per_annotator=0)
    rng = np.random.default_rng(auto.seed)
    keep = auto._selection_items(votes, None, rng)
    fold = rng.integers(0, auto.n_folds, votes.n_items)
    passes = Passes(client, 0)
    encoded = encode(passes, str(tmp_path / "votes"), str(tmp_path / "scratch"), {},
                     item=None, annotator=None, label=None, labels=None, duplicates="keep",
                     on_missing="error", gold=None, n_partitions=None, dtype=np.dtype("f8"))
    offsets = np.concatenate([[0], np.cumsum([i.n_items for i in encoded.info])])[:-1]
    fraction = selection.auto_fraction(auto, votes.n_votes, votes.n_annotators)
    samples = passes.map("sample", selection.sample_partition, range(7),
                         [int(o) for o in offsets], layout=encoded.layout, seed=auto.seed,
                         fraction=fraction)
    codes = np.concatenate([s.codes for s in samples])
    assert (codes == np.flatnonzero(keep)).all()
    drawn = selection.draw_folds(auto.seed, votes.n_items, True, auto.n_folds)
    assert (drawn == fold).all()


def test_killed_worker_changes_nothing(client, tmp_path):
    """A worker process killed mid-fit: its tasks run again elsewhere, same result."""
    write_parts(dataset("sp"), tmp_path / "votes", 7, "rows")
    first, items = run(client, tmp_path / "votes", method="ds", work_dtype=np.float64,
                       honest_confidence=False, max_iter=15, on_missing="drop")
    pids = client.run(os.getpid)
    victim = max(pids.values())
    killed = threading.Event()

    def progress(iteration: int, _: float) -> None:
        if iteration == 3 and not killed.is_set():
            killed.set()
            threading.Timer(0.01, os.kill, (victim, signal.SIGKILL)).start()

    second, again = run(client, tmp_path / "votes", method="ds", work_dtype=np.float64,
                        honest_confidence=False, max_iter=15, progress=progress,
                        overwrite=True, on_missing="drop")
    assert killed.is_set() and victim not in client.run(os.getpid).values()
    assert np.array_equal(first.confusion, second.confusion)
    assert first.log_likelihood == second.log_likelihood
    assert items.equals(again)


def test_refuses_what_it_cannot_do(client, tmp_path):
    frame = dataset("bm")
    frame.loc[3, "label"] = ""
    write_parts(frame, tmp_path / "votes", 2, "rows")
    with pytest.raises(InputError, match="empty label"):
        run(client, tmp_path / "votes", method="ds")
    run(client, tmp_path / "votes", method="mv", on_missing="drop")
    with pytest.raises(InputError, match="not empty"):
        run(client, tmp_path / "votes", method="mv", on_missing="drop")
    with pytest.raises(InputError, match="fits pooled"):
        run(client, tmp_path / "votes", method="ebcc")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no Parquet files"):
        aggregate_parquet(str(tmp_path / "empty"), output=str(tmp_path / "out"),
                          scheduler=client)
