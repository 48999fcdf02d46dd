"""Writing tables atomically: a temporary file beside the target, renamed into place.

A crash never leaves half a file, and the same table always gives the same bytes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError
from .readers import table_format

#: Decimal places of floats in CSV output (Parquet and JSON Lines keep full precision).
CSV_DECIMALS = 10


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str] | None) -> None:
    """Write a table by the extension of ``path``, atomically; CSV to stdout when None or '-'."""
    if path is None or str(path) == "-":
        text = _delimited_text(frame, ",")  # whole, so a failure prints nothing
        sys.stdout.flush()
        sys.stdout.buffer.write(text)
        sys.stdout.buffer.flush()
        return
    fmt = table_format(path)
    with atomic_path(path) as tmp_name:
        if fmt in ("csv", "tsv"):
            _write_delimited(frame, tmp_name, "\t" if fmt == "tsv" else ",")
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


#: Rows formatted per piece of CSV text: pieces are formatted on every core, written in order.
CSV_PIECE_ROWS = 1 << 15


def _write_delimited(frame: pd.DataFrame, file_name: str, delimiter: str) -> None:
    import pyarrow as pa

    try:
        with open(file_name, "wb") as out:
            out.writelines(_delimited_pieces(frame, delimiter))
    except pa.ArrowInvalid:  # a value Arrow will not leave unquoted after all
        with open(file_name, "wb") as out:
            out.writelines(_delimited_pieces(frame, delimiter, quoting="needed"))


def _delimited_text(frame: pd.DataFrame, delimiter: str) -> bytes:
    import pyarrow as pa

    try:
        return b"".join(_delimited_pieces(frame, delimiter))
    except pa.ArrowInvalid:
        return b"".join(_delimited_pieces(frame, delimiter, quoting="needed"))


def _delimited_pieces(frame: pd.DataFrame, delimiter: str,
                      quoting: str | None = None) -> Iterator[Any]:
    """The CSV text of ``frame`` in pieces, header first; pyarrow formats the values.

    Values are quoted only when some value must be (RFC 4180), as spreadsheets do:
    unquoted unless a text value holds the delimiter, a quote or a line break,
    else Arrow's ``needed`` style (every text value quoted). Pieces of
    :data:`CSV_PIECE_ROWS` rows are formatted on every core (Arrow releases the
    GIL) and handed out in order, so the text is never held whole.
    """
    import csv
    import io
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    header = io.StringIO()
    csv.writer(header, delimiter=delimiter, lineterminator="\n").writerow(frame.columns)
    yield header.getvalue().encode("utf-8")
    table = pa.Table.from_pandas(_plain_columns(frame), preserve_index=False)
    if quoting is None:
        quoting = "needed" if _needs_quotes(table, delimiter) else "none"
    starts = range(0, table.num_rows, CSV_PIECE_ROWS)
    if len(starts) < 2:
        yield from (_csv_text(table, delimiter, quoting) for _ in starts)
        return
    workers = os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Any] = deque()
        for start in starts:  # a few pieces in flight, so the text is never held whole
            pending.append(pool.submit(_csv_text, table.slice(start, CSV_PIECE_ROWS),
                                       delimiter, quoting))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _csv_text(table: Any, delimiter: str, quoting: str) -> Any:
    """The rows of ``table`` as CSV text: a pyarrow Buffer, which files write as bytes."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    body = pa.BufferOutputStream()
    pacsv.write_csv(table, body, write_options=pacsv.WriteOptions(
        include_header=False, delimiter=delimiter, quoting_style=quoting))
    return body.getvalue()


def _needs_quotes(table: Any, delimiter: str) -> bool:
    """Whether a text value holds what Arrow's unquoted style refuses.

    Never True when that style would succeed; dictionary columns (whose unused
    values must not count) are left to Arrow's own refusal. The text's bytes are
    scanned first, and a hit confirmed value by value.
    """
    import re

    import pyarrow as pa
    import pyarrow.compute as pc

    refused = (delimiter.encode(), b'"', b"\n", b"\r")
    pattern = f"[{re.escape(delimiter)}\"\\n\\r]"
    for column in table.columns:
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        for chunk in column.chunks:
            if not len(chunk):
                continue
            offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32
                                    if pa.types.is_string(chunk.type) else np.int64)
            text = chunk.buffers()[2]
            if text is None:
                continue
            data = memoryview(text)[offsets[chunk.offset]:
                                    offsets[chunk.offset + len(chunk)]].tobytes()
            if any(char in data for char in refused) and pc.any(
                    pc.match_substring_regex(chunk, pattern)).as_py():
                return True
    return False


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
