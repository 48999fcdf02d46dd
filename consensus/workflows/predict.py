"""A new batch of votes labelled by a saved model, without refitting; and saving one.

``consensus aggregate --save-model`` is :func:`save_result`, ``consensus predict`` is
:func:`read_batch` and :func:`predict` plus file writing. A model file
(:mod:`consensus.models.persist`) keeps the fitted model and what made
``aggregate``'s confidence honest, so a batch gets the same treatment:

- annotators the model knew keep their confusion matrices; those it never saw get
  its population prior (pooled: the crowd's typical annotator; ebcc: the rows'
  prior; ds and one-coin: the crowd's vote-weighted average);
- with a gold calibrator saved, confidence goes through it (it was fitted on
  posteriors of items held out of the fit, which is what a new batch's items are);
- else the correlated-votes discount measured at fitting time tempers each item by
  its own number of votes. ``aggregate`` also leaves each item out of its
  annotators' confusion estimates; a new batch's items were never in them, so
  there is nothing to leave out.

Labels are the model's either way; nothing is refitted, so the batch's votes do not
change any annotator's estimate (fit again, or start from the model with
``aggregate(init=...)``, for that).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..data.votes import VoteMatrix
from ..exceptions import InputError
from ..models.em import top_two
from ..models.persist import (
    SavedModel,
    check_savable,
    method_of,
    positions,
    save_model,
    with_annotators,
)
from ..wording import plural

if TYPE_CHECKING:
    from .aggregation import AggregateResult

#: How each method weighs an annotator it never saw, for the summary.
NEWCOMER_RULES = {
    "pooled": "the crowd's typical annotator (the pooled prior)",
    "ebcc": "the prior of every annotator's rows",
    "ds": "the crowd's vote-weighted average annotator",
    "one-coin": "the crowd's vote-weighted average annotator",
    "mv": "every other annotator (majority vote)",
}


def save_result(result: AggregateResult, path: Any) -> None:
    """Write ``result``'s fitted model to a model file, with what honest confidence on
    new votes needs: the gold calibrator when there is one, else the vote correlation
    (measured now if the run reported the model's raw posteriors)."""
    from ..quality.overdispersion import fit_vote_correlation

    model = result.model
    check_savable(method_of(model))
    calibrator = None if result.calibration is None else result.calibration.calibrator
    correlation = result.correlation
    if calibrator is None and correlation is None and model.weighs_annotators:
        correlation = fit_vote_correlation(result.votes, model.posteriors_)
    votes = result.votes
    fit: dict[str, Any] = {"n_items": votes.n_items, "n_votes": votes.n_votes,
                           "n_annotators": votes.n_annotators, "gold_items": result.n_gold,
                           "reviewed_items": result.n_reviews}
    if result.accuracy is not None:
        fit["gold_accuracy"] = result.accuracy.to_dict()
    if result.init is not None:
        fit["started_from"] = str(getattr(result.init, "source", "") or "a fitted model")
        fit["history_weight"] = result.history_weight
    save_model(path, model, method=result.method, correlation=correlation,
               calibrator=calibrator, fit=fit)


def read_batch(path: Any, model: SavedModel, **options: Any) -> VoteMatrix:
    """Read votes for ``model``: its label set declared, in its order, so a batch may use
    only some labels; a label it does not know is an InputError naming it and the file.

    ``options`` are :func:`consensus.data.read_votes`'s, but ``labels``.
    """
    from ..data.readers import read_votes

    try:
        return read_votes(path, labels=model.classes, **options)
    except InputError as declared:
        with warnings.catch_warnings():  # the first reading warned already
            warnings.simplefilter("ignore")
            try:
                votes = read_votes(path, **options)
            except InputError:
                raise declared from None
        known = set(model.classes)
        counts = np.bincount(votes.label_codes, minlength=votes.n_classes)
        unknown = [f"{str(c)!r} ({plural(int(counts[k]), 'vote')})"
                   for k, c in enumerate(votes.classes) if str(c) not in known]
        if not unknown:
            raise
        raise InputError(
            f"{path}: label(s) {', '.join(unknown)} are not classes of the model in "
            f"{model.source or 'memory'} ({', '.join(model.classes)}); fix the votes, or fit "
            f"a model on votes that have them") from None


@dataclass(frozen=True, eq=False)
class PredictResult:
    """A batch labelled by a saved model.

    Attributes
    ----------
    votes : VoteMatrix
        The batch.
    saved : SavedModel
        The model file's content.
    raw_posteriors : ndarray (n_items, K)
        The model's posteriors, columns in the model's class order.
    posteriors : ndarray (n_items, K)
        The reported ones: calibrated, discounted for correlated votes, or raw (see
        ``correction``).
    correction : str
        ``"calibrated"``, ``"discounted"`` or ``"none"``.
    known : ndarray of bool (n_annotators,)
        Which of the batch's annotators the model knew.
    """

    votes: VoteMatrix
    saved: SavedModel
    raw_posteriors: np.ndarray
    posteriors: np.ndarray
    correction: str
    known: np.ndarray

    @property
    def classes(self) -> np.ndarray:
        return self.saved.model.classes_

    @cached_property
    def label_codes(self) -> np.ndarray:
        return self.raw_posteriors.argmax(axis=1)

    @cached_property
    def ties(self) -> np.ndarray:
        best, second = top_two(self.raw_posteriors)
        return best - second <= 1e-12

    @property
    def items(self) -> pd.DataFrame:
        """One row per item, as ``aggregate`` writes them: label, confidence, votes,
        agreement, tie and one ``p_<label>`` column per class of the model."""
        votes, codes, rows = self.votes, self.label_codes, np.arange(self.votes.n_items)
        counts = np.zeros((votes.n_items, len(self.classes)))
        counts[:, positions(self.classes, votes.classes)] = votes.label_counts
        n_votes = votes.votes_per_item
        table = pd.DataFrame({
            "item": votes.item_ids,
            "label": self.classes[codes],
            "confidence": self.posteriors[rows, codes],
            "n_votes": n_votes,
            "agreement": counts[rows, codes] / np.maximum(n_votes, 1),
            "tie": self.ties,
        })
        columns = [f"p_{c}" for c in self.classes]
        return pd.concat([table, pd.DataFrame(self.posteriors, columns=columns)], axis=1)

    @property
    def confidence_note(self) -> str:
        """What the reported confidence is (the words of ``aggregate``'s note)."""
        saved = self.saved
        if self.correction == "calibrated":
            assert saved.calibrator is not None
            return (f"calibrated on gold when the model was fitted "
                    f"({saved.calibrator.describe()})")
        gold = saved.header.get("fit", {}).get("gold_items")
        why = "the model was fitted without gold" if gold is None else (
            "the model was fitted with too few gold items")
        if self.correction == "none":
            return f"the model's posteriors, not discounted nor calibrated ({why})"
        assert saved.correlation is not None
        typical = float(np.median(self.votes.votes_per_item))
        return (f"model-based (the batch's items were not in the fit: no vote vouches for "
                f"itself), discounted for correlated votes as measured at fitting (intra-item "
                f"correlation {saved.correlation.rho:.3f}: {typical:g} votes weigh as "
                f"{saved.correlation.effective_votes(typical):.1f} independent ones), and not "
                f"calibrated: {why}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the summary (what ``consensus predict --json`` prints)."""
        votes, saved = self.votes, self.saved
        confidence = self.posteriors[np.arange(votes.n_items), self.label_codes]
        new_votes = int((~self.known[votes.annotator_codes]).sum())
        info: dict[str, Any] = {
            "items": votes.n_items,
            "annotators": votes.n_annotators,
            "new_annotators": int((~self.known).sum()),
            "new_annotator_votes": new_votes,
            "votes": votes.n_votes,
            "classes": [str(c) for c in self.classes],
            "model": {"file": saved.source, "method": saved.method,
                      "chosen_method": saved.chosen_method,
                      **{key: saved.header.get(key) for key in
                         ("created", "consensus_version", "format_version")},
                      "fitted_items": saved.header.get("fit", {}).get("n_items")},
            "mean_confidence": float(confidence.mean()) if len(confidence) else float("nan"),
            "items_below_0.9": int((confidence < 0.9).sum()),
            "ties": int(self.ties.sum()),
            "confidence_note": self.confidence_note,
        }
        if self.correction == "discounted":
            assert saved.correlation is not None
            info["vote_correlation"] = saved.correlation.rho
        if self.correction == "calibrated":
            assert saved.calibrator is not None
            info["calibrator"] = saved.calibrator.kind
        return info

    def summary(self) -> str:
        """The terminal summary: batch size, the model, confidence, new annotators."""
        info = self.to_dict()
        model = info["model"]
        method = (f"auto → {model['chosen_method']}" if model["method"] != model["chosen_method"]
                  else model["method"])
        fitted = (f" on {model['fitted_items']:,} items" if model["fitted_items"] is not None
                  else "")
        lines = [
            f"{info['items']:,} items, {info['annotators']:,} annotators "
            f"({info['new_annotators']:,} new to the model), {info['votes']:,} votes, "
            f"{len(info['classes'])} classes",
            f"model {model['file']}: method {method}, fitted {model['created']}{fitted}; "
            f"not refitted",
            f"mean confidence {info['mean_confidence']:.3f}; "
            f"{plural(info['items_below_0.9'], 'item')} below 0.9; {plural(info['ties'], 'tie')}",
        ]
        if info["new_annotators"]:
            rule = NEWCOMER_RULES.get(model["chosen_method"], "the crowd")
            lines.append(f"{plural(info['new_annotators'], 'annotator')} the model never saw "
                         f"({plural(info['new_annotator_votes'], 'vote')}) weigh as {rule}")
        lines.append(f"confidence is {info['confidence_note']}")
        return "\n".join(lines)


def predict(votes: VoteMatrix, model: SavedModel, *,
            honest_confidence: bool = True) -> PredictResult:
    """Label ``votes`` with a saved model, without refitting (see the module docstring).

    Parameters
    ----------
    votes : VoteMatrix
        The batch; its labels must be classes of the model (:func:`read_batch` reads
        a file so), its annotators may be new.
    model : SavedModel
        From :func:`consensus.models.persist.load_model`.
    honest_confidence : bool
        Apply the saved calibrator or correlated-votes discount; False reports the
        model's posteriors as they are. Labels never change.
    """
    fitted = with_annotators(model.model, votes.annotator_ids)
    raw = fitted.predict_proba(votes)
    correction = "none"
    posteriors = raw
    if honest_confidence and model.calibrator is not None:
        posteriors, correction = model.calibrator.apply(raw), "calibrated"
    elif (honest_confidence and model.correlation is not None
          and model.model.weighs_annotators):
        posteriors = model.correlation.discount(raw, votes.votes_per_item)
        correction = "discounted"
    known = positions(model.model.annotator_ids_, votes.annotator_ids) >= 0
    return PredictResult(votes, model, raw, posteriors, correction, known)
