"""The taxonomy version in force, recorded with every queue and correction of the review log,
and the in-place migration of a version-1 log (which lacked it), with real processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_review_log import CLASSES, filled, plain_queue

from consensus import InputError
from consensus.review import ReviewLog, lead_sample_frame, write_queue, write_sheet
from consensus.review.schema import SCHEMA_VERSION

NEW_COLUMNS = {"queues": "taxonomy_version", "corrections": "taxonomy_version"}


def stored_versions(db: Path) -> tuple[list[Any], list[Any]]:
    """taxonomy_version of every queue and every correction, straight from SQLite."""
    with sqlite3.connect(db) as conn:
        return ([v for (v,) in conn.execute(
                    "SELECT taxonomy_version FROM queues ORDER BY queue_id")],
                [v for (v,) in conn.execute(
                    "SELECT taxonomy_version FROM corrections ORDER BY correction_id")])


def overturn_all(log: ReviewLog, path: Path, labels: dict[str, str]) -> Path:
    """A lead's sample of every unverified correction, each overturned to ``labels[item]``."""
    sample = lead_sample_frame(log.sample(1.0))
    sample["verdict"] = "overturn"
    sample["corrected_label"] = sample["item"].map(labels)
    write_queue(sample, path)
    return path


# ------------------------------------------------------------------ a new log
def test_the_version_goes_from_the_queue_to_its_corrections_and_the_history(tmp_path):
    queue = plain_queue(["a", "b", "c"], ["cat", "dog", "cat"])
    with ReviewLog(tmp_path / "review.db") as log:
        log.register_queue(queue, CLASSES, "votes.csv", taxonomy_version="v2")
        log.apply_file(filled(queue, {"a": "dog", "b": "bird"}, tmp_path / "queue.csv"),
                       reviewer="alice")
        history = log.history()
        assert history["taxonomy_version"].tolist() == ["v2", "v2"]
        assert list(history.columns[-2:]) == ["taxonomy", "taxonomy_version"]
        write_sheet(history, tmp_path / "log.csv")
    assert stored_versions(tmp_path / "review.db") == (["v2"], ["v2", "v2"])
    assert pd.read_csv(tmp_path / "log.csv")["taxonomy_version"].tolist() == ["v2", "v2"]


def test_a_leads_overturn_carries_the_version_of_the_queue_it_overturns(tmp_path):
    old = plain_queue(["a", "b"], ["cat", "cat"])
    new = plain_queue(["c", "d"], ["dog", "dog"])
    with ReviewLog(tmp_path / "review.db") as log:
        old_id = log.register_queue(old, CLASSES, "votes.csv", taxonomy_version="v1")
        new_id = log.register_queue(new, CLASSES, "votes.csv", taxonomy_version="v2")
        log.apply_file(filled(old, {"a": "dog"}, tmp_path / "old.csv"), reviewer="alice")
        log.apply_file(filled(new, {"c": "cat"}, tmp_path / "new.csv"), reviewer="bob")
        lead = overturn_all(log, tmp_path / "lead.csv", {"a": "bird", "c": "bird"})
        assert log.apply_file(lead, reviewer="lena", role="lead").overturned == 2
        history = log.history()
    assert history[["queue", "item", "role", "new_label", "status", "taxonomy_version"]
                   ].values.tolist() == [
        [old_id, "a", "reviewer", "dog", "overturned", "v1"],
        [new_id, "c", "reviewer", "cat", "overturned", "v2"],
        [old_id, "a", "lead", "bird", "current", "v1"],
        [new_id, "c", "lead", "bird", "current", "v2"]]


def test_without_a_version_it_is_null(tmp_path):
    queue = plain_queue(["a", "b"], ["cat", "dog"])
    with ReviewLog(tmp_path / "review.db") as log:
        log.register_queue(queue, CLASSES, "votes.csv")
        log.apply_file(filled(queue, {"a": "dog"}, tmp_path / "queue.csv"), reviewer="alice")
        assert log.history()["taxonomy_version"].isna().all()
    assert stored_versions(tmp_path / "review.db") == ([None], [None])


def test_a_queue_keeps_the_version_it_was_registered_under(tmp_path):
    queue = plain_queue(["a", "b"], ["cat", "dog"])
    with ReviewLog(tmp_path / "review.db") as log:
        queue_id = log.register_queue(queue, CLASSES, "votes.csv", taxonomy_version="v1")
        assert log.register_queue(queue, CLASSES, "votes.csv", taxonomy_version="v1") == queue_id
        with pytest.raises(InputError, match=f"queue '{queue_id}' is already registered under "
                                             f"taxonomy version 'v1', not taxonomy version "
                                             f"'v2'"):
            log.register_queue(queue, CLASSES, "votes.csv", taxonomy_version="v2")
        with pytest.raises(InputError, match="under taxonomy version 'v1', not no taxonomy "
                                             "version"):
            log.register_queue(queue, CLASSES, "votes.csv")
        other = plain_queue(["c", "d"], ["cat", "dog"])
        other_id = log.register_queue(other, CLASSES, "votes.csv")
        with pytest.raises(InputError, match="under no taxonomy version, not taxonomy "
                                             "version 'v1'"):
            log.register_queue(other, CLASSES, "votes.csv", taxonomy_version="v1")
        for bad in ("", "  ", 2):
            with pytest.raises(InputError, match="taxonomy_version must be a version name"):
                log.register_queue(other, CLASSES, "votes.csv", taxonomy_version=bad)
    with sqlite3.connect(tmp_path / "review.db") as conn:
        assert dict(conn.execute("SELECT queue_id, taxonomy_version FROM queues")) == {
            queue_id: "v1", other_id: None}
    conn.close()


