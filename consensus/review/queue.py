"""Review files a person acts on: the queue of flagged items, the lead's sample, reading back.

A queue has one row per flagged item, most suspicious first, with every vote,
who cast it and how reliable they are, and three empty columns to fill in
(``corrected_label, reviewer, comment``). People open these files in
spreadsheets, so CSV and TSV cells that a spreadsheet would run as a formula are
escaped with a leading ``'`` (OWASP's advice against CSV injection), and reading
removes exactly that quote again: ids and labels round-trip exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.readers import first_data_line, read_table, table_format
from ..data.votes import VoteMatrix
from ..data.writers import write_table
from ..exceptions import InputError
from ..wording import option

#: Columns a reviewer fills in; left out of the queue's content digest.
EDITABLE = ("corrected_label", "reviewer", "comment")
#: Columns a lead fills in on a sample of corrections.
LEAD_EDITABLE = ("verdict", "corrected_label", "lead_comment")
#: Columns of the lead's file, in order.
LEAD_COLUMNS = ("correction_id", "item", "old_label", "new_label", "reviewer", "comment",
                *LEAD_EDITABLE)

#: A cell a spreadsheet would read as a formula starts with one of these (OWASP).
FORMULA_STARTS = "=+-@\t\r"
# Quoted when it starts with a formula character after any number of quotes: then a
# value that itself starts with ``'=`` gets a second quote, and unquoting is exact.
_NEEDS_QUOTE = re.compile(rf"^'*[{re.escape(FORMULA_STARTS)}]")
_QUOTED = re.compile(rf"^'+[{re.escape(FORMULA_STARTS)}]")


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells that a spreadsheet would run get a leading ``'``.

    ``=1+2`` becomes ``'=1+2``, and ``'=1+2`` becomes ``''=1+2``, so
    :func:`unescape_formulas` gives back exactly the original; other cells,
    numbers and missing values are left alone.
    """
    return _map_text(frame, _NEEDS_QUOTE, lambda s: "'" + s)


