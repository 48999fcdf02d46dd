"""Synthetic crowd votes with known truth and known annotator confusion matrices.

A simulation draws, in this order and all from one seeded generator:

1. the true class of every item, from ``priors``;
2. one confusion matrix per annotator: a diagonal (accuracy) from a Beta
   distribution, the remaining mass of each row spread over the wrong labels by
   a Dirichlet, then a chosen share of annotators replaced by spammers (rows
   that ignore the truth) and adversaries (who favour one fixed wrong label);
3. which annotators vote on each item: ``votes_per_item`` distinct annotators,
   drawn one after another with probability proportional to their activity
   among those not yet chosen for the item (sampling without replacement);
4. every vote's label, from its annotator's confusion row for the item's truth.

Everything is vectorised over votes, items and annotators; the only Python
loops run over the (few) vote positions of an item, so a simulation of ten
million items takes seconds. The same parameters and seed always give the same
votes.

The Bayes-optimal posterior, which no model fitted to the votes can beat on
average, comes from the true parameters by one E-step (:func:`bayes_posteriors`).

Examples
--------
The "sparse" regime: many annotators with a long tail of activity, three votes
per item.

>>> sim = simulate(50_000, 2_000, n_classes=3, votes_per_item=3, activity=1.0, seed=7)
>>> sim.votes.n_votes
150000
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .data.votes import VoteMatrix
from .exceptions import InputError
from .models import em

#: Names of the annotator kinds in :attr:`Simulation.kind`.
RELIABLE, SPAMMER, ADVERSARY = "reliable", "spammer", "adversary"


@dataclass(frozen=True, eq=False)
class Simulation:
    """Simulated votes and the truth that produced them.

    Attributes
    ----------
    votes : VoteMatrix
        Item ids ``0..n_items-1``, annotator ids ``0..n_annotators-1`` (annotators
        who drew no vote keep their id, so codes index ``confusion`` directly),
        classes ``0..n_classes-1``. Votes are ordered by item.
    truth : ndarray of int64, shape (n_items,)
        True class code of every item.
    confusion : ndarray of float64, shape (n_annotators, n_classes, n_classes)
        ``confusion[a, k, l]`` = P(annotator a says l | true class k); the layout
        of the models' ``confusion_``.
    priors : ndarray of float64, shape (n_classes,)
        Class distribution the truth was drawn from.
    activity : ndarray of float64, shape (n_annotators,)
        Probability of each annotator being the first pick for an item. Because an
        annotator votes at most once per item, the busiest annotators end up with
        a slightly smaller share of votes than this (see ``votes.votes_per_annotator``).
    kind : ndarray of str, shape (n_annotators,)
        ``"reliable"``, ``"spammer"`` or ``"adversary"``.
    """

    votes: VoteMatrix
    truth: np.ndarray
    confusion: np.ndarray
    priors: np.ndarray
    activity: np.ndarray
    kind: np.ndarray

    @property
    def annotator_accuracy(self) -> np.ndarray:
        """True expected accuracy per annotator: sum_k prior_k * P(says k | true k)."""
        return np.diagonal(self.confusion, axis1=1, axis2=2) @ self.priors

    def accuracy(self, label_codes: np.ndarray) -> float:
        """Share of items whose predicted class code equals the truth."""
        codes = np.asarray(label_codes)
        if codes.shape != self.truth.shape:
            raise InputError(
                f"expected one label code per item ({self.truth.shape[0]}), got {codes.shape}"
            )
        return float(np.mean(codes == self.truth))


def zipf_activity(n_annotators: int, exponent: float) -> np.ndarray:
    """Activity ∝ rank^-exponent, annotator 0 being rank 1; exponent 0 is uniform."""
    weights = np.arange(1, n_annotators + 1, dtype=np.float64) ** -float(exponent)
    return weights / weights.sum()


def simulate(
    n_items: int,
    n_annotators: int,
    n_classes: int = 2,
    *,
    votes_per_item: int = 3,
    priors: Any = None,
    activity: Any = 0.0,
    accuracy: tuple[float, float] = (8.0, 2.0),
    class_specific: bool = True,
    error_concentration: float | None = 1.0,
    spammer_share: float = 0.0,
    adversary_share: float = 0.0,
    seed: int | np.random.Generator = 0,
) -> Simulation:
    """Draw a crowd, a truth and the crowd's votes on it.

    Parameters
    ----------
    n_items, n_annotators, n_classes : int
        Sizes. Every item gets votes; an annotator may get none.
    votes_per_item : int
        Distinct annotators per item; at most the number of annotators with
        positive activity.
    priors : array-like of shape (n_classes,), optional
        Class distribution of the truth (normalised here); uniform by default.
    activity : float or array-like of shape (n_annotators,)
        A number is a Zipf exponent s: annotator a (rank a + 1) is picked with
        probability ∝ (a + 1)^-s, so annotator 0 is the busiest and s = 0 is
        uniform. An array gives the weights directly.
    accuracy : (alpha, beta)
        Beta distribution of the diagonal P(says k | true k); (8, 2) has mean 0.8.
    class_specific : bool
        Draw the diagonal per (annotator, class), a full Dawid–Skene world; else
        one accuracy per annotator shared by all classes.
    error_concentration : float or None
        Dirichlet concentration spreading each row's error mass over the wrong
        labels: small values make an annotator's errors systematic (one favourite
        wrong label), large ones even. None spreads it exactly evenly, which with
        ``class_specific=False`` is the one-coin model.
    spammer_share, adversary_share : float
        Shares of annotators (rounded to whole annotators, chosen at random) who
        are spammers, giving labels from one Dirichlet(1) draw whatever the truth,
        or adversaries, whose drawn confusion is shifted so that on class k they
        give class (k + 1) mod K with the drawn accuracy (for two classes: they
        flip the label).
    seed : int or numpy.random.Generator
        Everything random comes from this generator.

    Returns
    -------
    Simulation
    """
    _check_sizes(n_items, n_annotators, n_classes, votes_per_item)
    rng = np.random.default_rng(seed)
    prior = _class_priors(priors, n_classes)
    weights = _activity(activity, n_annotators)
    if votes_per_item > np.count_nonzero(weights):
        raise InputError(
            f"votes_per_item ({votes_per_item}) is more than the {np.count_nonzero(weights)} "
            f"annotators with positive activity; every vote on an item needs its own annotator"
        )

    truth = rng.choice(n_classes, size=n_items, p=prior)
    confusion, kind = _confusion(
        rng, n_annotators, n_classes, accuracy, class_specific, error_concentration,
        spammer_share, adversary_share,
    )
    chosen = _distinct_annotators(rng, weights, n_items, votes_per_item)
    annotator_codes = chosen.ravel()
    item_codes = np.repeat(np.arange(n_items, dtype=np.int64), votes_per_item)
    label_codes = _draw_labels(rng, confusion, annotator_codes, truth[item_codes])

    votes = VoteMatrix(
        item_codes.astype(np.int32),
        annotator_codes.astype(np.int32),
        label_codes.astype(np.int32),
        np.arange(n_items, dtype=object),
        np.arange(n_annotators, dtype=object),
        np.arange(n_classes, dtype=object),
    )
    return Simulation(votes, truth.astype(np.int64), confusion, prior, weights, kind)


def bayes_posteriors(sim: Simulation) -> np.ndarray:
    """P(true class | votes) under the true parameters, shape (n_items, n_classes).

    One E-step in log space with the true confusion matrices and priors: the
    best any aggregation of these votes can do.
    """
    log_weights = em.log_weights_from_confusion(em.safe_log(sim.confusion))
    posteriors, _ = em.e_step(sim.votes.item_annotator_label.astype(np.float64), log_weights,
                               em.safe_log(sim.priors))
    return np.ascontiguousarray(posteriors.T)


def bayes_accuracy(sim: Simulation) -> float:
    """Accuracy of the Bayes-optimal labels (argmax of :func:`bayes_posteriors`) on this draw."""
    return sim.accuracy(bayes_posteriors(sim).argmax(axis=1))


# ---------------------------------------------------------------- internals
def _check_sizes(n_items: int, n_annotators: int, n_classes: int, votes_per_item: int) -> None:
    for name, value, least in (
        ("n_items", n_items, 1),
        ("n_annotators", n_annotators, 1),
        ("n_classes", n_classes, 2),
        ("votes_per_item", votes_per_item, 1),
    ):
        if not isinstance(value, (int, np.integer)) or value < least:
            raise InputError(f"{name} must be an integer >= {least}, not {value!r}")
    if n_items * votes_per_item >= 2**31:
        raise InputError(
            f"{n_items} items x {votes_per_item} votes exceeds the int32 codes of a VoteMatrix"
        )


def _class_priors(priors: Any, n_classes: int) -> np.ndarray:
    if priors is None:
        return np.full(n_classes, 1.0 / n_classes)
    p = np.asarray(priors, dtype=np.float64)
    if p.shape != (n_classes,) or not np.all(np.isfinite(p)) or p.min() < 0 or p.sum() <= 0:
        raise InputError(
            f"priors must be {n_classes} non-negative numbers with a positive sum, not {priors!r}"
        )
    return p / p.sum()


def _activity(activity: Any, n_annotators: int) -> np.ndarray:
    if np.ndim(activity) == 0:
        exponent = float(activity)
        if not np.isfinite(exponent) or exponent < 0:
            raise InputError(f"a Zipf activity exponent must be >= 0, not {activity!r}")
        return zipf_activity(n_annotators, exponent)
    w = np.asarray(activity, dtype=np.float64)
    if w.shape != (n_annotators,) or not np.all(np.isfinite(w)) or w.min() < 0 or w.sum() <= 0:
        raise InputError(
            f"activity weights must be {n_annotators} non-negative numbers with a positive sum"
        )
    return w / w.sum()


def _confusion(
    rng: np.random.Generator,
    n_annotators: int,
    n_classes: int,
    accuracy: tuple[float, float],
    class_specific: bool,
    error_concentration: float | None,
    spammer_share: float,
    adversary_share: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Confusion matrices (A, K, K) and the kind of every annotator."""
    alpha, beta = (float(x) for x in accuracy)
    if not (alpha > 0 and beta > 0):
        raise InputError(f"accuracy must be Beta parameters (alpha, beta) > 0, not {accuracy!r}")
    if error_concentration is not None and not error_concentration > 0:
        raise InputError(f"error_concentration must be > 0 or None, not {error_concentration!r}")
    for name, share in (("spammer_share", spammer_share), ("adversary_share", adversary_share)):
        if not 0 <= share <= 1:
            raise InputError(f"{name} must be between 0 and 1, not {share!r}")
    n_spam = int(round(spammer_share * n_annotators))
    n_adv = int(round(adversary_share * n_annotators))
    if n_spam + n_adv > n_annotators:
        raise InputError("spammer_share + adversary_share must not exceed 1")

    a, k = n_annotators, n_classes
    diag = rng.beta(alpha, beta, size=(a, k) if class_specific else (a, 1))
    diag = np.broadcast_to(diag, (a, k))
    off_diagonal = ~np.eye(k, dtype=bool)
    if error_concentration is None:
        spread = np.broadcast_to(off_diagonal / (k - 1), (a, k, k))
    else:
        gammas = rng.gamma(error_concentration, size=(a, k, k)) * off_diagonal
        # Gamma draws underflow to 0 for tiny concentrations; fall back to even spread.
        totals = gammas.sum(axis=2, keepdims=True)
        spread = np.where(totals > 0, gammas / np.where(totals > 0, totals, 1.0),
                          off_diagonal / (k - 1))
    confusion = spread * (1.0 - diag)[:, :, None]
    idx = np.arange(k)
    confusion[:, idx, idx] = diag

    kind = np.full(a, RELIABLE, dtype="<U9")
    order = rng.permutation(a)
    spammers, adversaries = order[:n_spam], order[n_spam:n_spam + n_adv]
    kind[spammers] = SPAMMER
    kind[adversaries] = ADVERSARY
    # Adversaries: on class k, the drawn accuracy goes to label (k + 1) mod K.
    confusion[adversaries] = np.roll(confusion[adversaries], 1, axis=2)
    rows = rng.dirichlet(np.ones(k), size=n_spam)
    confusion[spammers] = rows[:, None, :]
    return confusion, kind