# ------------------------------------------------------------------ an older log
def version_1_log(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A log as version 1 left it: corrections, a verdict and an overturn, no version column.

    Version 1 was version 2 without the two ``taxonomy_version`` columns (the
    migration adds nothing else), so the log is written with today's code and the
    columns dropped; SQLite rewrites the tables' CREATE statements as well.
    """
    db = tmp_path / "review.db"
    queue = plain_queue(["a", "b", "c"], ["cat", "cat", "dog"])
    with ReviewLog(db) as log:
        log.register_queue(queue, CLASSES, "votes.csv")
        log.apply_file(filled(queue, {"a": "dog", "b": "bird"}, tmp_path / "q.csv"),
                       reviewer="alice")
        lead = overturn_all(log, tmp_path / "lead.csv", {"a": "cat", "b": "dog"})
        log.apply_file(lead, reviewer="lena", role="lead")
        history = log.history()
    with sqlite3.connect(db, isolation_level=None) as conn:
        for table, column in NEW_COLUMNS.items():
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("PRAGMA user_version = 1")
        assert not [sql for (sql,) in conn.execute(
            "SELECT sql FROM sqlite_master WHERE sql LIKE '%taxonomy_version%'")]
    conn.close()
    return db, history


def table_columns(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        found = {table: conn.execute(f"PRAGMA table_info({table})").fetchall()
                 for table in NEW_COLUMNS}
    conn.close()
    return found


def test_a_version_1_log_is_migrated_in_place_keeping_its_rows_and_triggers(tmp_path):
    db, before = version_1_log(tmp_path)
    with ReviewLog.open_existing(db) as log:
        pd.testing.assert_frame_equal(log.history(), before)
        assert log.accepted_labels() == {"a": "cat", "b": "dog"}
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        for statement in ("UPDATE corrections SET taxonomy_version = 'v9'",
                          "UPDATE queues SET taxonomy_version = 'v9'",
                          "DELETE FROM corrections",
                          "INSERT OR REPLACE INTO queues SELECT * FROM queues"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
    conn.close()
    # the migrated tables are those of a new log, column for column
    fresh = tmp_path / "fresh" / "review.db"
    fresh.parent.mkdir()
    ReviewLog(fresh).close()
    assert table_columns(db) == table_columns(fresh)
    # and take new, versioned queues and corrections
    queue = plain_queue(["x", "y"], ["cat", "cat"])
    with ReviewLog.open_existing(db) as log:
        log.register_queue(queue, CLASSES, "votes.csv", taxonomy_version="v2")
        log.apply_file(filled(queue, {"x": "dog"}, tmp_path / "x.csv"), reviewer="bob")
        assert log.history()["taxonomy_version"].fillna("-").tolist() == ["-"] * 4 + ["v2"]


def _open_in_child(path: str, barrier: Any, results: Any) -> None:
    """Open the log once the parent says go; report how long it took and what was seen."""
    barrier.wait()
    start = time.monotonic()
    try:
        with ReviewLog.open_existing(path) as log:
            columns = list(log.history().columns)
        results.put(("ok", time.monotonic() - start, columns))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put(("error", time.monotonic() - start, repr(exc)))


def test_two_processes_opening_a_version_1_log_at_once_migrate_it_once(tmp_path):
    db, before = version_1_log(tmp_path)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(3), context.Queue()
    children = [context.Process(target=_open_in_child, args=(str(db), barrier, results))
                for _ in range(2)]
    for proc in children:
        proc.start()
    # hold the write lock while both children start opening: both read version 1, then
    # queue behind the lock; the first migrates, the second must find version 2
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    barrier.wait(timeout=60)
    time.sleep(1.0)
    holder.execute("ROLLBACK")
    holder.close()
    outcomes = [results.get(timeout=60) for _ in children]
    for proc in children:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    for status, waited, detail in outcomes:
        assert status == "ok", detail
        assert waited > 0.5, "the child did not wait for the lock: no race was tested"
        assert detail == list(before.columns)
    with ReviewLog.open_existing(db) as log:
        pd.testing.assert_frame_equal(log.history(), before)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_a_log_newer_than_the_code_is_still_refused(tmp_path):
    db = tmp_path / "review.db"
    ReviewLog(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(InputError, match=f"schema version {SCHEMA_VERSION + 1}, newer than "
                                         f"this version of consensus understands "
                                         f"\\({SCHEMA_VERSION}\\); upgrade consensus"):
        ReviewLog.open_existing(db)
