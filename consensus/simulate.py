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
4. every vote's label, from its annotator's confusion row for the item's truth;
5. optionally (``shared_bias``), a group of annotators and a subset of items on
   which that group shares one way of misreading them: those votes are drawn
   again from the bias's rows. Drawn last, so every other draw is the same with
   or without it.

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


@dataclass(frozen=True)
class SharedBias:
    """A group of annotators who misread some items the same way.

    On an *affected* item of true class k, annotators in the group give labels
    from ``group_rows[k]`` and everyone else from ``other_rows[k]`` (from their own
    confusion row when ``other_rows`` is None), instead of from their confusion
    matrices. Whether an item of class k is affected is drawn per item, with
    probability ``items[k]``. Votes on affected items are correlated beyond what
    any Dawid–Skene model (one confusion matrix per annotator) can express, which
    is what lets a latent class drift to mean "items the group reads differently"
    (see :func:`phantom_class_crowd`).

    Attributes
    ----------
    group_share : float
        Share of annotators in the group (rounded to whole annotators, chosen at random).
    items : sequence of float, length n_classes
        Share of each true class's items that are affected.
    group_rows, other_rows : array-like of shape (n_classes, n_classes)
        Label distributions on affected items, one row per true class. Rows of
        classes with no affected items are never used but must still be distributions.
    """

    group_share: float
    items: tuple[float, ...]
    group_rows: Any
    other_rows: Any = None


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
    shared_bias : SharedBias or None
        The shared bias the votes were drawn with, if any.
    in_group : ndarray of bool, shape (n_annotators,), or None
        Annotators in the bias's group (None without a shared bias).
    affected : ndarray of bool, shape (n_items,), or None
        Items the bias applies to (None without a shared bias).
    """

    votes: VoteMatrix
    truth: np.ndarray
    confusion: np.ndarray
    priors: np.ndarray
    activity: np.ndarray
    kind: np.ndarray
    shared_bias: SharedBias | None = None
    in_group: np.ndarray | None = None
    affected: np.ndarray | None = None

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
    error_weights: Any = None,
    shared_bias: SharedBias | None = None,
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
    error_weights : array-like of shape (n_classes,), optional
        How strongly each label attracts errors: each row's error mass is spread
        in proportion to these weights times the Dirichlet draw. A small weight
        makes a label that is hardly ever given by mistake. Even by default.
    shared_bias : SharedBias, optional
        A group of annotators misreading some items alike; its votes are drawn
        after all the others, so the rest of the simulation is unchanged by it.
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
    attraction = _error_weights(error_weights, n_classes)
    if shared_bias is not None:
        _bias_arrays(shared_bias, n_classes)  # checked before anything is drawn
    if votes_per_item > np.count_nonzero(weights):
        raise InputError(
            f"votes_per_item ({votes_per_item}) is more than the {np.count_nonzero(weights)} "
            f"annotators with positive activity; every vote on an item needs its own annotator"
        )

    truth = rng.choice(n_classes, size=n_items, p=prior)
    confusion, kind = _confusion(
        rng, n_annotators, n_classes, accuracy, class_specific, error_concentration,
        spammer_share, adversary_share, attraction,
    )
    chosen = _distinct_annotators(rng, weights, n_items, votes_per_item)
    annotator_codes = chosen.ravel()
    item_codes = np.repeat(np.arange(n_items, dtype=np.int64), votes_per_item)
    label_codes = _draw_labels(rng, confusion, annotator_codes, truth[item_codes])
    in_group = affected = None
    if shared_bias is not None:
        in_group, affected = _draw_shared_bias(
            rng, shared_bias, confusion, annotator_codes, item_codes, truth, label_codes
        )

    votes = VoteMatrix(
        item_codes.astype(np.int32),
        annotator_codes.astype(np.int32),
        label_codes.astype(np.int32),
        np.arange(n_items, dtype=object),
        np.arange(n_annotators, dtype=object),
        np.arange(n_classes, dtype=object),
    )
    return Simulation(votes, truth.astype(np.int64), confusion, prior, weights, kind,
                      shared_bias, in_group, affected)


def bayes_posteriors(sim: Simulation) -> np.ndarray:
    """P(true class | votes) under the true parameters, shape (n_items, n_classes).

    One E-step in log space with the true confusion matrices and priors: the
    best any aggregation of these votes can do. With a shared bias, each class's
    likelihood mixes the item being affected (the bias's rows) or not.
    """
    counts = sim.votes.item_annotator_label.astype(np.float64)
    log_prior = em.safe_log(sim.priors)
    log_weights = em.log_weights_from_confusion(em.safe_log(sim.confusion))
    if sim.shared_bias is None:
        posteriors, _ = em.e_step(counts, log_weights, log_prior)
        return np.ascontiguousarray(posteriors.T)
    assert sim.in_group is not None  # set together with shared_bias
    items, group_rows, other_rows = _bias_arrays(sim.shared_bias, len(sim.priors))
    rows = _bias_confusion(sim.confusion, sim.in_group, group_rows, other_rows)
    plain = em.log_joint(counts, log_weights, em.safe_log(1.0 - items) + log_prior)
    affected = em.log_joint(
        counts, em.log_weights_from_confusion(em.safe_log(rows)), em.safe_log(items) + log_prior
    )
    posteriors, _ = em.normalize_log_inplace(np.logaddexp(plain, affected))
    return np.ascontiguousarray(posteriors.T)


def bayes_accuracy(sim: Simulation) -> float:
    """Accuracy of the Bayes-optimal labels (argmax of :func:`bayes_posteriors`) on this draw."""
    return sim.accuracy(bayes_posteriors(sim).argmax(axis=1))


def phantom_class_crowd(
    n_items: int = 42_000,
    n_annotators: int = 40,
    n_classes: int = 3,
    *,
    votes_per_item: int = 5,
    activity: float = 0.5,
    rare_share: float = 0.002,
    group_share: float = 0.3,
    confused_share: float = 0.3,
    rare_rate: float = 0.01,
    rare_accuracy: float = 0.5,
    bias_strength: float = 0.95,
    rare_error_weight: float = 0.002,
    seed: int | np.random.Generator = 0,
) -> Simulation:
    """A crowd in which Dawid–Skene can turn a rare label into a "phantom" class.

    The last class is rare (``rare_share`` of the items) and hardly ever given by
    mistake (each annotator's errors go to it with weight ``rare_error_weight``,
    to every other wrong label with weight 1). A group of annotators
    (``group_share``) reads a share ``confused_share`` of class 0's items as
    class 1 (with probability ``bias_strength``) while everyone else reads them
    as class 0 (likewise), and anyone may give the rare label on them
    (``rare_rate``, e.g. when unsure). The rare class's own items are split the
    same way where annotators do not give the rare label (``rare_accuracy``).
    The other classes' items follow the annotators' confusion matrices
    (Beta(8, 2) accuracies), and the common classes are equally likely.

    Dawid–Skene fitted to such votes can let the rare class's latent class
    drift to mean "items the group reads differently": it then wins a tenth of
    the items, although its label is a fraction of a percent of the votes. The
    defaults are roughly the shape of a real 3-class dataset where that happened
    (42,624 items, about 5 votes each, the rare label 0.14% of the votes).
    """
    if not n_classes >= 3:
        raise InputError(f"a phantom-class crowd needs n_classes >= 3, not {n_classes!r}")
    for name, value in (("rare_share", rare_share), ("rare_rate", rare_rate),
                        ("rare_accuracy", rare_accuracy), ("bias_strength", bias_strength),
                        ("rare_error_weight", rare_error_weight)):
        if not 0 <= value <= 1:
            raise InputError(f"{name} must be between 0 and 1, not {value!r}")
    rare = n_classes - 1
    priors = np.full(n_classes, (1.0 - rare_share) / (n_classes - 1))
    priors[rare] = rare_share
    attraction = np.ones(n_classes)
    attraction[rare] = rare_error_weight
    group_rows = np.eye(n_classes)
    other_rows = np.eye(n_classes)
    for row, keep in ((0, 1.0 - rare_rate), (rare, 1.0 - rare_accuracy)):
        for rows, side in ((group_rows, bias_strength), (other_rows, 1.0 - bias_strength)):
            rows[row] = 0.0
            rows[row, rare] = 1.0 - keep
            rows[row, 1] = keep * side
            rows[row, 0] = keep * (1.0 - side)
    items = np.zeros(n_classes)
    items[0], items[rare] = confused_share, 1.0
    bias = SharedBias(group_share, tuple(items), group_rows, other_rows)
    return simulate(
        n_items, n_annotators, n_classes, votes_per_item=votes_per_item, priors=priors,
        activity=activity, error_concentration=None, error_weights=attraction,
        shared_bias=bias, seed=seed,
    )


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


def _error_weights(weights: Any, n_classes: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_classes,) or not np.all(np.isfinite(w)) or w.min() < 0:
        raise InputError(f"error_weights must be {n_classes} non-negative numbers, not {weights!r}")
    if np.any(w.sum() - w <= 0):
        raise InputError(
            f"error_weights {weights!r} leave some class with no wrong label to err towards"
        )
    return w


def _bias_arrays(
    bias: SharedBias, n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The bias's item shares (K,) and rows (K, K), checked."""
    if not 0 <= bias.group_share <= 1:
        raise InputError(f"the shared bias's group_share must be between 0 and 1, "
                         f"not {bias.group_share!r}")
    items = np.asarray(bias.items, dtype=np.float64)
    if items.shape != (n_classes,) or not np.all((items >= 0) & (items <= 1)):
        raise InputError(f"the shared bias's items must be {n_classes} shares between 0 "
                         f"and 1, not {bias.items!r}")
    other = None if bias.other_rows is None else _rows(bias.other_rows, "other_rows", n_classes)
    return items, _rows(bias.group_rows, "group_rows", n_classes), other


def _rows(value: Any, name: str, n_classes: int) -> np.ndarray:
    rows = np.asarray(value, dtype=np.float64)
    if (rows.shape != (n_classes, n_classes) or not np.all(np.isfinite(rows)) or rows.min() < 0
            or not np.allclose(rows.sum(axis=1), 1.0)):
        raise InputError(f"the shared bias's {name} must be {n_classes} x {n_classes} rows "
                         f"of probabilities summing to 1, not {value!r}")
    return rows


def _draw_shared_bias(
    rng: np.random.Generator,
    bias: SharedBias,
    confusion: np.ndarray,
    annotator_codes: np.ndarray,
    item_codes: np.ndarray,
    truth: np.ndarray,
    label_codes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the group and the affected items, then redraw the votes on those items
    (``label_codes`` in place). Returns the group (A,) and affected items (n,) masks."""
    n_annotators, n_classes, _ = confusion.shape
    items, group_rows, other_rows = _bias_arrays(bias, n_classes)
    in_group = np.zeros(n_annotators, dtype=bool)
    in_group[rng.permutation(n_annotators)[: int(round(bias.group_share * n_annotators))]] = True
    affected = rng.random(truth.shape[0]) < items[truth]
    hit = np.flatnonzero(affected[item_codes])
    rows = _bias_confusion(confusion, in_group, group_rows, other_rows)
    label_codes[hit] = _draw_labels(rng, rows, annotator_codes[hit], truth[item_codes[hit]])
    return in_group, affected


def _bias_confusion(
    confusion: np.ndarray,
    in_group: np.ndarray,
    group_rows: np.ndarray,
    other_rows: np.ndarray | None,
) -> np.ndarray:
    """Every annotator's rows on affected items (A, K, K)."""
    rows = confusion.copy()
    rows[in_group] = group_rows
    if other_rows is not None:
        rows[~in_group] = other_rows
    return rows


def _confusion(
    rng: np.random.Generator,
    n_annotators: int,
    n_classes: int,
    accuracy: tuple[float, float],
    class_specific: bool,
    error_concentration: float | None,
    spammer_share: float,
    adversary_share: float,
    attraction: np.ndarray | None = None,
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
    even = off_diagonal / (k - 1)
    if attraction is not None:
        even = off_diagonal * attraction
        even /= even.sum(axis=1, keepdims=True)
    if error_concentration is None:
        spread = np.broadcast_to(even, (a, k, k))
    else:
        gammas = rng.gamma(error_concentration, size=(a, k, k)) * off_diagonal
        if attraction is not None:
            gammas *= attraction
        # Gamma draws underflow to 0 for tiny concentrations; fall back to even spread.
        totals = gammas.sum(axis=2, keepdims=True)
        spread = np.where(totals > 0, gammas / np.where(totals > 0, totals, 1.0), even)
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
