"""The review log on a real SQLite file, with real processes: all or nothing, once per file,
append-only, safe under concurrent writers and a writer killed mid-transaction; the queue
a reviewer fills in, with formula escaping that round-trips exactly; the lead's verdicts."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from consensus import InputError
from consensus.review import (
    ReviewLog,
    build_queue,
    escape_formulas,
    lead_sample_frame,
    queue_fingerprint,
    read_filled,
    unescape_formulas,
    write_queue,
    write_sheet,
)
from consensus.review.queue import FORMULA_STARTS

CLASSES = ["bird", "cat", "dog"]


def plain_queue(items: list[str], consensus: list[str]) -> pd.DataFrame:
    """A queue as :func:`build_queue` shapes it, without flags (fast for big queues)."""
    queue = pd.DataFrame({"priority": np.arange(1, len(items) + 1), "item": items,
                          "votes": "", "consensus": consensus, "confidence": 0.5,
                          "reasons": "likely_mislabeled", "corrected_label": "",
                          "reviewer": "", "comment": ""})
    queue.insert(0, "queue", queue_fingerprint(queue))
    return queue


def filled(queue: pd.DataFrame, labels: dict[str, str], path: Path, **cells: dict[str, str]
           ) -> Path:
    """Write ``queue`` with some corrected labels (and other cells) filled in."""
    frame = queue.copy()
    frame["corrected_label"] = frame["item"].map(labels).fillna("")
    for column, values in cells.items():
        frame[column] = frame["item"].map(values).fillna("")
    write_queue(frame, path)
    return path


def dump(db: Path) -> list[str]:
    """Every row of every table, as SQL: equal dumps mean an unchanged log."""
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[ReviewLog, pd.DataFrame]]:
    queue = plain_queue(["007", "i2", "i3", "i4"], ["cat", "dog", "cat", "bird"])
    log = ReviewLog(tmp_path / "review.db")
    log.register_queue(queue, CLASSES, "votes.csv")
    yield log, queue
    log.close()


# ------------------------------------------------------------------ the queue file
def hand_flags() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    votes = pd.DataFrame({"item": ["007", "007", "007", "i2", "i2", "i3"],
                          "annotator": ["ann7", "ann2", "ann3", "ann7", "ann2", "ann3"],
                          "label": ["cat", "dog", "cat", "dog", "bird", "cat"]})
    annotators = pd.DataFrame({"annotator": ["ann7", "ann2", "ann3"],
                               "accuracy": [0.91, 0.64, 0.8]})
    flags = pd.DataFrame({
        "item": ["i2", "007", "007"], "annotator": ["", "", "ann2"],
        "label": ["dog", "cat", "dog"], "consensus": ["dog", "cat", "cat"],
        "confidence": [0.55, 0.7, 0.7], "score": [0.45, 0.3, 0.8],
        "reasons": ["ambiguous", "likely_mislabeled;ambiguous", "likely_error"],
        "votes": ["dog×1 bird×1", "cat×2 dog×1", "cat×2 dog×1"]})
    return flags, votes, annotators


def test_queue_has_one_row_per_item_by_priority_with_every_vote():
    flags, votes, annotators = hand_flags()
    queue = build_queue(flags, votes, annotators, content={"007": "img/007.png"},
                        predictions={"i2": "bird"})
    assert list(queue.columns) == [
        "queue", "priority", "item", "content", "votes", "consensus", "confidence",
        "model_prediction", "reasons", "corrected_label", "reviewer", "comment"]
    assert queue["item"].tolist() == ["007", "i2"]  # 007's vote flag scores 0.8
    assert queue["priority"].tolist() == [1, 2]
    first = queue.iloc[0]
    assert first["votes"] == "cat (ann7, 0.91); cat (ann3, 0.80); dog (ann2, 0.64)"
    assert first["reasons"] == "likely_error (ann2 voted dog); likely_mislabeled; ambiguous"
    assert first["content"] == "img/007.png" and first["model_prediction"] == ""
    assert queue.iloc[1]["model_prediction"] == "bird"
    assert (queue[["corrected_label", "reviewer", "comment"]] == "").all().all()
    assert queue["queue"].nunique() == 1 and queue["queue"].iloc[0].startswith("q")
    again = build_queue(flags, votes, annotators, content={"007": "img/007.png"},
                        predictions={"i2": "bird"})
    assert again["queue"].iloc[0] == queue["queue"].iloc[0]  # the id is the content's


TRICKY = ["=1+2", "+x", "-3", "@a", "\tx", "\rx", "'=", "''=x", "'plain", "007", "x=1"]


@pytest.mark.parametrize("suffix", ["csv", "tsv", "jsonl"])
def test_formula_escaping_round_trips_exactly(tmp_path, suffix):
    frame = pd.DataFrame({"item": TRICKY, "corrected_label": TRICKY[::-1],
                          "priority": np.arange(len(TRICKY))})
    path = tmp_path / f"queue.{suffix}"
    write_sheet(frame, path)
    back, digest, first_line = read_filled(path)
    assert back["item"].tolist() == TRICKY
    assert back["corrected_label"].tolist() == TRICKY[::-1]
    assert len(digest) == 64 and first_line == (1 if suffix == "jsonl" else 2)
    if suffix != "jsonl":  # no cell a spreadsheet opens may start like a formula
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t" if suffix == "tsv" else ","))
        assert all(not c or c[0] not in FORMULA_STARTS for row in rows for c in row)
        assert rows[1][0] == "'=1+2" and rows[7][0] == "''=" and rows[10][0] == "007"


def test_escaping_is_undone_exactly_and_only_once():
    frame = pd.DataFrame({"a": TRICKY})
    escaped = escape_formulas(frame)
    assert escaped["a"].tolist()[:3] == ["'=1+2", "'+x", "'-3"]
    assert escaped["a"].tolist()[6:10] == ["''=", "'''=x", "'plain", "007"]
    assert unescape_formulas(escaped)["a"].tolist() == TRICKY


def test_tricky_ids_and_labels_go_through_the_log_exactly(tmp_path):
    items = ["=1+2", "+x", "-3", "@a", "\tx", "'=", "007"]
    queue = plain_queue(items, ["-3"] * len(items))
    with ReviewLog(tmp_path / "review.db") as log:
        log.register_queue(queue, ["-3", "=cat", "'=dog"], "votes.csv")
        path = filled(queue, {"=1+2": "=cat", "\tx": "'=dog", "007": "-3"}, tmp_path / "q.csv")
        result = log.apply_file(path, reviewer="alice")
        assert (result.recorded, result.unchanged, result.skipped) == (2, 1, 4)
        assert log.accepted_labels() == {"=1+2": "=cat", "\tx": "'=dog"}


# ------------------------------------------------------------------ applying a file
def test_apply_records_changes_skips_empty_rows_and_counts_unchanged(small, tmp_path):
    log, queue = small
    path = filled(queue, {"007": "dog", "i2": "dog", "i3": "bird"}, tmp_path / "queue.csv",
                  reviewer={"i3": "bob"}, comment={"007": "clearly a dog"})
    result = log.apply_file(path, reviewer="alice")
    assert (result.recorded, result.unchanged, result.skipped, result.n_rows) == (2, 1, 1, 4)
    assert result.summary() == ("queue.csv: 2 corrections recorded; 1 already the current "
                                "label; 1 row left empty").replace("queue.csv", str(path))
    history = log.history()
    assert history[["item", "reviewer", "old_label", "new_label", "file_line", "status"]
                   ].values.tolist() == [["007", "alice", "cat", "dog", 2, "current"],
                                         ["i3", "bob", "cat", "bird", 4, "current"]]
    assert history["comment"][0] == "clearly a dog" and pd.isna(history["comment"][1])
    assert json.loads(history["taxonomy"].iloc[0]) == CLASSES
    assert log.accepted_labels() == {"007": "dog", "i3": "bird"}
    # a later correction replaces an earlier one; its old label is the accepted one
    again = filled(queue, {"007": "bird"}, tmp_path / "second.csv")
    log.apply_file(again, reviewer="carol")
    assert log.history("007")[["old_label", "new_label", "status"]].values.tolist() == [
        ["cat", "dog", "superseded"], ["dog", "bird", "current"]]
    assert log.accepted_labels()["007"] == "bird"


def test_a_failing_file_changes_nothing_and_names_the_line_and_value(small, tmp_path):
    log, queue = small
    log.apply_file(filled(queue, {"i2": "cat"}, tmp_path / "first.csv"), reviewer="alice")
    before, labels = dump(log.path), log.accepted_labels()
    bad = filled(queue, {"007": "dog", "i2": "bird", "i3": "dog", "i4": "dgo"},
                 tmp_path / "queue.csv")
    with pytest.raises(InputError) as error:
        log.apply_file(bad, reviewer="alice")
    assert str(error.value) == (f"{bad}: line 5: label 'dgo' is not one of bird, cat, dog; "
                                f"nothing in the file was applied: fix it and apply it again")
    assert dump(log.path) == before and log.accepted_labels() == labels


def test_every_problem_is_found_before_anything_is_written(small, tmp_path):
    log, queue = small
    frame = queue.copy()
    frame["corrected_label"] = ["dog", "cat", "cat", "dog"]
    frame.loc[0, "item"] = "nope"
    frame.loc[1, "queue"] = "qmissing"
    frame.loc[3, "item"] = "i3"  # i3 twice
    path = tmp_path / "queue.csv"
    write_queue(frame, path)
    with pytest.raises(InputError) as error:
        log.apply_file(path, reviewer="alice")
    message = str(error.value)
    assert f"{path}: line 2: item 'nope' is not in queue '{queue['queue'][0]}'" in message
    assert f"line 3: queue 'qmissing' is not in {log.path}" in message
    assert "line 5: item 'i3' is corrected again (first on line 4)" in message
    assert message.endswith("fix them and apply it again")
    assert log.history().empty


def test_a_lead_sample_applied_as_a_reviewers_queue_says_which_role(small, tmp_path):
    log, _ = small
    path = tmp_path / "lead.csv"
    write_sheet(pd.DataFrame({"correction_id": ["1"], "verdict": ["accept"]}), path)
    with pytest.raises(InputError, match='no queue, item, corrected_label column.*'
                                         'apply it with role="lead"'):
        log.apply_file(path, reviewer="alice")
    with pytest.raises(InputError, match="role 'judge' is not one of reviewer, lead"):
        log.apply_file(path, reviewer="alice", role="judge")
    with pytest.raises(InputError, match=r"say who applies it \(reviewer=\.\.\.\)"):
        log.apply_file(path, reviewer="  ")


def test_applying_the_same_file_twice_changes_nothing(small, tmp_path):
    log, queue = small
    path = filled(queue, {"007": "dog", "i2": "bird"}, tmp_path / "queue.csv")
    first = log.apply_file(path, reviewer="alice")
    before = dump(log.path)
    second = log.apply_file(path, reviewer="bob")
    assert second.already_applied and not first.already_applied
    assert (second.recorded, second.unchanged, second.skipped) == (2, 0, 2)
    assert second.applied_by == "alice" and second.applied_at == first.applied_at
    assert "already applied" in second.summary() and "nothing changed" in second.summary()
    assert dump(log.path) == before
    # the same bytes under another name are the same file
    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes())
    assert log.apply_file(copy, reviewer="alice").already_applied
    # beyond the lookup, the database itself refuses a file's line twice
    with sqlite3.connect(log.path) as conn:
        row = conn.execute("SELECT * FROM corrections LIMIT 1").fetchone()
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(f"INSERT INTO corrections VALUES (NULL{', ?' * len(row[1:])})",
                         row[1:])


def test_the_log_is_append_only(small, tmp_path):
    log, queue = small
    log.apply_file(filled(queue, {"007": "dog"}, tmp_path / "queue.csv"), reviewer="alice")
    statements = [
        "UPDATE corrections SET new_label = 'bird'",
        "DELETE FROM corrections",
        "UPDATE queues SET taxonomy = '[]'",
        "DELETE FROM queue_items",
        "DELETE FROM applications",
        "INSERT OR REPLACE INTO corrections SELECT * FROM corrections",
        "INSERT OR REPLACE INTO queues SELECT * FROM queues",
    ]
    with sqlite3.connect(log.path) as conn:
        for statement in statements:
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT new_label FROM corrections").fetchall() == [("dog",)]


def test_schema_version_and_wal_mode(small):
    log, _ = small
    with sqlite3.connect(log.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_missing_log_or_another_database_is_refused(tmp_path):
    with pytest.raises(InputError, match="no review log here"):
        ReviewLog.open_existing(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(InputError, match="not a review log .*tables t"):
        ReviewLog(other)
    text = tmp_path / "notes.db"
    text.write_text("hello, not a database " * 100)
    with pytest.raises(InputError, match="not a review log"):
        ReviewLog(text)


# ------------------------------------------------------------------ leads
def corrected_log(tmp_path: Path) -> tuple[ReviewLog, pd.DataFrame]:
    """alice corrects 5 items, bob 2; returns the log and the queue."""
    items = [f"i{k}" for k in range(8)]
    queue = plain_queue(items, ["cat"] * 8)
    log = ReviewLog(tmp_path / "review.db")
    log.register_queue(queue, CLASSES, "votes.csv")
    labels = {f"i{k}": "dog" for k in range(5)}
    log.apply_file(filled(queue, labels, tmp_path / "alice.csv"), reviewer="alice")
    log.apply_file(filled(queue, {"i5": "bird", "i6": "dog"}, tmp_path / "bob.csv"),
                   reviewer="bob")
    return log, queue


def test_sample_is_stratified_by_reviewer_and_deterministic(tmp_path):
    log, _ = corrected_log(tmp_path)
    chosen = log.sample(0.1)
    assert chosen["reviewer"].value_counts().to_dict() == {"alice": 1, "bob": 1}
    assert chosen.equals(log.sample(0.1))
    assert log.sample(0.5)["reviewer"].value_counts().to_dict() == {"alice": 3, "bob": 1}
    assert log.sample(0.1, per_reviewer=4)["reviewer"].value_counts().to_dict() == {
        "alice": 4, "bob": 2}
    picks = {tuple(log.sample(0.4, seed=s)["correction_id"]) for s in range(10)}
    assert len(picks) > 1  # the seed matters
    with pytest.raises(InputError, match=r"fraction must be in \(0, 1\], not 0"):
        log.sample(0)
    log.close()


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval written out from Wilson (1927), independently of statsmodels."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_lead_flow_accept_and_overturn(tmp_path):
    log, _ = corrected_log(tmp_path)
    chosen = log.sample(0.1, per_reviewer=2)
    alice = chosen[chosen["reviewer"] == "alice"]
    lead = lead_sample_frame(alice)
    assert list(lead.columns) == ["correction_id", "item", "old_label", "new_label",
                                  "reviewer", "comment", "verdict", "corrected_label",
                                  "lead_comment"]
    lead["verdict"] = ["accept", "overturn"]
    lead.loc[1, "corrected_label"] = "bird"
    lead.loc[1, "lead_comment"] = "a bird on a cat"
    path = tmp_path / "lead.csv"
    write_sheet(lead, path)
    result = log.apply_file(path, reviewer="lena", role="lead")
    assert (result.recorded, result.accepted, result.overturned) == (2, 1, 1)

    report = log.audit()
    row = report.reviewers.set_index("reviewer").loc["alice"]
    assert (row["corrections"], row["verified"], row["overturned"]) == (5, 2, 1)
    assert row["overturn_rate"] == 0.5
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(1, 2), abs=1e-12)
    assert report.n_verified == 2 and report.n_overturned == 1 and report.n_lead_corrections == 1
    assert report.matrix.values.tolist() == [["alice", "cat", "dog", 5],
                                             ["bob", "cat", "bird", 1], ["bob", "cat", "dog", 1]]
    assert "alice: cat → dog 5" in report.summary()
    assert report.to_dict()["reviewers"][0]["overturn_rate"] == 0.5

    overturned = lead.loc[1, "item"]
    labels = log.accepted_labels()
    assert labels[overturned] == "bird" and labels[lead.loc[0, "item"]] == "dog"
    history = log.history(overturned)
    assert history[["role", "reviewer", "old_label", "new_label", "status", "verdict"]
                   ].fillna("").values.tolist() == [
        ["reviewer", "alice", "cat", "dog", "overturned", "overturn"],
        ["lead", "lena", "dog", "bird", "current", ""]]
    # judged corrections are not sampled again, and a verdict is final
    assert not set(lead["correction_id"]) & set(log.sample(1.0)["correction_id"])
    again = tmp_path / "again.csv"
    write_sheet(lead.assign(lead_comment="second thoughts"), again)
    with pytest.raises(InputError, match=r"line 2: correction \d+ already has a verdict "
                                         r"\(accept by lena"):
        log.apply_file(again, reviewer="lena", role="lead")
    log.close()


def test_lead_rows_are_checked_like_reviewer_rows(tmp_path):
    log, _ = corrected_log(tmp_path)
    lead = lead_sample_frame(log.sample(1.0)).head(5)
    lead["verdict"] = ["", "overturn", "maybe", "overturn", "accept"]
    lead["corrected_label"] = ["dog", "", "", "dgo", "bird"]
    path = tmp_path / "lead.csv"
    write_sheet(lead, path)
    before = dump(log.path)
    with pytest.raises(InputError) as error:
        log.apply_file(path, reviewer="lena", role="lead")
    message = str(error.value)
    for expected in ("line 2: verdict '' is not accept or overturn",
                     "line 3: verdict overturn needs the right label in corrected_label",
                     "line 4: verdict 'maybe' is not accept or overturn",
                     "line 5: label 'dgo' is not one of bird, cat, dog",
                     "line 6: label 'bird' given with verdict accept"):
        assert expected in message
    assert dump(log.path) == before
    log.close()


# ------------------------------------------------------------------ real processes
CONCURRENT_CHILD = """
import os, sys, time
import consensus.review  # imported before "ready", so the two applies truly overlap
from consensus.cli.review import review
db, path, go = sys.argv[1:4]
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.002)
review(["apply", path, "--reviewer", os.path.basename(path), "--db", db])
"""

KILLED_CHILD = """
import sys, time
from consensus.review import ReviewLog

