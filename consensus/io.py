"""Reading and writing tables: CSV, Parquet and JSON Lines, chosen by extension.

Reads treat every cell as text (ids like ``007`` stay ``007``) and the usual
spreadsheet markers as missing. Writes go to a temporary file beside the target
and are renamed into place, so a crash never leaves half a file.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from .exceptions import InputError
from .votes import MISSING_MARKERS, DuplicatePolicy, MissingPolicy, VoteMatrix

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}

#: Decimal places of floats in CSV output (Parquet and JSON Lines keep full precision).
CSV_DECIMALS = 10

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
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: could not be read as {fmt.upper()} ({detail})") from None
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


def read_votes(
    path: str | os.PathLike[str],
    *,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    labels: Sequence[Any] | None = None,
    duplicates: DuplicatePolicy = "keep",
    on_missing: MissingPolicy = "error",
) -> VoteMatrix:
    """Read a votes file and build the VoteMatrix, with errors that name the file and line."""
    fmt = table_format(path)
    frame = read_table(path, encode=True)
    first_line = {"csv": 2, "tsv": 2, "jsonl": 1}.get(fmt)
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


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str] | None) -> None:
    """Write a table by the extension of ``path``, atomically; CSV to stdout when None or '-'."""
    if path is None or str(path) == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(_delimited_bytes(frame, ","))
        sys.stdout.buffer.flush()
        return
    fmt = table_format(path)
    with atomic_path(path) as tmp_name:
        if fmt in ("csv", "tsv"):
            with open(tmp_name, "wb") as out:
                out.write(_delimited_bytes(frame, "\t" if fmt == "tsv" else ","))
        elif fmt == "parquet":
            frame.to_parquet(tmp_name, index=False)
        else:
            frame.to_json(tmp_name, orient="records", lines=True, force_ascii=False)


def write_text(text: str, path: str | os.PathLike[str]) -> None:
    """Write a small text file atomically (JSON summaries, reports)."""
    with atomic_path(path) as tmp_name, open(tmp_name, "w", encoding="utf-8") as out:
        out.write(text)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary path beside ``path`` that is renamed onto it if the block succeeds."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"{path}: the folder {directory} does not exist")
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(handle)
    try:
        yield tmp_name
        _publish(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _publish(tmp_name: str, path: Path) -> None:
    """Give the temporary file normal permissions (mkstemp makes it private), then rename."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp_name, 0o666 & ~mask)
    os.replace(tmp_name, path)


def _delimited_bytes(frame: pd.DataFrame, delimiter: str) -> bytes:
    """pyarrow writes large tables many times faster than ``DataFrame.to_csv``.

    Values are quoted only when some value must be (RFC 4180), as spreadsheets do.
    """
    import csv
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.Table.from_pandas(_plain_columns(frame), preserve_index=False)
    header = io.StringIO()
    csv.writer(header, delimiter=delimiter, lineterminator="\n").writerow(frame.columns)
    body = pa.BufferOutputStream()
    try:
        pacsv.write_csv(table, body, write_options=pacsv.WriteOptions(
            include_header=False, delimiter=delimiter, quoting_style="none"))
    except pa.ArrowInvalid:  # some value holds the delimiter, a quote or a newline
        body = pa.BufferOutputStream()
        pacsv.write_csv(table, body, write_options=pacsv.WriteOptions(
            include_header=False, delimiter=delimiter, quoting_style="needed"))
    return header.getvalue().encode("utf-8") + body.getvalue().to_pybytes()


def _plain_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns become text so Arrow can type them; floats get 10 decimals.

    Rounding float columns to 10 decimal places keeps every meaningful digit of
    a probability, halves the file and more than doubles the writing speed.
    """
    out = frame.copy(deep=False)
    for name in out.columns:
        if out[name].dtype == object:
            out[name] = out[name].astype(str)
        elif pd.api.types.is_float_dtype(out[name].dtype):
            out[name] = out[name].round(CSV_DECIMALS)
    return out
