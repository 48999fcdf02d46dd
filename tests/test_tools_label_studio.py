"""Label Studio in and out: export layouts, awkward annotations, queues and labels as tasks,
reviewers' corrections read back.

Expected votes are read off the hand-written fixtures (tests/fixtures/tools/label_studio/
SOURCES.md names the Label Studio code each layout follows).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from consensus.data.tools.label_studio import (
    CORRECTION_COLUMNS,
    DEFAULT_CONTROL,
    corrections_from_label_studio,
    labels_to_label_studio,
    looks_like_label_studio,
    queue_to_label_studio,
    read_label_studio,
    votes_from_tasks,
    write_label_studio,
)
from consensus.data.votes import VoteMatrix
from consensus.exceptions import InputError

FIXTURES = ROOT / "tests" / "fixtures" / "tools" / "label_studio"
EXPORT, EXPORT_MIN, EXPORT_CSV = (FIXTURES / n for n in ("export.json", "export_min.json",
                                                          "export.csv"))
#: (item, annotator, label) of export.json: 103 cancelled, 106 unanswered, user 5 an object.
VOTES = [("17", "3", "Neutral"), ("17", "5", "Negative"), ("18", "3", "Positive"),
         ("18", "5", "Positive"), ("19", "3", "Negative"), ("19", "5", "Negative"),
         ("19", "9", "Neutral")]
SENTIMENT = {"from_name": "sentiment", "to_name": "text", "type": "choices"}
QUEUE_ID = "q5f3a9c0e1b2d4f67"


def _votes(source) -> list[tuple[str, str, str]]:
    return list(source.frame[["item", "annotator", "label"]].itertuples(index=False, name=None))


def _tasks(name: str = "export.json") -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text())


def _write(tmp_path: Path, content: Any, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _annotation(tasks: list[dict[str, Any]], annotation_id: int) -> dict[str, Any]:
    return next(a for t in tasks for a in t["annotations"] if a["id"] == annotation_id)


def _message(excinfo: pytest.ExceptionInfo[InputError]) -> str:
    return str(excinfo.value)


# ------------------------------------------------------------------------- full JSON
def test_full_export_gives_one_vote_per_answer_with_user_ids_from_ints_and_objects():
    source = read_label_studio(EXPORT)
    assert source.tool == "label-studio"
    assert _votes(source) == VOTES
    assert source.dropped == {"cancelled": 1, "no answer": 1, "tasks without annotations": 1}
    assert source.control == SENTIMENT
    assert source.gold is None
    assert set(source.tasks) == {"17", "18", "19", "20"}
    assert source.tasks["20"] == {"text": "Arrived on time"}
    assert all(isinstance(v, str) for column in ("item", "annotator", "label")
               for v in source.frame[column])
    matrix = VoteMatrix.from_frame(source.frame, source=str(EXPORT))
    assert (matrix.n_items, matrix.n_votes) == (3, 7)


def test_lead_time_is_kept_as_seconds_and_created_at_as_text():
    frame = read_label_studio(EXPORT).frame
    assert list(frame.columns) == ["item", "annotator", "label", "seconds", "created_at"]
    assert frame["seconds"].dtype == np.float64
    assert frame["seconds"].tolist()[:6] == [4.2, 6.0, 2.5, 3.1, 5.0, 7.5]
    assert math.isnan(frame["seconds"].iloc[6])  # annotation 109 has no lead_time
    assert frame["created_at"].iloc[0] == "2024-03-09T21:01:49.513742Z"


def test_time_columns_are_absent_when_no_annotation_has_them(tmp_path):
    tasks = _tasks()
    for task in tasks:
        for annotation in task["annotations"]:
            annotation.pop("lead_time", None)
            annotation.pop("created_at")
    frame = read_label_studio(_write(tmp_path, tasks)).frame
    assert list(frame.columns) == ["item", "annotator", "label"]


def test_a_lead_time_that_is_not_a_number_names_its_task(tmp_path):
    tasks = _tasks()
    _annotation(tasks, 104)["lead_time"] = "slow"
    with pytest.raises(InputError, match=r"task 18 has lead_time 'slow', not a number"):
        read_label_studio(_write(tmp_path, tasks))


def test_ground_truth_is_an_ordinary_vote_unless_asked_for_as_gold():
    assert ("19", "3", "Negative") in _votes(read_label_studio(EXPORT))
    source = read_label_studio(EXPORT, gold_from_source=True)
    assert source.gold.to_dict("records") == [{"item": "19", "label": "Negative"}]
    assert _votes(source) == [v for v in VOTES if v != ("19", "3", "Negative")]
    assert source.dropped["no answer"] == 1  # the gold annotation answered: not "no answer"


def test_two_different_ground_truths_for_one_task_are_an_error(tmp_path):
    tasks = _tasks()
    _annotation(tasks, 109)["ground_truth"] = True
    path = _write(tmp_path, tasks)
    with pytest.raises(InputError, match=r"task 19 has different ground truths") as excinfo:
        read_label_studio(path, gold_from_source=True)
    assert "Negative" in _message(excinfo) and "Neutral" in _message(excinfo)
    assert len(read_label_studio(path).frame) == 7  # without gold_from_source: plain votes


def test_several_choices_controls_need_control_and_then_read_the_one_named():
    path = FIXTURES / "two_controls.json"
    with pytest.raises(InputError, match=r"2 Choices controls \(sentiment, topic\); pick one "
                                         r"with control="):
        read_label_studio(path)
    source = read_label_studio(path, control="sentiment")
    # topic's multi-choice answers do not matter when reading sentiment; 304 answered topic only
    assert _votes(source) == [("31", "3", "Positive"), ("31", "5", "Negative"),
                              ("32", "3", "Neutral")]
    assert source.dropped == {"no answer": 1}
    assert source.control == SENTIMENT


def test_a_control_not_in_the_export_lists_those_present():
    with pytest.raises(InputError, match=r"no Choices answers for a control 'mood'; controls "
                                         r"with answers: sentiment, topic"):
        read_label_studio(FIXTURES / "two_controls.json", control="mood")


@pytest.mark.parametrize(("name", "control", "where"), [
    ("multi_choice.json", None, "task 41, annotation 402"),
    ("two_controls.json", "topic", "task 31, annotation 301"),
])
def test_a_multi_choice_answer_is_an_error_naming_task_and_annotation(name, control, where):
    with pytest.raises(InputError, match="single-label consensus needs one choice") as excinfo:
        read_label_studio(FIXTURES / name, control=control)
    assert where in _message(excinfo)


def test_an_empty_choices_list_is_no_answer(tmp_path):
    tasks = _tasks()
    _annotation(tasks, 109)["result"][0]["value"]["choices"] = []
    source = read_label_studio(_write(tmp_path, tasks))
    assert _votes(source) == VOTES[:-1]
    assert source.dropped["no answer"] == 2


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t[1].pop("annotations"), r"task 18 has no annotations key"),
    (lambda t: t[1].update(annotations={"a": 1}), r"task 18 has annotations \{'a': 1\}, not a "
                                                  r"list"),
    (lambda t: _annotation(t, 104).update(completed_by=None),
     r"task 18, annotation 104 has completed_by None; a vote must say who cast it"),
    (lambda t: _annotation(t, 104).pop("completed_by"), r"task 18, annotation 104 has "
                                                        r"completed_by None"),
    (lambda t: _annotation(t, 104).update(completed_by={"first_name": "Al"}),
     r"annotation 104 has completed_by \{'first_name': 'Al'\}"),
    (lambda t: t[0].pop("id"), r"task 1 of the list has id None"),
    (lambda t: t[0].update(data="text"), r"task 17 has data 'text', not an object"),
    (lambda t: _annotation(t, 101).update(result="Neutral"), r"annotation 101 has result "
                                                             r"'Neutral', not a list"),
    (lambda t: _annotation(t, 101)["result"][0].update(value=["Neutral"]),
     r"task 17, annotation 101 has the Choices value \['Neutral'\], not an object"),
    (lambda t: t.append(7), r"element 5 of the list is 7 \(int\)"),
])
def test_malformed_tasks_are_errors_naming_task_and_annotation(tmp_path, change, message):
    tasks = _tasks()
    change(tasks)
    with pytest.raises(InputError, match=message) as excinfo:
        read_label_studio(_write(tmp_path, tasks))
    assert str(tmp_path / "export.json") in _message(excinfo)


def test_a_user_object_without_id_is_named_by_email(tmp_path):
    tasks = _tasks()
    _annotation(tasks, 104)["completed_by"] = {"email": "c@example.org"}
    assert ("18", "c@example.org", "Positive") in _votes(read_label_studio(_write(tmp_path,
                                                                                  tasks)))


def test_an_export_with_nothing_but_cancelled_annotations_has_no_votes(tmp_path):
    tasks = _tasks()
    for task in tasks:
        for annotation in task["annotations"]:
            annotation["was_cancelled"] = True
    with pytest.raises(InputError, match=r"no votes \(9 cancelled, 1 tasks without "
                                         r"annotations\): no annotation answers"):
        read_label_studio(_write(tmp_path, tasks))


@pytest.mark.parametrize(("content", "message"), [
    ("item,annotator,label\n1,a,x\n", r"not a JSON list: it starts with 'item,annotator"),
    ('{"id": 1, "data": {}, "annotations": []}', r"one JSON object, not a list"),
    ("", r"the file is empty"),
    ("[]", r"an empty JSON list: no tasks"),
    ('[{"id": 1, "data": {}, "annotations": []}', r"not valid JSON \(expected ',' or ']'"),
    ('[{"id": 1, "data": {"text": "a}]', r"not valid JSON \(Unterminated string"),
    ('[{"id": 1}, 2]', r"not a Label Studio export: the first element is an object with "
                       r"keys id"),
    ('[[1, 2]]', r"the first element is \[1, 2\] \(list\)"),
])
def test_files_that_are_not_an_export_give_clear_errors(tmp_path, content, message):
    with pytest.raises(InputError, match=message):
        read_label_studio(_write(tmp_path, content))


def test_missing_files_and_folders_are_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_label_studio(tmp_path / "nothing.json")
    with pytest.raises(InputError, match="is a folder"):
        read_label_studio(tmp_path)


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64])
def test_an_export_read_in_small_pieces_gives_the_same_votes(monkeypatch, tmp_path, piece):
    # Big exports are decoded in pieces (16 MB); a boundary may fall anywhere: in a number,
    # a \uXXXX escape, a multi-byte character, between an element and its comma.
    tasks = json.dumps(_tasks(), indent=1, ensure_ascii=False).replace("Neutral", "Neutrál")
    path = _write(tmp_path, "\ufeff" + tasks.replace("Works", "W\\u00f6rks"))
    monkeypatch.setattr("consensus.data.tools.label_studio._PIECE", piece)
    source = read_label_studio(path)
    assert _votes(source) == [(i, a, lab.replace("Neutral", "Neutrál")) for i, a, lab in VOTES]
    assert source.frame["seconds"].tolist()[:6] == [4.2, 6.0, 2.5, 3.1, 5.0, 7.5]
    assert source.tasks["18"] == {"text": "Wörks as advertised"}


def test_votes_from_tasks_reads_parsed_tasks_as_the_sdk_returns_them():
    source = votes_from_tasks(_tasks(), name="project 7")
    assert _votes(source) == VOTES
    with pytest.raises(InputError, match=r"project 7: task 18 has no annotations key"):
        votes_from_tasks([{"id": 18, "data": {}}], name="project 7")


# ---------------------------------------------------------------- JSON_MIN and CSV
@pytest.mark.parametrize("path", [EXPORT_MIN, EXPORT_CSV])
def test_json_min_and_csv_give_the_same_votes_as_the_full_export(path):
    full = read_label_studio(EXPORT)
    other = read_label_studio(path, control="sentiment")
    assert sorted(_votes(other)) == sorted(_votes(full))
    key = ["item", "annotator"]
    seconds = [other.frame.sort_values(key)["seconds"], full.frame.sort_values(key)["seconds"]]
    assert np.allclose(*seconds, equal_nan=True)
    # The converter leaves cancelled annotations out: they are not counted there.
    assert other.dropped == {"no answer": 1, "tasks without annotations": 1}
    assert other.control == {"from_name": "sentiment", "type": "choices"}
    assert other.tasks is None


@pytest.mark.parametrize("path", [EXPORT_MIN, EXPORT_CSV])
def test_json_min_and_csv_need_the_control_named(path):
    with pytest.raises(InputError, match=r"mixes task data and answers.*pick the control with "
                                         r"control=\.\.\., one of: ") as excinfo:
        read_label_studio(path)
    assert "sentiment" in _message(excinfo) and "text" in _message(excinfo)
    with pytest.raises(InputError, match=r"has no column 'mood'"):
        read_label_studio(path, control="mood")
    with pytest.raises(InputError, match=r"does not say which annotations are ground truth"):
        read_label_studio(path, control="sentiment", gold_from_source=True)


def test_a_multi_choice_answer_in_json_min_or_csv_is_an_error(tmp_path):
    records = json.loads(EXPORT_MIN.read_text())
    records[1]["sentiment"] = {"choices": ["Neutral", "Negative"]}  # as prettify_result writes
    with pytest.raises(InputError, match=r"task 17, annotation 101 chose \['Neutral', "
                                         r"'Negative'\] in 'sentiment': single-label"):
        read_label_studio(_write(tmp_path, records), control="sentiment")
    text = EXPORT_CSV.read_text().replace(
        '"Neutral","The goose', '"{""choices"": [""Neutral"", ""Negative""]}","The goose')
    with pytest.raises(InputError, match=r"task 17, annotation 101 chose"):
        read_label_studio(_write(tmp_path, text, "export.csv"), control="sentiment")


def test_a_json_min_record_without_annotator_is_an_error(tmp_path):
    records = json.loads(EXPORT_MIN.read_text())
    records[0]["annotator"] = None
    with pytest.raises(InputError, match=r"task 17, annotation 102 has no annotator"):
        read_label_studio(_write(tmp_path, records), control="sentiment")


def test_json_min_records_must_be_objects_with_task_ids(tmp_path):
    records = json.loads(EXPORT_MIN.read_text())
    with pytest.raises(InputError, match=r"element 3 is 'x' \(str\); a JSON_MIN export is a "
                                         r"list of records"):
        read_label_studio(_write(tmp_path, [*records[:2], "x"]), control="sentiment")
    records[2]["id"] = None
    with pytest.raises(InputError, match=r"record 3 has task id None"):
        read_label_studio(_write(tmp_path, records), control="sentiment")


def test_a_cancelled_row_in_a_csv_export_is_counted_not_a_vote(tmp_path):
    lines = EXPORT_CSV.read_text().splitlines()
    lines[1] = lines[1].removesuffix("False") + "True"  # annotation 102
    source = read_label_studio(_write(tmp_path, "\n".join(lines) + "\n", "export.csv"),
                               control="sentiment")
    assert ("17", "5", "Negative") not in _votes(source)
    assert source.dropped["cancelled"] == 1


def test_a_tsv_export_is_read_like_the_csv(tmp_path):
    path = tmp_path / "export.tsv"
    with open(EXPORT_CSV, newline="") as src, open(path, "w", newline="") as out:
        csv.writer(out, delimiter="\t").writerows(csv.reader(src))
    assert sorted(_votes(read_label_studio(path, control="sentiment"))) == sorted(VOTES)


def test_a_csv_without_label_studio_columns_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"not a Label Studio CSV export"):
        read_label_studio(_write(tmp_path, "item,annotator,label\n1,a,x\n", "votes.csv"))


def test_looks_like_label_studio_tells_the_layouts_apart():
    assert looks_like_label_studio(_tasks()[0]) == "json"
    assert looks_like_label_studio(json.loads(EXPORT_MIN.read_text())[0]) == "json-min"
    assert looks_like_label_studio(EXPORT_CSV.read_text().splitlines()[0].replace('"', "")
                                   .split(",")) == "csv"
    for other in ({"id": 1, "data": {}}, {"annotations": []}, ["item", "annotator", "label"],
                  {"id": "r1", "fields": {}, "responses": {}}, ["id", "annotator"], "json", None):
        assert looks_like_label_studio(other) is None


# ----------------------------------------------------------------------------- writing
def _queue(items: list[str], content: bool = False) -> pd.DataFrame:
    """A review queue as build_queue returns it."""
    n = len(items)
    queue = pd.DataFrame({"queue": QUEUE_ID, "priority": np.arange(1, n + 1), "item": items})
    if content:
        queue["content"] = [f"text of {item}" for item in items]
    queue["votes"] = ["3: Neutral (0.81); 5: Negative (0.77)"] * n
    queue["consensus"] = ["Neutral"] * n
    queue["confidence"] = np.linspace(0.5, 0.6, n)
    queue["reasons"] = ["low confidence"] * n
    for name in ("corrected_label", "reviewer", "comment"):
        queue[name] = ""
    return queue


def test_queue_tasks_keep_the_source_data_and_predict_the_consensus():
    source = read_label_studio(EXPORT)
    tasks = queue_to_label_studio(_queue(["17", "99"]), source=source, control=None,
                                  model_version="consensus-0.1.0-pooled")
    known, unknown = tasks
    assert set(known) == {"data", "predictions"}  # Label Studio numbers new tasks itself
    assert known["data"] == {
        "text": "The goose neck needs a little coaxing", "consensus_queue": QUEUE_ID,
        "consensus_item": "17", "consensus_priority": 1, "consensus_reasons": "low confidence",
        "consensus_label": "Neutral", "consensus_confidence": 0.5,
        "consensus_votes": "3: Neutral (0.81); 5: Negative (0.77)"}
    assert known["predictions"] == [{
        "model_version": "consensus-0.1.0-pooled", "score": 0.5,
        "result": [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                    "value": {"choices": ["Neutral"]}}]}]
    assert unknown["data"]["item"] == "99" and "text" not in unknown["data"]
    assert source.tasks["17"] == {"text": "The goose neck needs a little coaxing"}  # untouched


def test_queue_tasks_without_source_show_content_and_use_the_control_given():
    queue = _queue(["a", "b"], content=True)
    queue.loc[1, "consensus"] = None
    tasks = queue_to_label_studio(queue, source=None, model_version="m",
                                  control={"from_name": "mood", "to_name": "review"})
    assert tasks[0]["data"]["text"] == "text of a"
    assert tasks[0]["predictions"][0]["result"][0] == {
        "from_name": "mood", "to_name": "review", "type": "choices",
        "value": {"choices": ["Neutral"]}}
    assert tasks[1]["predictions"] == [] and "consensus_label" not in tasks[1]["data"]
    default = queue_to_label_studio(queue, source=None, model_version="m")
    result = default[0]["predictions"][0]["result"][0]
    assert (result["from_name"], result["to_name"]) == (DEFAULT_CONTROL["from_name"],
                                                        DEFAULT_CONTROL["to_name"])


def test_a_json_min_source_names_the_control_and_control_fills_in_to_name():
    source = read_label_studio(EXPORT_MIN, control="sentiment")
    tasks = queue_to_label_studio(_queue(["17"]), source=source, model_version="m",
                                  control={"to_name": "review"})
    result = tasks[0]["predictions"][0]["result"][0]
    assert (result["from_name"], result["to_name"]) == ("sentiment", "review")


def test_a_queue_without_its_columns_is_refused():
    with pytest.raises(InputError, match=r"the review queue has no consensus, confidence "
                                         r"column"):
        queue_to_label_studio(pd.DataFrame({"queue": ["q"], "priority": [1], "item": ["a"],
                                            "votes": [""], "reasons": [""]}),
                              source=None, model_version="m")
    with pytest.raises(InputError, match=r"confidence of item 'a' is 'high', not a number"):
        queue_to_label_studio(_queue(["a"]).assign(confidence="high"), source=None,
                              model_version="m")


def test_labels_become_tasks_with_the_consensus_as_prediction():
    source = read_label_studio(EXPORT)
    labels = pd.DataFrame({"item": ["17", "18"], "label": ["Neutral", "Positive"],
                           "confidence": [0.52, float("nan")], "n_votes": [2, 2],
                           "agreement": [0.5, 1.0], "tie": [True, False],
                           "gold": [False, True],
                           "p_Negative": [0.4, 0.0], "p_Neutral": [0.52, 0.0],
                           "p_Positive": [0.08, 1.0]})
    tasks = labels_to_label_studio(labels, source=source, control=None, model_version="v1")
    assert tasks[0]["data"] == {"text": "The goose neck needs a little coaxing",
                                "consensus_item": "17", "consensus_label": "Neutral",
                                "consensus_confidence": 0.52, "consensus_n_votes": 2,
                                "consensus_agreement": 0.5, "consensus_tie": True,
                                "consensus_gold": False}
    assert tasks[0]["predictions"][0]["result"][0]["from_name"] == "sentiment"
    assert tasks[1]["predictions"][0]["score"] is None  # NaN is not JSON
    assert "id" not in tasks[0]


def test_write_label_studio_writes_one_json_list(tmp_path):
    tasks = labels_to_label_studio(pd.DataFrame({"item": ["x"], "label": ["é"],
                                                 "confidence": [0.9]}),
                                   source=None, model_version="v1")
    path = tmp_path / "tasks.json"
    write_label_studio(tasks, path)
    assert json.loads(path.read_text(encoding="utf-8")) == tasks
    with pytest.raises(InputError, match="cannot be written as JSON"):
        write_label_studio([{"data": {"x": float("nan")}}], tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


# ------------------------------------------------------------------------- corrections
def test_corrections_are_read_from_a_reviewed_export():
    frame = corrections_from_label_studio(FIXTURES / "reviewed.json")
    assert list(frame.columns) == list(CORRECTION_COLUMNS)
    assert frame.values.tolist() == [
        [QUEUE_ID, "17", "Negative", "12", "Clearly negative"],
        [QUEUE_ID, "19", "Negative", "14", ""],
        [QUEUE_ID, "19", "Neutral", "rev2@example.org", "Says it broke,\nbut not upset"]]


def test_corrections_need_a_consensus_queue_export_as_json():
    with pytest.raises(InputError, match=r"task 17 has no consensus_queue and consensus_item.*"
                                         r"does not come from a consensus review queue"):
        corrections_from_label_studio(EXPORT)
    for path in (EXPORT_MIN, EXPORT_CSV):
        with pytest.raises(InputError, match=r"export the project as JSON"):
            corrections_from_label_studio(path)


def test_queue_tasks_come_back_as_corrections_once_reviewed(tmp_path):
    source = read_label_studio(EXPORT)
    tasks = queue_to_label_studio(_queue(["17", "19"]), source=source, model_version="m")
    # What Label Studio exports after import and review: ids, and the reviewers' annotations.
    for number, (task, label) in enumerate(zip(tasks, ["Negative", "Neutral"], strict=True)):
        prediction = task["predictions"][0]
        task["id"] = 500 + number
        task["annotations"] = [{"id": 900 + number, "completed_by": 12, "was_cancelled": False,
                                "result": [{**prediction["result"][0],
                                            "value": {"choices": [label]}}]}]
    path = tmp_path / "reviewed.json"
    write_label_studio(tasks, path)
    frame = corrections_from_label_studio(path)
    assert frame.values.tolist() == [[QUEUE_ID, "17", "Negative", "12", ""],
                                     [QUEUE_ID, "19", "Neutral", "12", ""]]


def test_corrections_with_several_controls_need_one_named(tmp_path):
    tasks = _tasks("reviewed.json")
    _annotation(tasks, 9003)["result"].append(
        {"from_name": "topic", "to_name": "text", "type": "choices",
         "value": {"choices": ["price", "quality"]}})
    path = _write(tmp_path, tasks)
    with pytest.raises(InputError, match=r"pick one with control="):
        corrections_from_label_studio(path)
    assert len(corrections_from_label_studio(path, control="sentiment")) == 3
    with pytest.raises(InputError, match=r"task 302, annotation 9003 chose"):
        corrections_from_label_studio(path, control="topic")