def pause(done, total):
    print(f"inside {done} {total}", flush=True)
    time.sleep(60)

with ReviewLog.open_existing(sys.argv[1]) as log:
    log.apply_file(sys.argv[2], reviewer="kim", progress=pause)
"""


def big_queue(tmp_path: Path, n: int) -> tuple[ReviewLog, pd.DataFrame]:
    queue = plain_queue([f"item{k:05d}" for k in range(n)], ["cat"] * n)
    log = ReviewLog(tmp_path / "review.db")
    log.register_queue(queue, CLASSES, "votes.csv")
    return log, queue


def child(code: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_processes_applying_at_once_lose_nothing(tmp_path):
    log, queue = big_queue(tmp_path, 4000)
    items = queue["item"].tolist()
    first = filled(queue, dict.fromkeys(items[:2000], "dog"), tmp_path / "first.csv")
    second = filled(queue, dict.fromkeys(items[2000:], "bird"), tmp_path / "second.csv")
    go = tmp_path / "go"
    children = [child(CONCURRENT_CHILD, log.path, path, go) for path in (first, second)]
    for proc in children:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    go.touch()  # both are past their imports: the applies overlap
    for proc in children:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "2,000 corrections recorded" in out
    history = log.history()
    assert len(history) == 4000
    assert history["source"].value_counts().to_dict() == {str(first): 2000, str(second): 2000}
    labels = log.accepted_labels()
    assert all(labels[i] == "dog" for i in items[:2000])
    assert all(labels[i] == "bird" for i in items[2000:])
    log.close()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_process_killed_mid_apply_leaves_the_log_whole(tmp_path):
    log, queue = big_queue(tmp_path, 5000)
    warm = filled(queue, {"item00000": "dog"}, tmp_path / "warm.csv")
    log.apply_file(warm, reviewer="alice")
    before, labels = dump(log.path), log.accepted_labels()
    big = filled(queue, dict.fromkeys(queue["item"], "dog"), tmp_path / "big.csv")
    proc = child(KILLED_CHILD, log.path, big)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "inside 500 4999\n", proc.stderr.read() if proc.stderr else ""
        # the child holds the write transaction with 500 rows written; readers see none
        assert log.history().shape[0] == 1
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(log.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert dump(log.path) == before and log.accepted_labels() == labels
    # the lock died with the process: the same file now applies whole
    started = time.monotonic()
    result = log.apply_file(big, reviewer="kim")
    assert time.monotonic() - started < 5
    assert result.recorded == 4999 and result.unchanged == 1
    assert len(log.history()) == 5000
    log.close()
