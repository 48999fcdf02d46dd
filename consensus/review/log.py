"""The review log: an append-only SQLite record of queues, corrections and leads' verdicts.

Why SQLite: several reviewers apply files at the same time, a crash must never
leave half a file applied, and an audit trail must show who changed which label,
when, from which file and line. One ``BEGIN IMMEDIATE`` transaction per write gives
all three; triggers make every table append-only (see :mod:`.schema`).

Which label counts: per item, the latest correction that no lead overturned
(an overturn records the lead's label as a new, later correction, so the lead's
label wins). That is what :meth:`ReviewLog.accepted_labels` returns for
``aggregate(reviews=...)`` to clamp like gold.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..wording import option
from .plan import NewCorrection, Plan, lead_plan, reviewer_plan
from .queue import cell, queue_fingerprint, read_filled
from .results import ApplyResult, AuditReport
from .schema import connect, immediate, snapshot, utc_now

#: Roles a file is applied with.
ROLES = ("reviewer", "lead")
#: Rows inserted between two calls of an ``apply`` progress callback.
BATCH = 500

#: Called as ``progress(rows_written, rows_total)`` inside the write transaction.
ApplyProgress = Callable[[int, int], None]

_HISTORY = """
SELECT c.correction_id, c.applied_at, c.queue_id AS queue, c.item, c.role, c.reviewer,
       c.old_label, c.new_label, c.comment, a.file_name AS source, c.file_sha256, c.file_line,
       v.verdict, v.lead, v.lead_label, v.comment AS lead_comment, v.decided_at,
       CASE WHEN v.verdict = 'overturn' THEN 'overturned'
            WHEN cur.correction_id IS NULL THEN 'superseded' ELSE 'current' END AS status,
       c.taxonomy, c.taxonomy_version
FROM corrections AS c
JOIN applications AS a ON a.file_sha256 = c.file_sha256
LEFT JOIN verdicts AS v ON v.correction_id = c.correction_id
LEFT JOIN current_labels AS cur ON cur.correction_id = c.correction_id
"""

_UNVERIFIED = """
SELECT c.correction_id, c.queue_id AS queue, c.item, c.old_label, c.new_label, c.reviewer,
       c.comment, c.applied_at
FROM corrections AS c
WHERE c.role = 'reviewer'
  AND NOT EXISTS (SELECT 1 FROM verdicts AS v WHERE v.correction_id = c.correction_id)
