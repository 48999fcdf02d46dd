"""Votes as partitions: find the Parquet files, read and clean them, agree codes, encode.

Runs on the workers (nothing here imports Dask). Three steps, each one task per partition:

1. :func:`survey_file` reads a file's three columns and returns what the driver needs to
   agree codes: its distinct annotators (in order of first appearance) and labels, its
   missing cells, the range of its item ids.
2. Only when some item has votes in two files (the item ranges overlap), :func:`split_file`
   writes each file's votes again grouped by a hash of the item (one row group per bucket),
   so that bucket ``b`` of every file together holds all the votes of its items.
3. :func:`encode_partition` turns one partition's votes (a whole file, or one bucket of
   every file, in file order) into the compact form every EM pass reads: per vote its
   column ``annotator * n_classes + label`` grouped by item, and per item its vote count.

Ids are cleaned as :mod:`consensus.data.parse` cleans them (whitespace stripped, the usual
missing markers read as missing, labels compared as text), so both engines see the same
votes in the same order: annotators are numbered by first appearance over the files in
path order, and within an item its votes keep file order.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data.columns import MISSING_MARKERS, resolve_columns
from ..data.dataset import find_parquet_files
from ..exceptions import InputError

#: The roles of the three vote columns, in the order they are read.
ROLES = ("item", "annotator", "label")


def filesystem(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path within it."""
    from fsspec.core import url_to_fs

    return url_to_fs(url, **dict(storage_options or {}))


