"""Agreement intervals at scale: the jackknife, the choice of method, and unchanged figures.

Independent references used here:
- the statistic recomputed with one item's weight set to 0, which is what deleting the
  item means, for every jackknife value;
- the textbook identity that the delete-one jackknife standard error of a mean is
  ``s / sqrt(n)``;
- figures produced by the agreement code before issue 13 (pinned below, with the
  arguments that produced them), which the new code must reproduce.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import EXAMPLES, dataset_path

from consensus.agreement import (
    STATISTICS,
    agreement_report,
    annotator_agreement,
    cohen_kappa_mean,
    fleiss_kappa,
    gwet_ac1,
    intervals,
    pairs,
)
from consensus.agreement import statistics as stats
from consensus.data.readers import read_votes
from consensus.data.votes import VoteMatrix
from consensus.exceptions import InputError, InputWarning
from consensus.simulate import simulate

SUMS = {
    "percent_agreement": stats.percent_agreement_sums,
    "fleiss_kappa": stats.fleiss_kappa_sums,
    "krippendorff_alpha": stats.krippendorff_alpha_sums,
    "gwet_ac1": stats.gwet_ac1_sums,
}

# From the code before issue 13, on the bundled data: per statistic in STATISTICS order,
# (estimate, ci_low, ci_high, std_error).
BEFORE = {
    "sentiment": (
        {"n_bootstrap": 200, "seed": 7},
        [
            (0.7598000000000011, 0.7449599999999997, 0.7762449999999997, 0.007868447006332147),
            (0.40581782028052416, 0.37175518406131286, 0.442104517087879, 0.018083555730670827),
            (0.40593665671646517, 0.3718808330245015, 0.4422160961844617, 0.018079939019524687),
            (0.40567962254258194, 0.356462190761177, 0.43229625810107114, 0.02075725209545314),
            (0.5968086312092834, 0.5664340668727491, 0.6261645658956116, 0.01673503927568209),
        ],
    ),
    "weather": (
        {"n_bootstrap": 200, "seed": 3, "min_shared_items": 2},
        [
            (0.6852974860882408, 0.6429941335856236, 0.722303273266171, 0.018692651333016307),
            (0.5841493332399667, 0.5335386203772651, 0.6289030621383472, 0.023339244043345104),
            (0.5768366701812462, 0.5235473597008983, 0.6198265097421962, 0.022794735135209642),
            (0.5047606073146939, 0.2667980219457962, 0.4646381988497379, 0.05960204987432926),
            (0.6118655434635897, 0.5585247125533871, 0.6585700441588357, 0.023419964281314987),
        ],
    ),
}


def leave_one_out(value) -> np.ndarray:
    return np.concatenate(list(value.leave_one_out()))


def deleting_each_item(value, n_items: int) -> np.ndarray:
    """The statistic with each item's weight set to 0 in turn: the jackknife by definition."""
    return value(np.ones((n_items, n_items)) - np.eye(n_items))


def repeated_votes() -> VoteMatrix:
    """Small votes with every awkward case: repeated votes, single-vote items, and a
    sparse second crowd whose pairs share one or two items, often of one class (0/0)."""
    rng = np.random.default_rng(4)
    items = np.repeat(np.arange(60), rng.integers(1, 6, size=60))
    annotators = rng.integers(0, 6, size=items.shape[0])
    noise = rng.integers(0, 3, size=items.shape[0])
    labels = np.where(rng.random(items.shape[0]) < 0.7, items % 3, noise)
    sparse_items = np.repeat(np.arange(60, 100), 2)
    sparse_annotators = np.concatenate(
        [rng.choice(np.arange(6, 30), 2, replace=False) for _ in range(40)]
    )
    sparse_labels = (rng.random(80) < 0.15).astype(int)
    return VoteMatrix.from_codes(
        np.concatenate([items, sparse_items]),
        np.concatenate([annotators, sparse_annotators]),
        np.concatenate([labels, sparse_labels]),
        n_classes=3,
    )


