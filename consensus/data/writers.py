"""Writing tables atomically: a temporary file beside the target, renamed into place.

A crash never leaves half a file, and the same table always gives the same bytes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ..exceptions import InputError
from .readers import table_format

#: Decimal places of floats in CSV output (Parquet and JSON Lines keep full precision).
CSV_DECIMALS = 10


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