ORDER BY c.reviewer, c.correction_id
"""


def _version_text(version: str | None) -> str:
    """``taxonomy version 'v2'``, or ``no taxonomy version`` for None."""
    return "no taxonomy version" if version is None else f"taxonomy version {version!r}"


class ReviewLog:
    """An append-only review log in one SQLite file, safe to share between processes.

    Parameters
    ----------
    path : path-like
        The database file (``review.db`` beside the votes, by convention).
    create : bool
        Make the file when it does not exist; without it a missing log is an
        InputError, so a mistyped path is not silently a new, empty log.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        self._conn = connect(self.path, create=create)

    @classmethod
    def open_existing(cls, path: str | os.PathLike[str]) -> ReviewLog:
        """Open a log that must exist already (readers: a mistyped path is an error)."""
        return cls(path, create=False)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ReviewLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ReviewLog({str(self.path)!r})"

    # ------------------------------------------------------------------ writing
    def register_queue(self, queue_frame: pd.DataFrame, classes: Sequence[Any],
                       source: str | os.PathLike[str],
                       taxonomy_version: str | None = None) -> str:
        """Record an exported queue: its items, their consensus and the label set in force.

        Parameters
        ----------
        queue_frame : DataFrame
            From :func:`build_queue`: ``item, consensus`` and the ``queue`` id
            (computed from the content with :func:`queue_fingerprint` if absent).
        classes : sequence
            The labels a correction may use (``votes.classes``).
        source : path-like
            The votes the queue was built from, kept for the record.
        taxonomy_version : str, optional
            The name of the taxonomy version ``classes`` belong to (``"v2"`` of a
            taxonomy file); None when the project has no versioned taxonomy. Every
            correction made from the queue is recorded with it.

        Returns
        -------
        str
            The queue id. Registering the same queue again changes nothing.

        Raises
        ------
        InputError
            The queue is registered already with other items or another taxonomy
            version (a queue keeps the version it was exported under).
        """
        for name in ("item", "consensus"):
            if name not in queue_frame.columns:
                raise InputError(f"the queue has no {name} column; build it with build_queue")
        items = [str(i) for i in queue_frame["item"]]
        if not items:
            raise InputError("the queue has no items: there is nothing to register")
        repeated = pd.Index(items)[pd.Index(items).duplicated()]
        if len(repeated):
            raise InputError(f"the queue lists item {repeated[0]!r} twice; one row per item")
        taxonomy = [str(c) for c in classes]
        if len(taxonomy) < 2 or len(set(taxonomy)) < len(taxonomy):
            raise InputError(f"classes must be at least two distinct labels, not {taxonomy}")
        if taxonomy_version is not None and (
                not isinstance(taxonomy_version, str) or not taxonomy_version.strip()):
            raise InputError(f"taxonomy_version must be a version name (text) or None, not "
                             f"{taxonomy_version!r}")
        version = taxonomy_version.strip() if taxonomy_version is not None else None
        queue_id = self._queue_id(queue_frame)
        consensus = [cell(c) for c in queue_frame["consensus"]]
        with immediate(self._conn) as conn:
            known = {row[0] for row in conn.execute(
                "SELECT item FROM queue_items WHERE queue_id = ?", (queue_id,))}
            if known:
                if known != set(items):
                    raise InputError(f"{self.path}: queue {queue_id!r} is already registered "
                                     f"with other items; give the new queue its own id")
                (registered,) = conn.execute(
                    "SELECT taxonomy_version FROM queues WHERE queue_id = ?",
                    (queue_id,)).fetchone()
                if registered != version:
                    raise InputError(
                        f"{self.path}: queue {queue_id!r} is already registered under "
                        f"{_version_text(registered)}, not {_version_text(version)}; a queue "
                        f"keeps the taxonomy version it was exported under: give the new "
                        f"queue its own id")
                return queue_id
            conn.execute("INSERT INTO queues (queue_id, created_at, source, taxonomy, "
                         "taxonomy_version) VALUES (?, ?, ?, ?, ?)",
                         (queue_id, utc_now(), str(source), json.dumps(taxonomy), version))
            conn.executemany("INSERT INTO queue_items VALUES (?, ?, ?)",
                             [(queue_id, i, c) for i, c in zip(items, consensus, strict=True)])
        return queue_id

    @staticmethod
    def _queue_id(queue_frame: pd.DataFrame) -> str:
        if "queue" not in queue_frame.columns:
            return queue_fingerprint(queue_frame)
        ids = {cell(q) for q in queue_frame["queue"]}
        if len(ids) != 1 or None in ids:
            raise InputError(f"the queue column must hold one queue id, not "
                             f"{sorted(map(str, ids))}")
        return str(ids.pop())

    def apply(self, frame: pd.DataFrame, *, reviewer: str, role: str = "reviewer",
              source_sha256: str, source_name: str, first_line: int | None,
              progress: ApplyProgress | None = None) -> ApplyResult:
        """Apply a filled-in file: all of it, or (on any problem) none of it.

        Parameters
        ----------
        frame : DataFrame
            The file's rows as text (:func:`read_filled`). For ``role="reviewer"``
            a queue with ``queue, item, corrected_label`` (and ``reviewer,
            comment``); for ``role="lead"`` a sample with ``correction_id,
            verdict`` (and ``corrected_label`` to overturn, ``lead_comment``).
        reviewer : str
            Who applies it: the reviewer (a filled ``reviewer`` cell names someone
            else for its row) or, with ``role="lead"``, the lead.
        role : {"reviewer", "lead"}
        source_sha256, source_name, first_line
            The file's digest (a file is applied once), its name and the line of
            its first row, recorded with every row and used in messages.
        progress : callable, optional
            ``progress(rows_written, rows_total)`` after each batch of inserts,
            inside the transaction.

        Returns
        -------
        ApplyResult
            The counts; ``already_applied`` when these bytes were applied before
            (then nothing changes).

        Raises
        ------
        InputError
            Any row with an unknown queue, item, label or correction, a missing
            verdict, or missing columns: the first problems with their lines and
            values. Nothing of the file is written then.
        """
        if role not in ROLES:
            raise InputError(f"role {role!r} is not one of reviewer, lead; use "
                             f"{option('role', 'reviewer')} or {option('role', 'lead')}")
        applied_by = (reviewer or "").strip()
        if not applied_by:
            raise InputError(f"{source_name}: say who applies it ({option('reviewer')})")
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"{source_name}: expected a table, got {type(frame).__name__}")
        try:
            with immediate(self._conn) as conn:
                earlier = self._applied(source_sha256)
                if earlier is not None:
                    return earlier
                make_plan = lead_plan if role == "lead" else reviewer_plan
                plan = make_plan(conn, frame, applied_by=applied_by, source=source_name,
                                 first_line=first_line, log_name=str(self.path))
                now = utc_now()
                recorded = len(plan.verdicts) if role == "lead" else len(plan.corrections)
                conn.execute("INSERT INTO applications VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (source_sha256, source_name, now, applied_by, role, plan.n_rows,
                              recorded, plan.unchanged, plan.skipped))
                self._write(plan, role, applied_by, source_sha256, now, progress)
        except sqlite3.IntegrityError:
            # the UNIQUE constraints are the last guard of idempotence
            earlier = self._applied(source_sha256)
            if earlier is None:
                raise
            return earlier
        said = [v.verdict for v in plan.verdicts]
        return ApplyResult(source_name, source_sha256, role, applied_by, plan.n_rows, recorded,
                           plan.unchanged, plan.skipped, said.count("accept"),
                           said.count("overturn"), False, now)

    def apply_file(self, path: str | os.PathLike[str], *, reviewer: str,
                   role: str = "reviewer", progress: ApplyProgress | None = None) -> ApplyResult:
        """Read a filled-in file (:func:`read_filled`) and :meth:`apply` it."""
        frame, digest, first_line = read_filled(path)
        return self.apply(frame, reviewer=reviewer, role=role, source_sha256=digest,
                          source_name=str(path), first_line=first_line, progress=progress)

    def _write(self, plan: Plan, role: str, applied_by: str, digest: str, now: str,
               progress: ApplyProgress | None) -> None:
        """Insert a checked plan, in batches, inside the caller's transaction."""
        conn = self._conn
        # columns by name: a migrated log has them in the same order, but say so anyway
        insert = ("INSERT INTO corrections (applied_at, queue_id, item, reviewer, role, "
                  "old_label, new_label, comment, file_sha256, file_line, taxonomy, "
                  "taxonomy_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")

        def values(c: NewCorrection, who: str) -> tuple[Any, ...]:
            return (now, c.queue_id, c.item, c.reviewer, who, c.old_label, c.new_label,
                    c.comment, digest, c.line, c.taxonomy, c.taxonomy_version)

        if role == "reviewer":
            rows = [values(c, "reviewer") for c in plan.corrections]
            for start in range(0, len(rows), BATCH):
                conn.executemany(insert, rows[start:start + BATCH])
                if progress is not None:
                    progress(min(start + BATCH, len(rows)), len(rows))
            return
        for done, v in enumerate(plan.verdicts, start=1):
            replacement = None
            if v.replacement is not None:
                replacement = conn.execute(insert, values(v.replacement, "lead")).lastrowid
            conn.execute("INSERT INTO verdicts VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (v.correction_id, applied_by, v.verdict, v.lead_label, replacement,
                          v.comment, now, digest, v.line))
            if progress is not None and (done % BATCH == 0 or done == len(plan.verdicts)):
                progress(done, len(plan.verdicts))

    def _applied(self, digest: str) -> ApplyResult | None:
        """What a file did when it was applied, or None when it never was."""
        row = self._conn.execute(
            "SELECT file_name, applied_at, applied_by, role, n_rows, n_recorded, n_unchanged, "
            "n_skipped FROM applications WHERE file_sha256 = ?", (digest,)).fetchone()
        if row is None:
            return None
        name, when, by, role, n_rows, recorded, unchanged, skipped = row
        counts = dict(self._conn.execute(
            "SELECT verdict, COUNT(*) FROM verdicts WHERE file_sha256 = ? GROUP BY verdict",
            (digest,)))
        return ApplyResult(name, digest, role, by, n_rows, recorded, unchanged, skipped,
                           counts.get("accept", 0), counts.get("overturn", 0), True, when)

    # ------------------------------------------------------------------ reading
    def accepted_labels(self) -> dict[str, str]:
        """Per item, its latest correction not overturned (a lead's label replaces an
        overturned one): the labels ``aggregate(reviews=...)`` clamps like gold."""
        return dict(self._conn.execute("SELECT item, label FROM current_labels ORDER BY item"))

    def history(self, item: str | None = None) -> pd.DataFrame:
        """Every correction in order, with its file, line and any lead's verdict.

        ``status`` is ``current`` (the item's accepted label now), ``superseded``
        (a later correction replaced it) or ``overturned`` (a lead rejected it).
        ``taxonomy`` (the label set, JSON) and ``taxonomy_version`` (its name, None
        without a versioned taxonomy) are those in force in the correction's queue.
        ``item`` keeps one item's corrections.
        """
        query = _HISTORY + ("WHERE c.item = ? " if item is not None else "")
        frame = pd.read_sql_query(query + "ORDER BY c.correction_id", self._conn,
                                  params=(str(item),) if item is not None else None)
        frame["file_line"] = frame["file_line"].astype(np.int64)
        return frame

    def sample(self, fraction: float, per_reviewer: int | None = None,
               seed: int = 0) -> pd.DataFrame:
        """A stratified random sample of reviewers' corrections no lead has judged yet.

        Parameters
        ----------
        fraction : float in (0, 1]
            Share of each reviewer's unverified corrections, rounded up, so every
            reviewer with any is checked at least once.
        per_reviewer : int, optional
            At least this many per reviewer (or all they have), so a reviewer with
            few corrections is still checked enough to estimate an overturn rate.
        seed : int
            Seeds a numpy Generator: the same log and seed give the same sample.

        Returns
        -------
        DataFrame
            ``correction_id, queue, item, old_label, new_label, reviewer, comment,
            applied_at``, by ``correction_id`` (:func:`lead_sample_frame` makes the
            lead's file of it).
        """
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
                0 < fraction <= 1):
            raise InputError(f"fraction must be in (0, 1], not {fraction!r} "
                             f"({option('fraction')})")
        if per_reviewer is not None and (isinstance(per_reviewer, bool) or per_reviewer < 1):
            raise InputError(f"per_reviewer must be at least 1, not {per_reviewer!r} "
                             f"({option('per_reviewer')})")
        pool = pd.read_sql_query(_UNVERIFIED, self._conn)
        rng = np.random.default_rng(seed)
        chosen: list[np.ndarray] = []
        for _, rows in pool.groupby("reviewer", sort=True):
            n = len(rows)
            wanted = max(math.ceil(fraction * n - 1e-9), per_reviewer or 1)
            picks = rng.choice(n, size=min(n, wanted), replace=False)
            chosen.append(rows.index.to_numpy()[np.sort(picks)])
        keep = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
        return pool.loc[keep].sort_values("correction_id").reset_index(drop=True)

    def audit(self, confidence: float = 0.95) -> AuditReport:
        """Per reviewer: corrections, how many a lead verified and overturned, the
        overturn rate with a Wilson interval, and their old -> new correction counts."""
        from ..quality.scoring import wilson_interval

        with snapshot(self._conn) as conn:
            frame = pd.read_sql_query(
                "SELECT c.reviewer, c.old_label, c.new_label, v.verdict FROM corrections AS c "
                "LEFT JOIN verdicts AS v ON v.correction_id = c.correction_id "
                "WHERE c.role = 'reviewer' ORDER BY c.correction_id", conn)
            n_queues = int(conn.execute("SELECT COUNT(*) FROM queues").fetchone()[0])
            n_lead = int(conn.execute(
                "SELECT COUNT(*) FROM corrections WHERE role = 'lead'").fetchone()[0])
        frame["old_label"] = frame["old_label"].fillna("").astype(object)
        frame["verified"] = frame["verdict"].notna()
        frame["overturned"] = frame["verdict"] == "overturn"
        groups = frame.groupby("reviewer", sort=True)
        table = pd.DataFrame({
            "corrections": groups.size(),
            "verified": groups["verified"].sum(),
            "overturned": groups["overturned"].sum(),
        }).astype(np.int64)
        table.index.name = "reviewer"
        table = table.reset_index()
        verified = table["verified"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            table["overturn_rate"] = np.where(
                verified > 0, table["overturned"] / np.maximum(verified, 1), np.nan)
        table["ci_low"], table["ci_high"] = wilson_interval(
            table["overturned"].to_numpy(), verified, confidence)
        matrix = (frame.groupby(["reviewer", "old_label", "new_label"], sort=True).size()
                  .rename("count").reset_index()
                  .sort_values(["reviewer", "count"], ascending=[True, False], kind="stable")
                  .reset_index(drop=True))
        into = matrix.groupby(["reviewer", "new_label"]).agg(n=("count", "sum")).reset_index()
        into = into.sort_values(["reviewer", "n", "new_label"], ascending=[True, False, True])
        top = into.drop_duplicates("reviewer").set_index("reviewer")
        table["most_new"] = [
            f"{top.loc[r, 'new_label']} {int(top.loc[r, 'n'])}/{int(n)}"
            for r, n in zip(table["reviewer"], table["corrections"], strict=True)]
        return AuditReport(table, matrix, n_queues, len(frame), int(frame["verified"].sum()),
                           int(frame["overturned"].sum()), n_lead, confidence)