# ------------------------------------------------------------------------ unchanged
@pytest.mark.parametrize("name", sorted(BEFORE))
def test_estimates_and_bootstrap_figures_are_those_from_before(name):
    kwargs, before = BEFORE[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        report = agreement_report(read_votes(EXAMPLES / f"{name}_votes.csv"), **kwargs)
    for statistic, figures in zip(STATISTICS, before, strict=True):
        result = report.results[statistic]
        assert result.estimate == figures[0]  # bit for bit
        assert (result.ci_low, result.ci_high, result.std_error) == pytest.approx(
            figures[1:], abs=1e-12
        )
        assert result.interval == "bootstrap"


# ------------------------------------------------------------------------ jackknife
@pytest.mark.parametrize("name", sorted(SUMS))
def test_count_leave_one_out_equals_deleting_the_item(name):
    for votes in (repeated_votes(), read_votes(EXAMPLES / "weather_votes.csv")):
        value = SUMS[name](votes.label_counts)
        expected = deleting_each_item(value, votes.n_items)
        np.testing.assert_allclose(leave_one_out(value), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("min_shared_items", [1, 2, 10])
def test_cohen_leave_one_out_equals_deleting_the_item(min_shared_items):
    """Pairs losing their last shared item, or turning 0/0, leave the mean as in a draw."""
    for votes in (repeated_votes(), read_votes(EXAMPLES / "sentiment_votes.csv")):
        value = pairs.CohenKappaMean(pairs.pair_tables(votes, min_shared_items))
        expected = deleting_each_item(value, votes.n_items)
        np.testing.assert_allclose(leave_one_out(value), expected, rtol=0, atol=1e-12)


def test_leave_one_out_blocks_do_not_change_the_values(monkeypatch):
    votes = read_votes(EXAMPLES / "sentiment_votes.csv")
    values = [
        stats.fleiss_kappa_sums(votes.label_counts),
        pairs.CohenKappaMean(pairs.pair_tables(votes, 10)),
    ]
    whole = [leave_one_out(value) for value in values]
    monkeypatch.setattr(stats, "BLOCK_CELLS", 97)
    monkeypatch.setattr(pairs, "BLOCK_CELLS", 97)
    for value, expected in zip(values, whole, strict=True):
        assert len(list(value.leave_one_out())) > 5
        np.testing.assert_array_equal(leave_one_out(value), expected)


def test_jackknife_standard_error_of_a_mean_is_s_over_root_n():
    """Percent agreement is a plain mean when every item is pairable: SE = s / sqrt(n)."""
    votes = read_votes(EXAMPLES / "sentiment_votes.csv")
    value = stats.percent_agreement_sums(votes.label_counts)
    share = value.parts[0][:, 0]
    estimate = float(value()[0])
    low, high, error, bias, skipped = intervals.jackknife_interval(
        estimate, value.leave_one_out(), 0.95
    )
    assert error == pytest.approx(share.std(ddof=1) / np.sqrt(share.shape[0]), rel=1e-9)
    assert bias == pytest.approx(0.0, abs=1e-12) and skipped == 0
    assert (low, high) == pytest.approx((estimate - 1.959964 * error, estimate + 1.959964 * error))


def test_jackknife_interval_skips_values_with_nothing_to_compare():
    values = [np.array([0.5, np.nan, 0.7]), np.array([0.6])]
    low, high, error, bias, skipped = intervals.jackknife_interval(0.6, values, 0.9)
    assert skipped == 1
    assert error == pytest.approx(np.sqrt(2 / 3 * 0.02))
    assert bias == pytest.approx(0.0, abs=1e-15)
    assert np.isnan(intervals.jackknife_interval(np.nan, values, 0.9)[0])


def test_jackknife_agrees_with_the_bootstrap_on_many_items():
    """20,000 items: the two standard errors agree within the bootstrap's own noise."""
    votes = simulate(20_000, 40, 3, votes_per_item=3, seed=2).votes
    boot = agreement_report(votes, n_bootstrap=400, interval="bootstrap", seed=1)
    jack = agreement_report(votes, n_bootstrap=400, interval="jackknife")
    for name in STATISTICS:
        b, j = boot.results[name], jack.results[name]
        assert j.estimate == b.estimate
        assert j.std_error == pytest.approx(b.std_error, rel=0.15), name
        assert j.ci_low == pytest.approx(b.ci_low, abs=b.std_error)
        assert j.ci_high == pytest.approx(b.ci_high, abs=b.std_error)


# ------------------------------------------------------------------ choice of method
def test_interval_method_follows_the_cost_of_the_draws(monkeypatch):
    small, large = np.full(1_000, 3), np.full(1_000_000, 3)
    assert intervals.interval_method(large, 0, "auto") == "none"
    assert intervals.interval_method(large, 0, "jackknife") == "none"
    assert intervals.interval_method(small, 1000, "auto") == "bootstrap"
    assert intervals.interval_method(large, 1000, "auto") == "jackknife"
    assert intervals.interval_method(large, 50, "auto") == "bootstrap"  # 2e8 cells
    assert intervals.interval_method(large, 1000, "bootstrap") == "bootstrap"
    assert intervals.interval_method(small, 1000, "jackknife") == "jackknife"
    # many votes per item make many Cohen cases: 20,000 items x 30 votes
    assert intervals.interval_method(np.full(20_000, 30), 100, "auto") == "jackknife"
    monkeypatch.setattr(intervals, "BOOTSTRAP_WORK", 0)
    assert intervals.interval_method(np.full(9_999, 3), 1000, "auto") == "bootstrap"


def test_report_says_which_interval_it_used(monkeypatch):
    votes = simulate(12_000, 60, 2, votes_per_item=3, seed=5).votes
    monkeypatch.setattr(intervals, "BOOTSTRAP_WORK", 1_000_000)
    report = agreement_report(votes, n_bootstrap=100)
    assert {r.interval for r in report.results.values()} == {"jackknife"}
    text = report.summary()
    assert text.splitlines()[0].endswith(
        "(95% CI: estimate ± 1.96 SE, delete-one jackknife over items; "
        "in place of 100 bootstrap draws, too slow on this many items)"
    )
    forced = agreement_report(votes, n_bootstrap=100, interval="jackknife")
    assert forced.summary().splitlines()[0].endswith("delete-one jackknife over items)")
    assert forced.results == report.results
    assert "] (jackknife), 12000 items" in report.results["fleiss_kappa"].summary()
    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert {entry["interval"] for entry in payload.values()} == {"jackknife"}
    assert fleiss_kappa(votes, n_bootstrap=100) == report.results["fleiss_kappa"]
    none = agreement_report(votes, n_bootstrap=0)
    assert {r.interval for r in none.results.values()} == {"none"}
    assert {entry["interval"] for entry in none.to_dict().values()} == {None}
    assert "no intervals: n_bootstrap=0" in none.summary()


def test_same_seed_same_output_for_both_methods():
    votes = read_votes(EXAMPLES / "sentiment_votes.csv")
    for method in ("bootstrap", "jackknife"):
        first = agreement_report(votes, n_bootstrap=50, seed=11, interval=method)
        again = agreement_report(votes, n_bootstrap=50, seed=11, interval=method)
        assert first.results == again.results
    jack = [agreement_report(votes, n_bootstrap=50, seed=s, interval="jackknife") for s in (1, 2)]
    assert jack[0].results == jack[1].results  # the jackknife draws nothing
    boot = [gwet_ac1(votes, n_bootstrap=50, seed=s, interval="bootstrap") for s in (1, 2)]
    assert boot[0].ci_low != boot[1].ci_low


def test_unanimous_votes_have_a_zero_width_jackknife_interval():
    votes = VoteMatrix.from_codes([0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1], [0] * 6, n_classes=2)
    report = agreement_report(votes, n_bootstrap=1, min_shared_items=1, interval="jackknife")
    for result in report.results.values():
        assert (result.estimate, result.ci_low, result.ci_high) == (1.0, 1.0, 1.0)


def test_small_sample_bias_is_named_by_the_jackknife():
    """Pairs sharing ~16 items: kappa's small-sample bias exceeds the jackknife interval."""
    votes = simulate(60_000, 150, 2, votes_per_item=3, seed=3).votes
    result = cohen_kappa_mean(votes, n_bootstrap=1, interval="jackknife")
    assert "the jackknife puts the small-sample bias at -" in result.note
    assert "raise min_shared_items" in result.note


def test_rejects_an_unknown_interval():
    votes = read_votes(EXAMPLES / "sentiment_votes.csv")
    with pytest.raises(InputError, match="interval must be one of auto, bootstrap, jackknife"):
        agreement_report(votes, interval="bca")


# ------------------------------------------------------------------ faster building
def test_pair_tables_the_same_when_pairs_are_too_many_to_count_densely():
    """Annotator codes spread out (42,000 ids): pairs are found by sorting, same result."""
    votes = read_votes(EXAMPLES / "sentiment_votes.csv")
    spread = VoteMatrix.from_codes(
        votes.item_codes, votes.annotator_codes * 500, votes.label_codes, n_classes=2
    )
    assert spread.n_annotators**2 > 10**9
    compact, wide = pairs.pair_tables(votes, 10), pairs.pair_tables(spread, 10)
    np.testing.assert_array_equal(wide.first, compact.first * 500)
    np.testing.assert_array_equal(wide.shared, compact.shared)
    np.testing.assert_array_equal(wide.case_pair, compact.case_pair)
    assert cohen_kappa_mean(spread, n_bootstrap=0) == cohen_kappa_mean(votes, n_bootstrap=0)


def test_annotator_agreement_with_repeats_matches_a_direct_count():
    """Each vote against every other annotator's vote on its item, counted one by one."""
    votes = repeated_votes()
    k = votes.n_classes
    table = np.zeros((votes.n_annotators, k, k))
    for v in range(votes.n_votes):
        same = (votes.item_codes == votes.item_codes[v]) & (
            votes.annotator_codes != votes.annotator_codes[v]
        )
        for w in np.flatnonzero(same):
            table[votes.annotator_codes[v], votes.label_codes[v], votes.label_codes[w]] += 1
    computed, n_items = stats.annotator_tables(votes)
    np.testing.assert_array_equal(computed, table)
    distinct = {(i, a) for i, a in zip(votes.item_codes, votes.annotator_codes, strict=True)}
    assert n_items.tolist() == [
        sum(1 for _, a in distinct if a == annotator) for annotator in range(votes.n_annotators)
    ]
    frame = annotator_agreement(votes)
    assert frame["n_compared"].tolist() == table.sum(axis=(1, 2)).astype(int).tolist()


def test_a_million_votes_with_intervals_take_seconds():
    """Issue 13: 300,000 items x 3 votes; auto picks the jackknife, no bootstrap draws."""
    votes = simulate(300_000, 500, 2, votes_per_item=3, seed=0).votes
    report = agreement_report(votes)
    assert {r.interval for r in report.results.values()} == {"jackknife"}
    for result in report.results.values():
        assert result.ci_low < result.estimate < result.ci_high
        assert 0 < result.std_error < 0.01


def test_real_dataset_jackknife_equals_deleting_each_item():
    votes = read_votes(dataset_path("bm") / "votes.csv")
    value = pairs.CohenKappaMean(pairs.pair_tables(votes, 1))
    expected = deleting_each_item(value, votes.n_items)
    np.testing.assert_allclose(leave_one_out(value), expected, rtol=0, atol=1e-12)
