"""The review log's SQLite schema, and connections that make it safe to share.

The log is append-only: triggers refuse every UPDATE and DELETE, and any INSERT
that would REPLACE a row, so a row once written is the record of what happened.
Every write is one ``BEGIN IMMEDIATE`` transaction in WAL mode: readers never
block, two writers queue behind each other (up to :data:`BUSY_TIMEOUT_S`), and a
process killed mid-write leaves the log as it was before the transaction.

Tables (``PRAGMA user_version`` = :data:`SCHEMA_VERSION`):

- ``queues``: one row per exported queue (``queue_id`` is a digest of its content),
  when, from which votes, the label set in force (``taxonomy``, JSON) and the name
  of the taxonomy version it belongs to (``taxonomy_version``; NULL when the
  project has no versioned taxonomy).
- ``queue_items``: the items of each queue with their consensus label at export.
- ``applications``: one row per applied file, keyed by its SHA-256, so a file is
  applied once; who applied it and what it did.
- ``corrections``: one row per changed label (reviewers', and leads' when they
  overturn one), with the label before and after, the file and line it came from
  and the taxonomy in force with its version name, copied from the queue;
  ``UNIQUE (file_sha256, file_line)``.
- ``verdicts``: a lead's ``accept`` or ``overturn`` of a reviewer's correction, at
  most one per correction; an overturn points to the lead's own correction.
- view ``current_labels``: per item, the latest correction not overturned.

An older log is migrated in place when opened (:data:`MIGRATIONS`), in one
``BEGIN IMMEDIATE`` transaction with the version bump, so two processes opening
it at once migrate it once. Columns are only ever added at the end of a table,
so a migrated log has the columns of a new one, in the same order.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ..exceptions import InputError

#: Bumped whenever the tables change; a log written by a newer version is refused.
SCHEMA_VERSION = 2

#: How long a writer waits for another to finish before giving up, in seconds.
BUSY_TIMEOUT_S = 30.0

#: The tables nothing may change or delete from.
LOG_TABLES = ("queues", "queue_items", "applications", "corrections", "verdicts")

_TABLES = (
    """CREATE TABLE queues (
        queue_id    TEXT PRIMARY KEY,
        created_at  TEXT NOT NULL,
        source      TEXT NOT NULL,
        taxonomy    TEXT NOT NULL,
        taxonomy_version TEXT
    )""",
    """CREATE TABLE queue_items (
        queue_id    TEXT NOT NULL REFERENCES queues (queue_id),
        item        TEXT NOT NULL,
        consensus   TEXT,
        PRIMARY KEY (queue_id, item)
    ) WITHOUT ROWID""",
    """CREATE TABLE applications (
        file_sha256 TEXT PRIMARY KEY,
        file_name   TEXT NOT NULL,
        applied_at  TEXT NOT NULL,
        applied_by  TEXT NOT NULL,
        role        TEXT NOT NULL CHECK (role IN ('reviewer', 'lead')),
        n_rows      INTEGER NOT NULL,
        n_recorded  INTEGER NOT NULL,
        n_unchanged INTEGER NOT NULL,
        n_skipped   INTEGER NOT NULL
    )""",
    """CREATE TABLE corrections (
        correction_id INTEGER PRIMARY KEY AUTOINCREMENT,
        applied_at    TEXT NOT NULL,
        queue_id      TEXT NOT NULL REFERENCES queues (queue_id),
        item          TEXT NOT NULL,
        reviewer      TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('reviewer', 'lead')),
        old_label     TEXT,
        new_label     TEXT NOT NULL,
        comment       TEXT,
        file_sha256   TEXT NOT NULL REFERENCES applications (file_sha256),
        file_line     INTEGER NOT NULL,
        taxonomy      TEXT NOT NULL,
        taxonomy_version TEXT,
        UNIQUE (file_sha256, file_line)
    )""",
    """CREATE TABLE verdicts (
        verdict_id     INTEGER PRIMARY KEY AUTOINCREMENT,
        correction_id  INTEGER NOT NULL UNIQUE REFERENCES corrections (correction_id),
        lead           TEXT NOT NULL,
        verdict        TEXT NOT NULL CHECK (verdict IN ('accept', 'overturn')),
        lead_label     TEXT,
        replacement_id INTEGER REFERENCES corrections (correction_id),
        comment        TEXT,
        decided_at     TEXT NOT NULL,
        file_sha256    TEXT NOT NULL REFERENCES applications (file_sha256),
        file_line      INTEGER NOT NULL,
        UNIQUE (file_sha256, file_line),
        CHECK ((verdict = 'overturn') = (lead_label IS NOT NULL))
    )""",
    "CREATE INDEX corrections_by_item ON corrections (item, correction_id)",
    """CREATE VIEW current_labels AS
        SELECT item, new_label AS label, correction_id FROM (
            SELECT c.item, c.new_label, c.correction_id,
                   ROW_NUMBER() OVER (PARTITION BY c.item ORDER BY c.correction_id DESC) AS r
            FROM corrections AS c
            WHERE NOT EXISTS (SELECT 1 FROM verdicts AS v
                              WHERE v.correction_id = c.correction_id
                                AND v.verdict = 'overturn')
        ) WHERE r = 1""",
)


#: What brings a log from version ``v`` to ``v + 1``; the end state equals ``_TABLES``.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE queues ADD COLUMN taxonomy_version TEXT",
        "ALTER TABLE corrections ADD COLUMN taxonomy_version TEXT"),
}


def _append_only_triggers() -> list[str]:
    """BEFORE UPDATE and BEFORE DELETE triggers that abort, one pair per log table."""
    return [
        f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} BEGIN "
        f"SELECT RAISE(ABORT, 'the review log is append-only: {table} rows cannot be "
        f"{'changed' if action == 'UPDATE' else 'deleted'}'); END"
        for table in LOG_TABLES
        for action in ("UPDATE", "DELETE")
    ]


#: Keys of each log table: an INSERT that would REPLACE a row with one of them is refused
#: too (REPLACE deletes without firing DELETE triggers unless recursive triggers are on).
_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "queues": (("queue_id",),),
    "queue_items": (("queue_id", "item"),),
    "applications": (("file_sha256",),),
    "corrections": (("correction_id",), ("file_sha256", "file_line")),
    "verdicts": (("verdict_id",), ("correction_id",), ("file_sha256", "file_line")),
}


def _no_replace_triggers() -> list[str]:
    """BEFORE INSERT triggers that abort when the new row's key is taken already."""
    statements = []
    for table, keys in _KEYS.items():
        taken = " OR ".join(
            f"EXISTS (SELECT 1 FROM {table} WHERE "
            + " AND ".join(f"{column} = NEW.{column}" for column in key) + ")"
            for key in keys)
        statements.append(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} WHEN {taken} BEGIN "
            f"SELECT RAISE(ABORT, 'the review log is append-only: this {table} row is "
            f"there already'); END")
    return statements


