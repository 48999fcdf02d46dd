"""The tables a fit produces: one row per item, per annotator, per confusion cell.

Everything here speaks the user's ids and label names; nothing here fits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaincinv

from ..data.votes import VoteMatrix
from ..models.base import Aggregator

#: Annotators with fewer votes than this are left out of the "least reliable" list.
MIN_VOTES_TO_RANK = 10


def _column_names(prefix: str, classes: np.ndarray) -> list[str]:
    return [f"{prefix}{c}" for c in classes]


def item_table(
    votes: VoteMatrix,
    model: Aggregator,
    posteriors: np.ndarray | None = None,
    label_codes: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per item: consensus label, its posterior, votes, agreement, posteriors.

    ``posteriors`` and ``label_codes`` replace the model's (for example after
    calibration, or where a confident crowd overrules a model's predictions).
    """
    posteriors = model.posteriors_ if posteriors is None else posteriors
    codes = model.label_codes_ if label_codes is None else label_codes
    rows = np.arange(votes.n_items)
    n_votes = votes.votes_per_item
    agreeing = votes.label_counts[rows, codes]
    columns = {
        "item": votes.item_ids,
        "label": _names_of(votes.classes, codes),
        "confidence": posteriors[rows, codes],
        "n_votes": n_votes,
        "agreement": agreeing / np.maximum(n_votes, 1),
        "tie": model.ties_ & (codes == model.label_codes_),
    }
    columns.update(zip(_column_names("p_", votes.classes), posteriors.T, strict=True))
    return pd.DataFrame(columns)


def _names_of(names: np.ndarray, codes: np.ndarray) -> pd.Series | np.ndarray:
    """``names[codes]``, as the column pandas makes of it.

    Where pandas stores text in Arrow (pandas 3), the column is built there
    from the codes, instead of pandas converting a Python string per row.
    """
    if not _TEXT_IN_ARROW or not all(isinstance(n, str) for n in names):
        return names[codes]
    import pyarrow as pa

    text = pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()),
                                          pa.array(list(names), type=pa.large_string()))
    return pd.Series(pd.array(text.cast(pa.large_string()), dtype=_TEXT_DTYPE), copy=False)


_TEXT_DTYPE = pd.Series(np.array(["text"], dtype=object)).dtype
_TEXT_IN_ARROW = getattr(_TEXT_DTYPE, "storage", None) == "pyarrow"


def annotator_table(
    votes: VoteMatrix, model: Aggregator, confidence: float = 0.95
) -> pd.DataFrame:
    """One row per annotator: votes, model accuracy with an interval, agreement, recall.

    ``accuracy`` is what the confusion matrix and class priors imply. The
    interval is a Jeffreys Beta interval treating the annotator's votes as
    ``accuracy * n_votes`` expected correct and the rest wrong, so an annotator
    with five votes gets a wide interval and one with 5,000 a narrow one.
    """
    n_votes = votes.votes_per_annotator
    # Count the (fewer) votes against the consensus, through the smallest code type.
    consensus = model.label_codes_.astype(np.min_scalar_type(max(votes.n_classes - 1, 0)))
    against = consensus[votes.item_codes] != votes.label_codes
    agreement = n_votes - np.bincount(votes.annotator_codes[against],
                                      minlength=votes.n_annotators)
    correct = model.accuracy_ * n_votes
    wrong = np.maximum(n_votes - correct, 0.0)
    tail = (1 - confidence) / 2
    table = pd.DataFrame(
        {
            "annotator": votes.annotator_ids,
            "n_votes": n_votes,
            "accuracy": model.accuracy_,
            "ci_low": betaincinv(correct + 0.5, wrong + 0.5, tail),
            "ci_high": betaincinv(correct + 0.5, wrong + 0.5, 1 - tail),
            "agreement_with_consensus": agreement / np.maximum(n_votes, 1),
        }
    )
    recall = np.diagonal(model.confusion_, axis1=1, axis2=2)
    recall_table = pd.DataFrame(recall, columns=_column_names("recall_", votes.classes))
    return pd.concat([table, recall_table], axis=1)


def confusion_table(votes: VoteMatrix, model: Aggregator) -> pd.DataFrame:
    """Confusion matrices in long form: annotator, true_label, given_label, probability."""
    a, k, l_ = model.confusion_.shape
    return pd.DataFrame(
        {
            "annotator": np.repeat(votes.annotator_ids, k * l_),
            "true_label": np.tile(np.repeat(votes.classes, l_), a),
            "given_label": np.tile(votes.classes, a * k),
            "probability": model.confusion_.reshape(-1),
        }
    )


def least_reliable(annotators: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` annotators with the lowest accuracy among those with enough votes."""
    ranked = annotators[annotators["n_votes"] >= MIN_VOTES_TO_RANK]
    if ranked.empty:
        ranked = annotators
    return ranked.sort_values(["accuracy", "annotator"], kind="stable").head(n)
