"""Agreement statistics: textbook values, independent implementations, bootstrap, edge cases.

Independent references used here:
- statsmodels.stats.inter_rater (``fleiss_kappa``, ``cohens_kappa``);
- the ``krippendorff`` package, ``level_of_measurement="nominal"``;
- published worked examples, each cited where it is used.
"""

from __future__ import annotations

import json
import warnings

import krippendorff
import numpy as np
import pandas as pd
import pytest
from conftest import dataset_path
from statsmodels.stats import inter_rater

from consensus.agreement import (
    STATISTICS,
    AgreementResult,
    agreement_report,
    annotator_agreement,
    cohen_kappa_mean,
    fleiss_kappa,
    gwet_ac1,
    intervals,
    krippendorff_alpha,
    pairs,
    percent_agreement,
)
from consensus.agreement import statistics as stats
from consensus.data.readers import read_votes
from consensus.data.votes import VoteMatrix
from consensus.exceptions import InputError, InputWarning

FUNCTIONS = {
    "percent_agreement": percent_agreement,
    "fleiss_kappa": fleiss_kappa,
    "krippendorff_alpha": krippendorff_alpha,
    "cohen_kappa_mean": cohen_kappa_mean,
    "gwet_ac1": gwet_ac1,
}
COUNT_FUNCTIONS = {
    "percent_agreement": stats.percent_agreement_from_counts,
    "fleiss_kappa": stats.fleiss_kappa_from_counts,
    "krippendorff_alpha": stats.krippendorff_alpha_from_counts,
    "gwet_ac1": stats.gwet_ac1_from_counts,
}

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories;
# published P-bar 0.378, P-e-bar 0.213, kappa 0.210. (Also statsmodels' own test table.)
WIKIPEDIA_FLEISS = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ],
    dtype=float,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: nominal data,
# 4 observers, 12 units, missing values; published alpha = 0.743. The same data is Gwet (2014),
# Handbook of Inter-Rater Reliability, 4th ed., p. 120 (irrCAC's ``cac.raw4raters``), whose
# published values are percent agreement 0.818, Fleiss' kappa 0.761, AC1 0.775.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, None],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def votes_from_counts(table: np.ndarray) -> VoteMatrix:
    """Votes with an item x class count table; the j-th vote on an item is by annotator j."""
    items, labels = [], []
    for i, row in enumerate(np.asarray(table, dtype=int)):
        for k, n in enumerate(row):
            items += [i] * n
            labels += [k] * n
    items = np.array(items)
    annotators = np.concatenate([np.arange(n) for n in np.bincount(items)])
    return VoteMatrix.from_codes(items, annotators, labels, n_classes=np.shape(table)[1])


def votes_from_raters(rows: list[list], classes: list | None = None) -> VoteMatrix:
    """Votes from a raters x units matrix with None for missing (reliability-data layout)."""
    records = [
        (unit, f"rater{r}", value)
        for r, row in enumerate(rows)
        for unit, value in enumerate(row)
        if value is not None
    ]
    frame = pd.DataFrame(records, columns=["item", "annotator", "label"])
    return VoteMatrix.from_frame(frame, labels=classes)


def votes_from_contingency(table: list[list[int]]) -> VoteMatrix:
    """Two raters A and B; ``table[r][c]`` items where A said r and B said c."""
    a_labels, b_labels = [], []
    for r, row in enumerate(table):
        for c, n in enumerate(row):
            a_labels += [r] * n
            b_labels += [c] * n
    n = len(a_labels)
    items = np.concatenate([np.arange(n), np.arange(n)])
    annotators = np.repeat([0, 1], n)
    return VoteMatrix.from_codes(items, annotators, a_labels + b_labels, n_classes=len(table))


def read_quietly(path, **kwargs) -> VoteMatrix:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        return read_votes(path, **kwargs)