def list_vote_files(path: str, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """The Parquet files of a folder (recursively) or a glob, in path order, as full URLs.

    Found as the in-memory engine finds them (:func:`consensus.data.dataset.find_parquet_files`):
    names starting with ``_`` or ``.`` (``_SUCCESS``, ``_metadata``, hidden files) are
    skipped, as Parquet readers skip them.
    """
    fs, root = filesystem(str(path), storage_options)
    return [fs.unstrip_protocol(p) for p in find_parquet_files(fs, root, str(path))]


def vote_columns(url: str, item: str | None, annotator: str | None, label: str | None,
                 storage_options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The item, annotator and label columns of a Parquet file, found by name as in memory."""
    import pyarrow.parquet as pq

    fs, path = filesystem(url, storage_options)
    with fs.open(path, "rb") as handle:
        names = pq.ParquetFile(handle).schema_arrow.names
    return resolve_columns(names, item, annotator, label, source=url)


def read_votes_table(url: str, columns: Mapping[str, str],
                     storage_options: Mapping[str, Any] | None = None,
                     row_group: int | None = None) -> dict[str, pd.Series]:
    """The three vote columns of a file (or one row group of it), by role."""
    import pyarrow.parquet as pq

    fs, path = filesystem(url, storage_options)
    names = [columns[r] for r in ROLES]
    with fs.open(path, "rb") as handle:
        source = pq.ParquetFile(handle)
        absent = [n for n in names if n not in source.schema_arrow.names]
        if absent:
            raise InputError(f"{url}: no column {', '.join(map(repr, absent))}; every file "
                             f"must have the vote columns of the first "
                             f"({', '.join(names)})")
        table = (source.read(columns=names) if row_group is None
                 else source.read_row_group(row_group, columns=names))
    return {role: table.column(columns[role]).to_pandas() for role in ROLES}


def factorize_clean(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes in order of first appearance (-1 for missing) and the cleaned distinct values.

    Text is stripped and the usual missing markers (:data:`MISSING_MARKERS`) become
    missing, as :func:`consensus.data.parse.encode_votes` does; numbers are kept as they
    are (cleaning only the distinct values costs nothing per vote).
    """
    array = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if array.dtype.kind in "iu" and (array.size < 2 or bool((array[1:] >= array[:-1]).all())):
        # numbers in order (files written sorted by item): codes without hashing
        starts = np.concatenate([[True], array[1:] != array[:-1]]) if array.size else \
            np.zeros(0, dtype=bool)
        return (np.cumsum(starts, dtype=np.int32) - 1), array[starts]
    raw, uniques = pd.factorize(values, use_na_sentinel=True)
    codes = raw.astype(np.int32, copy=False)
    distinct = np.asarray(uniques)
    if distinct.dtype != object and not pd.api.types.is_string_dtype(uniques.dtype):
        return codes, distinct
    distinct = np.asarray(uniques, dtype=object)
    cleaned = np.array([u.strip() if isinstance(u, str) else u for u in distinct], dtype=object)
    missing = np.array([isinstance(u, str) and u.lower() in MISSING_MARKERS for u in cleaned],
                       dtype=bool)
    merged, kept = pd.factorize(pd.Series(cleaned, dtype=object))
    if not missing.any() and len(kept) == len(cleaned):
        return codes, cleaned
    remap = merged.astype(np.int32)
    remap[missing] = -1
    live = np.unique(remap[remap >= 0])
    dense = np.full(len(kept), -1, dtype=np.int32)
    dense[live] = np.arange(len(live), dtype=np.int32)
    remap = np.where(remap >= 0, dense[np.maximum(remap, 0)], -1).astype(np.int32)
    codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1).astype(np.int32)
    return codes, np.asarray(kept, dtype=object)[live]


def cleaned_votes(columns: Mapping[str, pd.Series]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each role's (codes, distinct cleaned values)."""
    return {role: factorize_clean(columns[role]) for role in ROLES}


@dataclass(frozen=True)
class FileSurvey:
    """What one file tells the driver before codes are agreed."""

    url: str
    n_rows: int
    #: Rows with an empty item, annotator or label, and which roles were empty.
    n_missing: int
    missing_roles: tuple[str, ...]
    #: Distinct annotators of the complete rows, in order of first appearance.
    annotators: np.ndarray
    #: Distinct labels of every row that has one (a dropped row's label is still a class,
    #: as in memory).
    labels: np.ndarray
    #: Smallest and largest item id, or None when the ids cannot be ordered.
    item_range: tuple[Any, Any] | None


def survey_file(url: str, columns: Mapping[str, str],
                storage_options: Mapping[str, Any] | None = None) -> FileSurvey:
    """Pass 1: distinct annotators and labels, missing cells and the item range of a file."""
    coded = cleaned_votes(read_votes_table(url, columns, storage_options))
    missing = np.zeros(len(coded["item"][0]), dtype=bool)
    roles = []
    for role in ROLES:
        empty = coded[role][0] < 0
        if empty.any():
            roles.append(role)
            missing |= empty
    annotator_codes, annotator_names = coded["annotator"]
    seen = pd.unique(annotator_codes[~missing]) if missing.any() else \
        np.arange(len(annotator_names))
    label_codes, label_names = coded["label"]
    used_labels = np.flatnonzero(np.bincount(label_codes + 1, minlength=len(label_names) + 1)[1:])
    items = coded["item"][1]
    try:
        item_range = (items.min(), items.max()) if len(items) else None
    except TypeError:  # ids of several types: no order to check
        item_range = None
    return FileSurvey(url, len(missing), int(missing.sum()), tuple(roles),
                      annotator_names[seen], label_names[used_labels], item_range)


def items_are_whole(surveys: Sequence[FileSurvey]) -> bool:
    """Whether no item can have votes in two files: the files' item ranges are disjoint.

    (Sufficient, not necessary: files bucketed by a hash of the item would also be whole,
    but only a shuffle can tell; such data is grouped again, at the cost of one pass.)
    """
    found = [s.item_range for s in surveys if s.n_rows > s.n_missing]
    ranges = [r for r in found if r is not None]
    if len(ranges) < len(found):
        return False
    try:
        ordered = sorted(ranges, key=lambda r: r[0])  # type: ignore[index]
        return all(a[1] < b[0] for a, b in zip(ordered, ordered[1:], strict=False))
    except TypeError:
        return False


def item_buckets(item_ids: np.ndarray, n_buckets: int) -> np.ndarray:
    """Bucket of each item id: a fixed hash (the same on every worker and run) modulo."""
    return (pd.util.hash_array(np.asarray(item_ids)) % np.uint64(n_buckets)).astype(np.int64)


def split_file(url: str, out_url: str, columns: Mapping[str, str], n_buckets: int,
               storage_options: Mapping[str, Any] | None = None) -> dict[int, int]:
    """Pass 1b: a file's complete votes, cleaned, grouped by item bucket into ``out_url``.

    One row group per non-empty bucket, rows in file order within it. Returns
    {bucket: row group}.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    coded = cleaned_votes(read_votes_table(url, columns, storage_options))
    complete = np.ones(len(coded["item"][0]), dtype=bool)
    for role in ROLES:
        complete &= coded[role][0] >= 0
    values = {role: coded[role][1][coded[role][0][complete]] for role in ROLES}
    bucket_of_item = item_buckets(coded["item"][1], n_buckets)
    bucket = bucket_of_item[coded["item"][0][complete]]
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(n_buckets + 1))
    table = pa.table({role: pa.array(_plain(values[role][order])) for role in ROLES})
    groups: dict[int, int] = {}
    fs, path = filesystem(out_url, storage_options)
    with fs.open(path, "wb") as handle, pq.ParquetWriter(handle, table.schema) as writer:
        for b in range(n_buckets):
            if bounds[b + 1] > bounds[b]:
                writer.write_table(table.slice(bounds[b], bounds[b + 1] - bounds[b]),
                                   row_group_size=int(bounds[b + 1] - bounds[b]))
                groups[b] = len(groups)
    return groups


def _plain(values: np.ndarray) -> np.ndarray:
    """Object arrays of one Python type as that type's array, so Arrow can type them."""
    if values.dtype != object or not len(values):
        return values
    kinds = {type(v) for v in values[: min(len(values), 1000)]}
    return values.astype(str) if kinds == {str} else values


# ------------------------------------------------------------------ encoded partitions
@dataclass(frozen=True)
class Codes:
    """The codes agreed on the driver and shipped to every encoding task."""

    annotator_ids: pd.Index
    classes: np.ndarray
    #: Gold class code by item id as text (None without gold).
    gold: pd.Series | None = None

    @property
    def n_cells(self) -> int:
        return len(self.annotator_ids) * len(self.classes)


@dataclass(frozen=True)
class PartitionInfo:
    """What encoding one partition found: sizes, per-annotator and per-label vote counts."""

    n_votes: int
    n_items: int
    max_votes_per_item: int
    annotator_votes: np.ndarray  # (A,)
    label_votes: np.ndarray  # (K,)
    #: Votes repeating an earlier (item, annotator) vote, and the first such item.
    n_repeats: int
    first_repeat: Any
    n_dropped_repeats: int
    n_gold_items: int


def partition_paths(cache: str, index: int) -> dict[str, str]:
    """Where partition ``index`` of the encoded votes lives under ``cache``."""
    stem = f"{cache.rstrip('/')}/{{}}-{index:05d}"
    return {name: stem.format(name) + ext for name, ext in
            (("cells", ".npy"), ("counts", ".npy"), ("ids", ".parquet"), ("gold", ".npy"))}


def encode_partition(pieces: Sequence[tuple[str, int | None]], index: int,
                     columns: Mapping[str, str], codes: Codes, cache: str,
                     duplicates: str = "keep",
                     storage_options: Mapping[str, Any] | None = None) -> PartitionInfo:
    """Pass 2: encode one partition's votes with the agreed codes and write them to ``cache``.

    ``pieces`` are (file, row group or None) read in order: a whole file, or one bucket
    of every split file. Rows with a missing cell are dropped (the driver has already
    refused them when they are an error). Within each item, votes keep their order.
    """
    parts = [cleaned_votes(read_votes_table(url, columns, storage_options, group))
             for url, group in pieces]
    if len(parts) == 1:
        coded = parts[0]
    else:
        coded = {role: factorize_clean(pd.Series(_concat_values([p[role] for p in parts]),
                                                 copy=False)) for role in ROLES}
    (item_codes, item_ids), (a_codes, a_names), (l_codes, l_names) = (
        coded[role] for role in ROLES)
    keep = (item_codes >= 0) & (a_codes >= 0) & (l_codes >= 0)
    annotators = codes.annotator_ids.get_indexer(a_names)[a_codes[keep]]
    class_of = {str(c): k for k, c in enumerate(codes.classes)}
    labels = np.array([class_of.get(str(n), -1) for n in l_names], dtype=np.int64)[l_codes[keep]]
    if (annotators < 0).any() or (labels < 0).any():
        raise InputError(f"{pieces[0][0]}: votes changed while they were read (an annotator "
                         f"or label the first pass did not see); run again on a stable copy")
    item_codes = item_codes[keep]
    n_annotators, n_classes = len(codes.annotator_ids), len(codes.classes)
    pair = item_codes.astype(np.int64) * n_annotators + annotators
    ordered = np.sort(pair)
    repeats = ordered[1:] == ordered[:-1]
    n_repeats = int(repeats.sum())
    first_repeat = item_ids[ordered[1:][repeats][0] // n_annotators] if n_repeats else None
    dropped = 0
    if n_repeats and duplicates in ("first", "last"):
        repeated = pd.Series(pair, copy=False).duplicated(keep=duplicates).to_numpy()
        item_codes, annotators, labels = (x[~repeated] for x in (item_codes, annotators, labels))
        dropped = n_repeats
    used = np.bincount(item_codes, minlength=len(item_ids)) > 0
    if not used.all():  # items whose every vote was dropped
        position = np.cumsum(used) - 1
        item_codes, item_ids = position[item_codes].astype(np.int32), item_ids[used]
    cells = annotators * n_classes + labels
    if not (item_codes[1:] >= item_codes[:-1]).all():  # group by item, keeping vote order
        cells = cells[np.argsort(item_codes, kind="stable")]
    counts = np.bincount(item_codes, minlength=len(item_ids))
    gold = None
    if codes.gold is not None:
        where = codes.gold.index.get_indexer(np.asarray(item_ids).astype(str))
        gold = np.where(where >= 0, codes.gold.to_numpy()[np.maximum(where, 0)], -1)
    write_partition(cache, index, cells, counts, item_ids, gold, codes.n_cells,
                    storage_options)
    return PartitionInfo(
        n_votes=int(len(cells)), n_items=int(len(item_ids)),
        max_votes_per_item=int(counts.max(initial=0)),
        annotator_votes=np.bincount(annotators, minlength=n_annotators),
        label_votes=np.bincount(labels, minlength=n_classes),
        n_repeats=n_repeats, first_repeat=first_repeat, n_dropped_repeats=dropped,
        n_gold_items=0 if gold is None else int((gold >= 0).sum()),
    )


def _concat_values(pieces: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Cleaned values per row (missing as None) from several (codes, distinct) pairs."""
    out = []
    for codes, names in pieces:
        names = np.asarray(names)
        if names.dtype == object or (codes < 0).any():
            values = np.full(len(codes), None, dtype=object)
            present = codes >= 0
            values[present] = names.astype(object)[codes[present]]
        else:
            values = names[codes]
        out.append(values)
    if not out:
        return np.zeros(0, dtype=object)
    if len({v.dtype for v in out}) > 1:
        out = [v.astype(object) for v in out]
    return np.concatenate(out)


def write_partition(cache: str, index: int, cells: np.ndarray, counts: np.ndarray,
                    item_ids: np.ndarray, gold: np.ndarray | None, n_cells: int,
                    storage_options: Mapping[str, Any] | None = None) -> None:
    """Write an encoded partition in the smallest integer types that hold it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = partition_paths(cache, index)
    fs, _ = filesystem(cache, storage_options)
    arrays = {"cells": cells.astype(np.min_scalar_type(max(n_cells - 1, 0))),
              "counts": counts.astype(np.min_scalar_type(int(counts.max(initial=0))))}
    if gold is not None:
        arrays["gold"] = gold.astype(np.int16)
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        with fs.open(filesystem(paths[name], storage_options)[1], "wb") as handle:
            handle.write(buffer.getvalue())
    with fs.open(filesystem(paths["ids"], storage_options)[1], "wb") as handle:
        pq.write_table(pa.table({"item": pa.array(_plain(np.asarray(item_ids)))}), handle)


@dataclass(frozen=True)
class EncodedPartition:
    """One partition's votes as EM reads them: grouped by item, in int32."""

    cells: np.ndarray  # (n_votes,) annotator * n_classes + label
    counts: np.ndarray  # (n_items,) votes per item
    gold: np.ndarray | None  # (n_items,) gold class code, -1 where unknown

    @property
    def n_items(self) -> int:
        return int(self.counts.shape[0])


def load_partition(cache: str, index: int, with_gold: bool,
                   storage_options: Mapping[str, Any] | None = None) -> EncodedPartition:
    """Read an encoded partition back (int32 for the sparse kernels)."""
    paths = partition_paths(cache, index)

    def array(name: str) -> np.ndarray:
        from fsspec.implementations.local import LocalFileSystem

        fs, path = filesystem(paths[name], storage_options)
        if isinstance(fs, LocalFileSystem):
            return np.load(path, allow_pickle=False)
        with fs.open(path, "rb") as handle:
            return np.load(io.BytesIO(handle.read()), allow_pickle=False)

    return EncodedPartition(array("cells").astype(np.int32), array("counts").astype(np.int32),
                            array("gold").astype(np.int64) if with_gold else None)


def load_item_ids(cache: str, index: int,
                  storage_options: Mapping[str, Any] | None = None) -> np.ndarray:
    """The item ids of an encoded partition, in its item order."""
    import pyarrow.parquet as pq

    fs, path = filesystem(partition_paths(cache, index)["ids"], storage_options)
    with fs.open(path, "rb") as handle:
        return pq.read_table(handle).column("item").to_numpy(zero_copy_only=False)


def make_folder(url: str, storage_options: Mapping[str, Any] | None = None) -> None:
    """Create a folder (and its parents); object stores need none, and get none."""
    fs, path = filesystem(url, storage_options)
    fs.makedirs(path, exist_ok=True)


def remove_tree(url: str, storage_options: Mapping[str, Any] | None = None) -> None:
    """Delete a folder and everything under it, if it exists."""
    fs, path = filesystem(url, storage_options)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def join_url(base: str, *names: str) -> str:
    """``base/name/...`` for local paths and URLs alike."""
    return "/".join([base.rstrip("/" + os.sep), *names])
