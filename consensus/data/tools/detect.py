"""Which shape a votes file has: a plain table or one of the annotation tools' exports.

Detection reads only the start of a file (its header, or its first JSON record)
and decides by fields each shape must have, never by a guess: when no shape
matches, or two do, the message lists the shapes tried and what was found, and
``--format`` settles it. A folder is a tool's layout (SageMaker, Argilla) or
else a partitioned Parquet dataset, a table; a glob or a URL is always a table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ...exceptions import InputError
from ...wording import option
from ..columns import COLUMN_ALIASES

#: Every value of ``--format``; ``auto`` detects one of the others.
FORMATS = ("auto", "table", "label-studio", "argilla", "mturk", "sagemaker")

#: The most of a JSON file read to find its first record.
_PEEK_LIMIT = 64 << 20


def detect_format(path: str | os.PathLike[str], columns_named: bool = False) -> str:
    """The shape of the votes at ``path``: one of :data:`FORMATS` other than ``auto``.

    ``columns_named``: the caller names some of the item, annotator and label
    columns, so a file no tool's shape matches is read as a table (whose own
    checks then name any column still missing).

    Raises
    ------
    InputError
        Nothing or more than one shape matches; the message names the shapes
        tried and the first keys or columns found.
    """
    from ..dataset import is_glob, is_url

    if is_url(path) or is_glob(path):  # a partitioned Parquet dataset, listed when read
        return "table"
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        return _detect_folder(path)
    found, head = _first_record(path)
    matches = _matches(head)
    if not matches and isinstance(head, (list, dict)) and (columns_named or _partly_table(head)):
        return "table"
    if len(matches) == 1:
        return matches[0]
    tried = "a table (item/annotator/label or task/worker/label), Label Studio (JSON, JSON_MIN, " \
            "CSV), Argilla (flat or nested records), Mechanical Turk batch results"
    if not matches:
        raise InputError(
            f"{path}: matches none of the shapes tried ({tried}); found {found}. "
            f"Name the columns with {option('item')}, {option('annotator')} and "
            f"{option('label')}, or say the shape with {option('format')}"
        )
    raise InputError(f"{path}: could be {' or '.join(matches)} (found {found}); say which "
                     f"with {option('format', *matches)}")


def tool_of(path: str | os.PathLike[str]) -> str | None:
    """The annotation tool whose export ``path`` is, or None for anything else (no error)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        matches = _matches(_first_record(path)[1])
    except InputError:
        return None
    tools = [m for m in matches if m != "table"]
    return tools[0] if len(tools) == 1 else None


def _detect_folder(path: Path) -> str:
    from ..dataset import PARQUET_SUFFIXES, has_parquet_files
    from .sagemaker import looks_like_sagemaker

    if looks_like_sagemaker(path):
        return "sagemaker"
    if (path / "records.json").is_file():
        return "argilla"
    if has_parquet_files(path):
        return "table"
    entries = sorted(p.name for p in path.iterdir())[:8]
    raise InputError(
        f"{path}: a folder, but neither SageMaker Ground Truth output (annotations/"
        f"worker-response/iteration-N/...), an Argilla to_disk folder (records.json) nor "
        f"Parquet files (names ending {', '.join(PARQUET_SUFFIXES)}, in subfolders too); "
        f"found {', '.join(entries) or 'nothing'}"
    )


def _matches(head: Any) -> list[str]:
    """The shapes whose required fields the first record or header has."""
    from .argilla import looks_like_argilla
    from .label_studio import looks_like_label_studio
    from .mturk import looks_like_mturk

    if isinstance(head, list):  # a header: column names
        columns = [str(c) for c in head]
        found = []
        if looks_like_mturk(columns):
            found.append("mturk")
        if looks_like_label_studio(columns):
            found.append("label-studio")
        if looks_like_argilla({c: None for c in columns}):
            found.append("argilla")
        return found or (["table"] if _is_vote_table(columns) else [])
    if not isinstance(head, dict):
        return []
    found = []
    if looks_like_label_studio(head):
        found.append("label-studio")
    if looks_like_argilla(head):
        found.append("argilla")
    return found or (["table"] if _is_vote_table(list(head)) else [])


def _partly_table(head: list[Any] | dict[str, Any]) -> bool:
    """Two of item, annotator and label under a usual name: a table with a misnamed column,
    whose own check names the one missing better than a list of shapes would."""
    lower = {str(c).strip().lower() for c in head}
    return sum(any(a in lower for a in aliases) for aliases in COLUMN_ALIASES.values()) >= 2


def _is_vote_table(columns: list[str]) -> bool:
    """A table with some spelling of all three of item, annotator and label."""
    lower = {c.strip().lower() for c in columns}
    return all(any(a in lower for a in aliases) for aliases in COLUMN_ALIASES.values())


def _first_record(path: Path) -> tuple[str, Any]:
    """A description of the file's start for messages, and its header or first record."""
    from ..readers import FORMATS as TABLE_FORMATS

    name = path.name.lower().removesuffix(".gz")
    suffix = Path(name).suffix
    if TABLE_FORMATS.get(suffix) == "parquet":
        import pyarrow.parquet as pq

        try:
            columns = pq.read_schema(path).names
        except Exception as exc:  # pyarrow's errors are not ValueError subclasses
            raise InputError(f"{path}: could not be read as Parquet ({exc})") from None
        return f"columns {_some(columns)}", columns
    if suffix in (".csv", ".tsv"):
        from ..readers import header_columns

        columns = header_columns(path, "\t" if suffix == ".tsv" else ",")
        return f"columns {_some(columns)}", columns
    if suffix in (".json", ".jsonl", ".ndjson"):
        record = _first_json_record(path)
        if isinstance(record, dict):
            return f"first record's keys {_some(list(record))}", record
        return f"a JSON {type(record).__name__} where records were expected", record
    raise InputError(f"{path}: unknown file type {suffix or '(no extension)'!r}; use one of "
                     f"{', '.join(sorted(TABLE_FORMATS))}, or a folder")


def _first_json_record(path: Path) -> Any:
    """The first object of a JSON list or of a JSON Lines file, reading only what it needs."""
    decoder = json.JSONDecoder()
    size = 1 << 16
    with open(path, "rb") as handle:
        while True:
            raw = handle.read(size)
            handle.seek(0)
            text = raw.decode("utf-8-sig", errors="replace").lstrip()
            if not text:
                raise InputError(f"{path}: the file is empty")
            body = text[1:].lstrip() if text[0] == "[" else text
            if text[0] == "[" and body.startswith("]"):
                raise InputError(f"{path}: an empty JSON list: no records")
            try:
                record, _ = decoder.raw_decode(body)
                return record
            except json.JSONDecodeError as exc:
                if len(raw) < size or size >= _PEEK_LIMIT:
                    raise InputError(f"{path}: not valid JSON at its start ({exc.msg}, "
                                     f"character {exc.pos})") from None
                size *= 4


def _some(names: list[Any], n: int = 8) -> str:
    shown = ", ".join(map(str, names[:n]))
    return shown + (f", … ({len(names)} in all)" if len(names) > n else "") if names else "none"
