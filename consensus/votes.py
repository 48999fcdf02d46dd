"""VoteMatrix: the one data object every model, statistic and report reads.

Votes are kept as three aligned int32 code arrays (item, annotator, label) with
the original ids and label names beside them, so the numeric work never touches
strings and every output can still speak the user's names.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .exceptions import InputError, InputWarning

#: Cell values that mean "no value" in spreadsheet and database exports.
MISSING_MARKERS = frozenset(
    {"", "na", "n/a", "#n/a", "#na", "nan", "null", "none", "nil", "<na>", "missing"}
)

#: Accepted spellings of the three columns, first match wins.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "item": ("item", "task", "item_id", "task_id", "question", "object", "example"),
    "annotator": ("annotator", "worker", "annotator_id", "worker_id", "rater", "labeler", "user"),
    "label": ("label", "answer", "response", "annotation", "class", "vote"),
}

DuplicatePolicy = Literal["keep", "first", "last", "error"]
MissingPolicy = Literal["error", "drop"]


def _describe_rows(positions: np.ndarray, first_line: int | None) -> str:
    """Name at most five offending rows, as file lines when the file is known."""
    shown = ", ".join(
        str(int(p) + first_line) if first_line is not None else str(int(p)) for p in positions[:5]
    )
    more = f" and {len(positions) - 5} more" if len(positions) > 5 else ""
    word = "line" if first_line is not None else "row"
    return f"{word}{'s' if len(positions) > 1 else ''} {shown}{more}"


def find_columns(
    columns: Sequence[Any],
    chosen: dict[str, str | None],
    aliases: dict[str, tuple[str, ...]],
    required: Sequence[str],
    source: str,
    where: str = "",
    hint: str = "",
) -> dict[str, str]:
    """Map roles to column names: an explicit name wins, else the first alias present.

    Aliases match case-insensitively. A required role with no match is an error
    that lists the columns found; an optional one is simply left out.
    """
    found = {str(c).strip().lower(): c for c in columns}
    names = ", ".join(map(str, columns))
    result: dict[str, str] = {}
    for role, name in chosen.items():
        if name is not None:
            if name not in columns:
                raise InputError(
                    f"{source}: no column named {name!r} (given for the {role}); "
                    f"columns found: {names}"
                )
            result[role] = name
            continue
        match = next((found[a] for a in aliases[role] if a in found), None)
        if match is not None:
            result[role] = match
        elif role in required:
            raise InputError(
                f"{source}: no {role} column{where}; expected one of "
                f"{', '.join(aliases[role][:4])}; columns found: {names}"
                + (hint.format(role=role) if hint else "")
            )
    picked = [result[r] for r in required]
    if len(set(picked)) < len(picked):
        raise InputError(f"{source}: one column was chosen for two roles: {result}")
    return result


def resolve_columns(
    columns: Sequence[str],
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    source: str = "the votes",
) -> dict[str, str]:
    """Map the roles item/annotator/label to the columns of a table of votes."""
    return find_columns(
        columns,
        {"item": item, "annotator": annotator, "label": label},
        COLUMN_ALIASES,
        ("item", "annotator", "label"),
        source,
        hint=". Name it with --{role}-column.",
    )


def _clean_names(names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stripped names and a mask of those that are missing markers."""
    if pd.api.types.infer_dtype(names, skipna=True) == "string":
        text = pd.Series(names, dtype=object).str.strip()
        missing = text.str.lower().isin(MISSING_MARKERS).to_numpy()
        return text.to_numpy(dtype=object), missing
    cleaned = np.array([u.strip() if isinstance(u, str) else u for u in names], dtype=object)
    missing = np.array(
        [isinstance(u, str) and u.lower() in MISSING_MARKERS for u in cleaned], dtype=bool
    )
    return cleaned, missing


