"""From a long table of votes to integer codes: cleaning, class order, missing and repeated votes.

The readers hand a DataFrame here; :class:`~consensus.data.votes.VoteMatrix`
receives only clean codes. Arrow dictionary columns (what the CSV reader
produces) are encoded without making a Python string per vote.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import InputError, InputWarning
from ..wording import describe_rows, option
from .columns import MISSING_MARKERS, resolve_columns

DuplicatePolicy = Literal["keep", "first", "last", "error"]
MissingPolicy = Literal["error", "drop"]

#: (item_codes, annotator_codes, label_codes, item_ids, annotator_ids, classes)
EncodedVotes = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def encode_votes(
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
) -> tuple[EncodedVotes, np.ndarray | None]:
    """Validate a long table of votes and encode it; see :meth:`VoteMatrix.from_frame`.

    Also returns the table rows the kept votes came from (None when every row
    was kept, in order), so per-vote extras can follow their votes.
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
                f"{describe_rows(where, first_line)}; fix them or drop them with "
                f"{option('on_missing', 'drop')}"
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
    rows = positions
    if kept is not None:
        item_codes, item_ids = _compact(item_codes, item_ids)
        annotator_codes, annotator_ids = _compact(annotator_codes, annotator_ids)
        rows = np.flatnonzero(kept) if positions is None else positions[kept]
    return (item_codes, annotator_codes, label_codes, item_ids, annotator_ids, classes), rows


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

    The fast path for large files: Arrow already holds integer codes and the
    distinct values, and its string kernels clean a million names in milliseconds.
    Chunks are read in place, never concatenated.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    column = pa.chunked_array(values.array._pa_array)  # noqa: SLF001
    if column.num_chunks > 1 and not _shared_dictionary(column):
        column = column.unify_dictionaries()
    codes = np.empty(len(column), dtype=np.int32)
    start = 0
    for chunk in column.chunks:
        indices = chunk.indices
        if indices.null_count:
            indices = indices.fill_null(-1)
        codes[start:start + len(chunk)] = indices.to_numpy(zero_copy_only=False)
        start += len(chunk)
    dictionary = (column.chunks[0].dictionary if column.num_chunks
                  else pa.array([], type=column.type.value_type))
    if pa.types.is_integer(dictionary.type):  # ids named by their decimal text: nothing to clean
        text = pc.cast(dictionary, pa.string())
        return codes, text.to_numpy(zero_copy_only=False).astype(object, copy=False), True
    stripped = pc.utf8_trim_whitespace(dictionary)
    markers = pa.array(sorted(MISSING_MARKERS), type=pa.string())
    has_marker = pc.any(pc.is_in(pc.utf8_lower(stripped), value_set=markers)).as_py()
    unchanged = len(dictionary) == 0 or pc.all(pc.equal(stripped, dictionary)).as_py()
    names = stripped.to_numpy(zero_copy_only=False).astype(object, copy=False)
    return codes, names, bool(unchanged and not has_marker)


def _shared_dictionary(column: Any) -> bool:
    """Whether every chunk's dictionary is the same memory (as the readers build them)."""
    def where(chunk: Any) -> list[int]:
        return [0 if b is None else b.address for b in chunk.dictionary.buffers()]

    first = where(column.chunks[0])
    return all(where(chunk) == first for chunk in column.chunks[1:])


