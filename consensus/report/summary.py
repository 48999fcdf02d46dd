"""The sentences and JSON of a run, built once from its result.

Results carry data; this module is where they become words. ``--json`` and the
terminal summary come from the same fields, so they never disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..wording import option, plural
from .tables import MIN_VOTES_TO_RANK, least_reliable

if TYPE_CHECKING:
    from ..workflows.aggregation import AggregateResult
    from ..workflows.calibration import CalibrationCheck


def confidence_note(result: AggregateResult) -> str:
    """What the reported confidence is: calibrated on gold, or how it was made honest."""
    if result.calibration is not None:
        return f"calibrated on gold ({result.calibration.calibrator.describe()})"
    why = "too few gold items" if result.n_gold is not None else "no gold was given"
    if result.correlation is None:
        if result.n_gold is None:
            return f"model-based and uncalibrated: {why}"
        return f"model-based and uncalibrated ({why})"
    typical = float(np.median(result.votes.votes_per_item))
    left_out = (
        "model-based (each item left out of its annotators' confusion estimates), "
        if result.held_out_confidence is not None
        else "model-based, "
    )
    return (
        f"{left_out}discounted for correlated votes (intra-item correlation "
        f"{result.correlation.rho:.3f}: {typical:g} votes weigh as "
        f"{result.correlation.effective_votes(typical):.1f} independent ones), and not "
        f"calibrated: {why}"
    )


def calibration_line(result: AggregateResult) -> str | None:
    """The calibration error on held-out gold before and after, or None without calibration."""
    if result.calibration is None:
        return None
    report = result.calibration
    return (
        f"calibration error on held-out gold {report.ece_before:.3f} → "
        f"{report.ece_after:.3f} ({report.calibrator.describe()})"
    )


def class_warnings(result: AggregateResult) -> list[str]:
    """Sentences about classes whose consensus may not mean their label: inflated far
    beyond their share of the votes, or held to their votes during the fit."""
    lines = []
    table = result.inflated_classes
    for name, share, vote_share, items in zip(table["class"], table["consensus_share"],
                                              table["vote_share"], table["items"], strict=True):
        votes = (f"only {vote_share:.2%} of the votes ({share / vote_share:.0f} times as much)"
                 if vote_share > 0 else "none of the votes")
        lines.append(
            f"class {str(name)!r} is the consensus of {share:.1%} of the items "
            f"({plural(int(items), 'item')}) but {votes}: the model may have turned it into "
            f"a catch-all for items the crowd splits on. Check items given this class "
            f"against gold, or compare with majority vote ({option('method', 'mv')})"
        )
    for name in result.held_classes:
        lines.append(
            f"class {name!r} was held to its votes: during the fit the crowd's accuracy on it "
            f"fell below chance (1 in {result.votes.n_classes}), a sign that the model was "
            f"drifting it away from its label, so it is the consensus only of items where it "
            f"is among the most-voted labels. Check items of this class against gold"
        )
    return lines


def method_name(info: dict[str, Any]) -> str:
    """``auto → ebcc`` for an automatic choice, else the method's name."""
    if info["chosen_method"] != info["method"]:
        return f"{info['method']} → {info['chosen_method']}"
    return str(info["method"])


def aggregate_dict(result: AggregateResult) -> dict[str, Any]:
    """A JSON-ready summary of a run: data size, convergence, priors, confidence, weakest."""
    votes, model = result.votes, result.model
    confidence = result.posteriors.max(axis=1)
    info: dict[str, Any] = {
        "items": votes.n_items,
        "annotators": votes.n_annotators,
        "votes": votes.n_votes,
        "classes": [str(c) for c in votes.classes],
        "method": result.method,
        "chosen_method": getattr(model, "chosen_", result.method),
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
            for row in least_reliable(result.annotators).itertuples()
        ],
        "confidence_note": confidence_note(result),
        "warnings": class_warnings(result),
    }
    reason = getattr(model, "reason_", None)
    if reason is not None:
        info["method_choice"] = reason
    if result.correlation is not None:
        info["vote_correlation"] = result.correlation.rho
    if result.n_gold is not None:
        info["gold_items"] = result.n_gold
    if result.accuracy is not None:
        info["gold_accuracy"] = result.accuracy.to_dict()
        info["gold_accuracy_text"] = result.accuracy.summary()
    if result.n_reviews:
        info["reviewed_items"] = result.n_reviews
    if result.predictions is not None:
        info["predictions"] = predictions_dict(result)
    if result.calibration is not None:
        info["calibration"] = {
            key: value
            for key, value in result.calibration.to_dict().items()
            if not key.startswith("bins")
        }
        info["calibration_text"] = calibration_line(result)
    return info