def _encode(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes in order of first appearance, -1 for missing; whitespace stripped."""
    if _is_arrow_dictionary(values):
        codes, names, clean = _encode_arrow(values)
        if clean:
            return codes, names
        missing = _clean_names(names)[1]
        cleaned = names
    else:
        raw_codes, uniques = pd.factorize(values, use_na_sentinel=True)
        codes = raw_codes.astype(np.int32, copy=False)
        if len(uniques) == 0:
            return codes, np.asarray(uniques, dtype=object)
        cleaned, missing = _clean_names(np.asarray(uniques, dtype=object))
    merged, kept = pd.factorize(pd.Series(cleaned, dtype=object))
    if not missing.any() and len(kept) == len(cleaned):
        return codes, cleaned
    remap = merged.astype(np.int32)
    remap[missing] = -1
    # Renumber the survivors densely, keeping first-appearance order.
    live = np.unique(remap[remap >= 0])
    dense = np.full(len(kept), -1, dtype=np.int32)
    dense[live] = np.arange(len(live), dtype=np.int32)
    remap = np.where(remap >= 0, dense[np.maximum(remap, 0)], -1).astype(np.int32)
    codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1).astype(np.int32)
    return codes, np.asarray(kept, dtype=object)[live]


def _is_arrow_dictionary(values: pd.Series) -> bool:
    dtype = values.dtype
    return isinstance(dtype, pd.ArrowDtype) and str(dtype.pyarrow_dtype).startswith("dictionary")


def _encode_arrow(values: pd.Series) -> tuple[np.ndarray, np.ndarray, bool]:
    """Codes and stripped names of an Arrow dictionary column; whether nothing needed cleaning.

    The fast path for large CSV files: Arrow already holds integer codes and the
    distinct values, and its string kernels clean a million names in milliseconds.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.chunked_array(values.array._pa_array).combine_chunks()  # noqa: SLF001
    codes = array.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    dictionary = array.dictionary
    stripped = pc.utf8_trim_whitespace(dictionary)
    markers = pa.array(sorted(MISSING_MARKERS), type=pa.string())
    has_marker = pc.any(pc.is_in(pc.utf8_lower(stripped), value_set=markers)).as_py()
    unchanged = len(dictionary) == 0 or pc.all(pc.equal(stripped, dictionary)).as_py()
    names = stripped.to_numpy(zero_copy_only=False).astype(object)
    return codes, names, bool(unchanged and not has_marker)


def _class_order(names: np.ndarray) -> np.ndarray:
    """Sort labels numerically when they all read as numbers, else as text."""
    as_text = [str(n) for n in names]
    try:
        keys = [float(t) for t in as_text]
    except ValueError:
        return np.argsort(np.array(as_text, dtype=object), kind="stable")
    return np.argsort(np.array(keys), kind="stable")


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
    """

    item_codes: np.ndarray
    annotator_codes: np.ndarray
    label_codes: np.ndarray
    item_ids: np.ndarray
    annotator_ids: np.ndarray
    classes: np.ndarray

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
        codes = self.annotator_codes.astype(np.int64 if wide else np.int32)
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
        """
        if duplicates not in ("keep", "first", "last", "error"):
            raise InputError(f"duplicates must be keep, first, last or error, not {duplicates!r}")
        if on_missing not in ("error", "drop"):
            raise InputError(f"on_missing must be error or drop, not {on_missing!r}")
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"{source}: expected a table of votes, got {type(frame).__name__}")
        cols = resolve_columns(list(frame.columns), item, annotator, label, source)
        if len(frame) == 0:
            raise InputError(f"{source}: no votes (the table has a header but no rows)")

        item_codes, item_ids = _encode(frame[cols["item"]])
        annotator_codes, annotator_ids = _encode(frame[cols["annotator"]])
        label_codes, label_names = _encode(frame[cols["label"]])

        missing = (item_codes < 0) | (annotator_codes < 0) | (label_codes < 0)
        if missing.any():
            where = np.flatnonzero(missing)
            roles = [
                role
                for role, codes in (
                    ("item", item_codes),
                    ("annotator", annotator_codes),
                    ("label", label_codes),
                )
                if (codes[where] < 0).any()
            ]
            if on_missing == "error":
                raise InputError(
                    f"{source}: {len(where)} vote(s) with an empty {'/'.join(roles)} at "
                    f"{_describe_rows(where, first_line)}; fix them or drop them with "
                    f"--on-missing drop"
                )
            warnings.warn(
                f"{source}: dropped {len(where)} vote(s) with an empty {'/'.join(roles)}",
                InputWarning,
                stacklevel=2,
            )
            keep = ~missing
            positions = np.flatnonzero(keep)
            item_codes, item_ids = _compact(item_codes[keep], item_ids)
            annotator_codes, annotator_ids = _compact(annotator_codes[keep], annotator_ids)
            label_codes = label_codes[keep]
            if item_codes.size == 0:
                raise InputError(f"{source}: no votes left after dropping the empty ones")
        else:
            positions = None

        classes, label_codes = _order_classes(label_names, label_codes, labels, source)
        item_codes, annotator_codes, label_codes, kept = _apply_duplicate_policy(
            item_codes, annotator_codes, label_codes, len(annotator_ids), duplicates,
            source, first_line, positions,
        )
        if kept is not None:
            item_codes, item_ids = _compact(item_codes, item_ids)
            annotator_codes, annotator_ids = _compact(annotator_codes, annotator_ids)
        return cls(item_codes, annotator_codes, label_codes, item_ids, annotator_ids, classes)


