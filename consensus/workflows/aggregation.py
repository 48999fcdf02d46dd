"""The main job in one call: fit a model, anchor it on gold, report honest confidence.

``consensus aggregate`` is this function plus file reading and writing, so the
Python API and the command line always give the same answer. The result holds
data only; its sentences and JSON form are built in :mod:`consensus.report.summary`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..data.gold import gold_per_item
from ..data.predictions import Predictions
from ..data.votes import VoteMatrix
from ..exceptions import InputError
from ..models import DEFAULT_METHOD, make_model
from ..models.base import Aggregator, EMAggregator, ProgressCallback
from ..models.em import clamp_to_gold
from ..quality.calibration import CalibrationReport, calibrate_held_out, with_confidence
from ..quality.crossval import (
    MIN_GOLD_FOR_ESTIMATE,
    AccuracyEstimate,
    HeldOut,
    consensus_accuracy,
    held_out_posteriors,
)
from ..quality.overdispersion import VoteCorrelation, fit_vote_correlation
from ..report import tables
from ..wording import option

#: A crowd this sure of a label on its own keeps it, whatever a model's predictions say:
#: the model is evidence, weighed like an annotator, but never outvotes a confident crowd.
CONFIDENT_CROWD = 0.9

#: A class is *inflated* when it is the consensus of at least INFLATED_RATIO times its
#: share of the votes, on at least INFLATED_MIN_SHARE of the items (and INFLATED_MIN_ITEMS)
#: more than that share would give. On 20 real datasets no class of any Dawid-Skene fit
#: exceeds 1.8 times its vote share (nor, on gold, 2.1 times), while a class repurposed by
#: EM (a "phantom", see consensus.simulate.phantom_class_crowd) reaches 60-85 times;
#: the excess floor keeps a few-vote class winning a few more items out of the warning.
INFLATED_RATIO = 3.0
INFLATED_MIN_SHARE = 0.01
INFLATED_MIN_ITEMS = 10


@dataclass(frozen=True, eq=False)
class AggregateResult:
    """A fitted model and what was learned about how far to trust it.

    Attributes
    ----------
    votes, model, method
        The votes, the fitted model and the method name it was made from.
    n_gold : int or None
        Gold items that anchored the fit; None when no gold was given.
    accuracy : AccuracyEstimate or None
        Cross-validated accuracy of the consensus on gold (enough gold only).
    calibration : CalibrationReport or None
        The calibrator fitted on held-out gold, when there was enough gold.
    correlation : VoteCorrelation or None
        The correlated-votes discount, applied when confidence is not calibrated.
    held_out_confidence : ndarray (n_items,) or None
        Each label's confidence with the item left out of its annotators' confusion
        estimates (models that can compute it), used beside ``correlation``.
    held_out : HeldOut or None
        What the consensus says on each gold item when its own gold is not used.
    n_reviews : int
        Items whose reviewed (expert) label was clamped like gold.
    predictions : Predictions or None
        A model's predictions, fitted jointly as one more annotator (``votes`` then
        holds its votes too, under :attr:`model_annotator`).
    crowd_posteriors : ndarray (n_items, K) or None
        With predictions: the posteriors from the crowd's votes alone, at the fitted
        parameters, to tell what the model changed.
    init : SavedModel, Aggregator or None
        The fitted model the fit started from (a warm start), and ``history_weight``,
        the votes its confusion matrices were worth as a prior.
    """

    votes: VoteMatrix
    model: Aggregator
    method: str
    n_gold: int | None = None
    accuracy: AccuracyEstimate | None = None
    calibration: CalibrationReport | None = None
    correlation: VoteCorrelation | None = None
    held_out_confidence: np.ndarray | None = None
    held_out: HeldOut | None = None
    n_reviews: int = 0
    predictions: Predictions | None = None
    crowd_posteriors: np.ndarray | None = None
    model_annotator: str | None = None
    init: Any = None
    history_weight: float = 0.0

    @cached_property
    def overruled(self) -> np.ndarray:
        """Items where the model's vote would have overturned a confident crowd; they keep
        the crowd's label (all False without predictions)."""
        if self.crowd_posteriors is None:
            return np.zeros(self.votes.n_items, dtype=bool)
        crowd = self.crowd_posteriors
        confident = crowd.max(axis=1) >= CONFIDENT_CROWD
        return confident & (crowd.argmax(axis=1) != self.model.label_codes_)

    @cached_property
    def label_codes(self) -> np.ndarray:
        """The consensus class code per item (the model's, but where a confident crowd
        overrules a model's predictions)."""
        codes = self.model.label_codes_.copy()
        if self.crowd_posteriors is not None:
            codes[self.overruled] = self.crowd_posteriors[self.overruled].argmax(axis=1)
        return codes

    @cached_property
    def changed_by_predictions(self) -> int:
        """Consensus labels that differ from what the crowd's votes alone give."""
        if self.crowd_posteriors is None:
            return 0
        return int((self.label_codes != self.crowd_posteriors.argmax(axis=1)).sum())

    @cached_property
    def posteriors(self) -> np.ndarray:
        """Reported posteriors (n_items, K): calibrated on gold when there was enough of
        it; else the model's, with each label's confidence computed leaving the item out
        of its annotators' confusion estimates and discounted for correlated votes (see
        :mod:`consensus.quality.overdispersion`). Labels are the model's either way."""
        posteriors = self.model.posteriors_
        if self.overruled.any():
            posteriors = posteriors.copy()
            assert self.crowd_posteriors is not None  # overruled is all False without them
            posteriors[self.overruled] = self.crowd_posteriors[self.overruled]
        if self.calibration is not None:
            posteriors = self.calibration.calibrator.apply(posteriors)
        if self.held_out_confidence is not None:
            posteriors = with_confidence(posteriors, self.held_out_confidence)
        if self.correlation is not None:
            posteriors = self.correlation.discount(posteriors, self.votes.votes_per_item)
        if posteriors is self.model.posteriors_:
            return posteriors
        return clamp_to_gold(posteriors, self.model.gold_codes_)

    @cached_property
    def inflated_classes(self) -> pd.DataFrame:
        """Classes whose consensus share far exceeds their share of the votes (see
        :data:`INFLATED_RATIO`): one row each with ``class``, ``consensus_share``,
        ``vote_share`` and ``items``, largest ratio first; empty when all is well."""
        n_classes, n_items = self.votes.n_classes, self.votes.n_items
        vote_share = np.bincount(self.votes.label_codes, minlength=n_classes) / max(
            self.votes.n_votes, 1)
        items = np.bincount(self.label_codes, minlength=n_classes)
        consensus_share = items / max(n_items, 1)
        excess = items - vote_share * n_items
        inflated = (consensus_share >= INFLATED_RATIO * vote_share) & (
            excess >= max(INFLATED_MIN_ITEMS, INFLATED_MIN_SHARE * n_items))
        codes = np.flatnonzero(inflated)
        ratio = consensus_share[codes] / np.maximum(vote_share[codes], 1e-300)
        order = codes[np.argsort(-ratio, kind="stable")]
        return pd.DataFrame({
            "class": self.votes.classes[order],
            "consensus_share": consensus_share[order],
            "vote_share": vote_share[order],
            "items": items[order],
        })

    @property
    def held_classes(self) -> list[str]:
        """Classes the model held to their votes (the better-than-chance rule of the
        Dawid-Skene models; see :class:`consensus.models.dawid_skene.BetterThanChance`)."""
        held = getattr(self.model, "held_classes_", None)
        if held is None:
            return []
        return [str(c) for c in self.votes.classes[np.flatnonzero(held)]]

    @property
    def items(self) -> pd.DataFrame:
        """One row per item: label, confidence, votes, agreement, tie, gold, posteriors."""
        table = tables.item_table(self.votes, self.model, self.posteriors, self.label_codes)
        if self.model.gold_codes_ is not None:
            table.insert(table.columns.get_loc("tie") + 1, "gold", self.model.gold_codes_ >= 0)
        resolved = getattr(self.model, "resolved_in_", None)
        if resolved is not None:
            after = "gold" if "gold" in table.columns else "tie"
            table.insert(table.columns.get_loc(after) + 1, "resolved_in", resolved)
        return table

    @cached_property
    def annotators(self) -> pd.DataFrame:
        """One row per annotator: votes, accuracy with its interval, agreement, recall."""
        return tables.annotator_table(self.votes, self.model)

    @property
    def confusion(self) -> pd.DataFrame:
        """Every confusion matrix in long form."""
        return tables.confusion_table(self.votes, self.model)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the summary (what ``consensus aggregate --json`` prints)."""
        from ..report.summary import aggregate_dict

        return aggregate_dict(self)

    def summary(self) -> str:
        """The terminal summary: size, convergence, priors, accuracy, confidence, weakest."""
        from ..report.summary import aggregate_text

        return aggregate_text(self)


def aggregate(
    votes: Any,
    *,
    method: str = DEFAULT_METHOD,
    gold: Any = None,
    max_iter: int | None = None,
    tol: float | None = None,
    smoothing: float | None = None,
    n_folds: int = 5,
    seed: int = 0,
    calibrate: bool = True,
    honest_confidence: bool = True,
    reviews: Any = None,
    predictions: Predictions | None = None,
    init: Any = None,
    history_weight: float = 0.0,
    taxonomy: Any = None,
    nominal: tuple[str, ...] = (),
    progress: ProgressCallback | None = None,
) -> AggregateResult:
    """Fit ``method`` on ``votes``; with gold, clamp it and cross-validate the accuracy.

    Parameters
    ----------
    gold : GoldSet, mapping or per-item code array, optional
        Known answers. Gold items keep their label in every EM iteration, and a
        k-fold cross-validation over them estimates how often the consensus is
        right on the other items.
    n_folds, seed
        Folds of that cross-validation and the seed that assigns them.
    smoothing : float, optional
        Uniform pseudo-count per confusion cell; None keeps the model's default.
    calibrate : bool
        With enough gold, calibrate the reported posteriors so that confidence
        matches accuracy on held-out gold items.
    honest_confidence : bool
        Without gold calibration, report each label's confidence with the item
        left out of its annotators' confusion estimates (pooled DS) and tempered
        by the design effect of its correlated votes. Labels never change;
        majority vote's vote shares are left as they are.
    reviews : mapping from item id to label, optional
        Reviewed labels (``ReviewLog.accepted_labels()``): clamped like gold; gold
        wins where both exist.
    predictions : Predictions, optional
        A classifier's predictions (:func:`consensus.data.predictions.read_predictions`),
        fitted jointly as one more annotator with its own confusion matrix, so its
        reliability is learned from the data. Where the crowd alone is at least
        :data:`CONFIDENT_CROWD` sure of another label, the crowd's label stands.
    init : SavedModel or fitted Aggregator, optional
        Start EM from this model (:meth:`~consensus.models.EMAggregator.start_from`):
        its confusion matrices give the first E-step, annotators it never saw start at
        its population prior. With ``method="auto"`` the method it was fitted with is
        used and no new choice is made. The gold cross-validation still fits from cold,
        so no gold label reaches its own held-out item through the earlier model.
    history_weight : float
        With ``init``: each annotator it knew keeps its confusion matrix as a prior
        worth this many votes; 0 makes it a starting point only, and EM ends at a
        fixed point of ``votes`` alone: the cold start's wherever EM has only one
        (pooled did on every crowd of ``benchmarks/warm_start.py``; plain ds with
        annotators of a few votes can have several, and may end in a neighbour).
    nominal : tuple of str
        Classes outside an ordered scale, for ``method="ordinal"`` (other models
        ignore it).
    taxonomy : Taxonomy, optional
        Votes made under several versions of the label set (or ``votes`` given as
        :class:`~consensus.data.taxonomy.VersionedVotes`): the consensus is in the
        latest labels, an older vote evidence for every label it became
        (:func:`consensus.workflows.taxonomy.aggregate_taxonomy`).
    progress : callable, optional
        Called as ``progress(iteration, log_likelihood_per_vote)`` during the fit.
    """
    from ..data.taxonomy import VersionedVotes

    if taxonomy is not None or isinstance(votes, VersionedVotes):
        if init is not None or history_weight:
            raise InputError(f"{option('init')} and {option('history_weight')} do not work "
                             f"with a taxonomy yet")
        from .taxonomy import aggregate_taxonomy

        return aggregate_taxonomy(
            votes, taxonomy, method=method, gold=gold, max_iter=max_iter, tol=tol,
            smoothing=smoothing, n_folds=n_folds, seed=seed, calibrate=calibrate,
            honest_confidence=honest_confidence, reviews=reviews, predictions=predictions,
            progress=progress)
    params: dict[str, Any] = {"max_iter": max_iter, "tol": tol, "smoothing": smoothing,
                              "nominal": tuple(nominal) or None}
    start = init
    if init is not None:
        from ..models.persist import SavedModel, warm_start_method

        source = "the model to start from"
        if isinstance(init, SavedModel):
            start, source = init.model, init.source or source
        method = warm_start_method(method, start, source)
    elif history_weight:
        raise InputError(f"{option('history_weight')} needs a model to start from "
                         f"({option('init')})")
    crowd_votes, model_annotator = votes, None
    if predictions is not None:
        model_annotator = f"model:{predictions.source}"
        votes = with_model_votes(votes, predictions, model_annotator)
    anchors = gold_per_item(votes, gold)
    n_reviews = 0
    if reviews:
        reviewed = gold_per_item(votes, dict(reviews))
        assert reviewed is not None  # a non-empty mapping gives codes
        if anchors is None:
            anchors = np.full(votes.n_items, -1, dtype=np.int64)
        added = (anchors < 0) & (reviewed >= 0)
        anchors = np.where(added, reviewed, anchors)
        n_reviews = int(added.sum())
    model = make_model(method, **params)
    if start is not None:
        assert isinstance(model, EMAggregator)  # the only methods warm_start_method allows
        model.start_from(start, history_weight)
    model.fit(votes, gold=anchors, progress=progress)
    accuracy = calibration = held = None
    gold_codes = model.gold_codes_
    n_anchored = 0 if gold_codes is None else int((gold_codes >= 0).sum())
    n_gold = None if gold is None else n_anchored - n_reviews
    if gold_codes is not None and n_anchored >= MIN_GOLD_FOR_ESTIMATE:
        held = held_out_posteriors(
            votes, gold_codes, lambda: make_model(method, **params), n_folds=n_folds, seed=seed
        )
        accuracy = consensus_accuracy(held)
        if calibrate:
            calibration = calibrate_held_out(held, seed=seed)
    correlation = held_out = None
    if calibration is None and honest_confidence and model.weighs_annotators:
        correlation = fit_vote_correlation(votes, model.posteriors_)
        leave_one_out = getattr(model, "leave_one_out_proba", None)
        if leave_one_out is not None:
            held_out = leave_one_out(votes)[np.arange(votes.n_items), model.label_codes_]
    crowd = None if predictions is None else model.predict_proba(crowd_votes)
    return AggregateResult(
        votes, model, method, n_gold, accuracy, calibration, correlation, held_out, held,
        n_reviews, predictions, crowd, model_annotator, init, history_weight,
    )


def with_model_votes(votes: VoteMatrix, predictions: Predictions, annotator: str) -> VoteMatrix:
    """The votes plus one vote per predicted item from ``annotator``, the model's label."""
    if annotator in {str(a) for a in votes.annotator_ids}:
        raise InputError(f"an annotator is already called {annotator!r}; rename the "
                         f"predictions file")
    codes = predictions.label_codes
    items = np.flatnonzero(codes >= 0).astype(np.int32)
    return VoteMatrix(
        np.concatenate([votes.item_codes, items]),
        np.concatenate([votes.annotator_codes,
                        np.full(len(items), votes.n_annotators, dtype=np.int32)]),
        np.concatenate([votes.label_codes, codes[items].astype(np.int32)]),
        votes.item_ids,
        np.append(votes.annotator_ids, np.array([annotator], dtype=object)),
        votes.classes,
        origin=votes.origin,
    )
