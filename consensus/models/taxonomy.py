"""Dawid–Skene across taxonomy versions: an older version's vote is evidence, not a class.

The classes are the latest version's labels, and each annotator has one confusion
matrix over them, ``θ[a, k, l]`` = P(annotator a answers l | true class k). A vote
made under an older version whose label covers the set S of latest labels (a
``car`` vote from before ``car`` was split into ``sedan`` and ``suv``) is the same
annotator answering at a coarser level: they would have said some l in S, so

    P(vote | k) = Σ_{l ∈ S} θ[a, k, l],

which is ``(θ @ M)[a, k, g]`` with M the (L × G) 0/1 membership matrix of the given
labels (:func:`consensus.data.taxonomy.map_votes`). So the E-step is Dawid–Skene's
over the given labels with log-weights ``log(θ M)``, and in the M-step a coarse
vote's expected count is shared among the labels it covers in proportion to
``θ[a, k, l]`` (the expected missing fine answer) before the pooled model's
M-step: each confusion row shrunk towards the crowd's typical row, learned by
empirical Bayes (:func:`consensus.models.pooled.fit_population_prior`). A split
label's votes then support its parts in proportion to how the crowd answers at
the finer level; an item with only such votes is decided between the parts by the
class priors and by how often its annotators give the split label for each part,
not by evidence at the finer level, which :func:`consensus.data.taxonomy.resolve`
reports.
Merged and renamed labels cover one latest label, and count exactly as its votes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..data.gold import GoldSet, gold_per_item
from ..data.taxonomy import Taxonomy, VersionedVotes, map_votes, resolve
from ..data.votes import VoteMatrix
from ..exceptions import InputError
from . import em
from .base import EMAggregator, EMParameters, ProgressCallback
from .pooled import fit_population_prior


def coarse_confusion(confusion: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """P(given label g | true class k) per annotator: ``confusion @ membership``.

    Parameters
    ----------
    confusion : ndarray (A, K, L)
        Each annotator's confusion over the latest labels.
    membership : ndarray (L, G)
        1 where given label g covers latest label l.

    Returns
    -------
    ndarray (A, K, G)
    """
    return confusion @ membership


def fine_statistics(stats: np.ndarray, confusion: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """Expected (annotator, true class, latest label) counts from given-label counts.

    A given label's expected count is shared among the latest labels it covers in
    proportion to ``confusion[a, k, l]``: the E-step for the fine answer a coarse
    vote leaves unsaid. A given label that is one latest label keeps its count.

    Parameters
    ----------
    stats : ndarray (A, K, G)
        Expected counts of given labels (:func:`consensus.models.em.confusion_statistics`).
    confusion : ndarray (A, K, L)
        The current confusion matrices.
    membership : ndarray (L, G)

    Returns
    -------
    ndarray (A, K, L)
    """
    coarse = coarse_confusion(confusion, membership)
    ratio = np.divide(stats, coarse, out=np.zeros_like(stats), where=coarse > 0)
    return confusion * (ratio @ membership.T)


def starting_prior(n_classes: int) -> np.ndarray:
    """Right half the time, errors spread evenly: 4 pseudo-votes per row (K, K)."""
    alpha = np.full((n_classes, n_classes), 2.0 / max(n_classes - 1, 1))
    np.fill_diagonal(alpha, 2.0)
    return alpha


def spread_vote_shares(versioned: VersionedVotes) -> np.ndarray:
    """Class-major (K, n_items) vote shares, each vote spread evenly over the latest labels
    it covers: EM's starting point."""
    membership, given = versioned.membership, versioned.votes
    spread = membership / membership.sum(axis=0, keepdims=True)  # (L, G)
    shares = np.stack([np.bincount(given.item_codes, weights=row[given.label_codes],
                                   minlength=given.n_items) for row in spread]).astype(np.float64)
    shares /= np.maximum(shares.sum(axis=0, keepdims=True), 1e-300)
    return np.ascontiguousarray(shares, dtype=em.WORK_DTYPE)


def latest_gold_codes(versioned: VersionedVotes, gold: Any) -> np.ndarray | None:
    """Known labels per item as codes of the latest labels (-1 unknown; None without gold).

    ``gold`` is anything :func:`consensus.data.gold_per_item` accepts, a GoldSet
    matched by item and label name (to the votes as read or as versioned), or codes
    into the latest labels; a label of an older version only is an error.
    """
    if isinstance(gold, GoldSet):
        gold = dict(zip(gold.item_ids[gold.item_codes], gold.classes[gold.label_codes],
                        strict=True))
    codes = gold_per_item(versioned.votes, gold)
    if codes is not None and codes.max(initial=-1) >= versioned.n_classes:
        wrong = versioned.votes.classes[codes.max()]
        raise InputError(f"known label {wrong!r} is not a label of the latest taxonomy "
                         f"version {versioned.taxonomy.latest.name} "
                         f"({', '.join(versioned.classes)})")
    return codes