def estimate(function, votes: VoteMatrix, **kwargs) -> float:
    return function(votes, n_bootstrap=0, **kwargs).estimate


# ------------------------------------------------------------------ textbook values
def test_fleiss_wikipedia_example():
    votes = votes_from_counts(WIKIPEDIA_FLEISS)
    assert estimate(fleiss_kappa, votes) == pytest.approx(0.210, abs=5e-4)
    assert estimate(percent_agreement, votes) == pytest.approx(0.378, abs=5e-4)
    assert estimate(fleiss_kappa, votes) == pytest.approx(
        inter_rater.fleiss_kappa(WIKIPEDIA_FLEISS), abs=1e-12
    )


def test_krippendorff_2011_and_gwet_2014_example():
    votes = votes_from_raters(KRIPPENDORFF_2011)
    assert estimate(krippendorff_alpha, votes) == pytest.approx(0.743, abs=5e-4)
    reliability = np.array(KRIPPENDORFF_2011, dtype=float)  # None -> nan
    reference = krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
    assert estimate(krippendorff_alpha, votes) == pytest.approx(reference, abs=1e-12)
    # Gwet (2014), p. 120: unit 12 has one rating, which counts only in chance agreement.
    assert estimate(percent_agreement, votes) == pytest.approx(0.818, abs=5e-4)
    assert estimate(fleiss_kappa, votes) == pytest.approx(0.761, abs=5e-4)
    assert estimate(gwet_ac1, votes) == pytest.approx(0.775, abs=5e-4)
    assert krippendorff_alpha(votes, n_bootstrap=0).n_items == 11
    assert fleiss_kappa(votes, n_bootstrap=0).n_items == 12


def test_cohen_wikipedia_example():
    # Wikipedia, "Cohen's kappa": 50 proposals, Yes/Yes 20, Yes/No 5, No/Yes 10, No/No 15;
    # p_o = 0.7, p_e = 0.5, kappa = 0.4.
    votes = votes_from_contingency([[20, 5], [10, 15]])
    assert estimate(cohen_kappa_mean, votes) == pytest.approx(0.4, abs=1e-12)


def test_cohen_and_ac1_gwet_abstractors_example():
    # Gwet (2014), Handbook, 4th ed.: 100 pregnant women classified by 2 abstractors
    # (irrCAC ``cont3x3abstractors``): Cohen's kappa 0.796, AC1 0.849.
    table = [[13, 0, 0], [0, 20, 7], [0, 4, 56]]
    votes = votes_from_contingency(table)
    assert estimate(cohen_kappa_mean, votes) == pytest.approx(0.796, abs=5e-4)
    assert estimate(gwet_ac1, votes) == pytest.approx(0.849, abs=5e-4)
    reference = inter_rater.cohens_kappa(np.array(table)).kappa
    assert estimate(cohen_kappa_mean, votes) == pytest.approx(reference, abs=1e-12)


# ---------------------------------------------------- independent implementations
@pytest.mark.parametrize("name", ["bm", "snow_wsd", "dog", "zheng_product"])
def test_fleiss_matches_statsmodels_on_real_data(name):
    """Equal votes per item and no repeats: Gwet's form is Fleiss (1971) exactly."""
    path = dataset_path(name) / "votes.csv"
    frame = pd.read_csv(path, dtype=str)
    table = pd.crosstab(frame["item"], frame["label"]).to_numpy(dtype=float)
    assert len(set(table.sum(axis=1))) == 1
    votes = read_votes(path)
    assert estimate(fleiss_kappa, votes) == pytest.approx(
        inter_rater.fleiss_kappa(table, method="fleiss"), abs=1e-6
    )


