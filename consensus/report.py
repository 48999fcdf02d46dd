"""Result tables and summaries built from a fitted model and its VoteMatrix.

Everything here speaks the user's ids and label names; nothing here fits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaincinv

from .models.base import Aggregator
from .votes import VoteMatrix

#: Annotators with fewer votes than this are left out of the "least reliable" list.
MIN_VOTES_TO_RANK = 10


def _column_names(prefix: str, classes: np.ndarray) -> list[str]:
    return [f"{prefix}{c}" for c in classes]


def item_table(
    votes: VoteMatrix, model: Aggregator, posteriors: np.ndarray | None = None
) -> pd.DataFrame:
    """One row per item: consensus label, its posterior, votes, agreement, posteriors.

    ``posteriors`` replaces the model's (for example after calibration).
    """
    posteriors = model.posteriors_ if posteriors is None else posteriors
    codes = model.label_codes_
    rows = np.arange(votes.n_items)
    n_votes = votes.votes_per_item
    agreeing = votes.label_counts[rows, codes]
    table = pd.DataFrame(
        {
            "item": votes.item_ids,
            "label": votes.classes[codes],
            "confidence": posteriors[rows, codes],
            "n_votes": n_votes,
            "agreement": agreeing / np.maximum(n_votes, 1),
            "tie": model.ties_,
        }
    )
    probabilities = pd.DataFrame(posteriors, columns=_column_names("p_", votes.classes))
    return pd.concat([table, probabilities], axis=1)



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
    agrees = model.label_codes_[votes.item_codes] == votes.label_codes
    agreement = np.bincount(votes.annotator_codes, weights=agrees, minlength=votes.n_annotators)
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


def summary(
    votes: VoteMatrix,
    model: Aggregator,
    method: str,
    annotators: pd.DataFrame | None = None,
    posteriors: np.ndarray | None = None,
) -> dict[str, Any]:
    """A JSON-ready summary of a fit: data size, convergence, priors, weakest annotators."""
    annotators = annotator_table(votes, model) if annotators is None else annotators
    weakest = least_reliable(annotators)
    confidence = (model.posteriors_ if posteriors is None else posteriors).max(axis=1)
    return {
        "items": votes.n_items,
        "annotators": votes.n_annotators,
        "votes": votes.n_votes,
        "classes": [str(c) for c in votes.classes],
        "method": method,
        "iterations": int(model.n_iter_),
        "converged": bool(model.converged_),
        "log_likelihood": float(model.log_likelihood_),
        "class_priors": {
            str(c): float(p) for c, p in zip(votes.classes, model.class_priors_, strict=True)
        },
        "mean_confidence": float(confidence.mean()),
        "items_below_0.9": int((confidence < 0.9).sum()),
        "ties": int(model.ties_.sum()),
        "least_reliable": [
            {
                "annotator": str(row.annotator),
                "n_votes": int(row.n_votes),
                "accuracy": float(row.accuracy),
                "ci_low": float(row.ci_low),
                "ci_high": float(row.ci_high),
            }
            for row in weakest.itertuples()
        ],
        "confidence_note": "model-based and uncalibrated: no gold was given",
    }


def format_summary(info: dict[str, Any]) -> str:
    """The terminal form of :func:`summary`."""
    priors = ", ".join(f"{c} {p:.3f}" for c, p in info["class_priors"].items())
    status = "converged" if info["converged"] else "NOT converged"
    lines = [
        f"{info['items']:,} items, {info['annotators']:,} annotators, {info['votes']:,} votes, "
        f"{len(info['classes'])} classes",
        f"method {info['method']}: {info['iterations']} iterations, {status}",
        f"class priors: {priors}",
        f"mean confidence {info['mean_confidence']:.3f}; {_count(info['items_below_0.9'], 'item')} "
        f"below 0.9; {_count(info['ties'], 'tie')}",
    ]
    if info.get("gold_accuracy") is not None:
        lines.append(info["gold_accuracy_text"])
    if info.get("calibration_text"):
        lines.append(info["calibration_text"])
    lines.append(f"confidence is {info['confidence_note']}")
    if info["least_reliable"]:
        lines.append(f"least reliable annotators (with ≥{MIN_VOTES_TO_RANK} votes where possible):")
        width = max(len(r["annotator"]) for r in info["least_reliable"])
        for r in info["least_reliable"]:
            lines.append(
                f"  {r['annotator']:<{width}}  accuracy {r['accuracy']:.3f} "
                f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]  {_count(r['n_votes'], 'vote')}"
            )
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
