"""Many classes (issue 13): the fast sums behind the default, auto's choice, the summary.

The fast forms are checked against the cell-by-cell arithmetic they replace (written
out here, as the code was before) and against scipy's Hurwitz zeta.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import digamma, gammaln, zeta

from consensus.data.votes import VoteMatrix
from consensus.models import AutoAggregator, PooledDawidSkene
from consensus.models.dirichlet import SharedRowCounts, fixed_point_update, hurwitz_zetas
from consensus.models.pooled import ALPHA_MAX, ALPHA_MIN, fit_population_prior
from consensus.models.selection import MAX_EBCC_CLASSES
from consensus.quality import overdispersion
from consensus.report.summary import PRIORS_SHOWN, class_priors_text
from consensus.simulate import simulate
from consensus.workflows.aggregation import aggregate


@pytest.fixture(scope="module")
def many() -> VoteMatrix:
    """3,000 items x 3 votes from 60 annotators, 30 classes (more than MAX_EBCC_CLASSES)."""
    assert MAX_EBCC_CLASSES < 30
    return simulate(3_000, 60, 30, votes_per_item=3, seed=1).votes


def expected_counts(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    """Counts like an M-step's: mostly tiny posterior crumbs, some whole votes, one unseen row."""
    counts = rng.random(shape) * 10.0 ** rng.uniform(-9, 1, shape)
    counts[0, 1] = 1e-12  # a row no item of that class reached
    return counts


