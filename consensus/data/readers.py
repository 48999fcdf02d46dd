"""Reading tables and votes: CSV, Parquet and JSON Lines, chosen by extension.

Every cell is read as text (ids like ``007`` stay ``007``) and the usual
spreadsheet markers as missing; errors name the file and line. Votes split over
many Parquet files (a folder, a glob, a URL) are read by :mod:`.dataset` with the
same column encoding.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import InputError, InputWarning
from .columns import MISSING_MARKERS, resolve_columns
from .parse import DuplicatePolicy, MissingPolicy
from .votes import VoteMatrix

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
           ".parq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}

_NULL_SPELLINGS = sorted(
    {m for marker in MISSING_MARKERS for m in (marker, marker.upper(), marker.title())}
)


def table_format(path: str | os.PathLike[str]) -> str:
    """The format implied by a file name, or InputError listing the known endings."""
    name = str(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    if suffix not in FORMATS:
        raise InputError(
            f"{path}: unknown file type {suffix or '(no extension)'!r}; use one of "
            f"{', '.join(sorted(FORMATS))}"
        )
    return FORMATS[suffix]


def first_data_line(fmt: str) -> int | None:
    """File line of the first data row, so messages can name lines (None for Parquet)."""
    return {"csv": 2, "tsv": 2, "jsonl": 1}.get(fmt)


def read_table(path: str | os.PathLike[str], *, encode: bool = False) -> pd.DataFrame:
    """Read a whole table with every column as text and missing markers as NA.

    ``encode`` keeps CSV columns dictionary-encoded (for :func:`read_votes`).
    """
    path = Path(path)
    fmt = _check_file(path)
    try:
        if fmt in ("csv", "tsv"):
            frame = _read_delimited(path, "\t" if fmt == "tsv" else ",", encode)
        elif fmt == "parquet":
            frame = as_text(pd.read_parquet(path))
        else:
            frame = as_text(pd.read_json(path, lines=True, dtype=False))
    except InputError:
        raise
    except Exception as exc:  # pyarrow's own errors are not ValueError subclasses
        raise InputError(f"{path}: could not be read as {fmt.upper()} ({error_detail(exc)})"
                         ) from None
    if frame.shape[1] == 0:
        raise InputError(f"{path}: no columns found")
    return frame


def error_detail(exc: BaseException) -> str:
    """The first line of a reading library's error, for a message that names the file."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_file(path: Path) -> str:
    """The file's format, once it is known to exist and hold something."""
    fmt = table_format(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a table")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    return fmt


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as text with NA kept, so ids and labels compare as the CSV path does."""
    out = {}
    for name in frame.columns:
        column = frame[name].convert_dtypes()
        values = column.astype(object)
        present = column.notna().to_numpy()
        text = values.where(~present, values[present].map(str)) if present.any() else values
        out[str(name).strip()] = text
    return pd.DataFrame(out)


def _read_delimited(path: Path, delimiter: str, encode: bool = False) -> pd.DataFrame:
    """CSV via pyarrow's multi-threaded reader, every column as text.

    With ``encode`` each column stays an Arrow dictionary array: the vote matrix
    then takes integer codes and distinct names directly, several times faster
    than hashing millions of Python strings in pandas.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    with open(path, "rb") as handle:
        head = handle.read(4096)
    if b"\x00" in head:
        raise InputError(f"{path}: looks like a binary file, not a {delimiter!r}-separated table")
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in _header(head, delimiter)},
            null_values=_NULL_SPELLINGS,
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
        read_options=pacsv.ReadOptions(block_size=1 << 24),
    )
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if encode:
            encoded = pc.dictionary_encode(column.combine_chunks())
            columns[name.strip()] = pd.Series(pd.arrays.ArrowExtensionArray(encoded))
        else:
            columns[name.strip()] = column.to_pandas().astype(object)
    return pd.DataFrame(columns)


def _header(head: bytes, delimiter: str) -> list[str]:
    """Column names from the first line, so every column can be read as text."""
    first = head.splitlines()[0] if head else b""
    import csv

    return next(csv.reader([first.decode("utf-8-sig", errors="replace")], delimiter=delimiter),
                [])


def header_columns(path: str | os.PathLike[str], delimiter: str = ",") -> list[str]:
    """A delimited file's column names, reading only its first line."""
    try:
        with open(path, "rb") as handle:
            head = handle.readline(1 << 20)
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a table") from None
    if not head.strip():
        raise InputError(f"{path}: the file is empty")
    return [c.strip() for c in _header(head, delimiter)]