def unescape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`escape_formulas`: drop the one quote it added, nothing else."""
    return _map_text(frame, _QUOTED, lambda s: s.str.slice(1))


def _map_text(frame: pd.DataFrame, pattern: re.Pattern[str], change: Any) -> pd.DataFrame:
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if not (column.dtype == object or pd.api.types.is_string_dtype(column.dtype)):
            continue
        text = column.map(lambda v: v if isinstance(v, str) else None)
        hit = text.str.match(pattern).fillna(False).astype(bool)
        if hit.any():
            column = column.astype(object)
            column[hit] = change(text[hit].astype(object))
            out[name] = column
    return out


def write_sheet(frame: pd.DataFrame, path: str | os.PathLike[str] | None) -> None:
    """Write a review file atomically by extension; CSV and TSV formula-escaped.

    Missing text becomes an empty cell in CSV (never ``None``). JSON Lines and
    Parquet are for programs, not spreadsheets, and keep every value verbatim.
    """
    if path is None or str(path) == "-" or table_format(path) in ("csv", "tsv"):
        frame = escape_formulas(frame)
        for name in frame.columns:
            if frame[name].dtype == object:
                frame[name] = frame[name].where(frame[name].notna(), "")
    write_table(frame, path)


def read_filled(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, str, int | None]:
    """Read a filled-in queue or lead file, every cell as text, escaping undone.

    Returns
    -------
    frame : DataFrame
        The table, cells as text (``007`` stays ``007``), empty cells missing.
    sha256 : str
        Hex digest of the file's bytes: what makes applying it idempotent.
    first_line : int or None
        File line of the first row (None for Parquet), for messages.

    Raises
    ------
    InputError
        The file cannot be read, or changed while it was being read (a digest
        that did not match the rows applied would defeat idempotence).
    """
    from ..data.tools.detect import tool_of

    digest = _sha256(path)
    tool = tool_of(path)
    frame = read_table(path) if tool is None else tool_corrections(path, tool)
    if _sha256(path) != digest:
        raise InputError(f"{path}: changed while it was being read; save it and apply it again")
    if tool is not None:
        return frame, digest, None
    fmt = table_format(path)
    if fmt in ("csv", "tsv"):
        frame = unescape_formulas(frame)
    return frame, digest, first_data_line(fmt)


def tool_corrections(path: str | os.PathLike[str], tool: str) -> pd.DataFrame:
    """A reviewed queue exported from Label Studio or Argilla, as a filled queue's rows.

    Each answer is a correction by the user who gave it. Two reviewers who gave
    an item the same label make one correction (the first's); different labels
    for one item stay two rows, which applying refuses by name.
    """
    if tool == "label-studio":
        from ..data.tools.label_studio import corrections_from_label_studio

        frame = corrections_from_label_studio(path)
    elif tool == "argilla":
        from ..data.tools.argilla import corrections_from_argilla

        frame = corrections_from_argilla(path)
    else:
        raise InputError(f"{path}: a {tool} export holds votes, not a reviewed queue; export "
                         f"the queue with `consensus review export` and "
                         f"{option('to', 'label-studio', 'argilla')}, and apply what "
                         f"reviewers did there")
    return frame.drop_duplicates(["queue", "item", "corrected_label"]).reset_index(drop=True)


def _sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a table") from None
    return digest.hexdigest()


def queue_fingerprint(queue: pd.DataFrame) -> str:
    """The queue id: ``q`` and 16 hex digits of a SHA-256 of the queue's content.

    The ``queue`` column and the columns people fill in are left out, so the same
    export gives the same id. The ``q`` keeps spreadsheets from reading an id of
    digits (and one ``e``) as a number.
    """
    kept = [c for c in queue.columns if c != "queue" and c not in EDITABLE]
    rows = [[None if _missing(v) else str(v) for v in row]
            for row in queue[kept].itertuples(index=False, name=None)]
    body = json.dumps({"columns": [str(c) for c in kept], "rows": rows}, ensure_ascii=False)
    return "q" + hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def build_queue(
    flags: pd.DataFrame,
    votes: VoteMatrix | pd.DataFrame,
    annotators: pd.DataFrame,
    *,
    content: Mapping[Any, Any] | pd.Series | None = None,
    predictions: Mapping[Any, Any] | pd.Series | None = None,
    queue_id: str | None = None,
) -> pd.DataFrame:
    """One row per flagged item, most suspicious first, ready for a reviewer.

    Parameters
    ----------
    flags : DataFrame
        One row per flagged item or vote, with at least ``item, annotator, label,
        consensus, confidence, score, reasons`` (``annotator`` empty on item
        flags; ``score`` higher means more suspicious). An item's vote flags are
        merged into its row; its priority is its highest score.
    votes : VoteMatrix or DataFrame
        All votes (``item, annotator, label``): every vote on a flagged item is
        listed, not only the flagged ones, so the reviewer sees the whole split.
    annotators : DataFrame
        ``annotator, accuracy`` (``AggregateResult.annotators``): shown beside
        each vote, so a lone vote by a reliable annotator stands out.
    content : mapping or Series, optional
        Item -> text or image path, shown as ``content``.
    predictions : mapping or Series, optional
        Item -> a model's label, shown as ``model_prediction``; without it a
        ``model_prediction`` column of ``flags`` is used when present.
    queue_id : str, optional
        The id written in the ``queue`` column; by default
        :func:`queue_fingerprint` of the rest, which is what the log registers.

    Returns
    -------
    DataFrame
        ``queue, priority, item, [content], votes, consensus, confidence,
        [model_prediction], reasons, corrected_label, reviewer, comment``.
    """
    missing = [c for c in ("item", "annotator", "label", "consensus", "confidence", "score",
                           "reasons") if c not in flags.columns]
    if missing:
        raise InputError(f"the flags table has no column {', '.join(missing)}; "
                         f"columns found: {', '.join(map(str, flags.columns))}")
    table = flags.reset_index(drop=True).copy()
    table["item"] = table["item"].astype(str)
    table["_order"] = np.arange(len(table))
    table["_reason"] = _row_reasons(table)
    first = table.groupby("item", sort=False).agg(
        score=("score", "max"), order=("_order", "min"), consensus=("consensus", "first"),
        confidence=("confidence", "first"))
    ranked = table.sort_values(["score", "_order"], ascending=[False, True], kind="stable")
    reasons = ranked.groupby("item", sort=False)["_reason"].agg(_join_unique)
    first = first.sort_values(["score", "order"], ascending=[False, True], kind="stable")
    items = first.index.to_numpy(dtype=object)

    queue = pd.DataFrame({"queue": "", "priority": np.arange(1, len(items) + 1), "item": items})
    if content is not None:
        queue["content"] = _lookup(content, items)
    queue["votes"] = _votes_text(votes, annotators, items)
    queue["consensus"] = first["consensus"].to_numpy(dtype=object)
    queue["confidence"] = first["confidence"].to_numpy(dtype=np.float64)
    if predictions is not None:
        queue["model_prediction"] = _lookup(predictions, items)
    elif "model_prediction" in table.columns:
        known = table["model_prediction"].where(table["model_prediction"].fillna("") != "")
        queue["model_prediction"] = _lookup(
            known.groupby(table["item"], sort=False).first(), items)
    queue["reasons"] = reasons.reindex(items).to_numpy(dtype=object)
    for name in EDITABLE:
        queue[name] = ""
    queue["queue"] = queue_id if queue_id is not None else queue_fingerprint(queue)
    return queue


def _row_reasons(table: pd.DataFrame) -> pd.Series:
    """Each flag row's reasons as ``a; b``; a vote flag's say whose vote and which label."""
    texts = []
    for reasons, annotator, label in zip(table["reasons"], table["annotator"], table["label"],
                                         strict=True):
        if isinstance(reasons, (list, tuple, np.ndarray)):
            parts = [str(r).strip() for r in reasons]
        else:
            parts = [r.strip() for r in (cell(reasons) or "").split(";")]
        detail = "" if cell(annotator) is None else f" ({annotator} voted {label})"
        texts.append("; ".join(f"{part}{detail}" for part in parts if part))
    return pd.Series(texts, index=table.index, dtype=object)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def cell(value: Any) -> str | None:
    """A cell as text, None when missing or blank; text is otherwise kept exactly."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    text = str(value)
    return text if text.strip() else None


def _join_unique(values: pd.Series) -> str:
    """``a; b``: each distinct non-empty reason once, in priority order."""
    seen: dict[str, None] = {}
    for value in values:
        for part in str(value).split("; "):
            if part:
                seen.setdefault(part, None)
    return "; ".join(seen)


def _lookup(table: Mapping[Any, Any] | pd.Series, items: np.ndarray) -> np.ndarray:
    """Values for ``items`` from an item -> value table (ids compared as text), "" if absent."""
    series = table if isinstance(table, pd.Series) else pd.Series(dict(table), dtype=object)
    series = series.set_axis(series.index.map(str))
    series = series[~series.index.duplicated()]
    found = series.reindex(items).astype(object)
    return found.where(found.notna(), "").to_numpy(dtype=object)


def _votes_text(votes: VoteMatrix | pd.DataFrame, annotators: pd.DataFrame,
                items: np.ndarray) -> np.ndarray:
    """``cat (ann7, 0.91); dog (ann2, 0.64)`` per item: every vote, most reliable first."""
    frame = votes.to_frame() if isinstance(votes, VoteMatrix) else votes
    for name in ("item", "annotator", "label"):
        if name not in frame.columns:
            raise InputError(f"the votes have no {name} column; columns found: "
                             f"{', '.join(map(str, frame.columns))}")
    for name in ("annotator", "accuracy"):
        if name not in annotators.columns:
            raise InputError(f"the annotators table has no {name} column; columns found: "
                             f"{', '.join(map(str, annotators.columns))}")
    wanted = frame["item"].astype(str)
    chosen = pd.DataFrame({"item": wanted, "annotator": frame["annotator"].astype(str),
                           "label": frame["label"].astype(str)})[wanted.isin(items)]
    accuracy = pd.Series(annotators["accuracy"].to_numpy(dtype=np.float64),
                         index=annotators["annotator"].astype(str))
    accuracy = accuracy[~accuracy.index.duplicated()]
    chosen["accuracy"] = chosen["annotator"].map(accuracy).astype(np.float64)
    chosen = chosen.sort_values(["item", "accuracy", "annotator"],
                                ascending=[True, False, True], na_position="last")
    shown = chosen["accuracy"].map(lambda a: "n/a" if np.isnan(a) else f"{a:.2f}").astype(str)
    chosen["text"] = chosen["label"] + " (" + chosen["annotator"] + ", " + shown + ")"
    joined = chosen.groupby("item", sort=False)["text"].agg("; ".join)
    return joined.reindex(items).fillna("").to_numpy(dtype=object)


def write_queue(queue: pd.DataFrame, path: str | os.PathLike[str] | None) -> None:
    """Write a queue for reviewers (CSV, TSV, JSON Lines or Parquet, by extension)."""
    write_sheet(queue, path)


def lead_sample_frame(sample: pd.DataFrame) -> pd.DataFrame:
    """The lead's file for :meth:`ReviewLog.sample`'s corrections, with empty verdict columns.

    A lead writes ``accept`` or ``overturn`` in ``verdict`` and, to overturn, the
    right label in ``corrected_label``; ``lead_comment`` is free text.
    """
    frame = pd.DataFrame({name: sample[name].to_numpy() for name in LEAD_COLUMNS[:6]})
    frame["correction_id"] = frame["correction_id"].astype(np.int64)
    for name in LEAD_EDITABLE:
        frame[name] = ""
    return frame


def default_log_path(beside: str | os.PathLike[str]) -> Path:
    """``review.db`` in the folder of ``beside`` (the votes or the corrections file)."""
    return Path(beside).parent / "review.db"