def cell_by_cell(counts: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sums of Minka's fixed point as fit_population_prior computed them before."""
    totals = counts.sum(axis=2)
    seen = totals > 1e-9
    labels = np.where(seen[:, :, None], digamma(counts + alpha[None]) - digamma(alpha)[None],
                      0.0).sum(axis=0)
    rows = np.where(seen, digamma(totals + alpha.sum(axis=1)[None])
                    - digamma(alpha.sum(axis=1))[None], 0.0).sum(axis=0)
    return labels, rows


# ----------------------------------------------------- the population prior's sums
def test_hurwitz_zetas_match_scipy():
    x = np.exp(np.random.default_rng(0).uniform(np.log(1e-3), np.log(1e4), 2_000))
    for s, ours in enumerate(hurwitz_zetas(x, 7), start=2):
        np.testing.assert_allclose(ours, zeta(float(s), x), rtol=1e-13)


@pytest.mark.parametrize("floor", [0.0, ALPHA_MIN])
def test_shared_row_counts_match_the_cell_by_cell_sums(floor):
    rng = np.random.default_rng(1)
    counts = expected_counts(rng, (40, 6, 6))
    rows = SharedRowCounts(counts, floor=floor)
    alpha = np.exp(rng.uniform(np.log(ALPHA_MIN), np.log(50.0), (6, 6)))
    # the second alpha falls far below the first, which forces a new split
    for scale in (1.0, 1.0 / 30):
        current = np.maximum(alpha * scale, ALPHA_MIN)
        labels, totals = cell_by_cell(counts, current)
        np.testing.assert_allclose(rows.label_gains(current), labels, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(rows.total_gains(current), totals, rtol=1e-12)


def test_population_prior_follows_the_cell_by_cell_fixed_point():
    rng = np.random.default_rng(2)
    counts = expected_counts(rng, (50, 8, 8))
    start = PooledDawidSkene._starting_prior(8)
    alpha = np.clip(start, ALPHA_MIN, ALPHA_MAX)
    for _ in range(10):  # fit_population_prior's loop, written out cell by cell
        labels, totals = cell_by_cell(counts, alpha)
        alpha = fixed_point_update(alpha, labels, totals, (ALPHA_MIN, ALPHA_MAX))
    np.testing.assert_allclose(fit_population_prior(counts, start, n_steps=10, rtol=0.0),
                               alpha, rtol=1e-8)


# ----------------------------------------------------------- the vote correlation
def test_label_count_patterns_are_the_distinct_rows_of_the_dense_table(many):
    patterns, inverse, weight = overdispersion.label_count_patterns(many)
    dense = many.label_counts
    np.testing.assert_array_equal(patterns.toarray()[inverse], dense)
    assert len(np.unique(dense, axis=0)) == patterns.shape[0] and weight.sum() == many.n_items


def test_pattern_sums_match_the_cell_by_cell_forms(many):
    counts, _, weight = overdispersion.label_count_patterns(many)
    patterns = overdispersion._Patterns(counts, weight)
    rng = np.random.default_rng(3)
    k = many.n_classes
    alpha = np.exp(rng.uniform(-3, 3, (k, k)))
    expected = rng.dirichlet(np.ones(k), patterns.n_patterns) * weight[:, None]
    dense = counts.toarray()
    shifted = dense[:, None, :] + alpha[None]  # (U, K, L)
    used = dense[:, None, :] > 0
    per_count = np.where(used, gammaln(shifted) - gammaln(alpha)[None], 0.0).sum(axis=2)
    totals = dense.sum(axis=1)[:, None]
    reference = gammaln(alpha.sum(axis=1))[None] - gammaln(totals + alpha.sum(axis=1)[None])
    np.testing.assert_allclose(overdispersion._log_likelihood(patterns, alpha),
                               reference + per_count, rtol=1e-10, atol=1e-9)
    gains = np.where(used, digamma(shifted) - digamma(alpha)[None], 0.0)
    numerator = (gains * expected[:, :, None]).sum(axis=0)
    denominator = (expected * (digamma(totals + alpha.sum(axis=1)[None])
                               - digamma(alpha.sum(axis=1))[None])).sum(axis=0)
    reference_step = fixed_point_update(alpha, numerator, denominator,
                                        (overdispersion.ALPHA_MIN, overdispersion.ALPHA_MAX),
                                        keep_unused=True)
    weighted = overdispersion._Weighted.of(patterns, expected)
    np.testing.assert_allclose(overdispersion._dirichlet_step(patterns, weighted, alpha),
                               reference_step, rtol=1e-10)


def test_pattern_correlation_is_the_vote_correlation(many):
    posteriors = PooledDawidSkene().fit(many).posteriors_
    counts, inverse, weight = overdispersion.label_count_patterns(many)
    summed = np.stack([np.bincount(inverse, weights=posteriors[:, k]) for k in
                       range(many.n_classes)], axis=1)
    from_votes = overdispersion.fit_vote_correlation(many, posteriors)
    for table in (counts, counts.toarray(), sp.coo_matrix(counts)):
        fit = overdispersion.fit_pattern_correlation(table, weight, summed)
        assert fit.rho == pytest.approx(from_votes.rho, rel=1e-9)
    assert 0 <= from_votes.rho < 0.05  # independent simulated annotators


# ------------------------------------------------------------------ auto's choice
def test_auto_compares_nothing_above_the_ebcc_class_limit_without_gold(many, monkeypatch):
    def no_fits(*args, **kwargs):
        raise AssertionError("no held-out fits expected")

    monkeypatch.setattr(AutoAggregator, "_held_out", no_fits)
    model = AutoAggregator().fit(many)
    assert model.chosen_ == "pooled"
    assert "without comparing" in model.reason_ and "30 classes" in model.reason_
    assert list(model.selection_["method"]) == ["pooled", "ebcc", "mv"]
    assert model.selection_["chosen"].tolist() == [True, False, False]


def test_auto_compares_all_but_ebcc_above_the_limit_with_gold(many):
    truth = simulate(3_000, 60, 30, votes_per_item=3, seed=1).truth
    gold = np.full(many.n_items, -1)
    gold[:40] = truth[:40]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoAggregator().fit(many, gold=gold)
    assert list(model.selection_["method"]) == ["pooled", "mv"]
    assert model.selection_["gold_accuracy"].notna().all()


def test_auto_still_compares_ebcc_up_to_the_limit():
    model = AutoAggregator()
    assert model.compared(MAX_EBCC_CLASSES) == ("pooled", "ebcc", "mv")
    assert model.choice_without_comparison(MAX_EBCC_CLASSES, 10**6, 0) is None
    assert model.compared(MAX_EBCC_CLASSES + 1) == ("pooled", "mv")
    assert AutoAggregator(candidates=("ebcc", "pooled")).compared(100) == ("ebcc", "pooled")


# ------------------------------------------------------------------------ summary
def test_class_prior_line_lists_every_class_up_to_ten():
    priors = {f"c{i}": p for i, p in enumerate([0.05, 0.3, 0.1, 0.15, 0.05, 0.05, 0.1, 0.05,
                                                0.1, 0.05])}
    assert class_priors_text(priors) == ("c0 0.050, c1 0.300, c2 0.100, c3 0.150, c4 0.050, "
                                         "c5 0.050, c6 0.100, c7 0.050, c8 0.100, c9 0.050")


def test_class_prior_line_shows_the_largest_and_a_count_beyond_ten():
    shares = np.arange(1, 101, dtype=float)[::-1] / 5050  # c0 largest, c99 smallest
    priors = {f"c{i}": float(p) for i, p in enumerate(shares)}
    priors["c50"], priors["c1"] = priors["c1"], priors["c50"]  # c50 now second largest
    text = class_priors_text(priors)
    assert text == ("c0 0.020, c50 0.020, c2 0.019, c3 0.019, c4 0.019, c5 0.019, "
                    "c6 0.019, c7 0.018 … and 92 more")
    assert PRIORS_SHOWN == 8


def test_summary_at_many_classes_is_readable(many):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = aggregate(many)
    line = next(x for x in result.summary().splitlines() if x.startswith("class priors: "))
    assert line.endswith("… and 22 more") and line.count(",") == PRIORS_SHOWN - 1
    assert len(result.to_dict()["class_priors"]) == 30  # the JSON keeps them all
    assert result.correlation is not None and result.held_out_confidence is not None
