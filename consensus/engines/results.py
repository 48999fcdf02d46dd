"""What the Dask engine returns to the driver: the model-level results, never per-item rows.

Per-item labels are in the output Parquet dataset; this holds what is small enough for
one machine (confusion matrices, priors, per-annotator counts) and the same tables as
:class:`consensus.workflows.aggregation.AggregateResult` builds from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaincinv


@dataclass(frozen=True, eq=False)
class DaskAggregateResult:
    """A model fitted on partitioned votes, and where its labels were written.

    Attributes
    ----------
    output : str
        The labels: a Parquet dataset with one file per partition and the columns of
        :attr:`AggregateResult.items` (``item, label, confidence, n_votes, agreement,
        tie[, gold], p_<class>...``).
    method, requested, reason
        The method fitted, the one asked for (``auto`` may choose), and why.
    classes, annotator_ids : ndarray
    confusion : ndarray (A, K, L)
    class_priors : ndarray (K,)
    population_prior : ndarray (K, L) or None
        The crowd's Dirichlet prior (pooled Dawid-Skene only).
    n_iter, converged, log_likelihood, log_likelihood_history
        As the in-memory models' attributes of the same names.
    held_classes : list of str
        Classes held to their votes by the better-than-chance rule.
    annotator_votes, agreeing : ndarray (A,)
        Votes per annotator, and how many agree with the consensus.
    items_per_class : ndarray (K,)
        Items whose consensus is each class.
    rho : float or None
        The correlated-votes discount applied to the confidence (None: not applied).
    leave_one_out : bool
        Whether confidence was computed leaving each item out of its annotators'
        confusion estimates.
    n_votes, n_items, n_partitions, repartitioned, n_gold
        Sizes; whether the votes were regrouped by item in the first pass.
    timings : list of (pass, seconds)
        Wall time of every pass over the partitions, in order.
    """

    output: str
    method: str
    requested: str
    reason: str | None
    classes: np.ndarray
    annotator_ids: np.ndarray
    confusion: np.ndarray
    class_priors: np.ndarray
    population_prior: np.ndarray | None
    n_iter: int
    converged: bool
    log_likelihood: float
    log_likelihood_history: np.ndarray
    held_classes: list[str]
    annotator_votes: np.ndarray
    agreeing: np.ndarray
    items_per_class: np.ndarray
    rho: float | None
    leave_one_out: bool
    n_votes: int
    n_items: int
    n_partitions: int
    repartitioned: bool
    n_gold: int | None
    work_dtype: str
    timings: list[tuple[str, float]] = field(default_factory=list)

    @property
    def accuracy(self) -> np.ndarray:
        """Expected accuracy per annotator: sum_k prior_k * P(says k | true k)."""
        return np.diagonal(self.confusion, axis1=1, axis2=2) @ self.class_priors

    @property
    def annotators(self) -> pd.DataFrame:
        """One row per annotator, with the columns of :attr:`AggregateResult.annotators`
        (the same Jeffreys interval; see :func:`consensus.report.tables.annotator_table`)."""
        n_votes = self.annotator_votes.astype(np.float64)
        correct = self.accuracy * n_votes
        wrong = np.maximum(n_votes - correct, 0.0)
        table = pd.DataFrame({
            "annotator": self.annotator_ids,
            "n_votes": self.annotator_votes,
            "accuracy": self.accuracy,
            "ci_low": betaincinv(correct + 0.5, wrong + 0.5, 0.025),
            "ci_high": betaincinv(correct + 0.5, wrong + 0.5, 0.975),
            "agreement_with_consensus": self.agreeing / np.maximum(n_votes, 1),
        })
        recall = np.diagonal(self.confusion, axis1=1, axis2=2)
        recall_table = pd.DataFrame(recall, columns=[f"recall_{c}" for c in self.classes])
        return pd.concat([table, recall_table], axis=1)

    @property
    def confusion_table(self) -> pd.DataFrame:
        """Every confusion matrix in long form: annotator, true_label, given_label,
        probability."""
        a, k, l_ = self.confusion.shape
        return pd.DataFrame({
            "annotator": np.repeat(self.annotator_ids, k * l_),
            "true_label": np.tile(np.repeat(self.classes, l_), a),
            "given_label": np.tile(self.classes, a * k),
            "probability": self.confusion.reshape(-1),
        })

    def iteration_seconds(self) -> list[float]:
        """Wall time of each EM iteration (its passes summed)."""
        return [seconds for name, seconds in self.timings if name.startswith("iteration")]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no per-item or per-annotator rows)."""
        return {
            "engine": "dask",
            "output": self.output,
            "method": self.method,
            "requested_method": self.requested,
            "reason": self.reason,
            "n_votes": self.n_votes,
            "n_items": self.n_items,
            "n_annotators": int(len(self.annotator_ids)),
            "classes": [str(c) for c in self.classes],
            "n_partitions": self.n_partitions,
            "repartitioned": self.repartitioned,
            "n_iter": self.n_iter,
            "converged": self.converged,
            "log_likelihood_per_vote": self.log_likelihood / max(self.n_votes, 1),
            "class_priors": {str(c): float(p) for c, p in zip(self.classes, self.class_priors,
                                                              strict=True)},
            "consensus_share": {str(c): float(n) / max(self.n_items, 1) for c, n in
                                zip(self.classes, self.items_per_class, strict=True)},
            "held_classes": self.held_classes,
            "n_gold": self.n_gold,
            "confidence": {"leave_one_out": self.leave_one_out, "rho": self.rho},
            "work_dtype": self.work_dtype,
            "timings": [{"pass": name, "seconds": seconds} for name, seconds in self.timings],
        }
