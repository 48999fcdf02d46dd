"""VoteMatrix: the one data object every model, statistic and report reads.

Votes are kept as three aligned int32 code arrays (item, annotator, label) with
the original ids and label names beside them, so the numeric work never touches
strings and every output can still speak the user's names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import InputError

if TYPE_CHECKING:
    from .parse import DuplicatePolicy, MissingPolicy
    from .tools.source import Origin

#: Per-vote columns kept beside the codes when a table or a tool's export has them.
VOTE_EXTRAS = ("seconds", "created_at")


@dataclass(frozen=True, eq=False)
class VoteMatrix:
    """Votes as integer codes: built and validated once, then shared by everything.

    Parameters
    ----------
    item_codes, annotator_codes, label_codes : ndarray of int32, shape (n_votes,)
        Codes into ``item_ids``, ``annotator_ids`` and ``classes``.
    item_ids, annotator_ids : ndarray of object
        Original ids, in order of first appearance.
    classes : ndarray of object
        Label names in class order (declared order, else numeric or text order).
    extras : mapping of str to ndarray, optional
        Per-vote fields the source carried (:data:`VOTE_EXTRAS`: ``seconds``
        spent, float; ``created_at``, text), aligned with the codes; empty when
        absent, so they cost nothing then.
    origin : Origin, optional
        The annotation tool's export the votes came from (its tasks' data,
        control, what was dropped), for writers that send queues back.
    """

    item_codes: np.ndarray
    annotator_codes: np.ndarray
    label_codes: np.ndarray
    item_ids: np.ndarray
    annotator_ids: np.ndarray
    classes: np.ndarray
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)
    origin: Origin | None = None

    @property
    def n_votes(self) -> int:
        return int(self.item_codes.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])

    @property
    def n_annotators(self) -> int:
        return int(self.annotator_ids.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.classes.shape[0])

    def __repr__(self) -> str:
        return (
            f"VoteMatrix(n_items={self.n_items}, n_annotators={self.n_annotators}, "
            f"n_votes={self.n_votes}, classes={list(self.classes)})"
        )

    # ------------------------------------------------------------------ views
    @cached_property
    def item_annotator_label(self) -> sp.csr_matrix:
        """Sparse counts, shape (n_items, n_annotators * n_classes).

        Entry ``[i, a * n_classes + l]`` counts the votes of annotator ``a`` giving
        label ``l`` on item ``i``. Every EM step is one product with this matrix.
        """
        cols = self.annotator_label_codes.astype(np.int32, copy=False)
        items = self.item_codes
        # CSR built directly (no COO detour through int64 coordinates): order the
        # votes by item unless the export is already grouped by item, as most are.
        if items.size > 1 and not (items[1:] >= items[:-1]).all():
            order = np.argsort(items, kind="stable")
            cols = cols[order]
        indptr = np.zeros(self.n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(items, minlength=self.n_items), out=indptr[1:])
        data = np.ones(self.n_votes, dtype=np.float32)  # small integer counts: exact
        shape = (self.n_items, self.n_annotators * self.n_classes)
        # Repeated (item, annotator, label) votes stay separate entries; products sum them.
        return sp.csr_matrix((data, cols, indptr), shape=shape)

    @cached_property
    def annotator_label_codes(self) -> np.ndarray:
        """Per vote, its column ``annotator * n_classes + label`` in the sparse counts.

        int32 while the columns fit (half the memory traffic), else int64.
        """
        wide = self.n_annotators * self.n_classes >= 2**31
        codes: np.ndarray = self.annotator_codes.astype(np.int64 if wide else np.int32)
        codes *= self.n_classes
        codes += self.label_codes
        return codes

    @cached_property
    def label_counts(self) -> np.ndarray:
        """Votes per (item, class), shape (n_items, n_classes), float64."""
        flat = self.item_codes.astype(np.int64) * self.n_classes + self.label_codes
        counts = np.bincount(flat, minlength=self.n_items * self.n_classes)
        return counts.reshape(self.n_items, self.n_classes).astype(np.float64)

    @cached_property
    def votes_per_item(self) -> np.ndarray:
        return np.bincount(self.item_codes, minlength=self.n_items)

    @cached_property
    def votes_per_annotator(self) -> np.ndarray:
        return np.bincount(self.annotator_codes, minlength=self.n_annotators)

    @cached_property
    def fingerprint(self) -> str:
        """A digest of the votes' content: codes, annotator ids and classes.

        Equal votes give equal fingerprints whatever object holds them, so a
        fitted model recognises its training votes in a copy or after a pickle
        round trip. (Item ids are left out: they do not change any posterior,
        and hashing millions of them would cost more than a fit.)
        """
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(np.array([self.n_items, self.n_votes], dtype=np.int64).tobytes())
        for codes in (self.item_codes, self.annotator_codes, self.label_codes):
            digest.update(np.ascontiguousarray(codes, dtype=np.int32).data)
        for names in (self.annotator_ids, self.classes):
            digest.update("\x1f".join(map(str, names)).encode("utf-8", "surrogatepass"))
            digest.update(b"\x1e")
        return digest.hexdigest()

    def class_index(self, label: Any) -> int:
        """Code of a label name (compared as text), or InputError naming the label."""
        lookup = {str(c): k for k, c in enumerate(self.classes)}
        key = str(label).strip()
        if key not in lookup:
            raise InputError(
                f"label {label!r} is not one of the classes {', '.join(lookup)}"
            )
        return lookup[key]

    def take_votes(self, mask: np.ndarray) -> VoteMatrix:
        """A VoteMatrix over a subset of votes, keeping every id and class space.

        Keeping the spaces means statistics from slices can simply be summed.
        """
        return VoteMatrix(
            self.item_codes[mask],
            self.annotator_codes[mask],
            self.label_codes[mask],
            self.item_ids,
            self.annotator_ids,
            self.classes,
            {name: values[mask] for name, values in self.extras.items()},
            self.origin,
        )

    def take_items(self, keep: np.ndarray) -> VoteMatrix:
        """A VoteMatrix over the items in ``keep`` (a mask over items), renumbered in
        order, keeping the annotator and class spaces: a model fitted on one such
        part scores another with the same annotator codes."""
        keep = np.asarray(keep, dtype=bool)
        position = np.cumsum(keep) - 1
        votes = keep[self.item_codes]
        return VoteMatrix(
            position[self.item_codes[votes]].astype(np.int32),
            self.annotator_codes[votes],
            self.label_codes[votes],
            self.item_ids[keep],
            self.annotator_ids,
            self.classes,
            {name: values[votes] for name, values in self.extras.items()},
            self.origin,
        )

    def to_frame(self) -> pd.DataFrame:
        """The votes as a long table with the original ids and label names."""
        return pd.DataFrame(
            {
                "item": self.item_ids[self.item_codes],
                "annotator": self.annotator_ids[self.annotator_codes],
                "label": self.classes[self.label_codes],
            }
        )

    # ----------------------------------------------------------- construction
    @classmethod
    def from_codes(
        cls,
        item_codes: Any,
        annotator_codes: Any,
        label_codes: Any,
        n_classes: int | None = None,
    ) -> VoteMatrix:
        """Build from integer codes (ids become 0..n-1); handy for simulations."""
        i = np.asarray(item_codes, dtype=np.int32)
        a = np.asarray(annotator_codes, dtype=np.int32)
        lab = np.asarray(label_codes, dtype=np.int32)
        if not (i.shape == a.shape == lab.shape) or i.ndim != 1:
            raise InputError("item, annotator and label codes must be 1-d and of equal length")
        if i.size == 0:
            raise InputError("no votes given")
        if min(i.min(), a.min(), lab.min()) < 0:
            raise InputError("codes must be non-negative")
        k = int(n_classes if n_classes is not None else lab.max() + 1)
        if lab.max() >= k:
            raise InputError(f"label code {int(lab.max())} >= n_classes {k}")
        if k < 2:
            raise InputError("at least two classes are needed")
        return cls(
            i,
            a,
            lab,
            np.arange(int(i.max()) + 1, dtype=object),
            np.arange(int(a.max()) + 1, dtype=object),
            np.arange(k, dtype=object),
        )

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        item: str | None = None,
        annotator: str | None = None,
        label: str | None = None,
        labels: Sequence[Any] | None = None,
        duplicates: DuplicatePolicy = "keep",
        on_missing: MissingPolicy = "error",
        source: str = "the votes",
        first_line: int | None = None,
        origin: Origin | None = None,
    ) -> VoteMatrix:
        """Validate a long table of votes and encode it.

        Parameters
        ----------
        frame : DataFrame
            One row per vote. Columns ``item,annotator,label`` or crowd-kit's
            ``task,worker,label`` are found by name; others are named explicitly.
        labels : sequence, optional
            The declared label set, in the order outputs should use. A class no one
            voted for still exists; a label outside the set is an error.
        duplicates : {"keep", "first", "last", "error"}
            Repeated (item, annotator) votes: count each (crowd-kit's behaviour),
            keep one, or refuse. Any found are reported with a warning.
        on_missing : {"error", "drop"}
            Votes with an empty item, annotator or label.
        source, first_line
            Used only to name the file and line in error messages.
        origin : Origin, optional
            The annotation tool's export the table was read from.

        Columns named as :data:`VOTE_EXTRAS` are kept as per-vote ``extras``.
        """
        from .parse import encode_votes, vote_extras

        encoded, rows = encode_votes(
            frame, item=item, annotator=annotator, label=label, labels=labels,
            duplicates=duplicates, on_missing=on_missing, source=source, first_line=first_line,
        )
        extras = vote_extras(frame, rows, source, first_line)
        return cls(*encoded, extras, origin)