def _distinct_annotators(
    rng: np.random.Generator, weights: np.ndarray, n_items: int, per_item: int
) -> np.ndarray:
    """Annotators per item, shape (n_items, per_item), drawn without replacement.

    Successive sampling: the j-th pick of an item is drawn with probability
    ∝ ``weights`` among the annotators not yet picked for it. A uniform number on
    the remaining mass is mapped onto the full cumulative distribution by
    stepping over the excluded annotators' intervals in index order, so no
    draw is ever rejected.
    """
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    start = cdf - weights / weights.sum()  # left end of each annotator's interval
    chosen = np.empty((n_items, per_item), dtype=np.int64)
    for j in range(per_item):
        taken = np.sort(chosen[:, :j], axis=1)
        free = 1.0 - (weights[taken].sum(axis=1) / weights.sum() if j else 0.0)
        position = rng.random(n_items) * free
        for m in range(j):
            past = position >= start[taken[:, m]]
            position += np.where(past, cdf[taken[:, m]] - start[taken[:, m]], 0.0)
        pick = np.minimum(np.searchsorted(cdf, position, side="right"), len(weights) - 1)
        chosen[:, j] = pick
    # Rounding can land a draw on the edge of an excluded interval; redraw those few.
    for j in range(1, per_item):
        clash = np.flatnonzero((chosen[:, :j] == chosen[:, j:j + 1]).any(axis=1))
        while clash.size:
            chosen[clash, j] = rng.choice(len(weights), size=clash.size, p=weights)
            still = (chosen[clash, :j] == chosen[clash, j:j + 1]).any(axis=1)
            clash = clash[still]
    return chosen


def _draw_labels(
    rng: np.random.Generator, confusion: np.ndarray, annotators: np.ndarray, truth: np.ndarray
) -> np.ndarray:
    """One label per vote from row ``confusion[annotator, truth]``, by inverse CDF.

    The rows' CDFs are laid end to end, row r occupying (r, r + 1], so a single
    ``searchsorted`` over all rows draws every vote at once.
    """
    n_annotators, k, _ = confusion.shape
    cdf = np.cumsum(confusion, axis=2)
    cdf[:, :, -1] = 1.0
    rows = np.arange(n_annotators * k, dtype=np.float64)
    laid = (cdf.reshape(-1, k) + rows[:, None]).ravel()
    row = annotators * k + truth
    found = np.searchsorted(laid, row + rng.random(row.shape[0]), side="right")
    return np.clip(found - row * k, 0, k - 1)