def _compact(codes: np.ndarray, names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop names no code refers to any more and renumber densely."""
    used = np.bincount(codes, minlength=len(names)) > 0
    if used.all():
        return codes, names
    new = np.cumsum(used, dtype=np.int32) - 1
    return new[codes].astype(np.int32), names[used]


def _order_classes(
    names: np.ndarray,
    codes: np.ndarray,
    declared: Sequence[Any] | None,
    source: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Fix the class order and recode labels to it; check the declared set."""
    if declared is not None:
        declared = list(declared)
        text = [str(d).strip() for d in declared]
        if len(set(text)) != len(text):
            raise InputError(f"the declared labels repeat a value: {', '.join(text)}")
        position = {t: k for k, t in enumerate(text)}
        unknown = [str(n) for n in names if str(n) not in position]
        if unknown:
            counts = np.bincount(codes, minlength=len(names))
            detail = ", ".join(
                f"{n!r} ({counts[k]} votes)" for k, n in enumerate(names) if str(n) not in position
            )
            raise InputError(
                f"{source}: label(s) not in the declared set {', '.join(text)}: {detail}; "
                f"add them to --labels or fix the votes"
            )
        classes = np.array(declared, dtype=object)
        mapping = np.array([position[str(n)] for n in names], dtype=np.int32)
    else:
        order = _class_order(names)
        classes = names[order]
        mapping = np.empty(len(names), dtype=np.int32)
        mapping[order] = np.arange(len(names), dtype=np.int32)
    if len(classes) < 2:
        only = repr(classes[0]) if len(classes) else "none"
        raise InputError(
            f"{source}: only one label ({only}) appears; consensus needs at least two "
            f"classes. Declare the full label set with --labels, e.g. --labels yes,no"
        )
    return classes, mapping[codes] if len(codes) else codes


def _apply_duplicate_policy(
    item_codes: np.ndarray,
    annotator_codes: np.ndarray,
    label_codes: np.ndarray,
    n_annotators: int,
    policy: DuplicatePolicy,
    source: str,
    first_line: int | None,
    positions: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Find repeated (item, annotator) votes and apply the chosen policy."""
    n_dup = _count_repeats(item_codes, annotator_codes, n_annotators)
    if n_dup == 0:
        return item_codes, annotator_codes, label_codes, None
    key = item_codes.astype(np.int64) * max(n_annotators, 1) + annotator_codes
    keep_which = "last" if policy == "last" else "first"
    repeated = (
        pd.Series(key, copy=False).duplicated(keep=keep_which).to_numpy()
        if policy != "keep"
        else None
    )
    if policy == "error":
        where = np.flatnonzero(repeated)  # type: ignore[arg-type]
        if positions is not None:
            where = positions[where]
        raise InputError(
            f"{source}: {n_dup} repeated (item, annotator) vote(s), first at "
            f"{_describe_rows(where, first_line)}; choose --duplicates keep, first or last"
        )
    if policy == "keep":
        warnings.warn(
            f"{source}: {n_dup} repeated (item, annotator) vote(s) kept, each counted as a "
            f"vote (--duplicates first|last|error to change)",
            InputWarning,
            stacklevel=3,
        )
        return item_codes, annotator_codes, label_codes, None
    warnings.warn(
        f"{source}: {n_dup} repeated (item, annotator) vote(s) dropped, keeping the {policy}",
        InputWarning,
        stacklevel=3,
    )
    keep = ~repeated  # type: ignore[operator]
    return item_codes[keep], annotator_codes[keep], label_codes[keep], keep


def _count_repeats(item_codes: np.ndarray, annotator_codes: np.ndarray, n_annotators: int) -> int:
    """How many votes repeat an earlier (item, annotator) pair, via one sparse build."""
    if item_codes.size == 0:
        return 0
    pairs = sp.coo_matrix(
        (np.ones(item_codes.size, dtype=np.int8), (item_codes, annotator_codes)),
        shape=(int(item_codes.max()) + 1, max(n_annotators, 1)),
    ).tocsr()
    pairs.sum_duplicates()
    return int(item_codes.size - pairs.nnz)
