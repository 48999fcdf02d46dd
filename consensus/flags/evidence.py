"""The per-vote and per-item quantities flags are made of, as pure functions over arrays.

Every score here is a probability that something is wrong, taken from the
reported (honest) posteriors, so scores are comparable across items, votes and
classes: a rare class is flagged only where its items really are in doubt.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.votes import VoteMatrix


def vote_error_probability(posteriors: np.ndarray, votes: VoteMatrix) -> np.ndarray:
    """P(the vote's label is not the item's true class), per vote (n_votes,).

    The posteriors already weigh every vote by its annotator's confusion matrix, so
    a vote from an annotator who often says ``dog`` for ``cat`` moved the item's
    posterior little, and the rest of the evidence decides.
    """
    return 1.0 - posteriors[votes.item_codes, votes.label_codes]


def split_classes(posteriors: np.ndarray, classes: np.ndarray, min_share: float) -> pd.Series:
    """``"cat/dog"`` per item: the classes holding at least ``min_share`` of the posterior,
    most probable first."""
    order = np.argsort(-posteriors, axis=1, kind="stable")
    text = pd.Series("", index=range(len(posteriors)), dtype=object)
    for rank in range(posteriors.shape[1]):
        code = order[:, rank]
        share = posteriors[np.arange(len(posteriors)), code]
        names = pd.Series(classes.astype(str)[code])
        keep = share >= min_share
        joined = text.where(text == "", text + "/") + names
        text = text.where(~keep, joined)
    return text


def reliable_voters(votes: VoteMatrix, reliable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per item: how many votes come from reliable annotators, and how many distinct labels
    they give. ``reliable`` is a bool per annotator."""
    from_reliable = reliable[votes.annotator_codes]
    n_reliable = np.bincount(votes.item_codes, weights=from_reliable, minlength=votes.n_items)
    flat = votes.item_codes.astype(np.int64) * votes.n_classes + votes.label_codes
    used = np.zeros(votes.n_items * votes.n_classes, dtype=bool)
    used[flat[from_reliable]] = True
    n_labels = used.reshape(votes.n_items, votes.n_classes).sum(axis=1)
    return n_reliable.astype(np.int64), n_labels


def votes_text(votes: VoteMatrix) -> pd.Series:
    """``"cat×2 dog×1"`` per item: the evidence in one line, most votes first."""
    counts = votes.label_counts.astype(np.int64)
    order = np.argsort(-counts, axis=1, kind="stable")
    rows = np.arange(votes.n_items)
    text = pd.Series("", index=range(votes.n_items), dtype=object)
    names = votes.classes.astype(str)
    for rank in range(votes.n_classes):
        code = order[:, rank]
        n = counts[rows, code]
        piece = pd.Series(names[code], dtype=object) + "×" + pd.Series(n).astype(str)
        joined = text.where(text == "", text + " ") + piece
        text = text.where(n == 0, joined)
    return text