@pytest.mark.parametrize("name", ["ws_cf", "web", "snow_wsd", "sp_amt"])
def test_krippendorff_matches_package_on_real_data(name):
    """Reliability data (annotators x items, NaN where missing) built straight from the CSV."""
    frame = pd.read_csv(dataset_path(name) / "votes.csv", dtype=str)
    codes = frame["label"].astype("category").cat.codes
    wide = frame.assign(code=codes).pivot(index="annotator", columns="item", values="code")
    reference = krippendorff.alpha(
        reliability_data=wide.to_numpy(dtype=float), level_of_measurement="nominal"
    )
    votes = read_votes(dataset_path(name) / "votes.csv")
    assert estimate(krippendorff_alpha, votes) == pytest.approx(reference, abs=1e-6)


@pytest.mark.parametrize("name", ["copyright", "zencrowd_in"])
def test_krippendorff_counts_repeated_votes_like_value_counts(name):
    """With repeats the package's value_counts form (units x values) is the comparable one."""
    frame = pd.read_csv(dataset_path(name) / "votes.csv", dtype=str)
    counts = pd.crosstab(frame["item"], frame["label"]).to_numpy(dtype=float)
    reference = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
    votes = read_quietly(dataset_path(name) / "votes.csv")
    assert estimate(krippendorff_alpha, votes) == pytest.approx(reference, abs=1e-6)


def test_cohen_two_raters_matches_statsmodels_on_real_data():
    frame = pd.read_csv(dataset_path("snow_rte") / "votes.csv", dtype=str)
    busiest = frame["annotator"].value_counts().index[:2]
    two = frame[frame["annotator"].isin(busiest)]
    wide = two.pivot(index="item", columns="annotator", values="label").dropna()
    assert len(wide) >= 10
    table = pd.crosstab(wide[busiest[0]], wide[busiest[1]]).reindex(
        index=["0", "1"], columns=["0", "1"], fill_value=0
    )
    votes = VoteMatrix.from_frame(two, labels=["0", "1"])
    assert estimate(cohen_kappa_mean, votes) == pytest.approx(
        inter_rater.cohens_kappa(table.to_numpy()).kappa, abs=1e-6
    )


def test_cohen_mean_is_lights_kappa_on_complete_design():
    """bluebirds: every annotator labels all 108 items; the first 15 give 105 pairs."""
    frame = pd.read_csv(dataset_path("bluebirds") / "votes.csv", dtype=str)
    wide = frame.pivot(index="item", columns="annotator", values="label")
    chosen = list(frame["annotator"].unique()[:15])
    codes = wide[chosen].to_numpy(dtype=int)
    kappas = []
    for first in range(15):
        for second in range(first + 1, 15):
            cells = np.bincount(2 * codes[:, first] + codes[:, second], minlength=4)
            kappas.append(inter_rater.cohens_kappa(cells.reshape(2, 2)).kappa)
    votes = read_votes(dataset_path("bluebirds") / "votes.csv")
    subset = votes.take_votes(np.isin(votes.annotator_ids[votes.annotator_codes], chosen))
    result = cohen_kappa_mean(subset, min_shared_items=1, n_bootstrap=0)
    assert result.estimate == pytest.approx(np.mean(kappas), abs=1e-6)
    assert "105 annotator pairs" in result.note


# ------------------------------------------------------------------------ bootstrap
@pytest.mark.parametrize("name", sorted(COUNT_FUNCTIONS))
def test_weighted_sums_equal_resampled_tables(name):
    """A bootstrap weight row gives the statistic of the table with items repeated that often."""
    votes = read_votes(dataset_path("ws_cf") / "votes.csv")
    counts = votes.label_counts
    weights = next(intervals.bootstrap_weights(votes.n_items, 5, seed=3))
    function = COUNT_FUNCTIONS[name]
    vectorised = function(counts, weights)
    for row, draw in zip(weights, vectorised, strict=True):
        expanded = np.repeat(counts, row.astype(int), axis=0)
        assert draw == pytest.approx(function(expanded, np.ones((1, len(expanded))))[0], abs=1e-12)