class TaxonomyDawidSkene(EMAggregator):
    """Pooled Dawid–Skene over the latest labels, reading older versions' votes as evidence.

    EM runs in :class:`~consensus.models.base.EMAggregator`'s loop over the votes'
    given labels (``VersionedVotes.votes``); this class fills its hooks.

    Parameters
    ----------
    taxonomy : Taxonomy, optional
        Maps the votes (a :class:`VoteMatrix` whose extras say each vote's version)
        to the latest labels. Not needed when ``fit`` is given :class:`VersionedVotes`.
    max_iter, tol, prior_strength, class_prior, learn_prior, prior_steps, smoothing
        As in :class:`~consensus.models.PooledDawidSkene`.

    Attributes
    ----------
    classes_ : ndarray
        The latest version's labels.
    posteriors_, labels_, label_codes_, confusion_ (A, L, L), class_priors_
        As in every model, over the latest labels.
    resolved_in_ : ndarray of object (n_items,)
        The version whose precision each item's consensus has
        (:func:`consensus.data.taxonomy.resolve`): the latest version's name, or an
        older one's for items whose votes cannot decide between the labels it split.
    open_labels_ : ndarray of bool (n_items, L)
        The latest labels each item's votes cannot tell from its consensus.
    given_labels_ : ndarray of object (G,)
        The given labels of the fitted votes: the latest labels, then the coarser ones.
    taxonomy_ : Taxonomy
        The taxonomy the votes were read through (used again by ``predict_proba``).
    """

    resolved_in_: np.ndarray
    open_labels_: np.ndarray
    given_labels_: np.ndarray
    taxonomy_: Taxonomy
    #: The votes being fitted, for the hooks (set in ``fit`` only while it runs).
    _versioned: VersionedVotes

    def __init__(
        self,
        *,
        taxonomy: Taxonomy | None = None,
        max_iter: int = 100,
        tol: float = 1e-5,
        prior_strength: float = 1.5,
        class_prior: float = 1.0,
        learn_prior: bool = True,
        prior_steps: int = 10,
        smoothing: float = 0.0,
    ) -> None:
        super().__init__(max_iter=max_iter, tol=tol, smoothing=smoothing)
        self.taxonomy = taxonomy
        self.prior_strength = prior_strength
        self.class_prior = class_prior
        self.learn_prior = learn_prior
        self.prior_steps = prior_steps

    def _validate(self) -> None:
        super()._validate()
        for name in ("prior_strength", "class_prior"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise InputError(f"{name} must be a positive number, not {value!r}")
        if not isinstance(self.prior_steps, (int, np.integer)) or self.prior_steps < 1:
            raise InputError(f"prior_steps must be a positive integer, not {self.prior_steps!r}")

    def versioned(self, votes: VoteMatrix | VersionedVotes) -> VersionedVotes:
        """``votes`` read through the taxonomy (the fitted one once fitted)."""
        if isinstance(votes, VersionedVotes):
            return votes
        taxonomy = getattr(self, "taxonomy_", None) or self.taxonomy
        if taxonomy is None:
            raise InputError(f"{type(self).__name__} needs a taxonomy: pass taxonomy=... "
                             f"(consensus.data.taxonomy.read_taxonomy) or fit VersionedVotes")
        return map_votes(votes, taxonomy)

    def fit(self, votes: VoteMatrix | VersionedVotes, gold: Any = None, *,
            progress: ProgressCallback | None = None) -> TaxonomyDawidSkene:
        """Run EM over the given labels; gold items (latest labels) are clamped throughout.

        Parameters
        ----------
        votes : VoteMatrix or VersionedVotes
            Votes whose extras say their version (mapped with ``taxonomy``), or votes
            already read through a taxonomy.
        gold : GoldSet, mapping from item id to latest label, or int array (n_items,)
            of codes into the latest labels (-1 unknown), optional
        progress : callable, optional
            ``progress(iteration, log_likelihood_per_vote)`` after each iteration.
        """
        self._validate()
        versioned = self.versioned(votes)
        gold_codes = latest_gold_codes(versioned, gold)
        # the fit's state, read by the hooks and dropped by _store_fit
        self._versioned = versioned
        try:
            super().fit(versioned.votes, gold_codes, progress=progress)
        finally:
            self.__dict__.pop("_versioned", None)
        return self

    # ------------------------------------------------------- the EM loop's hooks
    def _initial_posteriors(self, votes: VoteMatrix) -> np.ndarray:
        return spread_vote_shares(self._versioned)

    def _m_step(self, stats: np.ndarray, class_counts: np.ndarray,
                previous: EMParameters | None) -> EMParameters:
        """Given-label counts (A, K, G) → fine counts → pooled Dawid–Skene's parameters."""
        membership = self._versioned.membership
        n_classes = membership.shape[0]
        if previous is None:
            alpha = starting_prior(n_classes)
            current = np.broadcast_to(alpha / alpha.sum(axis=1, keepdims=True),
                                      (stats.shape[0], n_classes, n_classes))
        else:
            assert previous.hyper is not None  # every M-step of this model sets it
            alpha, current = previous.hyper, previous.confusion
        fine = fine_statistics(stats, current, membership)
        if self.learn_prior:
            alpha = fit_population_prior(fine, alpha, n_steps=self.prior_steps)
        typical = alpha / alpha.sum(axis=1, keepdims=True)
        concentration = fine + (self.prior_strength * n_classes) * typical[None] + self.smoothing
        confusion = concentration / concentration.sum(axis=2, keepdims=True)
        class_concentration = class_counts + self.class_prior
        class_priors = class_concentration / class_concentration.sum()
        return EMParameters(
            log_weights=em.log_weights_from_confusion(
                em.safe_log(coarse_confusion(confusion, membership))),
            log_prior=np.log(class_priors),
            confusion=confusion,
            class_priors=class_priors,
            hyper=alpha,
            concentration=concentration,
        )

    def _store_fit(self, votes: VoteMatrix, params: EMParameters, posteriors: np.ndarray,
                   gold_codes: np.ndarray | None) -> None:
        """The shared fitted attributes, in the latest labels, and each item's resolution."""
        super()._store_fit(votes, params, posteriors, gold_codes)
        versioned = self._versioned
        self.classes_ = versioned.classes
        self.votes_fingerprint_ = versioned.fingerprint
        self.taxonomy_ = versioned.taxonomy
        self.given_labels_ = votes.classes
        anchored = None if gold_codes is None else gold_codes >= 0
        version, self.open_labels_ = resolve(versioned, self.label_codes_, anchored)
        self.resolved_in_ = np.array(versioned.taxonomy.names, dtype=object)[version]

    # --------------------------------------------------------------- predicting
    def _versioned_counts(self, versioned: VersionedVotes) -> tuple[sp.csr_matrix, np.ndarray]:
        """Counts and log-weights of new votes, annotators matched by id; annotators
        unseen in the fit get the crowd's vote-weighted average confusion."""
        given = versioned.votes
        position = self._annotator_map(given)
        share = self.annotator_votes_ / self.annotator_votes_.sum()
        crowd = np.tensordot(share, self.confusion_, axes=1)[None]
        confusion = np.concatenate([self.confusion_, crowd])
        n_given = versioned.membership.shape[1]
        log_weights = em.log_weights_from_confusion(
            em.safe_log(coarse_confusion(confusion, versioned.membership)))
        cols = position[given.annotator_codes].astype(np.int64) * n_given + given.label_codes
        counts = sp.csr_matrix(
            (np.ones(given.n_votes, dtype=np.float32), (given.item_codes, cols)),
            shape=(given.n_items, len(confusion) * n_given),
        )
        return counts, log_weights

    def predict_proba(self, votes: VoteMatrix | VersionedVotes) -> np.ndarray:
        """Posteriors over the latest labels (n_items, L) under the fitted parameters.

        The fitted votes (or an equal copy) get ``posteriors_``, gold clamps included.
        """
        self._check_fitted()
        versioned = self.versioned(votes)
        if versioned.fingerprint == self.votes_fingerprint_:
            return self.posteriors_.copy()
        if list(versioned.classes) != list(self.classes_):
            raise InputError(f"these votes were read through a taxonomy whose latest labels "
                             f"({', '.join(versioned.classes)}) are not the fitted ones "
                             f"({', '.join(self.classes_)})")
        counts, log_weights = self._versioned_counts(versioned)
        posteriors, _ = em.e_step(counts, log_weights, self.params_.log_prior)
        return em.as_probabilities(posteriors)

    def item_log_likelihood(self, votes: VoteMatrix | VersionedVotes) -> np.ndarray:
        """log P(an item's votes) under the fitted parameters, its class summed out."""
        self._check_fitted()
        counts, log_weights = self._versioned_counts(self.versioned(votes))
        return em.item_log_evidence(counts, log_weights, self.params_.log_prior)