def predictions_dict(result: AggregateResult) -> dict[str, Any]:
    """How reliable a model's predictions looked as an annotator, and what they changed."""
    table = result.annotators
    row = table[table["annotator"].astype(str) == result.model_annotator].iloc[0]
    assert result.predictions is not None
    return {
        "source": result.predictions.source,
        "items": int(result.predictions.known.sum()),
        "accuracy": float(row["accuracy"]),
        "ci_low": float(row["ci_low"]),
        "ci_high": float(row["ci_high"]),
        "agreement_with_consensus": float(row["agreement_with_consensus"]),
        "labels_changed": result.changed_by_predictions,
        "overruled_by_confident_crowd": int(result.overruled.sum()),
    }


def predictions_line(info: dict[str, Any]) -> str:
    return (
        f"predictions ({info['source']}) weighed as one more annotator: estimated accuracy "
        f"{info['accuracy']:.3f} [{info['ci_low']:.3f}, {info['ci_high']:.3f}], agreeing with "
        f"the consensus on {info['agreement_with_consensus']:.1%} of "
        f"{plural(info['items'], 'item')}; "
        f"they changed {plural(info['labels_changed'], 'consensus label')}, and "
        f"{plural(info['overruled_by_confident_crowd'], 'more')} stayed with a confident crowd"
    )


#: The summary lists every class prior up to this many classes; beyond, the
#: PRIORS_SHOWN largest and a count of the rest (the JSON keeps them all).
PRIORS_LISTED = 10
PRIORS_SHOWN = 8


def class_priors_text(priors: dict[str, float]) -> str:
    """``a 0.600, b 0.400`` in class order, or with many classes the largest few first
    and ``… and 92 more``, so the line stays readable."""
    shown = list(priors.items())
    if len(shown) <= PRIORS_LISTED:
        return ", ".join(f"{c} {p:.3f}" for c, p in shown)
    largest = sorted(shown, key=lambda pair: -pair[1])[:PRIORS_SHOWN]  # stable: ties in order
    listed = ", ".join(f"{c} {p:.3f}" for c, p in largest)
    return f"{listed} … and {len(shown) - PRIORS_SHOWN} more"


def aggregate_text(result: AggregateResult) -> str:
    """The terminal form of :func:`aggregate_dict`."""
    info = aggregate_dict(result)
    priors = class_priors_text(info["class_priors"])
    status = "converged" if info["converged"] else "NOT converged"
    lines = [
        f"{info['items']:,} items, {info['annotators']:,} annotators, {info['votes']:,} votes, "
        f"{len(info['classes'])} classes",
        f"method {method_name(info)}: {info['iterations']} iterations, {status}",
        f"class priors: {priors}",
        f"mean confidence {info['mean_confidence']:.3f}; "
        f"{plural(info['items_below_0.9'], 'item')} below 0.9; {plural(info['ties'], 'tie')}",
    ]
    if "method_choice" in info:
        lines.insert(2, info["method_choice"])
    if result.accuracy is not None:
        lines.append(result.accuracy.summary())
    line = calibration_line(result)
    if line:
        lines.append(line)
    if result.n_reviews:
        lines.append(f"{plural(result.n_reviews, 'reviewed label')} clamped like gold")
    if result.predictions is not None:
        lines.append(predictions_line(info["predictions"]))
    lines.append(f"confidence is {info['confidence_note']}")
    lines.extend(f"warning: {text}" for text in info["warnings"])
    if info["least_reliable"]:
        lines.append(f"least reliable annotators (with ≥{MIN_VOTES_TO_RANK} votes where possible):")
        width = max(len(r["annotator"]) for r in info["least_reliable"])
        for r in info["least_reliable"]:
            lines.append(
                f"  {r['annotator']:<{width}}  accuracy {r['accuracy']:.3f} "
                f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]  {plural(r['n_votes'], 'vote')}"
            )
    return "\n".join(lines)


def calibration_check_text(check: CalibrationCheck) -> str:
    """The calibration report, then what ``aggregate`` would report without the gold."""
    return (
        f"{check.report.summary()}\n"
        f"without gold, `consensus aggregate` reports confidence with calibration error "
        f"{check.ece_reported_without_gold:.3f} on these items (the model's own posteriors: "
        f"{check.ece_model_without_gold:.3f})"
    )
