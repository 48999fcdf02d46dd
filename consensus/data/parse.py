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
