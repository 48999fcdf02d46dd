"""Annotation tools through the command line: detection, reading, sending back, round trips.

The per-tool readers and writers have their own tests (test_tools_<tool>.py);
here every command that reads votes takes the exports as they are, and the
whole review loop runs through Label Studio's and Argilla's layouts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from consensus.cli import cli
from consensus.cli.options import DESTINATIONS, SOURCE_FORMATS
from consensus.data.readers import read_votes
from consensus.data.tools.detect import FORMATS, detect_format
from consensus.data.tools.send import DESTINATIONS as SEND_DESTINATIONS
from consensus.exceptions import InputError
from consensus.simulate import simulate

FIXTURES = Path(__file__).parent / "fixtures" / "tools"


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_the_cli_offers_exactly_the_librarys_shapes_and_destinations():
    assert SOURCE_FORMATS == FORMATS
    assert DESTINATIONS == SEND_DESTINATIONS


@pytest.mark.parametrize(("path", "shape"), [
    ("label_studio/export.json", "label-studio"),
    ("label_studio/export_min.json", "label-studio"),
    ("label_studio/export.csv", "label-studio"),
    ("argilla/flat_records.json", "argilla"),
    ("argilla/flat_two_questions.jsonl", "argilla"),
    ("argilla/legacy_feedback.jsonl", "argilla"),
    ("argilla/to_disk", "argilla"),
    ("argilla/to_disk/records.json", "argilla"),
    ("mturk/batch_classifier.csv", "mturk"),
    ("sagemaker/review-sentiment", "sagemaker"),
])
def test_every_fixture_is_detected_as_its_tool(path, shape):
    assert detect_format(FIXTURES / path) == shape


def test_plain_tables_are_detected_as_tables(tmp_path):
    for name, header in (("a.csv", "item,annotator,label"), ("b.csv", "task,worker,label")):
        (tmp_path / name).write_text(f"{header}\n1,a,x\n")
        assert detect_format(tmp_path / name) == "table"
    (tmp_path / "c.jsonl").write_text('{"task": 1, "worker": "a", "label": "x"}\n')
    assert detect_format(tmp_path / "c.jsonl") == "table"


def test_a_file_of_no_known_shape_names_the_shapes_tried_and_what_it_found(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("image,rater,answer_text\n1,a,x\n")
    with pytest.raises(InputError) as caught:
        detect_format(path)
    message = str(caught.value)
    assert "Label Studio" in message and "Argilla" in message and "Mechanical Turk" in message
    assert "image, rater, answer_text" in message
    result = CliRunner().invoke(cli, ["aggregate", str(path)])
    assert result.exit_code == 2
    assert "--format" in result.output and "Traceback" not in result.output
    # naming the columns makes it a table, as before
    named = run("aggregate", path, "--item-column", "image", "--annotator-column", "rater",
                "--label-column", "answer_text", "--labels", "x,y")
    assert named.exit_code == 0


def test_an_unknown_folder_says_which_folders_it_knows(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("hi")
    result = CliRunner().invoke(cli, ["aggregate", str(tmp_path / "stuff")])
    assert result.exit_code == 2
    assert "SageMaker" in result.output and "records.json" in result.output
    assert "notes.txt" in result.output


def test_format_table_on_a_tool_export_reads_it_as_a_table_and_says_what_is_missing():
    result = CliRunner().invoke(
        cli, ["aggregate", str(FIXTURES / "mturk" / "batch_classifier.csv"), "--format", "table"])
    assert result.exit_code == 2
    assert "no item column" in result.output


def _tidy(path: Path, **options: str) -> pd.DataFrame:
    frame = read_votes(path, **options).to_frame()
    return frame.sort_values(["item", "annotator"]).reset_index(drop=True)


@pytest.mark.parametrize("path", ["mturk/batch_classifier.csv", "sagemaker/review-sentiment",
                                  "argilla/flat_records.json", "label_studio/export.json"])
def test_every_command_that_reads_votes_takes_a_tool_export(path, tmp_path):
    source = FIXTURES / path
    for command in (["aggregate", source, "-o", tmp_path / "l.csv"],
                    ["agreement", source, "--bootstrap", "20"],
                    ["flag", source, "-o", tmp_path / "f.csv"],
                    ["confusions", source],
                    ["budget", source, "--target-accuracy", "0.9"]):
        result = run(*command)
        assert result.exit_code == 0, (command, result.output)
    labels = pd.read_csv(tmp_path / "l.csv", dtype=str)
    assert set(labels["item"]) == set(_tidy(source)["item"])


def test_a_tool_exports_votes_equal_the_same_votes_as_a_table(tmp_path):
    source = FIXTURES / "argilla" / "flat_records.json"
    tidy = _tidy(source)
    table = tmp_path / "votes.csv"
    tidy.to_csv(table, index=False)
    from_tool = run("aggregate", source, "-o", tmp_path / "a.csv")
    from_table = run("aggregate", table, "-o", tmp_path / "b.csv")
    assert from_tool.exit_code == from_table.exit_code == 0
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def test_time_spent_is_kept_as_a_per_vote_extra():
    votes = read_votes(FIXTURES / "mturk" / "batch_classifier.csv")
    assert set(votes.extras) >= {"seconds"}
    assert votes.extras["seconds"].shape == (votes.n_votes,)
    assert np.isfinite(votes.extras["seconds"]).all()
    plain = read_votes(FIXTURES.parent.parent.parent / "examples" / "data" /
                       "sentiment_votes.csv")
    assert dict(plain.extras) == {}


def test_extras_follow_their_votes_when_repeats_are_dropped(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("item,annotator,label,seconds\n1,a,x,1.5\n1,a,y,2.5\n2,b,y,3\n")
    votes = read_votes(path, duplicates="last")
    assert votes.extras["seconds"].tolist() == [2.5, 3.0]
    bad = tmp_path / "bad.csv"
    bad.write_text("item,annotator,label,seconds\n1,a,x,1.5\n2,b,y,soon\n")
    with pytest.raises(InputError, match="line 3"):
        read_votes(bad)


# ------------------------------------------------------------------ round trips
def _crowd(seed: int = 3):
    """A crowd whose consensus is in doubt on some items, so queues are not empty."""
    return simulate(150, 12, 3, votes_per_item=3, accuracy=(3.0, 2.0), seed=seed).votes


def _argilla_flat_export(path: Path, question: str = "sentiment") -> None:
    votes = _crowd()
    frame = votes.to_frame()
    frame["label"] = "c" + frame["label"].astype(str)
    records = []
    for item, group in frame.groupby("item", sort=False):
        records.append({
            "id": f"rec-{item}", "status": "completed", "text": f"text of {item}",
            f"{question}.responses": group["label"].tolist(),
            f"{question}.responses.users": [f"user-{a}" for a in group["annotator"]],
            f"{question}.responses.status": ["submitted"] * len(group),
        })
    path.write_text(json.dumps(records))


def _label_studio_export(path: Path) -> None:
    votes = _crowd()
    frame = votes.to_frame()
    frame["label"] = "c" + frame["label"].astype(str)
    tasks = []
    for item, group in frame.groupby("item", sort=False):
        tasks.append({
            "id": int(item) + 1000, "data": {"text": f"text of {item}"},
            "annotations": [
                {"id": 10 * int(item) + k, "completed_by": int(a) + 1, "was_cancelled": False,
                 "ground_truth": False, "lead_time": 2.5,
                 "result": [{"id": f"r{item}-{k}", "from_name": "sentiment", "to_name": "text",
                             "type": "choices", "value": {"choices": [label]}}]}
                for k, (a, label) in enumerate(zip(group["annotator"], group["label"],
                                                   strict=True))],
            "predictions": []})
    path.write_text(json.dumps(tasks))


def _labels(path: Path) -> dict[str, str]:
    table = pd.read_csv(path, dtype=str)
    return dict(zip(table["item"], table["label"], strict=True))


def test_argilla_round_trip_export_queue_review_apply_aggregate(tmp_path):
    export = tmp_path / "argilla.json"
    _argilla_flat_export(export)
    db = tmp_path / "review.db"
    assert run("aggregate", export, "-o", tmp_path / "before.csv").exit_code == 0
    sent = run("review", "export", export, "--to", "argilla", "--top", "10", "--db", db,
               "-o", tmp_path / "queue.jsonl")
    assert sent.exit_code == 0, sent.output
    records = [json.loads(line) for line in (tmp_path / "queue.jsonl").read_text().splitlines()]
    assert len(records) == 10
    assert records[0]["fields"] == {"text": records[0]["id"].replace("rec-", "text of ")}
    suggestion = records[0]["suggestions"]["sentiment"]
    assert {"value", "score", "agent"} <= set(suggestion)
    assert suggestion["agent"].startswith("consensus-")
    # two reviewers answer in Argilla; the team exports the dataset (nested records)
    before = _labels(tmp_path / "before.csv")
    choice = {}
    for k, record in enumerate(records[:4]):
        item = record["metadata"]["consensus_item"]
        choice[item] = "c2" if before[item] != "c2" else "c0"
        record["responses"] = {"sentiment": [{"value": choice[item],
                                              "user_id": f"reviewer-{k % 2}"}]}
    (tmp_path / "reviewed.json").write_text(json.dumps(records))
    applied = run("review", "apply", tmp_path / "reviewed.json", "--reviewer", "lead",
                  "--db", db, "--json")
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.output)["recorded"] == 4
    history = run("review", "log", "--db", db, "--json")
    reviewers = {row["reviewer"] for row in json.loads(history.output)}
    assert reviewers == {"reviewer-0", "reviewer-1"}
    after = run("aggregate", export, "--reviews", db, "-o", tmp_path / "after.csv")
    assert after.exit_code == 0
    labels = _labels(tmp_path / "after.csv")
    assert all(labels[item] == label for item, label in choice.items())
    # applying the same export again changes nothing
    again = run("review", "apply", tmp_path / "reviewed.json", "--reviewer", "lead", "--db", db,
                "--json")
    assert json.loads(again.output)["already_applied"] is True


def test_label_studio_round_trip_export_queue_review_apply_aggregate(tmp_path):
    export = tmp_path / "ls.json"
    _label_studio_export(export)
    db = tmp_path / "review.db"
    assert run("aggregate", export, "-o", tmp_path / "before.csv").exit_code == 0
    sent = run("review", "export", export, "--to", "label-studio", "--top", "8", "--db", db,
               "-o", tmp_path / "tasks.json")
    assert sent.exit_code == 0, sent.output
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert len(tasks) == 8
    first = tasks[0]
    assert first["data"]["text"].startswith("text of ")  # the source task's own data
    prediction = first["predictions"][0]
    assert prediction["model_version"].startswith("consensus-")
    result = prediction["result"][0]
    assert (result["from_name"], result["to_name"], result["type"]) == \
        ("sentiment", "text", "choices")
    assert 0 <= prediction["score"] <= 1
    # reviewers label the imported tasks; Label Studio exports them with ids and annotations
    before = _labels(tmp_path / "before.csv")
    choice = {}
    for k, task in enumerate(tasks):
        task["id"] = 5000 + k
        item = str(task["data"]["consensus_item"])
        if k < 3:
            choice[item] = "c2" if before[item] != "c2" else "c0"
            task["annotations"] = [{
                "id": 9000 + k, "completed_by": {"id": 40 + k, "email": f"r{k}@x.org"},
                "was_cancelled": False, "ground_truth": False,
                "result": [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                            "value": {"choices": [choice[item]]}}]}]
        else:
            task["annotations"] = []
    (tmp_path / "reviewed.json").write_text(json.dumps(tasks))
    applied = run("review", "apply", tmp_path / "reviewed.json", "--reviewer", "lead",
                  "--db", db, "--json")
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.output)["recorded"] == 3
    after = run("aggregate", export, "--reviews", db, "-o", tmp_path / "after.csv")
    assert after.exit_code == 0
    labels = _labels(tmp_path / "after.csv")
    assert all(labels[item] == label for item, label in choice.items())


@pytest.mark.parametrize("tool", ["label-studio", "argilla"])
def test_aggregate_sends_the_consensus_to_the_tool(tool, tmp_path):
    export = tmp_path / "ls.json"
    _label_studio_export(export)
    out = tmp_path / "out.json"
    result = run("aggregate", export, "--to", tool, "-o", out, "--question", "sentiment")
    assert result.exit_code == 0, result.output
    text = out.read_text()
    rows = json.loads(text) if text.lstrip().startswith("[") else \
        [json.loads(line) for line in text.splitlines()]
    assert len(rows) == 150
    labels = run("aggregate", export, "-o", tmp_path / "l.csv")
    assert labels.exit_code == 0
    expected = _labels(tmp_path / "l.csv")
    if tool == "label-studio":
        sent = {str(t["data"]["consensus_item"]): t["predictions"][0]["result"][0]["value"]
                ["choices"][0] for t in rows}
    else:
        sent = {str(r["metadata"]["consensus_item"]): next(iter(r["suggestions"].values()))
                ["value"] for r in rows}
    assert sent == expected


def test_sending_to_a_tool_needs_an_output_file(tmp_path):
    result = CliRunner().invoke(cli, ["aggregate", str(FIXTURES / "argilla" / "flat_records.json"),
                                      "--to", "argilla"])
    assert result.exit_code == 2
    assert "-o FILE" in result.output


def test_gold_from_source_needs_marked_answers():
    result = CliRunner().invoke(cli, ["aggregate", str(FIXTURES / "argilla" /
                                                       "flat_records.json"),
                                      "--gold-from-source", "-o", "-"])
    assert result.exit_code == 2
    assert "mark no known answers" in result.output