def test_weighted_pair_sums_equal_resampled_votes():
    votes = read_votes(dataset_path("bm") / "votes.csv")
    tables = pairs.pair_tables(votes, min_shared_items=1)
    weights = next(intervals.bootstrap_weights(votes.n_items, 3, seed=5))
    vectorised = pairs.cohen_kappa_mean_from_pairs(tables, weights)
    for row, draw in zip(weights, vectorised, strict=True):
        copies = row.astype(int)
        new_item = np.repeat(np.arange(votes.n_items), copies)  # old item of each copy
        take = np.concatenate([np.flatnonzero(votes.item_codes == i) for i in new_item])
        copy_of_vote = np.repeat(np.arange(len(new_item)), votes.votes_per_item[new_item])
        expanded = VoteMatrix.from_codes(
            copy_of_vote, votes.annotator_codes[take], votes.label_codes[take], n_classes=2
        )
        direct = pairs.pair_tables(expanded, min_shared_items=1)
        ones = np.ones((1, expanded.n_items))
        assert draw == pytest.approx(pairs.cohen_kappa_mean_from_pairs(direct, ones)[0])


def test_bootstrap_draws_do_not_depend_on_block_size(monkeypatch):
    whole = np.vstack(list(intervals.bootstrap_weights(50, 40, seed=1)))
    monkeypatch.setattr(intervals, "BOOTSTRAP_CELLS", 7 * 50)
    blocks = list(intervals.bootstrap_weights(50, 40, seed=1))
    assert len(blocks) == 6
    np.testing.assert_array_equal(np.vstack(blocks), whole)
    assert (whole.sum(axis=1) == 50).all()


def test_same_seed_same_result_and_report_equals_single_functions(sentiment_csv):
    votes = read_votes(sentiment_csv)
    report = agreement_report(votes, n_bootstrap=200, seed=7)
    again = agreement_report(votes, n_bootstrap=200, seed=7)
    assert report.results == again.results
    for name, function in FUNCTIONS.items():
        assert function(votes, n_bootstrap=200, seed=7) == report.results[name]
    other = fleiss_kappa(votes, n_bootstrap=200, seed=8)
    assert other.ci_low != report.results["fleiss_kappa"].ci_low


def test_intervals_bracket_the_estimate_on_bundled_data(sentiment_csv, weather_csv):
    for path in (sentiment_csv, weather_csv):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputWarning)  # weather: no pair for Cohen
            report = agreement_report(read_votes(path), n_bootstrap=300, confidence=0.9)
        for result in report.results.values():
            if np.isnan(result.estimate):
                continue
            assert result.ci_low <= result.estimate <= result.ci_high
            assert 0 < result.std_error < 0.1
            assert result.confidence == 0.9


def test_no_bootstrap_gives_no_interval(sentiment_csv):
    result = gwet_ac1(read_votes(sentiment_csv), n_bootstrap=0)
    assert np.isnan(result.ci_low) and np.isnan(result.ci_high) and np.isnan(result.std_error)
    assert "no interval (n_bootstrap=0)" in result.summary()
    assert json.dumps(result.to_dict(), allow_nan=False)
    assert result.to_dict()["ci_low"] is None


# ---------------------------------------------------------------- conventions, edges
def test_unanimous_votes_read_as_perfect_agreement():
    """Expected agreement 1 makes kappa and alpha 0/0; the documented value is 1, never NaN."""
    votes = VoteMatrix.from_codes([0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1], [0] * 6, n_classes=2)
    report = agreement_report(votes, n_bootstrap=50, min_shared_items=1)
    for result in report.results.values():
        assert (result.estimate, result.ci_low, result.ci_high) == (1.0, 1.0, 1.0)
    assert report.annotators["kappa_vs_others"].tolist() == [1.0, 1.0]


def test_chance_corrected_convention():
    values = stats.chance_corrected(np.array([1.0, 0.5, np.nan]), np.array([1.0, 0.5, 0.2]))
    assert values[0] == 1.0 and values[1] == 0.0 and np.isnan(values[2])


