"""Vetting candidate annotators on gold items: pass, fail or undecided.

The test
    Wald's sequential probability ratio test (SPRT) of a candidate's accuracy ``p``:
    ``p >= p1 = min_accuracy`` (pass) against ``p <= p0 = min_accuracy - tolerance``
    (fail). After ``n`` gold answers with ``c`` right, the log likelihood ratio is
    ``c * log(p1 / p0) + (n - c) * log((1 - p1) / (1 - p0))``; the candidate passes
    once it reaches ``log(1 / alpha)``, fails once it falls to ``log(beta)``, and is
    undecided in between. Candidates between ``p0`` and ``p1`` may go either way:
    ``tolerance`` is the width of that indifference zone.

Why a sequential test rather than an interval rule
    Candidates answer gold items a batch at a time and are re-checked as answers come
    in. An interval rule ("pass once the 95% interval is above 0.9") checked after
    every 10 answers up to 200 passes a candidate at exactly 0.9 about 7% of the time,
    not the 2.5% of a single look, unless its sample size is fixed in advance; the
    SPRT is built for repeated looks, spends
    items where the evidence is thin, and says how many more an undecided candidate
    likely needs. At the defaults (0.9, tolerance 0.1, alpha 0.05, beta 0.1) a
    candidate at 0.95 is decided after about 40 answers on average, one at 0.7 after
    about 21 (simulated; ``golden_sets/README.md`` has the table).

Error rates, and answers in any order
    ``alpha`` is the chance of passing a candidate whose accuracy is at most ``p0``;
    ``beta`` the chance of failing one whose accuracy is at least ``p1``. The boundaries
    are ``1 / alpha`` and ``beta`` instead of Wald's ``(1 - beta) / alpha`` and
    ``beta / (1 - alpha)``: the likelihood ratio is a martingale under either
    hypothesis, so Ville's inequality bounds the two errors by ``alpha`` and ``beta``
    exactly, however often the test is looked at, where Wald's boundaries only give
    ``alpha / (1 - beta)``. That is what lets the test run on counts: the log
    likelihood ratio depends only on ``(c, n)``, not on the order of the answers
    (which a vote table does not record), and re-running ``vet`` as candidates answer
    more gold items is one more look at the same martingale, not a new test whose
    errors add up. The price is 2-6% more items than with Wald's boundaries.

How many more items
    ``more_items_needed`` is Wald's approximation to the expected number of further
    answers until the log likelihood ratio leaves the undecided band, from where it
    is now, assuming the candidate's accuracy is ``(c + 2 * p_mid) / (n + 2)``, the
    observed share pulled two answers' worth towards the middle ``p_mid`` of the
    indifference zone. Without that pull a short perfect record (10/10) would promise
    that every later answer is right and give the shortest possible figure; with it
    the figure errs long, and a candidate with no gold answers gets the test's
    longest expected length. Wald's approximation ignores the overshoot of the last
    step, so treat the figure as "about".

Class floors
    Overall accuracy can hide a class the candidate always gets wrong. With
    ``min_class_recall`` set, each class of the gold set is checked separately:
    a candidate whose recall on a class is below the floor with confidence
    (one-sided Wilson bound at ``beta / n_gold_classes``, a Bonferroni share of
    ``beta``) fails whatever the overall test says; one whose recall is below the floor
    only by the point estimate, or who answered no item of a gold class, cannot pass
    and is undecided. Without a floor the same weaknesses (recall below ``p0``) are
    still listed in ``weak_classes``, for information only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data.gold import GoldSet
from ..data.votes import VoteMatrix
from ..exceptions import InputError
from ..report.text import records, text_table
from .scoring import accuracy_columns, gold_confusion, wilson_interval

PASS, FAIL, UNDECIDED = "pass", "fail", "undecided"

#: Columns of the candidate table that ``VetReport.summary`` prints.
SUMMARY_COLUMNS = (
    "annotator", "decision", "n_gold", "correct", "accuracy", "ci_low", "ci_high",
    "more_items_needed", "weak_classes",
)  # fmt: skip

#: Exit codes of a vetting run; 2 is reserved for bad input.
EXIT_ALL_PASSED, EXIT_SOME_FAILED, EXIT_UNDECIDED = 0, 1, 3


@dataclass(frozen=True)
class Sprt:
    """Wald's SPRT of an accuracy, ``p >= p1`` against ``p <= p0``, on counts.

    Every method takes arrays, so thousands of candidates (or simulated ones) are
    tested at once.

    Parameters
    ----------
    p0 : float
        Accuracy that should fail.
    p1 : float
        Accuracy that should pass; ``0 < p0 < p1 < 1``.
    alpha : float
        Largest chance of passing a candidate at or below ``p0``.
    beta : float
        Largest chance of failing a candidate at or above ``p1``.
    """

    p0: float
    p1: float
    alpha: float = 0.05
    beta: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 < self.p0 < self.p1 < 1.0:
            raise InputError(
                f"the test needs 0 < p0 < p1 < 1, got p0={self.p0!r}, p1={self.p1!r}; "
                f"min_accuracy must be below 1 and above tolerance"
            )
        for name, value in (("alpha", self.alpha), ("beta", self.beta)):
            if not 0.0 < value < 0.5:
                raise InputError(f"{name} must be between 0 and 0.5 (e.g. 0.05), not {value!r}")

    @classmethod
    def for_threshold(
        cls, min_accuracy: float, tolerance: float, alpha: float = 0.05, beta: float = 0.1
    ) -> Sprt:
        """The test for "at least ``min_accuracy``", failing at ``min_accuracy - tolerance``."""
        if not 0.0 < min_accuracy < 1.0:
            raise InputError(
                f"min_accuracy must be between 0 and 1 (e.g. 0.9), not {min_accuracy!r}"
            )
        if not 0.0 < tolerance < min_accuracy:
            raise InputError(
                f"tolerance must be positive and below min_accuracy {min_accuracy}, "
                f"not {tolerance!r}; it is the gap between passing and failing accuracy"
            )
        return cls(min_accuracy - tolerance, min_accuracy, alpha, beta)

    @property
    def upper(self) -> float:
        """Log likelihood ratio at which a candidate passes."""
        return math.log(1.0 / self.alpha)

    @property
    def lower(self) -> float:
        """Log likelihood ratio at which a candidate fails."""
        return math.log(self.beta)

    @property
    def step_right(self) -> float:
        return math.log(self.p1 / self.p0)

    @property
    def step_wrong(self) -> float:
        return math.log((1.0 - self.p1) / (1.0 - self.p0))

    def log_lr(self, correct: Any, n: Any) -> np.ndarray:
        """Log likelihood ratio of ``p1`` to ``p0`` after ``correct`` of ``n`` right."""
        correct = np.asarray(correct, dtype=np.float64)
        return correct * self.step_right + (np.asarray(n) - correct) * self.step_wrong

    def decide(self, correct: Any, n: Any) -> np.ndarray:
        """+1 pass, -1 fail, 0 undecided, per candidate (int8)."""
        llr = self.log_lr(correct, n)
        return np.where(llr >= self.upper, 1, np.where(llr <= self.lower, -1, 0)).astype(np.int8)

    def expected_length(self, log_lr: Any, accuracy: Any) -> np.ndarray:
        """Wald's expected number of further answers until a boundary is crossed.

        Parameters
        ----------
        log_lr : array_like
            Where the log likelihood ratio is now; 0 where a boundary is already reached.
        accuracy : array_like, values strictly inside (0, 1)
            The accuracy assumed for the answers still to come.

        Returns
        -------
        ndarray of float64
            ``(P * a - (1 - P) * b) / mu`` with ``a, b`` the distances to the two
            boundaries, ``mu`` the mean step and ``P`` the chance of reaching the upper
            one first, from the non-zero root ``h`` of ``E[exp(h * step)] = 1``;
            ``a * b / E[step**2]`` when the mean step is zero.
        """
        llr, p = np.broadcast_arrays(
            np.asarray(log_lr, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
        )
        up, down = self.step_right, self.step_wrong
        a = self.upper - llr
        b = llr - self.lower
        mu = p * up + (1.0 - p) * down
        h = _wald_root(p, up, down, mu)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            hit_upper = -np.expm1(-h * b) / (np.exp(h * a) - np.exp(-h * b))
            drifting = (hit_upper * a - (1.0 - hit_upper) * b) / mu
        flat = a * b / (p * up * up + (1.0 - p) * down * down)
        length = np.where(np.abs(h) * (a + b) < 1e-6, flat, drifting)
        return np.where((a > 0) & (b > 0), length, 0.0)

    def more_items(self, correct: Any, n: Any) -> np.ndarray:
        """Further gold answers likely to settle each candidate (int64), 0 once decided.

        The accuracy assumed is the observed one pulled two answers towards the
        middle of the indifference zone; see the module docstring for why.
        """
        correct = np.asarray(correct, dtype=np.float64)
        n = np.asarray(n, dtype=np.float64)
        middle = 0.5 * (self.p0 + self.p1)
        assumed = (correct + 2.0 * middle) / (n + 2.0)
        length = self.expected_length(self.log_lr(correct, n), assumed)
        return np.where(length > 0, np.maximum(np.ceil(length), 1.0), 0.0).astype(np.int64)


def _wald_root(p: np.ndarray, up: float, down: float, mu: np.ndarray) -> np.ndarray:
    """Non-zero root of ``p * exp(h * up) + (1 - p) * exp(h * down) = 1``, by bisection.

    The root has the sign opposite to the mean step ``mu``; the far end of the
    bracket is where one of the two terms alone reaches 1.
    """
    with np.errstate(divide="ignore"):
        far = np.where(mu > 0, -np.log1p(-p) / down, -np.log(p) / up)
    near = np.zeros_like(far)
    for _ in range(100):
        mid = 0.5 * (near + far)
        above = p * np.exp(mid * up) + (1.0 - p) * np.exp(mid * down) > 1.0
        far = np.where(above, mid, far)
        near = np.where(above, near, mid)
    return np.where(mu == 0.0, 0.0, 0.5 * (near + far))


@dataclass(frozen=True, eq=False)
class VetReport:
    """Decisions on candidates; see :func:`vet`.

    Attributes
    ----------
    candidates : DataFrame
        One row per candidate, failed first, then undecided, then passed, each group
        by accuracy ascending: ``annotator, decision, n_gold, correct, accuracy,
        ci_low, ci_high, log_lr, more_items_needed, weak_classes, reason``.
    test : Sprt
        The test that was applied.
    """

    candidates: pd.DataFrame
    test: Sprt
    min_class_recall: float | None
    confidence: float
    n_gold_items: int

    @property
    def exit_code(self) -> int:
        """0 when every candidate passed, 1 when any failed, 3 when none failed but some are
        undecided (2 is the CLI's code for bad input)."""
        decisions = set(self.candidates["decision"])
        if FAIL in decisions:
            return EXIT_SOME_FAILED
        if UNDECIDED in decisions:
            return EXIT_UNDECIDED
        return EXIT_ALL_PASSED

    def summary(self, max_rows: int | None = 50) -> str:
        """A terminal table of decisions, failures first, cut after ``max_rows`` rows."""
        table = self.candidates
        counts = table["decision"].value_counts()
        t = self.test
        lines = [
            f"{len(table)} candidates on {self.n_gold_items} gold items: "
            f"{counts.get(PASS, 0)} pass, {counts.get(FAIL, 0)} fail, "
            f"{counts.get(UNDECIDED, 0)} undecided.",
            f"Sequential test: accuracy >= {t.p1:g} passes, <= {t.p0:g} fails; wrongly passing "
            f"<= {t.alpha:g}, wrongly failing <= {t.beta:g}.",
        ]
        if self.min_class_recall is not None:
            lines.append(f"Class floor: recall >= {self.min_class_recall:g} on every gold class.")
        lines.append(text_table(table[list(SUMMARY_COLUMNS)], max_rows, ".candidates"))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        t = self.test
        return {
            "min_accuracy": t.p1,
            "fail_accuracy": t.p0,
            "alpha": t.alpha,
            "beta": t.beta,
            "min_class_recall": self.min_class_recall,
            "confidence": self.confidence,
            "n_gold_items": self.n_gold_items,
            "exit_code": self.exit_code,
            "candidates": records(self.candidates),
        }


def vet(
    answers: VoteMatrix,
    gold: GoldSet,
    *,
    min_accuracy: float = 0.9,
    tolerance: float = 0.1,
    alpha: float = 0.05,
    beta: float = 0.1,
    min_class_recall: float | None = None,
    confidence: float = 0.95,
) -> VetReport:
    """Decide pass, fail or undecided for every candidate in ``answers``.

    Parameters
    ----------
    answers : VoteMatrix
        The candidates' answers; answers on items outside the gold set are ignored.
    gold : GoldSet
        Matched to ``answers`` (:func:`consensus.data.read_gold`).
    min_accuracy, tolerance, alpha, beta
        The sequential test (module docstring): pass at ``min_accuracy``, fail at
        ``min_accuracy - tolerance``, wrongly passing at most ``alpha`` of the time,
        wrongly failing at most ``beta``.
    min_class_recall : float, optional
        Recall every gold class must reach; see "Class floors" in the module docstring.
    confidence : float
        Coverage of the reported Wilson interval (evidence only; the decision is the test's).

    Returns
    -------
    VetReport
        ``exit_code`` is 0 if all passed, 1 if any failed, 3 if none failed but some
        are undecided.
    """
    test = Sprt.for_threshold(min_accuracy, tolerance, alpha, beta)
    if min_class_recall is not None and not 0.0 < min_class_recall < 1.0:
        raise InputError(
            f"min_class_recall must be between 0 and 1 (e.g. 0.6), not {min_class_recall!r}"
        )
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must be between 0 and 1 (e.g. 0.95), not {confidence!r}")

    confusion = gold_confusion(answers, gold)
    accuracy = accuracy_columns(confusion, confidence)
    n, correct = accuracy["n_gold"], accuracy["correct"]
    llr = test.log_lr(correct, n)
    decision = test.decide(correct, n)
    more = test.more_items(correct, n)
    support = confusion.sum(axis=2)  # (candidate, class): gold answers per true class
    hits = np.diagonal(confusion, axis1=1, axis2=2)

    floor = test.p0 if min_class_recall is None else min_class_recall
    weak, surely_below, unseen = _class_checks(hits, support, gold.class_counts() > 0, floor, beta)
    # An unanswered class matters only under a floor, and only where it stops a pass.
    unseen &= (decision == 1)[:, np.newaxis] & (min_class_recall is not None)
    weak_text = _name_classes(answers.classes, weak, unseen, hits, support)

    reason = pd.Series(
        np.select(
            [n == 0, decision == 1, decision == -1],
            [
                "answered no gold items",
                f"evidence favours accuracy >= {test.p1:g} over <= {test.p0:g}",
                f"evidence favours accuracy <= {test.p0:g} over >= {test.p1:g}",
            ],
            f"not yet clear whether accuracy is >= {test.p1:g} or <= {test.p0:g}",
        ),
        dtype=object,
    )
    if min_class_recall is not None:
        failed = surely_below.any(axis=1)
        blocked = (decision == 1) & ~failed & (weak | unseen).any(axis=1)
        decision = np.where(failed, -1, np.where(blocked, 0, decision))
        more = np.where(failed, 0, more)
        more = np.where(blocked, _items_to_floor(hits, support, weak | unseen, floor), more)
        reason[failed] = (
            f"recall below the class floor {floor:g} on: "
            + weak_text[failed]
            + "; overall, "
            + reason[failed]
        )
        reason[blocked] = (
            f"overall accuracy passes, but recall is not shown to reach {floor:g} on: "
            + weak_text[blocked]
        )
    else:
        flagged = (decision == 1) & (weak_text != "").to_numpy()
        reason[flagged] = reason[flagged] + "; weak on: " + weak_text[flagged]

    labels = np.array([FAIL, UNDECIDED, PASS], dtype=object)[decision.astype(np.int64) + 1]
    table = pd.DataFrame(
        {
            "annotator": answers.annotator_ids,
            "decision": labels,
            **accuracy,
            "log_lr": llr,
            "more_items_needed": more.astype(np.int64),
            "weak_classes": weak_text.to_numpy(),
            "reason": reason.to_numpy(),
        }
    )
    order = np.lexsort((accuracy["accuracy"], decision))
    return VetReport(
        candidates=table.iloc[order].reset_index(drop=True),
        test=test,
        min_class_recall=min_class_recall,
        confidence=confidence,
        n_gold_items=gold.n_items,
    )


def _class_checks(
    hits: np.ndarray, support: np.ndarray, in_gold: np.ndarray, floor: float, beta: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (candidate, class) booleans, shape (n_candidates, n_classes).

    ``weak``: recall below the floor; ``surely_below``: its one-sided upper bound too,
    at level ``beta`` shared among the gold classes; ``unseen``: a gold class the
    candidate answered no item of.
    """
    share = max(int(in_gold.sum()), 1)
    _, upper = wilson_interval(hits, support, confidence=1.0 - 2.0 * beta / share)
    seen = support > 0
    weak = seen & (hits < floor * support)
    return weak, seen & (upper < floor), ~seen & in_gold[np.newaxis, :]


def _items_to_floor(
    hits: np.ndarray, support: np.ndarray, flagged: np.ndarray, floor: float
) -> np.ndarray:
    """Fewest further right answers on the flagged classes that lift each to the floor.

    A lower bound (every further answer right), used where the overall test has
    already passed and only the class floor is open.
    """
    needed = np.maximum(np.ceil((floor * support - hits) / (1.0 - floor)), 1.0)
    return np.where(flagged, needed, 0.0).sum(axis=1).astype(np.int64)


def _name_classes(
    classes: np.ndarray,
    weak: np.ndarray,
    unseen: np.ndarray,
    hits: np.ndarray,
    support: np.ndarray,
) -> pd.Series:
    """``"lynx 0/5, dog none answered"`` per candidate: flagged classes, right/answered."""
    text = pd.Series("", index=range(len(weak)), dtype=object)
    for k, name in enumerate(classes):
        counts = pd.Series(hits[:, k]).astype(str) + "/" + pd.Series(support[:, k]).astype(str)
        piece = f"{name} " + counts.where(~unseen[:, k], "none answered")
        joined = text.where(text == "", text + ", ") + piece
        text = text.where(~(weak[:, k] | unseen[:, k]), joined)
    return text