class ColumnEncoder:
    """Dictionary-encodes one column batch by batch, in order of first appearance.

    The first rows decide how. Values that repeat within them (annotators,
    labels) are encoded batch by batch into int32 codes and the batch's
    distinct values, and :meth:`finish` hashes only those distinct values to
    agree on one dictionary and renumbers each batch's codes into it. Values
    mostly distinct within them (item ids) would be hashed twice that way, so
    they are held as they are and hashed once, in one pass, at the end; text
    only while a column's held text stays under :data:`TEXT_BUDGET` bytes
    (then the held batches are encoded and the rest follows the first way), so
    memory grows with the votes, never with the whole text of a big file.

    The order is that of :func:`encode_votes`. Integers stay integers: the
    dictionary holds the distinct numbers, which :func:`encode_votes` names by
    their decimal text, as pandas' ``str`` does. Anything but text and
    integers raises :class:`TypeError`.
    """

    #: Distinct values per value in the first rows from which a column is held whole.
    MOSTLY_DISTINCT = 0.25
    SAMPLE_ROWS = 1 << 16
    #: Most bytes of text held whole per column.
    TEXT_BUDGET = 1 << 27

    def __init__(self) -> None:
        self._codes: list[np.ndarray] = []
        self._dictionaries: list[Any] = []
        self._held: list[Any] = []
        self._held_text = 0
        self._type: Any = None

    def add(self, values: Any) -> None:
        """Take one batch: a pyarrow Array or ChunkedArray."""
        import pyarrow as pa
        import pyarrow.compute as pc

        chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
        for chunk in chunks:
            dictionary = pa.types.is_dictionary(chunk.type)
            kind = chunk.type.value_type if dictionary else chunk.type
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
                    or pa.types.is_integer(kind)):
                raise TypeError(f"cannot encode {kind} values without pandas")
            if self._type is None:
                self._type = kind
            elif kind != self._type:
                raise TypeError(f"column changes type from {self._type} to {kind}")
            if dictionary and self._held:
                chunk = chunk.dictionary.take(chunk.indices)
            elif dictionary:
                # A file's own dictionary is in no particular order and may hold unused
                # values: renumber by first appearance of the codes.
                order = pc.dictionary_encode(chunk.indices)
                self._keep(pa.DictionaryArray.from_arrays(
                    order.indices, chunk.dictionary.take(order.dictionary)))
                continue
            if self._held or (not self._codes and self._mostly_distinct(chunk)):
                self._hold(chunk)
            else:
                self._keep(pc.dictionary_encode(chunk))

    def _mostly_distinct(self, chunk: Any) -> bool:
        """Judged on the first rows: hashing them all here would hash them twice."""
        import pyarrow.compute as pc

        sample = chunk.slice(0, self.SAMPLE_ROWS)
        return bool(pc.count_distinct(sample).as_py() > self.MOSTLY_DISTINCT * len(sample))

    def _hold(self, chunk: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self._held.append(chunk)
        if not pa.types.is_integer(chunk.type):
            self._held_text += chunk.nbytes
        if self._held_text > self.TEXT_BUDGET:
            held, self._held = self._held, []
            for batch in held:
                self._keep(pc.dictionary_encode(batch))

    def _keep(self, encoded: Any) -> None:
        indices = encoded.indices
        if indices.null_count:
            indices = indices.fill_null(-1)
        self._codes.append(indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False))
        self._dictionaries.append(encoded.dictionary)

    def finish(self) -> Any:
        """The whole column as pyarrow dictionary chunks (int32 codes) sharing one
        dictionary of text or integers."""
        import pyarrow as pa
        import pyarrow.compute as pc

        kind = self._type if self._type is not None else pa.string()
        if self._held:
            # One hash table, growing by appending: every chunk's codes index the last
            # chunk's dictionary.
            encoded = pc.dictionary_encode(pa.chunked_array(self._held, type=kind))
            self._held = []
            if not encoded.num_chunks:
                return encoded
            values = encoded.chunks[-1].dictionary
            return pa.chunked_array([pa.DictionaryArray.from_arrays(chunk.indices, values)
                                     for chunk in encoded.chunks])
        # One hash table over the batches' distinct values: each batch's map into the
        # shared dictionary, in order of first appearance over the whole column.
        maps = pc.dictionary_encode(pa.chunked_array(self._dictionaries, type=kind))
        dictionary = (maps.chunks[-1].dictionary if maps.num_chunks
                      else pa.array([], type=kind))
        shared = np.empty(sum(len(d) for d in self._dictionaries), dtype=np.int32)
        start = 0
        for chunk in maps.chunks:  # empty batches have no chunk here
            shared[start:start + len(chunk)] = chunk.indices.to_numpy(zero_copy_only=False)
            start += len(chunk)
        codes = np.empty(sum(len(c) for c in self._codes), dtype=np.int32)
        start = offset = 0
        for batch, values in zip(self._codes, self._dictionaries, strict=True):
            lookup = np.append(shared[offset:offset + len(values)], -1)
            codes[start:start + len(batch)] = lookup[batch]  # -1 (missing) picks the last
            start += len(batch)
            offset += len(values)
        self._codes, self._dictionaries = [], []
        missing = codes < 0
        return pa.chunked_array([pa.DictionaryArray.from_arrays(
            pa.array(codes, mask=missing if missing.any() else None), dictionary)])


def _class_order(names: np.ndarray) -> np.ndarray:
    """Sort labels numerically when they all read as numbers, else as text."""
    as_text = [str(n) for n in names]
    try:
        keys = [float(t) for t in as_text]
    except ValueError:
        return np.argsort(np.array(as_text, dtype=object), kind="stable")
    return np.argsort(np.array(keys), kind="stable")


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
                f"add them to {option('labels')} or fix the votes"
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
            f"classes. Declare the full label set with {option('labels')}"
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
            f"{describe_rows(where, first_line)}; choose "
            f"{option('duplicates', 'keep', 'first', 'last')}"
        )
    if policy == "keep":
        warnings.warn(
            f"{source}: {n_dup} repeated (item, annotator) vote(s) kept, each counted as a "
            f"vote ({option('duplicates', 'first', 'last', 'error')} to change)",
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


def vote_extras(frame: pd.DataFrame, rows: np.ndarray | None, source: str,
                first_line: int | None) -> dict[str, np.ndarray]:
    """The per-vote extras a table carries (``seconds`` as numbers, ``created_at`` as text),
    aligned with the kept votes; an unreadable time names its row."""
    from .votes import VOTE_EXTRAS

    extras: dict[str, np.ndarray] = {}
    for name in VOTE_EXTRAS:
        if name not in frame.columns:
            continue
        column = frame[name]
        if name == "seconds":
            numbers = pd.to_numeric(column, errors="coerce")
            values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.isnan(values) & column.notna().to_numpy()
            if bad.any():
                where = np.flatnonzero(bad)
                raise InputError(
                    f"{source}: {name} is not a number at {describe_rows(where, first_line)} "
                    f"(found {column.iloc[where[0]]!r}); fix or remove the column"
                )
        else:
            values = column.astype(object).to_numpy()
        extras[name] = values if rows is None else values[rows]
    return extras
