"""Reading tables and votes: CSV, Parquet and JSON Lines, chosen by extension.

Every cell is read as text (ids like ``007`` stay ``007``) and the usual
spreadsheet markers as missing; errors name the file and line.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import InputError, InputWarning
from .columns import MISSING_MARKERS
from .parse import DuplicatePolicy, MissingPolicy
from .votes import VoteMatrix

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}

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
    fmt = table_format(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a table")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    try:
        if fmt in ("csv", "tsv"):
            frame = _read_delimited(path, "\t" if fmt == "tsv" else ",", encode)
        elif fmt == "parquet":
            frame = _as_text(pd.read_parquet(path))
        else:
            frame = _as_text(pd.read_json(path, lines=True, dtype=False))
    except InputError:
        raise
    except Exception as exc:  # pyarrow's own errors are not ValueError subclasses
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: could not be read as {fmt.upper()} ({detail})") from None
    if frame.shape[1] == 0:
        raise InputError(f"{path}: no columns found")
    return frame


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
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
    path : path
        A table (CSV, TSV, Parquet, JSON Lines) or an annotation tool's export:
        Label Studio (JSON, JSON_MIN, CSV), Argilla (flat or nested records, or
        a ``to_disk`` folder), Mechanical Turk batch results, SageMaker Ground
        Truth's output folder.
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
    frame = read_table(path, encode=True)
    first_line = first_data_line(table_format(path))
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
