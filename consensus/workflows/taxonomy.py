"""Consensus across taxonomy versions, and the check of votes made under several versions.

:func:`aggregate_taxonomy` is what ``consensus aggregate --taxonomy`` runs: the
consensus in the latest version's labels, from every vote (an older version's
vote is evidence for each label it covers), with the same result type as
:func:`consensus.workflows.aggregate` and the version whose precision each item's
consensus has (``model.resolved_in_``). :func:`check_taxonomy` is ``consensus
taxonomy check``: votes per version, items with mixed versions, labels never
used, and the relabel queue — the items whose votes cannot decide between the
labels of a split.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import numpy as np
import pandas as pd

from ..data.predictions import Predictions
from ..data.taxonomy import Taxonomy, VersionedVotes, map_votes
from ..data.votes import VoteMatrix
from ..exceptions import InputError
from ..models.base import ProgressCallback
from ..models.taxonomy import TaxonomyDawidSkene, latest_gold_codes
from ..quality.calibration import calibrate_held_out
from ..quality.crossval import MIN_GOLD_FOR_ESTIMATE, consensus_accuracy, held_out_posteriors
from ..quality.overdispersion import VoteCorrelation, fit_vote_correlation
from ..wording import option, plural
from .aggregation import AggregateResult

#: The method name a taxonomy-aware result reports.
TAXONOMY_METHOD = "taxonomy"
#: Items shown by name in the check's summary.
SHOWN = 5


def versioned_votes(votes: VoteMatrix | VersionedVotes, taxonomy: Taxonomy | None,
                    source: str = "the votes") -> VersionedVotes:
    """``votes`` read through ``taxonomy`` (already-read votes pass through)."""
    if isinstance(votes, VersionedVotes):
        return votes
    if taxonomy is None:
        raise InputError("votes made under several taxonomy versions need the taxonomy "
                         "(consensus.data.taxonomy.read_taxonomy)")
    return map_votes(votes, taxonomy, source)


def aggregate_taxonomy(
    votes: VoteMatrix | VersionedVotes,
    taxonomy: Taxonomy | None = None,
    *,
    method: str = "auto",
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
    progress: ProgressCallback | None = None,
) -> AggregateResult:
    """:func:`consensus.workflows.aggregate` for votes made under several taxonomy versions.

    Takes the same options. The model is :class:`~consensus.models.taxonomy.
    TaxonomyDawidSkene` (pooled Dawid–Skene over the latest labels), so ``method``
    may only be ``auto`` or ``pooled``; gold and reviewed labels must be latest
    labels. The result's ``votes`` are the votes in the latest labels, an older
    vote read as the consensus where it covers it (so ``agreement`` counts the
    votes that support the consensus), and ``model.resolved_in_`` names the version
    whose precision each item's consensus has. Confidence is discounted for
    correlated votes as measured on the votes made at the latest precision.
    """
    if method not in ("auto", "pooled"):
        raise InputError(f"with a taxonomy the consensus comes from pooled Dawid-Skene over "
                         f"the latest labels; leave the method out or use "
                         f"{option('method', 'pooled')}")
    if predictions is not None:
        raise InputError("a model's predictions cannot be weighed with a taxonomy yet; "
                         "aggregate without them")
    versioned = versioned_votes(votes, taxonomy)
    params: dict[str, Any] = {k: v for k, v in {"max_iter": max_iter, "tol": tol,
                                                 "smoothing": smoothing}.items() if v is not None}
    anchors = latest_gold_codes(versioned, gold)
    n_reviews = 0
    if reviews:
        reviewed = latest_gold_codes(versioned, dict(reviews))
        assert reviewed is not None  # a non-empty mapping gives codes
        if anchors is None:
            anchors = np.full(versioned.n_items, -1, dtype=np.int64)
        added = (anchors < 0) & (reviewed >= 0)
        anchors = np.where(added, reviewed, anchors)
        n_reviews = int(added.sum())
    model = TaxonomyDawidSkene(**params).fit(versioned, gold=anchors, progress=progress)
    gold_codes = model.gold_codes_
    n_anchored = 0 if gold_codes is None else int((gold_codes >= 0).sum())
    n_gold = None if gold is None else n_anchored - n_reviews
    accuracy = calibration = held = None
    if gold_codes is not None and n_anchored >= MIN_GOLD_FOR_ESTIMATE:
        # VersionedVotes has what cross-validation reads of votes: n_classes (the latest
        # labels, one posterior column each) and being fitted by the model
        held = held_out_posteriors(cast(VoteMatrix, versioned), gold_codes,
                                   lambda: TaxonomyDawidSkene(**params), n_folds=n_folds,
                                   seed=seed)
        accuracy = consensus_accuracy(held)
        if calibrate:
            calibration = calibrate_held_out(held, seed=seed)
    correlation = None
    if calibration is None and honest_confidence:
        correlation = exact_vote_correlation(versioned, model.posteriors_)
    return AggregateResult(votes=versioned.as_latest(model.label_codes_), model=model,
                           method=TAXONOMY_METHOD, n_gold=n_gold, accuracy=accuracy,
                           calibration=calibration, correlation=correlation, held_out=held,
                           n_reviews=n_reviews)


def exact_vote_correlation(versioned: VersionedVotes,
                           posteriors: np.ndarray) -> VoteCorrelation | None:
    """The intra-item correlation of the votes made at the latest precision (None when
    no item has two of them): older votes agree with more labels, which would
    read as correlation."""
    exact = versioned.votes.take_votes(versioned.exact)
    exact = VoteMatrix(exact.item_codes, exact.annotator_codes, exact.label_codes,
                       exact.item_ids, exact.annotator_ids, versioned.classes)
    voted = exact.votes_per_item > 0
    if exact.votes_per_item.max(initial=0) < 2:
        return None
    return fit_vote_correlation(exact.take_items(voted), posteriors[voted])


def resolution_line(model: TaxonomyDawidSkene) -> str:
    """What the taxonomy did to the consensus, for the aggregate summary."""
    latest = model.taxonomy_.latest.name
    older = model.resolved_in_ != latest
    if not older.any():
        return f"taxonomy {latest}: every consensus label has the precision of {latest}"
    return (f"taxonomy {latest}: {plural(int(older.sum()), 'item')} resolved only in an older "
            f"version (their votes cannot decide between the labels of a split; the "
            f"resolved_in column says which version; `consensus taxonomy check` lists them)")


# ------------------------------------------------------------------- the check
@dataclass(frozen=True, eq=False)
class TaxonomyCheck:
    """What votes made under several taxonomy versions look like, and what to relabel.

    Attributes
    ----------
    versioned : VersionedVotes
    model : TaxonomyDawidSkene
        Fitted on all the votes; its consensus decides which items need relabelling.
    """

    versioned: VersionedVotes
    model: TaxonomyDawidSkene

    @property
    def taxonomy(self) -> Taxonomy:
        return self.versioned.taxonomy

    @cached_property
    def per_version(self) -> pd.DataFrame:
        """One row per version: ``version, votes, items, annotators, share``."""
        votes, codes = self.versioned.votes, self.versioned.version_codes
        rows = []
        for v, name in enumerate(self.taxonomy.names):
            mine = codes == v
            rows.append({"version": name, "votes": int(mine.sum()),
                         "items": len(np.unique(votes.item_codes[mine])),
                         "annotators": len(np.unique(votes.annotator_codes[mine]))})
        table = pd.DataFrame(rows)
        table["share"] = table["votes"] / max(votes.n_votes, 1)
        return table

    @cached_property
    def mixed_items(self) -> pd.DataFrame:
        """Items with votes made under more than one version: ``item, versions, n_votes``."""
        votes, codes = self.versioned.votes, self.versioned.version_codes
        n_versions = len(self.taxonomy.versions)
        seen = np.zeros((votes.n_items, n_versions), dtype=bool)
        seen[votes.item_codes, codes] = True
        mixed = np.flatnonzero(seen.sum(axis=1) > 1)
        names = np.array(self.taxonomy.names, dtype=object)
        return pd.DataFrame({
            "item": votes.item_ids[mixed],
            "versions": [" ".join(names[row]) for row in seen[mixed]],
            "n_votes": votes.votes_per_item[mixed],
        })

    @cached_property
    def unused_labels(self) -> pd.DataFrame:
        """Labels of each version no vote made under it gives: ``version, label``."""
        raw, codes = self.versioned.raw, self.versioned.version_codes
        rows = []
        for v, version in enumerate(self.taxonomy.versions):
            given = {str(c) for c in raw.classes[np.unique(raw.label_codes[codes == v])]}
            rows += [{"version": version.name, "label": label} for label in version.labels
                     if label not in given]
        return pd.DataFrame(rows, columns=["version", "label"])

    @cached_property
    def relabel(self) -> pd.DataFrame:
        """The relabel queue: items resolved only in an older version, most votes first.

        ``item, label`` (the consensus), ``confidence``, ``resolved_in``,
        ``candidates`` (the latest labels its votes cannot tell apart), ``n_votes``
        and ``votes`` (``car@v1×3 person×1``).
        """
        model, given = self.model, self.versioned.votes
        chosen = np.flatnonzero(model.resolved_in_ != self.taxonomy.latest.name)
        classes = self.versioned.classes
        candidates = model.open_labels_[chosen].copy()
        candidates[np.arange(chosen.size), model.label_codes_[chosen]] = True
        table = pd.DataFrame({
            "item": given.item_ids[chosen],
            "label": model.labels_[chosen],
            "confidence": model.posteriors_[chosen, model.label_codes_[chosen]],
            "resolved_in": model.resolved_in_[chosen],
            "candidates": [" ".join(classes[row]) for row in candidates],
            "n_votes": given.votes_per_item[chosen],
            "votes": vote_counts_text(given, chosen),
        })
        return table.sort_values(["n_votes", "item"], ascending=[False, True],
                                 kind="stable").reset_index(drop=True)

    @property
    def flags(self) -> pd.DataFrame:
        """The relabel queue as item flags (``item, annotator`` empty, ``label, consensus,
        confidence, score, reasons``): what :func:`consensus.review.build_queue` reads,
        so ``review export`` can queue it. ``score`` is 1 − confidence."""
        relabel = self.relabel
        return pd.DataFrame({
            "item": relabel["item"], "annotator": None, "label": relabel["label"],
            "consensus": relabel["label"], "confidence": relabel["confidence"],
            "score": 1.0 - relabel["confidence"],
            "reasons": [f"unresolved_split (resolved only in {version}: choose among "
                        f"{candidates})" for version, candidates in
                        zip(relabel["resolved_in"], relabel["candidates"], strict=True)],
        })

    @cached_property
    def annotators(self) -> pd.DataFrame:
        """One row per annotator, as ``AggregateResult.annotators`` (for review queues)."""
        from ..report.tables import annotator_table

        return annotator_table(self.versioned.as_latest(self.model.label_codes_), self.model)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: per version, mixed items, unused labels, the relabel count."""
        return {
            "taxonomy": self.taxonomy.source,
            "versions": list(self.taxonomy.names),
            "latest": self.taxonomy.latest.name,
            "changes": self.taxonomy.describe(),
            "per_version": self.per_version.to_dict(orient="records"),
            "mixed_items": len(self.mixed_items),
            "unused_labels": self.unused_labels.to_dict(orient="records"),
            "relabel": len(self.relabel),
            "relabel_by_version": {str(k): int(v) for k, v in
                                   self.relabel["resolved_in"].value_counts().items()},
        }

    def summary(self) -> str:
        info = self.to_dict()
        latest = info["latest"]
        lines = [f"{self.taxonomy.source}: {len(info['versions'])} versions, latest {latest}"]
        lines += [f"  {line}" for line in info["changes"]]
        lines.append("votes per version:")
        for row in info["per_version"]:
            lines.append(f"  {row['version']}: {plural(row['votes'], 'vote')} "
                         f"({row['share']:.1%}) on {plural(row['items'], 'item')} by "
                         f"{plural(row['annotators'], 'annotator')}")
        mixed = self.mixed_items
        lines.append(f"{plural(len(mixed), 'item')} with votes from more than one version"
                     + (f", e.g. {', '.join(map(str, mixed['item'][:SHOWN]))}" if len(mixed)
                        else ""))
        unused = self.unused_labels
        if len(unused):
            by_version = unused.groupby("version", sort=False)["label"].agg(", ".join)
            lines.append("labels never used: " + "; ".join(
                f"{version} {labels}" for version, labels in by_version.items()))
        else:
            lines.append("labels never used: none")
        relabel = self.relabel
        if len(relabel):
            lines.append(
                f"{plural(len(relabel), 'item')} to relabel in {latest}: no vote decides "
                f"between the labels of a split (" + ", ".join(
                    f"{n:,} resolved only in {v}" for v, n in info["relabel_by_version"].items())
                + f"), e.g. {', '.join(map(str, relabel['item'][:SHOWN]))}")
        else:
            lines.append(f"nothing to relabel: every consensus label has the precision of "
                         f"{latest}")
        return "\n".join(lines)


