"""Drawing items, annotators and votes from a fitted crowd, vectorised over items.

Annotators are drawn per item without repetition, each with probability
proportional to their share of the work among those not yet drawn for the item
(successive sampling, as a platform hands items out), so the first ``k`` of ``m``
draws are themselves a draw of ``k``: one simulation serves every ``k``. Votes are
drawn by inverse CDF from uniforms drawn once, so alternative confusion matrices
are compared on common random numbers.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import InputError


def draw_annotators(share: np.ndarray, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """(n, k) annotator codes, distinct within a row, drawn in order by successive sampling."""
    active = int(np.count_nonzero(share > 0))
    if k > active:
        raise InputError(f"{k} annotators per item asked, but only {active} have votes")
    cdf = np.cumsum(share / share.sum())
    drawn = np.empty((n, k), dtype=np.int64)
    for slot in range(k):  # a handful of slots; every operation inside runs over all items
        todo = np.arange(n)
        for _ in range(200):
            pick = np.minimum(np.searchsorted(cdf, rng.random(len(todo)), side="right"),
                              len(cdf) - 1)
            drawn[todo, slot] = pick
            clash = (drawn[todo, :slot] == pick[:, None]).any(axis=1)
            todo = todo[clash]
            if not len(todo):
                break
        if len(todo):  # a dominant annotator: draw the rest from the renormalised remainder
            for row in todo:
                left = share.copy()
                left[drawn[row, :slot]] = 0.0
                drawn[row, slot] = rng.choice(len(share), p=left / left.sum())
    return drawn


def draw_votes(
    confusion: np.ndarray, annotators: np.ndarray, truth: np.ndarray, uniforms: np.ndarray,
    rho: float = 0.0,
) -> np.ndarray:
    """(n, k) labels: annotator ``annotators[i, j]``'s answer on an item of class ``truth[i]``.

    With ``rho`` > 0 the votes on an item are correlated as real votes are (easy items
    draw agreement, hard ones splits): vote ``j`` follows a Pólya urn that mixes its
    annotator's confusion row, with weight ``c = (1 - rho) / rho``, and the labels
    already given on the item, one each; the intra-item correlation is then ``rho``,
    the one :mod:`consensus.quality.overdispersion` measures, and each vote still
    follows its annotator's row on average.
    """
    rows = confusion[annotators, truth[:, None]]  # (n, k, K)
    if rho <= 0:
        cdf = np.cumsum(rows, axis=-1)
        return (uniforms[..., None] >= cdf[..., :-1]).sum(axis=-1).astype(np.int64)
    weight = (1.0 - rho) / rho
    n, k, n_classes = rows.shape
    given = np.zeros((n, n_classes))
    labels = np.empty((n, k), dtype=np.int64)
    for slot in range(k):
        p = (weight * rows[:, slot] + given) / (weight + slot)
        cdf = np.cumsum(p, axis=-1)
        labels[:, slot] = (uniforms[:, slot, None] >= cdf[:, :-1]).sum(axis=-1)
        given[np.arange(n), labels[:, slot]] += 1.0
    return labels


def draw_truth(priors: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Classes by inverse CDF of the priors."""
    cdf = np.cumsum(priors)
    return np.minimum(np.searchsorted(cdf, uniforms * cdf[-1], side="right"), len(priors) - 1)


def vote_evidence(log_confusion: np.ndarray, annotators: np.ndarray,
                  labels: np.ndarray) -> np.ndarray:
    """(n, k, K): the log-likelihood each vote gives every class, under the fitted confusions."""
    return log_confusion[annotators, :, labels]
