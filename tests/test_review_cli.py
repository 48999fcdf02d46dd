"""``consensus review`` end to end through click: apply, sample, lead verdicts, audit, log,
export-log; bad input is one line on stderr and exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from consensus.cli.review import review
from consensus.review import ReviewLog, queue_fingerprint, read_filled, write_queue

CLASSES = ["bird", "cat", "dog"]


def invoke(*args: object) -> click.testing.Result:
    return CliRunner().invoke(review, [str(a) for a in args])


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A folder with review.db holding one queue of 6 items, as `review export` leaves it."""
    items = ["007", "i2", "i3", "i4", "i5", "=1+2"]
    queue = pd.DataFrame({"priority": np.arange(1, 7), "item": items, "votes": "",
                          "consensus": ["cat", "dog", "cat", "cat", "bird", "cat"],
                          "confidence": 0.6, "reasons": "ambiguous", "corrected_label": "",
                          "reviewer": "", "comment": ""})
    queue.insert(0, "queue", queue_fingerprint(queue))
    with ReviewLog(tmp_path / "review.db") as log:
        log.register_queue(queue, CLASSES, "votes.csv")
    return tmp_path, queue


def fill(queue: pd.DataFrame, labels: dict[str, str], path: Path) -> Path:
    frame = queue.copy()
    frame["corrected_label"] = frame["item"].map(labels).fillna("")
    write_queue(frame, path)
    return path


def test_apply_audit_log_and_export_log(project):
    folder, queue = project
    path = fill(queue, {"007": "dog", "i2": "dog", "=1+2": "bird"}, folder / "alice.csv")
    result = invoke("apply", path, "--reviewer", "alice")  # review.db beside the file
    assert result.exit_code == 0, result.output
    assert result.output == (f"{path}: 2 corrections recorded; 1 already the current label; "
                             f"3 rows left empty\n")
    again = invoke("apply", path, "--reviewer", "alice", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["already_applied"] is True

    audit = invoke("audit", "--db", folder / "review.db")
    assert audit.exit_code == 0
    assert audit.output.splitlines()[0] == (
        "1 queue, 2 corrections by 1 reviewer; 0 verified by a lead, 0 overturned")
    assert "  alice: cat → bird 1, cat → dog 1" in audit.output

    shown = invoke("log", "--item", "=1+2", "--db", folder / "review.db")
    assert shown.exit_code == 0
    lines = shown.output.splitlines()
    assert len(lines) == 2 and lines[0].split()[:3] == ["correction_id", "applied_at", "item"]
    assert lines[1].split()[2:8] == ["=1+2", "alice", "reviewer", "cat", "bird", "current"]
    as_json = json.loads(invoke("log", "--db", folder / "review.db", "--json").stdout)
    assert [r["item"] for r in as_json] == ["007", "=1+2"]

    out = folder / "log.csv"
    exported = invoke("export-log", "--db", folder / "review.db", "-o", out)
    assert exported.exit_code == 0 and exported.output == f"2 corrections written to {out}\n"
    raw = out.read_text()
    assert "\n1,'=1+2" not in raw and "'=1+2" in raw  # escaped for spreadsheets
    table, _, _ = read_filled(out)
    assert table["item"].tolist() == ["007", "=1+2"]
    assert table["file_line"].tolist() == ["2", "7"]


def test_sample_lead_verdicts_and_audit(project):
    folder, queue = project
    db = folder / "review.db"
    invoke("apply", fill(queue, {"007": "dog", "i2": "bird", "i3": "dog"}, folder / "a.csv"),
           "--reviewer", "alice")
    lead = folder / "lead.csv"
    result = invoke("sample", "--fraction", "0.5", "--per-reviewer", "2", "--db", db, "-o", lead)
    assert result.exit_code == 0, result.output
    assert result.output == f"2 corrections written to {lead} (alice 2)\n"
    sample = pd.read_csv(lead, dtype=str, keep_default_na=False)
    assert list(sample.columns) == ["correction_id", "item", "old_label", "new_label",
                                    "reviewer", "comment", "verdict", "corrected_label",
                                    "lead_comment"]
    sample["verdict"] = ["accept", "overturn"]
    sample.loc[1, "corrected_label"] = "cat"
    sample.to_csv(lead, index=False)
    applied = invoke("apply", lead, "--reviewer", "lena", "--role", "lead")
    assert applied.exit_code == 0, applied.output
    assert applied.output == (f"{lead}: 2 verdicts recorded (1 accepted, 1 overturned); "
                              f"0 rows left empty\n")
    audit = json.loads(invoke("audit", "--db", db, "--json").stdout)
    alice = audit["reviewers"][0]
    assert (alice["corrections"], alice["verified"], alice["overturned"]) == (3, 2, 1)
    assert alice["overturn_rate"] == 0.5 and 0 < alice["ci_low"] < 0.5 < alice["ci_high"] < 1
    with ReviewLog.open_existing(db) as log:
        assert log.accepted_labels()[sample.loc[1, "item"]] == "cat"


def test_bad_input_is_one_line_and_exit_2(project):
    folder, queue = project
    bad = fill(queue, {"007": "dog", "i2": "dgo"}, folder / "queue.csv")
    result = invoke("apply", bad, "--reviewer", "alice")
    assert result.exit_code == 2
    assert result.stderr == (f"error: {bad}: line 3: label 'dgo' is not one of bird, cat, dog; "
                             f"nothing in the file was applied: fix it and apply it again\n")
    lead = folder / "lead.csv"
    pd.DataFrame({"correction_id": ["1"], "verdict": ["accept"]}).to_csv(lead, index=False)
    wrong_role = invoke("apply", lead, "--reviewer", "alice")
    assert wrong_role.exit_code == 2
    assert wrong_role.stderr.endswith("This is a lead's sample: apply it with --role lead\n")
    for args in (("audit", "--db", folder / "missing.db"),
                 ("apply", folder / "absent.csv", "--reviewer", "x"),
                 ("sample", "--fraction", "0.1", "--db", folder / "missing.db", "-o",
                  folder / "s.csv")):
        result = invoke(*args)
        assert result.exit_code == 2, args
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, args
        assert "Traceback" not in result.output
    assert not (folder / "missing.db").exists()


def test_every_command_has_an_example_and_every_option_help():
    assert "Example:" in (review.help or "")
    for name, command in review.commands.items():
        assert "Example:" in (command.help or ""), name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"review {name} {param.opts[0]} has no help text"
    assert set(review.commands) == {"export", "apply", "sample", "audit", "log", "export-log"}
