"""Votes as a partitioned Parquet dataset: a folder, a glob or an fsspec URL, read as one table.

The files are found as Parquet readers find them: a folder's files ending in
:data:`PARQUET_SUFFIXES`, in subfolders too, or whatever a glob matches, skipping
names that start with ``_`` or ``.`` (``_SUCCESS``, ``_metadata``, hidden files).
Both engines list them with :func:`find_parquet_files` and read them in path
order, so switching engines reads the same votes. Local paths need only the
standard library; URLs (``s3://``, ``memory://``, ``file://``) need fsspec.

In memory, every file's row groups stream through the one encoder of
:func:`consensus.data.readers.encode_batches`, so ids get codes in order of first
appearance over all the files: the votes equal those of one file holding every
file's rows in turn.
"""

from __future__ import annotations

import bisect
import glob
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..exceptions import InputError
from . import readers
from .columns import resolve_columns
from .votes import VOTE_EXTRAS

#: File endings read as Parquet when a folder is given (a glob takes what it matches).
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")

#: Characters that make a path a glob pattern.
WILDCARDS = "*?["

#: What listing skips, as messages say it.
SKIPPED = "names starting with _ or . skipped"


def is_url(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a place fsspec reaches (``s3://…``, ``memory://…``)."""
    return "://" in os.fspath(path)


def is_glob(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a pattern rather than a file whose name holds ``*``, ``?`` or ``[``."""
    text = os.fspath(path)
    return any(ch in text for ch in WILDCARDS) and (is_url(text) or not os.path.exists(text))


def is_dataset(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names votes split over Parquet files: a URL, a glob or a local folder."""
    return is_url(path) or is_glob(path) or os.path.isdir(path)


def has_parquet_files(folder: str | os.PathLike[str]) -> bool:
    """Whether a local folder holds a Parquet file listing would find (stops at the first)."""
    for _, folders, names in os.walk(folder):
        folders[:] = [f for f in folders if not f.startswith(("_", "."))]
        if any(n.lower().endswith(PARQUET_SUFFIXES) and not n.startswith(("_", "."))
               for n in names):
            return True
    return False


class LocalFiles:
    """The listing calls of an fsspec filesystem, for local paths (fsspec is optional)."""

    def glob(self, pattern: str, detail: bool = True) -> dict[str, dict[str, str]]:
        return {p: {"type": "directory" if os.path.isdir(p) else "file"}
                for p in glob.glob(pattern, recursive=True)}

    def find(self, folder: str) -> list[str]:
        return [os.path.join(where, name) for where, _, names in os.walk(folder)
                for name in names]

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)


def find_parquet_files(fs: Any, root: str, path: str) -> list[str]:
    """The Parquet files at ``root`` on ``fs`` (an fsspec filesystem or :class:`LocalFiles`),
    sorted by path, as ``fs`` names them.

    ``root`` is a folder (its files ending in :data:`PARQUET_SUFFIXES`, recursively), a
    glob (what it matches; a matched folder is listed as a folder) or one file (taken as
    it is). ``path`` is how the user wrote it, for messages.
    """
    if any(ch in root for ch in WILDCARDS):
        prefix = root[:min(root.index(ch) for ch in WILDCARDS if ch in root)]
        found: list[str] = []
        for match, info in fs.glob(root, detail=True).items():
            found += _in_folder(fs, match) if info["type"] == "directory" else [match]
        looked_for = f"no file matches the pattern, {SKIPPED}"
    elif fs.isdir(root):
        prefix, found = root, _in_folder(fs, root)
        looked_for = (f"looked for names ending {', '.join(PARQUET_SUFFIXES)} in the folder "
                      f"and its subfolders, {SKIPPED}")
    elif fs.exists(root):
        return [root]
    else:
        raise InputError(f"{path}: no such file or folder")
    files = sorted(p for p in found if not _skipped(p[len(prefix):]))
    if not files:
        raise InputError(f"{path}: no Parquet files found ({looked_for})")
    return files


def _in_folder(fs: Any, folder: str) -> list[str]:
    return [p for p in fs.find(folder) if p.lower().endswith(PARQUET_SUFFIXES)]


def _skipped(relative: str) -> bool:
    """Whether a path (below what the user named) passes through a ``_`` or ``.`` name."""
    return any(part.startswith(("_", "."))
               for part in relative.replace(os.sep, "/").split("/") if part)


def url_filesystem(url: str, storage_options: Mapping[str, Any] | None = None
                   ) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path within it, or InputError saying what
    to install."""
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise InputError(f"{url}: reading votes from a URL needs fsspec; install it with "
                         f"`pip install fsspec` (or `pip install consensus[dask]`)") from None
    try:
        return url_to_fs(url, **dict(storage_options or {}))
    except (ImportError, ValueError) as exc:  # e.g. s3fs missing, unknown protocol
        raise InputError(f"{url}: {readers.error_detail(exc)}") from None


def list_parquet_files(path: str | os.PathLike[str],
                       storage_options: Mapping[str, Any] | None = None
                       ) -> tuple[list[str], Any]:
    """The Parquet files of a dataset and the fsspec filesystem to open them with.

    Local paths are listed without fsspec (filesystem None), each file named from
    ``path`` as given; a URL's files are full URLs.
    """
    text = os.fspath(path)
    if not is_url(text):
        return find_parquet_files(LocalFiles(), text, text), None
    fs, root = url_filesystem(text, storage_options)
    return [fs.unstrip_protocol(p) for p in find_parquet_files(fs, root, text)], fs


@dataclass(frozen=True)
class FileRows:
    """Where each file's rows start in the table read from a dataset, to name them."""

    files: tuple[str, ...]
    starts: tuple[int, ...]

    def locate(self, message: str) -> str:
        """A message naming rows of the whole table, also naming the first one's file.

        ``"votes/: 2 vote(s) with an empty label at rows 5, 9; ..."`` becomes
        ``"... at rows 5, 9 (the first is row 1 of votes/b.parquet); ..."``.
        """
        found = re.search(r"\bat (rows?) (\d+)((?:, \d+)*(?: and \d+ more)?)", message)
        if found is None:
            return message
        row = int(found.group(2))
        k = bisect.bisect_right(self.starts, row) - 1
        first = "the first is " if found.group(1) == "rows" else ""
        return (f"{message[:found.end()]} ({first}row {row - self.starts[k]} of "
                f"{self.files[k]}){message[found.end():]}")


def read_dataset(path: str | os.PathLike[str], roles: readers.Roles,
                 storage_options: Mapping[str, Any] | None = None
                 ) -> tuple[pd.DataFrame, FileRows]:
    """The vote columns of every Parquet file of a dataset, as one frame, and where each
    file's rows start.

    Every file must have the vote columns of the first (item, annotator, label as
    :func:`resolve_columns` finds them, and any :data:`VOTE_EXTRAS`), each holding the
    same kind of values (text, integers, ...; widths and encodings may differ).
    Text and integer columns stream through one encoder, as
    :func:`readers.read_vote_columns` reads one file; a vote column of another type
    (floats, booleans) makes the files one pandas frame, made text as
    :func:`readers.read_table` makes one file's.

    Raises
    ------
    InputError
        No files, an unreadable file, or a file whose vote columns differ from the
        first's; the message names the file.
    """
    files, fs = list_parquet_files(path, storage_options)
    for file in files:
        fmt = readers.FORMATS.get(os.path.splitext(file.lower().removesuffix(".gz"))[1])
        if fmt not in (None, "parquet"):
            raise InputError(f"{file}: votes from a folder, a glob or a URL are read as "
                             f"Parquet files, and this is {fmt.upper()}; give it on its own "
                             f"or convert it")
    layouts = [_layout(file, fs) for file in files]
    kept = _agreed_columns(files, layouts, roles)
    targets = {raw: _common_type(raw, files, [layout.types[raw] for layout in layouts])
               for raw in kept}
    columns: dict[str, Any] | None = None
    if all(_kind(targets[raw]) in ("text", "integers") for raw in kept
           if kept[raw] not in VOTE_EXTRAS):
        try:
            columns = readers.encode_batches(_batches(files, fs, kept, targets), kept,
                                             typed_extras=True)
        except TypeError:  # something the encoder does not take: pandas reads it
            columns = None
        finally:
            readers.release_arrow_memory()
    frame = _pandas_frame(files, fs, kept) if columns is None else readers.as_frame(columns)
    starts = [0]
    for layout in layouts[:-1]:
        starts.append(starts[-1] + layout.n_rows)
    return frame, FileRows(tuple(files), tuple(starts))


@dataclass(frozen=True)
class _Layout:
    """A file's columns (as pandas reads them) and their Arrow types, and its row count."""

    types: dict[str, Any]
    n_rows: int


@contextmanager
def _parquet_file(file: str, fs: Any) -> Iterator[Any]:
    import pyarrow.parquet as pq

    if fs is None:
        with pq.ParquetFile(file) as source:
            yield source
    else:
        with fs.open(file, "rb") as handle, pq.ParquetFile(handle) as source:
            yield source


def _layout(file: str, fs: Any) -> _Layout:
    try:
        with _parquet_file(file, fs) as source:
            schema = source.schema_arrow
            names = readers.parquet_column_names(schema)
            return _Layout({n: schema.field(n).type for n in names},
                           source.metadata.num_rows)
    except MemoryError:
        raise
    except Exception as exc:  # pyarrow's own errors are not ValueError subclasses
        raise InputError(f"{file}: could not be read as Parquet ({readers.error_detail(exc)})"
                         ) from None


def _agreed_columns(files: Sequence[str], layouts: Sequence[_Layout],
                    roles: readers.Roles) -> dict[str, str]:
    """The first file's vote columns ({name in the file: stripped name}), once every file
    is known to have exactly those."""
    names = list(layouts[0].types)
    stripped = [n.strip() for n in names]
    twice = sorted({n for n in stripped if stripped.count(n) > 1})
    if twice:
        raise InputError(f"{files[0]}: two columns are named {twice[0]!r} once spaces are "
                         f"stripped; rename one")
    kept = readers.kept_columns(names, roles)
    if kept is None:  # the columns do not resolve: say why, naming the file
        resolve_columns(stripped, *roles, source=files[0])
        raise InputError(f"{files[0]}: the vote columns could not be found")
    wanted = set(kept.values()) | set(VOTE_EXTRAS)
    for file, layout in zip(files[1:], layouts[1:], strict=True):
        missing = [n for n in kept if n not in layout.types]
        extra = [n for n in layout.types if n.strip() in wanted and n not in kept]
        differs = []
        if missing:
            differs.append(f"no column {', '.join(map(repr, missing))}")
        if extra:
            differs.append(f"a column {', '.join(map(repr, extra))} the first file has not")
        if differs:
            raise InputError(f"{file}: {'; '.join(differs)}; every file must have the vote "
                             f"columns of the first, {files[0]} ({', '.join(map(repr, kept))})")
    return kept


def _kind(arrow_type: Any) -> str:
    """What a column holds, as far as reading votes is concerned."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_null(arrow_type):
        return "nothing (every value empty)"
    if (pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
            or pa.types.is_string_view(arrow_type)):
        return "text"
    if pa.types.is_integer(arrow_type):
        return "integers"
    if pa.types.is_floating(arrow_type):
        return "decimal numbers"
    return str(arrow_type)


def _common_type(name: str, files: Sequence[str], types: Sequence[Any]) -> Any:
    """The type column ``name`` is read as in every file.

    Widths and encodings may differ (int32 and int64, string and large_string, a
    dictionary or not), and a column of nothing but empty values fits any type; a
    different kind of value is an error naming the first file that has it.
    """
    import pyarrow as pa

    plain = [t.value_type if pa.types.is_dictionary(t) else t for t in types]
    present = [(f, t) for f, t in zip(files, plain, strict=True) if not pa.types.is_null(t)]
    if not present:
        return plain[0]
    first_file, first = present[0]
    for file, arrow_type in present[1:]:
        if _kind(arrow_type) != _kind(first):
            raise InputError(
                f"{file}: column {name!r} holds {_kind(arrow_type)} ({arrow_type}), but "
                f"{_kind(first)} ({first}) in {first_file}; every file must store a vote "
                f"column the same way (ids as text in every file, or as integers in every file)")
    if all(t == first for _, t in present):
        return first
    kind = _kind(first)
    if kind == "integers":
        unsigned = all(pa.types.is_unsigned_integer(t) for _, t in present)
        return pa.uint64() if unsigned else pa.int64()
    return {"text": pa.large_string(), "decimal numbers": pa.float64()}.get(kind, first)


def _batches(files: Sequence[str], fs: Any, kept: Mapping[str, str],
             targets: Mapping[str, Any]) -> Iterator[Any]:
    """Every file's record batches of the kept columns, in path order, in the agreed types."""
    import pyarrow as pa

    for file in files:
        try:
            with _parquet_file(file, fs) as source:
                for batch in source.iter_batches(batch_size=readers.BATCH_ROWS,
                                                 columns=list(kept)):
                    yield pa.RecordBatch.from_arrays(
                        [_cast(batch.column(raw), targets[raw]) for raw in kept], names=list(kept))
        except MemoryError:
            raise
        except Exception as exc:
            raise InputError(f"{file}: could not be read as Parquet "
                             f"({readers.error_detail(exc)})") from None


def _cast(values: Any, target: Any) -> Any:
    """A column in the agreed type; a dictionary of the agreed text or integers stays one."""
    import pyarrow as pa

    kind = values.type.value_type if pa.types.is_dictionary(values.type) else values.type
    return values if kind == target else values.cast(target)


def _pandas_frame(files: Sequence[str], fs: Any, kept: Mapping[str, str]) -> pd.DataFrame:
    """The kept columns as :func:`readers.read_table` makes them text, over every file."""
    frames = []
    for file in files:
        try:
            if fs is None:
                frames.append(pd.read_parquet(file, columns=list(kept)))
            else:
                with fs.open(file, "rb") as handle:
                    frames.append(pd.read_parquet(handle, columns=list(kept)))
        except MemoryError:
            raise
        except Exception as exc:  # pyarrow's own errors are not ValueError subclasses
            raise InputError(f"{file}: could not be read as Parquet "
                             f"({readers.error_detail(exc)})") from None
    return readers.as_text(pd.concat(frames, ignore_index=True))
