"""Vetting: the SPRT on counts, its error rates by simulation, class floors, exit codes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from consensus import InputError, InputWarning, VoteMatrix
from consensus.data.gold import GoldSet
from consensus.quality.vetting import Sprt, vet

TEST = Sprt.for_threshold(0.9, 0.1, alpha=0.05, beta=0.1)

#: True accuracies of simulated candidates: clearly above, at p1, inside the
#: indifference zone, at p0, clearly below.
GROUPS = {"above": 0.97, "at_p1": 0.90, "near": 0.85, "at_p0": 0.80, "below": 0.60}
LOOKS = (25, 50, 100, 200, 400)
PER_GROUP = 4000


@pytest.fixture(scope="module")
def simulated():
    """Running counts of right answers, shape (groups, PER_GROUP, max(LOOKS))."""
    rng = np.random.default_rng(20240607)
    p = np.array(list(GROUPS.values()))[:, None, None]
    right = rng.random((len(GROUPS), PER_GROUP, max(LOOKS)), dtype=np.float32) < p
    return np.cumsum(right, axis=2, dtype=np.int32)


def monte_carlo_slack(rate: float) -> float:
    """Three standard errors of a rate estimated from PER_GROUP candidates."""
    return 3 * np.sqrt(rate * (1 - rate) / PER_GROUP)


# ------------------------------------------------------------ the test itself
def test_boundaries_on_hand_counted_cases():
    # +log(0.9/0.8) per right answer, log(0.1/0.2) per wrong; pass at log 20, fail at log 0.1.
    correct = np.array([25, 26, 0, 0, 32, 31])
    n = np.array([25, 26, 3, 4, 33, 32])
    assert TEST.decide(correct, n).tolist() == [0, 1, 0, -1, 1, 0]
    assert TEST.log_lr(26, 26) == pytest.approx(26 * np.log(0.9 / 0.8))


@pytest.mark.parametrize(
    "args, message",
    [
        ((1.0, 0.1), "min_accuracy must be between 0 and 1"),
        ((0.9, 0.95), "tolerance must be positive and below min_accuracy"),
        ((0.9, 0.0), "tolerance must be positive"),
        ((0.9, 0.1, 0.7), "alpha must be between 0 and 0.5"),
    ],
)
def test_bad_test_settings(args, message):
    with pytest.raises(InputError, match=message):
        Sprt.for_threshold(*args)


def test_wrong_decisions_stay_within_alpha_and_beta(simulated):
    """At every look, and over all looks together (Ville's bound holds for repeated looks)."""
    names = list(GROUPS)
    ever_pass = np.zeros(simulated.shape[:2], dtype=bool)
    ever_fail = np.zeros(simulated.shape[:2], dtype=bool)
    for n in LOOKS:
        decision = TEST.decide(simulated[:, :, n - 1], n)
        ever_pass |= decision == 1
        ever_fail |= decision == -1
        for g in ("at_p0", "below"):
            wrong_pass = (decision[names.index(g)] == 1).mean()
            assert wrong_pass <= TEST.alpha + monte_carlo_slack(TEST.alpha), (g, n)
        for g in ("above", "at_p1"):
            wrong_fail = (decision[names.index(g)] == -1).mean()
            assert wrong_fail <= TEST.beta + monte_carlo_slack(TEST.beta), (g, n)
    assert ever_pass[names.index("at_p0")].mean() <= TEST.alpha + monte_carlo_slack(TEST.alpha)
    assert ever_fail[names.index("at_p1")].mean() <= TEST.beta + monte_carlo_slack(TEST.beta)
    # the hardest case: vet re-run after every single answer, 1 to 400
    n = np.arange(1, max(LOOKS) + 1)
    ever_pass = (TEST.decide(simulated[names.index("at_p0")], n) == 1).any(axis=1).mean()
    ever_fail = (TEST.decide(simulated[names.index("at_p1")], n) == -1).any(axis=1).mean()
    assert ever_pass <= TEST.alpha + monte_carlo_slack(TEST.alpha), ever_pass
    assert ever_fail <= TEST.beta + monte_carlo_slack(TEST.beta), ever_fail
    # clear cases end right
    assert (TEST.decide(simulated[names.index("above"), :, -1], LOOKS[-1]) == 1).mean() > 0.99
    assert (TEST.decide(simulated[names.index("below"), :, -1], LOOKS[-1]) == -1).mean() > 0.99


def test_undecided_shrinks_as_gold_items_are_added(simulated):
    undecided = [(TEST.decide(simulated[:, :, n - 1], n) == 0).mean() for n in LOOKS]
    assert all(a > b for a, b in zip(undecided, undecided[1:], strict=False)), undecided
    assert undecided[-1] < 0.5 * undecided[0]


def test_wald_expected_length_against_simulated_stopping(simulated):
    """Wald ignores the overshoot, so it may fall short, but not by more than 15%."""
    names = list(GROUPS)
    for g in ("above", "below", "at_p1"):
        right = np.diff(simulated[names.index(g)], axis=1, prepend=0).astype(bool)
        llr = np.cumsum(np.where(right, TEST.step_right, TEST.step_wrong), axis=1)
        crossed = (llr >= TEST.upper) | (llr <= TEST.lower)
        assert crossed.any(axis=1).mean() > 0.99
        mean_stop = (crossed.argmax(axis=1) + 1)[crossed.any(axis=1)].mean()
        wald = float(TEST.expected_length(0.0, GROUPS[g]))
        assert 0.85 * mean_stop <= wald <= 1.02 * mean_stop, (g, wald, mean_stop)


def test_more_items_needed_is_zero_once_decided_and_shrinks_with_good_answers():
    n = np.arange(0, 27)
    more = TEST.more_items(n, n)  # all right so far
    assert more[-1] == 0 and (more[:-1] >= 1).all()
    assert (np.diff(more) <= 0).all()
    # no answers yet: the test's expected length in the middle of the indifference zone
    assert more[0] == np.ceil(TEST.expected_length(0.0, 0.85))


def test_more_items_needed_likely_settles_an_undecided_candidate(simulated):
    """Give candidates undecided after 30 answers the number of items promised.

    It is an expected length, so it settles most clear cases; near the threshold the
    stopping time is long-tailed and fewer are settled by then.
    """
    names = list(GROUPS)
    at = 30
    settled = {}
    for g in GROUPS:
        counts = simulated[names.index(g)]
        undecided = TEST.decide(counts[:, at - 1], at) == 0
        more = TEST.more_items(counts[undecided, at - 1], at)
        n = np.arange(1, counts.shape[1] + 1)
        decided = TEST.decide(counts[undecided], n) != 0
        within = (n[None, :] > at) & (n[None, :] <= (at + more)[:, None])
        settled[g] = (decided & within).any(axis=1).mean()
    assert min(settled["above"], settled["below"]) > 0.8, settled
    assert min(settled["at_p1"], settled["near"], settled["at_p0"]) > 0.4, settled


# ----------------------------------------------------------------- vet()
def candidates(rows: list[tuple[str, str, str]]) -> VoteMatrix:
    frame = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    return VoteMatrix.from_frame(frame, labels=["cat", "lynx"])


def cat_lynx(n_cat: int, n_lynx: int) -> tuple[pd.DataFrame, list[str], list[str]]:
    items_cat = [f"c{i}" for i in range(n_cat)]
    items_lynx = [f"l{i}" for i in range(n_lynx)]
    gold = pd.DataFrame(
        {"item": items_cat + items_lynx, "label": ["cat"] * n_cat + ["lynx"] * n_lynx}
    )
    return gold, items_cat, items_lynx


def test_vet_end_to_end_matches_the_counts(simulated):
    """One VoteMatrix with 2,500 candidates gives the decisions of the pure test."""
    n = 50
    counts = simulated[:, :500, n - 1].ravel()
    rng = np.random.default_rng(7)
    right = np.arange(n)[None, :] < counts[:, None]
    right = rng.permuted(right, axis=1)  # answers in any order
    cand, item = np.nonzero(np.ones_like(right))
    votes = VoteMatrix.from_codes(item, cand, np.where(right.ravel(), 0, 1), n_classes=2)
    report = vet(votes, GoldSet.from_codes(votes, np.arange(n), np.zeros(n)))
    table = report.candidates.sort_values("annotator")
    expected = np.array(["fail", "undecided", "pass"])[TEST.decide(counts, n) + 1]
    assert (table["decision"].to_numpy() == expected).all()
    assert (table["correct"].to_numpy() == counts).all()
    assert ((table["more_items_needed"] == 0) == (table["decision"] != "undecided")).all()


def test_order_of_answers_does_not_matter():
    gold, cats, lynxes = cat_lynx(30, 10)
    rows = [(i, "ann", "cat") for i in cats] + [
        (i, "ann", "cat" if k < 3 else "lynx") for k, i in enumerate(lynxes)
    ]
    rows += [(i, "bob", "cat") for i in cats[:20]]
    forward = candidates(rows)
    backward = candidates(rows[::-1])
    one = vet(forward, GoldSet.from_frame(gold, forward)).candidates
    two = vet(backward, GoldSet.from_frame(gold, backward)).candidates
    pd.testing.assert_frame_equal(one, two)


def test_class_floor_catches_a_candidate_who_misses_every_lynx():
    gold, cats, lynxes = cat_lynx(60, 5)
    rows = [(i, "ann", "cat") for i in cats + lynxes]  # 60/65: passes overall
    votes = candidates(rows)
    gold_set = GoldSet.from_frame(gold, votes)

    lenient = vet(votes, gold_set).candidates.iloc[0]
    assert lenient.decision == "pass"
    assert lenient.weak_classes == "lynx 0/5"
    assert "weak on: lynx 0/5" in lenient.reason

    strict = vet(votes, gold_set, min_class_recall=0.6).candidates.iloc[0]
    assert strict.decision == "fail"
    assert strict.reason.startswith("recall below the class floor 0.6 on: lynx 0/5")


def test_class_floor_unclear_or_unanswered_class_blocks_a_pass():
    gold, cats, lynxes = cat_lynx(60, 5)
    rows = [(i, "ann", "cat") for i in cats] + [
        (lynxes[0], "ann", "lynx"),
        (lynxes[1], "ann", "cat"),
        (lynxes[2], "ann", "cat"),
    ]
    rows += [(i, "bob", "cat") for i in cats]  # never saw a lynx
    votes = candidates(rows)
    with pytest.warns(InputWarning, match="2 gold item"):
        gold_set = GoldSet.from_frame(gold, votes)
    table = vet(votes, gold_set, min_class_recall=0.6).candidates
    table = table.set_index("annotator")
    assert table.loc["ann", "decision"] == "undecided"
    assert table.loc["ann", "weak_classes"] == "lynx 1/3"
    assert table.loc["ann", "more_items_needed"] == 2  # (1 + 2) / (3 + 2) reaches 0.6
    assert table.loc["bob", "decision"] == "undecided"
    assert table.loc["bob", "weak_classes"] == "lynx none answered"
    assert table.loc["bob", "more_items_needed"] == 1


def test_exit_codes_and_no_gold_candidate():
    gold, cats, _ = cat_lynx(30, 2)
    good = [(i, "good", "cat") for i in cats]
    bad = [(i, "bad", "lynx") for i in cats[:5]]
    late = [("extra", "late", "cat")]  # answered only a non-gold item

    def run(rows):
        votes = candidates(rows + [("l0", "good", "lynx")])
        with pytest.warns(InputWarning, match="no one voted on"):  # l1 is unanswered
            return vet(votes, GoldSet.from_frame(gold, votes))

    assert run(good).exit_code == 0
    assert run(good + bad).exit_code == 1
    report = run(good + late)
    assert report.exit_code == 3
    row = report.candidates.set_index("annotator").loc["late"]
    assert (row.decision, row.n_gold, row.reason) == ("undecided", 0, "answered no gold items")
    assert row.more_items_needed == np.ceil(TEST.expected_length(0.0, 0.85))


def test_summary_and_to_dict():
    gold, cats, lynxes = cat_lynx(30, 5)
    rows = [(i, "good", "cat") for i in cats] + [(i, "good", "lynx") for i in lynxes]
    rows += [(i, "bad", "lynx") for i in cats[:5]] + [(i, "new", "cat") for i in cats[:10]]
    votes = candidates(rows)
    report = vet(votes, GoldSet.from_frame(gold, votes))
    assert list(report.candidates["decision"]) == ["fail", "undecided", "pass"]
    text = report.summary()
    assert text.startswith("3 candidates on 35 gold items: 1 pass, 1 fail, 1 undecided.")
    assert "more_items_needed" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["exit_code"] == 1 and data["candidates"][2]["annotator"] == "good"
