"""Checking a filled-in file against the log before anything of it is written.

All or nothing: every row is checked first, inside the write transaction (so the
log cannot change between the check and the write). The first problems are
reported with their file line and value, and then nothing of the file is applied.
What passes becomes a :class:`Plan`: the rows to insert, in file order.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..exceptions import InputError
from ..wording import option
from .queue import cell

#: Problems named in one message; the rest are counted.
MAX_SHOWN = 5
#: Verdicts a lead can give.
VERDICTS = ("accept", "overturn")
# SQLite allows 32,766 variables per statement since 3.32; stay far below.
_CHUNK = 900


@dataclass(frozen=True)
class NewCorrection:
    """A correction to insert: a reviewer's, or the label a lead sets when overturning.

    ``taxonomy`` (the label set, JSON) and ``taxonomy_version`` (its name, None
    without a versioned taxonomy) are those of the correction's queue.
    """

    line: int
    queue_id: str
    item: str
    reviewer: str
    old_label: str | None
    new_label: str
    comment: str | None
    taxonomy: str
    taxonomy_version: str | None


@dataclass(frozen=True)
class NewVerdict:
    """A lead's verdict on one correction; an overturn brings the lead's correction."""

    line: int
    correction_id: int
    verdict: str
    lead_label: str | None
    comment: str | None
    replacement: NewCorrection | None


@dataclass
class Plan:
    """What a file will write, and what it leaves alone."""

    n_rows: int
    corrections: list[NewCorrection] = field(default_factory=list)
    verdicts: list[NewVerdict] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0


class Problems:
    """Problems found in a file, reported together, first lines first."""

    def __init__(self, source: str, first_line: int | None) -> None:
        self.source = source
        self.first_line = first_line
        self.found: list[tuple[int, str]] = []

    def line(self, position: int) -> int:
        """The file line of a row (its 1-based row number when lines are unknown)."""
        return position + (self.first_line if self.first_line is not None else 1)

    def where(self, position: int) -> str:
        """``line 7``, or ``row 6`` when the file has no lines (Parquet)."""
        return f"{'line' if self.first_line is not None else 'row'} {self.line(position)}"

    def add(self, position: int, message: str) -> None:
        self.found.append((position, f"{self.where(position)}: {message}"))

    def raise_if_any(self) -> None:
        if not self.found:
            return
        self.found.sort(key=lambda found: found[0])
        shown = "; ".join(message for _, message in self.found[:MAX_SHOWN])
        more = len(self.found) - MAX_SHOWN
        rest = f"; and {more:,} more problem{'s' if more > 1 else ''}" if more > 0 else ""
        raise InputError(f"{self.source}: {shown}{rest}; nothing in the file was applied: "
                         f"fix {'it' if len(self.found) == 1 else 'them'} and apply it again")


def columns(frame: pd.DataFrame, required: Sequence[str], optional: Sequence[str],
            source: str, hint: str) -> dict[str, str]:
    """Find columns by name (case and spaces ignored); a missing required one is an error."""
    found = {str(c).strip().lower(): str(c) for c in frame.columns}
    missing = [name for name in required if name not in found]
    if missing:
        raise InputError(f"{source}: no {', '.join(missing)} column; columns found: "
                         f"{', '.join(map(str, frame.columns))}{hint}")
    return {name: found[name] for name in (*required, *optional) if name in found}


def lookup(names: Iterable[str]) -> dict[str, str]:
    """Exact spellings, and stripped ones for hand-typed spaces; an exact match wins."""
    names = list(names)
    table = {name.strip(): name for name in names}
    table.update({name: name for name in names})
    return table


def current_labels(conn: sqlite3.Connection) -> dict[str, str]:
    """Per item, the label of its latest correction not overturned."""
    return dict(conn.execute("SELECT item, label FROM current_labels"))


def _rows(frame: pd.DataFrame, cols: dict[str, str], name: str) -> list[str | None]:
    if name not in cols:
        return [None] * len(frame)
    return [cell(v) for v in frame[cols[name]]]


def reviewer_plan(conn: sqlite3.Connection, frame: pd.DataFrame, *, applied_by: str,
                  source: str, first_line: int | None, log_name: str) -> Plan:
    """Check a filled queue and plan its corrections.

    A row with an empty ``corrected_label`` is no change and is not checked. A
    filled ``reviewer`` cell names who made that correction; else ``applied_by``.
    A label equal to the item's current label (its latest accepted correction,
    else the consensus it was exported with) is counted as unchanged.
    """
    hint = (f". This is a lead's sample: apply it with {option('role', 'lead')}"
            if {"verdict", "correction_id"} <= {str(c).strip().lower() for c in frame.columns}
            else "")
    cols = columns(frame, ("queue", "item", "corrected_label"), ("reviewer", "comment"),
                   source, hint)
    queues, items, labels = (_rows(frame, cols, n) for n in ("queue", "item", "corrected_label"))
    who, comments = _rows(frame, cols, "reviewer"), _rows(frame, cols, "comment")
    plan, problems = Plan(len(frame)), Problems(source, first_line)
    wanted = sorted({q for q, lab in zip(queues, labels, strict=True) if lab and q})
    known: dict[str, tuple[str, str | None]] = {
        queue_id: (taxonomy, version) for queue_id, taxonomy, version in conn.execute(
            f"SELECT queue_id, taxonomy, taxonomy_version FROM queues "
            f"WHERE queue_id IN ({','.join('?' * len(wanted))})", wanted)} if wanted else {}
    queue_items = {q: dict(conn.execute(
        "SELECT item, consensus FROM queue_items WHERE queue_id = ?", (q,))) for q in known}
    item_names = {q: lookup(found) for q, found in queue_items.items()}
    label_names = {q: lookup(json.loads(tax)) for q, (tax, _) in known.items()}
    current = current_labels(conn)
    first_seen: dict[str, int] = {}
    for pos, (queue, raw_item, raw_label) in enumerate(zip(queues, items, labels, strict=True)):
        if raw_label is None:
            plan.skipped += 1
            continue
        if queue is None:
            problems.add(pos, "queue is empty; keep the queue id the row was exported with")
            continue
        if queue not in known:
            problems.add(pos, f"queue {queue!r} is not in {log_name}; apply the file to "
                              f"the log its queue was exported to")
            continue
        item = item_names[queue].get(raw_item or "")
        if item is None:
            problems.add(pos, f"item {raw_item or ''!r} is not in queue {queue!r}")
            continue
        label = label_names[queue].get(raw_label)
        if label is None:
            problems.add(pos, f"label {raw_label!r} is not one of "
                              f"{', '.join(json.loads(known[queue][0]))}")
            continue
        if item in first_seen:
            problems.add(pos, f"item {item!r} is corrected again (first on "
                              f"{problems.where(first_seen[item])}); keep one row per item")
            continue
        first_seen[item] = pos
        old = current.get(item, queue_items[queue][item])
        if old == label:
            plan.unchanged += 1
            continue
        plan.corrections.append(NewCorrection(
            problems.line(pos), queue, item, (who[pos] or applied_by).strip(), old, label,
            comments[pos], *known[queue]))
    problems.raise_if_any()
    return plan


def lead_plan(conn: sqlite3.Connection, frame: pd.DataFrame, *, applied_by: str, source: str,
              first_line: int | None, log_name: str) -> Plan:
    """Check a lead's filled sample and plan its verdicts (and the labels of overturns).

    A row with neither ``verdict`` nor ``corrected_label`` is skipped. Each
    reviewer correction gets at most one verdict, ever: a verdict is final (to
    change the label again, apply a new correction).
    """
    hint = (f". This is a reviewer's queue: apply it with {option('role', 'reviewer')}"
            if "queue" in {str(c).strip().lower() for c in frame.columns} else "")
    cols = columns(frame, ("correction_id", "verdict"), ("corrected_label", "lead_comment"),
                   source, hint)
    ids, verdicts = _rows(frame, cols, "correction_id"), _rows(frame, cols, "verdict")
    labels, comments = _rows(frame, cols, "corrected_label"), _rows(frame, cols, "lead_comment")
    plan, problems = Plan(len(frame)), Problems(source, first_line)
    numbers = {pos: int(i.strip()) for pos, i in enumerate(ids)
               if i is not None and i.strip().isdigit() and i.strip().isascii()}
    corrections = _fetch(conn, "SELECT correction_id, queue_id, item, role, new_label, taxonomy, "
                         "taxonomy_version FROM corrections WHERE correction_id IN ({})",
                         set(numbers.values()))
    decided = _fetch(conn, "SELECT correction_id, verdict, lead, decided_at FROM verdicts "
                     "WHERE correction_id IN ({})", set(numbers.values()))
    current = current_labels(conn)
    first_seen: dict[int, int] = {}
    for pos, (raw_id, raw_verdict, raw_label) in enumerate(zip(ids, verdicts, labels,
                                                               strict=True)):
        if raw_verdict is None and raw_label is None:
            plan.skipped += 1
            continue
        if pos not in numbers:
            problems.add(pos, f"correction_id {raw_id or ''!r} is not a correction number")
            continue
        number = numbers[pos]
        if number not in corrections:
            problems.add(pos, f"correction {number} is not in {log_name}")
            continue
        _, queue, item, role, new_label, taxonomy, version = corrections[number]
        verdict = (raw_verdict or "").strip().lower()
        if role != "reviewer":
            problems.add(pos, f"correction {number} is a lead's own label; only reviewers' "
                              f"corrections get a verdict")
        elif number in decided:
            _, said, by, when = decided[number]
            problems.add(pos, f"correction {number} already has a verdict ({said} by {by} on "
                              f"{when}); a verdict is final, apply a new correction instead")
        elif number in first_seen:
            problems.add(pos, f"correction {number} is judged again (first on "
                              f"{problems.where(first_seen[number])}); keep one row for it")
        elif verdict not in VERDICTS:
            problems.add(pos, f"verdict {raw_verdict or ''!r} is not accept or overturn")
        elif verdict == "accept":
            if raw_label is not None and raw_label.strip() != new_label.strip():
                problems.add(pos, f"label {raw_label!r} given with verdict accept; write "
                                  f"overturn to set it, or clear it to accept {new_label!r}")
            else:
                first_seen[number] = pos
                plan.verdicts.append(NewVerdict(problems.line(pos), number, "accept", None,
                                                comments[pos], None))
        elif raw_label is None:
            problems.add(pos, "verdict overturn needs the right label in corrected_label")
        elif (label := lookup(json.loads(taxonomy)).get(raw_label)) is None:
            problems.add(pos, f"label {raw_label!r} is not one of "
                              f"{', '.join(json.loads(taxonomy))}")
        elif label == new_label:
            problems.add(pos, f"label {raw_label!r} is the reviewer's own label; write "
                              f"accept to keep it")
        else:
            first_seen[number] = pos
            old = current.get(item)
            # the lead's label belongs to the queue of the correction it overturns
            replacement = NewCorrection(problems.line(pos), queue, item, applied_by, old, label,
                                        comments[pos], taxonomy, version)
            current[item] = label
            plan.verdicts.append(NewVerdict(problems.line(pos), number, "overturn", label,
                                            comments[pos], replacement))
    problems.raise_if_any()
    return plan


def _fetch(conn: sqlite3.Connection, query: str, keys: set[int]) -> dict[int, tuple[Any, ...]]:
    """Rows by their first column, for many keys, in chunks SQLite accepts."""
    found: dict[int, tuple[Any, ...]] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start:start + _CHUNK]
        for row in conn.execute(query.format(",".join("?" * len(chunk))), chunk):
            found[int(row[0])] = tuple(row)
    return found