def vote_counts_text(votes: VoteMatrix, items: np.ndarray) -> list[str]:
    """Each chosen item's votes as ``label×count`` by count, most first (``car@v1×3 person×1``)."""
    counts = votes.label_counts[items].astype(np.int64)
    order = np.argsort(-counts, axis=1, kind="stable")
    names = votes.classes
    return [" ".join(f"{names[g]}×{row[g]}" for g in ranked if row[g] > 0)
            for row, ranked in zip(counts, order, strict=True)]


def check_taxonomy(votes: VoteMatrix | VersionedVotes, taxonomy: Taxonomy | None = None, *,
                   gold: Any = None, max_iter: int | None = None, tol: float | None = None,
                   source: str = "the votes") -> TaxonomyCheck:
    """Read votes through a taxonomy, fit the consensus, and report on the versions.

    ``gold`` (latest labels) anchors the fit, and gold items need no relabelling.
    """
    versioned = versioned_votes(votes, taxonomy, source)
    params: dict[str, Any] = {k: v for k, v in {"max_iter": max_iter, "tol": tol}.items()
                              if v is not None}
    model = TaxonomyDawidSkene(**params).fit(versioned, gold=gold)
    return TaxonomyCheck(versioned, model)


__all__ = [
    "TAXONOMY_METHOD",
    "TaxonomyCheck",
    "aggregate_taxonomy",
    "check_taxonomy",
    "exact_vote_correlation",
    "resolution_line",
    "versioned_votes",
]