def utc_now() -> str:
    """Now as UTC ISO-8601 with milliseconds, e.g. ``2026-05-09T07:35:25.123+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def connect(path: str | os.PathLike[str], *, create: bool) -> sqlite3.Connection:
    """Open (and with ``create``, make) a review log, in WAL mode with its schema.

    The connection is in autocommit mode: every write goes through
    :func:`immediate`, so transactions are explicit and never opened by accident.

    Raises
    ------
    InputError
        No log at ``path`` (without ``create``), a folder, a file that is not
        SQLite, an SQLite database that is not a review log, or one written by a
        newer version.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a review log")
    if not create and not path.exists():
        raise InputError(
            f"{path}: no review log here (one is made when a queue is exported); "
            f"check the path of the log"
        )
    if create and not path.parent.is_dir():
        raise InputError(f"{path}: the folder {path.parent} does not exist")
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # an audit trail survives power loss too
        conn.execute("PRAGMA foreign_keys = ON")
        _ensure_schema(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise InputError(f"{path}: not a review log ({exc})") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables in an empty database, migrate an older log, refuse a newer one.

    Everything happens in one ``BEGIN IMMEDIATE`` transaction, and the version is read
    again inside it: a second process that waited for the first sees the work done.
    ALTER TABLE keeps the append-only triggers, which fire on rows, not columns.
    """
    if _version(conn) == SCHEMA_VERSION:
        return
    with immediate(conn):
        version = _version(conn)  # another process may have made or migrated it meanwhile
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise InputError(
                f"{path}: the review log has schema version {version}, newer than this "
                f"version of consensus understands ({SCHEMA_VERSION}); upgrade consensus"
            )
        if version > 0:
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return
        others = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        if others:
            raise InputError(
                f"{path}: is an SQLite database but not a review log (it has the tables "
                f"{', '.join(others[:5])}); give the path of a review log or a new file"
            )
        for statement in (*_TABLES, *_append_only_triggers(), *_no_replace_triggers()):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: ``BEGIN IMMEDIATE`` takes the write lock at once, so what
    is checked inside cannot change before it is written; any exception rolls back.

    SQLite's own failures (busy past the timeout, a read-only file, a full disk)
    become an InputError naming the log: the input may be fine, but the user can act.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError):
            raise InputError(_write_failure(conn, exc)) from None
        raise


def _write_failure(conn: sqlite3.Connection, exc: sqlite3.OperationalError) -> str:
    name = conn.execute("PRAGMA database_list").fetchone()[2] or "the review log"
    if "locked" in str(exc) or "busy" in str(exc):
        return (f"{name}: the review log is busy: another process held it for more than "
                f"{BUSY_TIMEOUT_S:g} s; try again")
    return f"{name}: could not write the review log ({exc})"


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction: several queries see one state of the log, even while others
    write (WAL keeps the snapshot)."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")