def test_pairs_with_one_class_only_are_left_out_of_the_cohen_mean():
    # Annotators 0 and 1 share items 0-2 with one disagreement: kappa defined.
    # Annotators 0 and 2 share items 3-4, both always label 0: kappa 0/0, left out.
    items = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    annotators = [0, 1, 0, 1, 0, 1, 0, 2, 0, 2]
    labels = [0, 0, 1, 1, 0, 1, 0, 0, 0, 0]
    votes = VoteMatrix.from_codes(items, annotators, labels)
    expected = inter_rater.cohens_kappa(np.array([[1, 1], [0, 1]])).kappa
    result = cohen_kappa_mean(votes, min_shared_items=2, n_bootstrap=0)
    assert result.estimate == pytest.approx(expected)
    assert "left out 1 pair that used one class only" in result.note


def test_cohen_uses_the_first_of_repeated_votes_and_fleiss_counts_them():
    items = [0, 0, 0, 1, 1, 2, 2]
    annotators = [0, 1, 0, 0, 1, 0, 1]
    labels = [0, 0, 1, 1, 1, 0, 1]  # annotator 0 votes twice on item 0: 0, then 1
    with_repeat = VoteMatrix.from_codes(items, annotators, labels)
    keep = np.ones(7, dtype=bool)
    keep[2] = False
    first_only = with_repeat.take_votes(keep)
    kwargs = {"min_shared_items": 1}
    assert estimate(cohen_kappa_mean, with_repeat, **kwargs) == estimate(
        cohen_kappa_mean, first_only, **kwargs
    )
    counts = np.array([[2, 1], [0, 2], [1, 1]], dtype=float)
    assert estimate(fleiss_kappa, with_repeat) == pytest.approx(
        stats.fleiss_kappa_from_counts(counts, np.ones((1, 3)))[0]
    )


def test_no_qualifying_pair_is_explained_not_silent(weather_csv):
    votes = read_votes(weather_csv)  # 461 mostly sparse annotators: no pair shares 10 items
    with pytest.warns(InputWarning, match="lower min_shared_items"):
        result = cohen_kappa_mean(votes, n_bootstrap=20)
    assert np.isnan(result.estimate) and result.n_items == 0
    assert "no two annotators share 10 or more items" in result.summary()
    assert result.to_dict() == {
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "n_items": 0,
        "interval": "bootstrap",
    }
    assert not np.isnan(cohen_kappa_mean(votes, min_shared_items=2, n_bootstrap=0).estimate)


def test_single_vote_items_are_explained():
    votes = votes_from_raters(KRIPPENDORFF_2011)
    assert "1 single-vote item left out" in percent_agreement(votes, n_bootstrap=0).note
    assert "only in chance agreement" in gwet_ac1(votes, n_bootstrap=0).note


def test_ac1_counts_declared_classes_nobody_used():
    rows = [[1, 2, 1, 2], [1, 2, 2, 2]]
    two = estimate(gwet_ac1, votes_from_raters(rows))
    three = estimate(gwet_ac1, votes_from_raters(rows, classes=[1, 2, 3]))
    assert three > two  # chance agreement spread over more classes
    assert estimate(fleiss_kappa, votes_from_raters(rows, classes=[1, 2, 3])) == pytest.approx(
        estimate(fleiss_kappa, votes_from_raters(rows))
    )


# ---------------------------------------------------------------------- bad input
def test_rejects_what_is_not_a_vote_matrix():
    frame = pd.DataFrame({"item": [1], "annotator": [1], "label": [1]})
    with pytest.raises(InputError, match="VoteMatrix.from_frame"):
        fleiss_kappa(frame)
    with pytest.raises(InputError, match="read_votes"):
        annotator_agreement(frame)