def read_votes(
    path: str | os.PathLike[str],
    *,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    labels: Sequence[Any] | None = None,
    duplicates: DuplicatePolicy = "keep",
    on_missing: MissingPolicy = "error",
    format: str = "auto",
    control: str | None = None,
    question: str | None = None,
    gold_from_source: bool = False,
) -> VoteMatrix:
    """Read votes and build the VoteMatrix, with errors that name the file and line.

    Parameters
    ----------
    path : path or str
        A table (CSV, TSV, Parquet, JSON Lines); a partitioned Parquet dataset:
        a folder of Parquet files (subfolders too; ``_SUCCESS``, ``_metadata``
        and hidden files skipped), a glob such as ``'parts/*.parquet'`` or an
        fsspec URL such as ``s3://bucket/votes/`` (needs fsspec), read in path
        order as if the files were one table (see :mod:`consensus.data.dataset`);
        or an annotation tool's export: Label Studio (JSON, JSON_MIN, CSV),
        Argilla (flat or nested records, or a ``to_disk`` folder), Mechanical
        Turk batch results, SageMaker Ground Truth's output folder.
    format : {"auto", "table", "label-studio", "argilla", "mturk", "sagemaker"}
        The shape; ``auto`` detects it from the content and refuses to guess.
    control, question
        Label Studio's Choices control and Argilla's question, where a project
        has several.
    gold_from_source : bool
        Take Label Studio's ground-truth annotations as gold (kept as
        ``votes.origin.gold``) instead of as votes.
    item, label
        For Mechanical Turk, the ``Input.*`` column naming items and the
        ``Answer.*`` column holding labels.
    """
    from .tools.detect import FORMATS as SHAPES
    from .tools.detect import detect_format

    if format not in SHAPES:
        raise InputError(f"unknown format {format!r}; use one of {', '.join(SHAPES)}")
    named = any(name is not None for name in (item, annotator, label))
    shape = detect_format(path, columns_named=named) if format == "auto" else format
    if shape != "table":
        from .tools import read_source

        source = read_source(path, shape, control=control, question=question,
                             item_column=item, label_column=label,
                             gold_from_source=gold_from_source)
        origin = source.origin(str(path))
        if origin.dropped_text():
            warnings.warn(f"{path}: not taken as votes: {origin.dropped_text()}", InputWarning,
                          stacklevel=2)
        return VoteMatrix.from_frame(source.frame, labels=labels, duplicates=duplicates,
                                     on_missing=on_missing, source=str(path), origin=origin)
    from .dataset import is_dataset, read_dataset

    rows = None
    if is_dataset(path):
        frame, rows = read_dataset(path, (item, annotator, label))
        first_line = None
    else:
        found = read_vote_columns(path, item=item, annotator=annotator, label=label)
        frame = read_table(path, encode=True) if found is None else found
        del found
        first_line = first_data_line(table_format(path))
    try:
        return VoteMatrix.from_frame(
            frame,
            item=item,
            annotator=annotator,
            label=label,
            labels=labels,
            duplicates=duplicates,
            on_missing=on_missing,
            source=str(path),
            first_line=first_line,
        )
    except InputError as exc:
        if rows is None:
            raise
        raise InputError(rows.locate(str(exc))) from None
    finally:
        del frame
        release_arrow_memory()


def read_vote_columns(
    path: str | os.PathLike[str],
    *,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
) -> pd.DataFrame | None:
    """Only the columns votes need, dictionary-encoded as the file streams in.

    The item, annotator and label columns and any :data:`VOTE_EXTRAS` are read
    in batches (CSV and JSON Lines by blocks of :data:`BLOCK_BYTES`, Parquet by
    row groups), each batch turned into int32 codes and its distinct values at
    once, so memory grows with the votes rather than with the text of the file.
    Integer columns are encoded as integers; only their distinct values become
    text. Each column of the result is an Arrow dictionary column, which
    :meth:`VoteMatrix.from_frame` encodes without a Python object per vote.

    Returns None when the file needs :func:`read_table`'s reading, which gives
    pandas' exact text for other types and the usual messages for malformed
    files: columns that are neither text nor integers, columns not found, or
    anything this reader refuses.
    """
    path = Path(path)
    fmt = _check_file(path)
    try:
        if fmt in ("csv", "tsv"):
            columns = _delimited_columns(path, "\t" if fmt == "tsv" else ",",
                                         (item, annotator, label))
        elif fmt == "parquet":
            columns = _parquet_columns(path, (item, annotator, label))
        else:
            columns = _json_columns(path, (item, annotator, label))
    except MemoryError:
        raise
    except Exception:  # any reading problem: read_table reads it again and names it
        return None
    finally:
        release_arrow_memory()
    return None if columns is None else as_frame(columns)


def as_frame(columns: dict[str, Any]) -> pd.DataFrame:
    """The frame of :func:`encode_batches`' columns, Arrow dictionaries kept as they are."""
    return pd.DataFrame({
        name: values if isinstance(values, pd.Series)
        else pd.Series(pd.arrays.ArrowExtensionArray(values), copy=False)
        for name, values in columns.items()})