def test_rejects_votes_without_any_pairable_item():
    votes = VoteMatrix.from_codes([0, 1, 2], [0, 1, 2], [0, 1, 0])
    with pytest.raises(InputError, match="at least two annotators"):
        agreement_report(votes)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_bootstrap": -1}, "n_bootstrap"),
        ({"n_bootstrap": 2.5}, "n_bootstrap"),
        ({"confidence": 95}, "between 0 and 1"),
        ({"seed": "seven"}, "seed"),
        ({"min_shared_items": 0}, "min_shared_items"),
    ],
)
def test_rejects_bad_options(kwargs, message):
    votes = votes_from_counts(WIKIPEDIA_FLEISS)
    with pytest.raises(InputError, match=message):
        agreement_report(votes, **kwargs)


# ------------------------------------------------------------- report, annotators
def test_report_shapes_and_json(sentiment_csv):
    report = agreement_report(read_votes(sentiment_csv), n_bootstrap=100)
    assert tuple(report.results) == STATISTICS
    assert all(isinstance(r, AgreementResult) for r in report.results.values())
    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert list(payload) == list(STATISTICS)
    for entry in payload.values():
        assert set(entry) == {"estimate", "ci_low", "ci_high", "n_items", "interval"}
        assert entry["interval"] == "bootstrap"
    text = report.summary()
    for result in report.results.values():
        assert result.title in text
    assert "1000 items, 83 annotators, 5000 votes" in text
    assert report.results["gwet_ac1"].summary().startswith("Gwet's AC1: 0.")


def test_annotator_agreement_by_hand():
    # item 0: a=0, b=0, c=1; item 1: a=1, b=1.
    votes = VoteMatrix.from_codes([0, 0, 0, 1, 1], [0, 1, 2, 0, 1], [0, 0, 1, 1, 1])
    table = annotator_agreement(votes)
    assert list(table.columns) == [
        "annotator",
        "n_votes",
        "n_items",
        "n_compared",
        "pairwise_agreement",
        "kappa_vs_others",
    ]
    a = table.iloc[0]
    assert (a.n_votes, a.n_items, a.n_compared) == (2, 2, 3)
    assert a.pairwise_agreement == pytest.approx(2 / 3)
    # a's votes against the others: rows a's label, columns the other's: [[1, 1], [0, 1]].
    assert a.kappa_vs_others == pytest.approx(0.4)
    c = table.iloc[2]
    assert (c.n_compared, c.pairwise_agreement) == (2, 0.0)


def test_annotator_agreement_pools_to_the_pair_share(sentiment_csv):
    """Summed over annotators, agreeing pairings / pairings = pooled share of agreeing pairs."""
    votes = read_votes(sentiment_csv)
    table = annotator_agreement(votes)
    counts = votes.label_counts
    n = counts.sum(axis=1)
    pooled = (counts * (counts - 1)).sum() / (n * (n - 1)).sum()
    agreeing = (table.pairwise_agreement * table.n_compared).sum()
    assert agreeing / table.n_compared.sum() == pytest.approx(pooled)
    assert table.n_votes.sum() == votes.n_votes


def test_annotator_sharing_no_item_is_nan_not_an_error():
    votes = VoteMatrix.from_codes([0, 0, 1], [0, 1, 2], [0, 1, 1])
    table = annotator_agreement(votes)
    assert table.n_compared.tolist() == [1, 1, 0]
    assert np.isnan(table.pairwise_agreement[2]) and np.isnan(table.kappa_vs_others[2])


def test_large_sparse_dataset_runs_quickly():
    """trec2011_vuurens: 955 annotators, 16k pairs sharing >= 10 items, 235 '#N/A' ids."""
    votes = read_quietly(dataset_path("trec2011_vuurens") / "votes.csv", on_missing="drop")
    result = cohen_kappa_mean(votes, n_bootstrap=20)
    assert 0 < result.estimate < 1 and result.n_items > 3000