def release_arrow_memory() -> None:
    """Give freed Arrow buffers back to the system (mimalloc keeps them otherwise)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


#: The item, annotator and label columns a caller named (None: found by name).
Roles = tuple[str | None, str | None, str | None]

#: Bytes of CSV or JSON Lines text parsed per batch; rows of Parquet per batch.
BLOCK_BYTES = 1 << 23
BATCH_ROWS = 1 << 20


def kept_columns(names: Sequence[str], roles: Roles) -> dict[str, str] | None:
    """The file's columns votes need, as {name in the file: stripped name}, in file order;
    None when the names do not settle it (read_table then reports it as usual)."""
    from .votes import VOTE_EXTRAS

    stripped = [str(n).strip() for n in names]
    if len(set(stripped)) != len(stripped):
        return None
    try:
        item, annotator, label = roles
        roles_found = resolve_columns(stripped, item, annotator, label)
    except InputError:
        return None
    keep = set(roles_found.values()) | set(VOTE_EXTRAS)
    return {raw: clean for raw, clean in zip(names, stripped, strict=True) if clean in keep}


def encode_batches(batches: Any, kept: dict[str, str],
                    typed_extras: bool = False) -> dict[str, Any]:
    """Each kept column of a stream of record batches, as one Arrow dictionary array.

    With ``typed_extras``, a :data:`VOTE_EXTRAS` column of another type (Parquet's
    float ``seconds``, timestamp ``created_at``) is kept whole and given pandas'
    text, as :func:`read_table` gives it.
    """
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    from .parse import ColumnEncoder
    from .votes import VOTE_EXTRAS

    encoders = {raw: ColumnEncoder() for raw in kept}
    whole: dict[str, list[Any]] = {}
    for batch in batches:
        for raw in kept:
            values = batch.column(raw)
            if raw in whole:
                whole[raw].append(values)
                continue
            try:
                encoders[raw].add(values)
            except TypeError:
                if not (typed_extras and kept[raw] in VOTE_EXTRAS):
                    raise
                whole[raw] = [values]
                del encoders[raw]
    # The columns' last hashing runs side by side: Arrow lets go of the GIL.
    with ThreadPoolExecutor(max_workers=max(len(encoders), 1)) as pool:
        finished = dict(zip(encoders, pool.map(ColumnEncoder.finish, encoders.values()),
                            strict=True))
    columns: dict[str, Any] = {}
    for raw, clean in kept.items():
        if raw in whole:
            frame = pd.DataFrame({clean: pa.chunked_array(whole.pop(raw)).to_pandas()})
            columns[clean] = as_text(frame)[clean]
        else:
            columns[clean] = finished.pop(raw)
    return columns


def _delimited_columns(path: Path, delimiter: str,
                       roles: Roles) -> dict[str, Any] | None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, "rb") as handle:
        head = handle.read(4096)
        handle.seek(0)
        first = handle.readline(1 << 20)
    if b"\x00" in head:
        return None
    kept = kept_columns(_header(first, delimiter), roles)
    if kept is None:
        return None
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=pacsv.ConvertOptions(
            column_types={raw: pa.string() for raw in kept},
            include_columns=list(kept),
            null_values=_NULL_SPELLINGS,
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    return encode_batches(reader, kept)


def _parquet_columns(path: Path, roles: Roles) -> dict[str, Any] | None:
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    kept = kept_columns(parquet_column_names(source.schema_arrow), roles)
    if kept is None:
        return None
    return encode_batches(source.iter_batches(batch_size=BATCH_ROWS, columns=list(kept)), kept,
                           typed_extras=True)


def parquet_column_names(schema: Any) -> list[str]:
    """A Parquet file's column names as pandas reads them: the columns its pandas
    metadata names as the index become the index, not columns."""
    index = {c for c in (schema.pandas_metadata or {}).get("index_columns", [])
             if isinstance(c, str)}
    return [n for n in schema.names if n not in index]


def _json_columns(path: Path, roles: Roles) -> dict[str, Any] | None:
    import pyarrow.json as pajson

    with open(path, "rb") as handle:
        if handle.read(3) == b"\xef\xbb\xbf":  # pandas refuses a byte-order mark; so must we
            return None
    reader = pajson.open_json(path, read_options=pajson.ReadOptions(block_size=BLOCK_BYTES))
    names = reader.schema.names
    kept = kept_columns(names, roles)
    # pandas turns number-like column names into numbers and date-like columns into
    # dates; read_table keeps those exactly as pandas reads them.
    if kept is None or any(_number_like(n) for n in names) or any(
            _pandas_date_column(n) for n in kept.values()):
        return None
    return encode_batches(reader, kept)


def _number_like(name: str) -> bool:
    try:
        float(name)
    except ValueError:
        return False
    return True


def _pandas_date_column(name: str) -> bool:
    """Names whose columns ``pandas.read_json`` converts to dates (``keep_default_dates``)."""
    lower = name.lower()
    return (lower.endswith(("_at", "_time")) or lower in ("modified", "date", "datetime")
            or lower.startswith("timestamp"))
