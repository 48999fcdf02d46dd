"""Mechanical Turk batch results in: answer layouts, rejected assignments, errors that name lines.

Expected votes are read off the hand-written fixtures (tests/fixtures/tools/mturk/SOURCES.md);
the first HIT's Input.text spans two file lines, so data row n is not always line n + 2.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import ROOT

from consensus.data.tools.mturk import crowd_answer_label, looks_like_mturk, read_mturk
from consensus.exceptions import InputError

FIXTURES = ROOT / "tests" / "fixtures" / "tools" / "mturk"
HIT1, HIT2 = "3HITEXAMPLE0000000000000000001", "3HITEXAMPLE0000000000000000002"
W1, W2, W3, W4 = (f"A{i}WORKEREXAMPLE{i}" for i in range(1, 5))
#: (item, annotator, label) of the fixtures' kept assignments: W3's is rejected, W2's on HIT2 empty.
VOTES = [(HIT1, W1, "Positive"), (HIT1, W2, "Positive"), (HIT1, W4, "Neutral"),
         (HIT2, W1, "Negative"), (HIT2, W4, "Negative")]


def _votes(result) -> list[tuple[str, str, str]]:
    return list(result.frame[["item", "annotator", "label"]].itertuples(index=False, name=None))


def _small(tmp_path: Path, answers: dict[str, list[str]], **columns: list[str]) -> Path:
    """A minimal batch file: one assignment per row, the given Answer.* columns."""
    n = len(next(iter(answers.values())))
    table = {"HITId": [f"H{i}" for i in range(n)], "WorkerId": [f"W{i}" for i in range(n)],
             "AssignmentStatus": ["Submitted"] * n, **columns, **answers}
    path = tmp_path / "batch.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(table)
        writer.writerows(zip(*table.values(), strict=True))
    return path


def _edit(tmp_path: Path, name: str, row: int, column: str, value: str) -> Path:
    """A copy of a fixture with one cell changed (row counts data rows from 0)."""
    with open(FIXTURES / name, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[row][column] = value
    path = tmp_path / name
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]), quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_crowd_classifier_label_column_gives_the_votes():
    result = read_mturk(FIXTURES / "batch_classifier.csv")
    assert result.tool == "mturk"
    assert _votes(result) == VOTES
    assert result.control == {"item_column": "HITId", "label_column": "Answer.sentiment.label"}
    assert result.tasks[HIT1] == {"item_id": "rev-007",
                                  "text": "The goose neck needs a little coaxing,\nbut it works."}


def test_rejected_assignments_are_dropped_and_counted_and_empty_answers_too():
    result = read_mturk(FIXTURES / "batch_classifier.csv")
    assert W3 not in set(result.frame["annotator"])
    assert result.dropped == {"rejected": 1, "no answer": 1}


def test_work_time_becomes_seconds_and_submit_time_created_at():
    frame = read_mturk(FIXTURES / "batch_classifier.csv").frame
    assert frame["seconds"].dtype == float
    assert frame["seconds"].tolist() == [41.0, 37.0, 58.0, 22.0, 25.0]
    assert frame["created_at"].iloc[0] == "Mon Mar 04 10:15:02 PST 2024"


def test_task_answers_json_gives_the_same_votes():
    result = read_mturk(FIXTURES / "batch_task_answers.csv")
    assert _votes(result) == VOTES
    assert result.dropped == {"rejected": 1, "no answer": 1}


def test_radio_button_columns_give_the_ticked_option():
    result = read_mturk(FIXTURES / "batch_radio.csv")
    assert [label for *_, label in _votes(result)] == [
        "positive", "positive", "neutral", "negative", "negative"]
    assert result.control["label_column"] == "Answer.sentiment"
    assert result.dropped == {"rejected": 1, "no answer": 1}


@pytest.mark.parametrize("cells, what", [(("true", "true"), "more than one"),
                                         (("false", "false"), "none")])
def test_radio_rows_with_no_or_two_options_ticked_are_errors_naming_the_line(
        tmp_path, cells, what):
    yes, no = cells
    path = _small(tmp_path, {"Answer.s.yes": ["true", yes], "Answer.s.no": ["false", no]})
    with pytest.raises(InputError, match=rf"batch\.csv: line 3: {what} of the options"):
        read_mturk(path)


def test_several_answer_columns_are_an_error_listing_them_until_one_is_chosen():
    path = FIXTURES / "batch_form_fields.csv"
    with pytest.raises(InputError) as info:
        read_mturk(path)
    message = str(info.value)
    assert "Answer.comment, Answer.sentiment" in message and "label_column=" in message
    for chosen in ("Answer.sentiment", "sentiment"):
        assert _votes(read_mturk(path, label_column=chosen)) == VOTES


def test_an_unknown_label_column_lists_the_answer_columns():
    with pytest.raises(InputError, match="no answer column 'mood'; Answer columns: "
                                         "Answer.comment, Answer.sentiment"):
        read_mturk(FIXTURES / "batch_form_fields.csv", label_column="mood")


@pytest.mark.parametrize("chosen", ["Input.item_id", "item_id"])
def test_an_input_column_can_be_the_item(chosen):
    result = read_mturk(FIXTURES / "batch_classifier.csv", item_column=chosen)
    assert result.frame["item"].tolist() == ["rev-007"] * 3 + ["rev-012"] * 2
    assert result.tasks["rev-012"]["text"] == "Arrived broken. Never again."


def test_an_unknown_item_column_lists_the_input_columns():
    with pytest.raises(InputError, match=r"no column 'Input.review' for the item; "
                                         r"Input columns: Input.item_id, Input.text"):
        read_mturk(FIXTURES / "batch_classifier.csv", item_column="Input.review")


def test_a_work_time_that_is_not_a_number_names_its_file_line(tmp_path):
    # data row 4 (HIT2, worker 1) starts on line 10: the first HIT's four rows take two lines each
    path = _edit(tmp_path, "batch_form_fields.csv", 4, "WorkTimeInSeconds", "22s")
    with pytest.raises(InputError, match=r"batch_form_fields\.csv: line 10: WorkTimeInSeconds "
                                         r"'22s' is not a number"):
        read_mturk(path, label_column="sentiment")


def test_a_bad_number_on_a_rejected_assignment_is_not_an_error(tmp_path):
    path = _edit(tmp_path, "batch_classifier.csv", 2, "WorkTimeInSeconds", "soon")
    assert read_mturk(path).n_votes == 5


def test_task_answers_with_one_plain_field_and_with_a_choice_of_field(tmp_path):
    path = _small(tmp_path, {"Answer.taskAnswers": ['[{"category": "x"}]',
                                                    '[{"category": "y", "note": ""}]']})
    with pytest.raises(InputError, match=r"line 3: Answer.taskAnswers has several answer "
                                         r"fields \(category, note\)"):
        read_mturk(path)
    result = read_mturk(path, label_column="Answer.taskAnswers.category")
    assert result.frame["label"].tolist() == ["x", "y"]


@pytest.mark.parametrize("cell, message", [
    ('[{"a": {"label": "x"}}, {"a": {"label": "y"}}]', "holds 2 answer objects"),
    ("[{'a': 1}]", "is not JSON"),
    ('[{"a": {"label": "x"}, "b": {"label": "y"}}]', "has several label fields"),
])
def test_unreadable_task_answers_name_the_line(tmp_path, cell, message):
    path = _small(tmp_path, {"Answer.taskAnswers": ['[{"a": {"label": "x"}}]', cell]})
    with pytest.raises(InputError, match=rf"line 3: Answer.taskAnswers {message}"):
        read_mturk(path)


def test_a_missing_worker_id_names_the_line(tmp_path):
    path = _edit(tmp_path, "batch_classifier.csv", 4, "WorkerId", "")
    with pytest.raises(InputError, match="line 10: no WorkerId"):
        read_mturk(path)


def test_a_file_without_the_mturk_columns_says_so(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("item,annotator,label\n1,a,x\n")
    with pytest.raises(InputError, match="not a Mechanical Turk batch results file "
                                         r"\(no HITId, WorkerId, AssignmentStatus column\)"):
        read_mturk(path)


def test_looks_like_mturk_needs_hit_worker_and_status():
    with open(FIXTURES / "batch_classifier.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert looks_like_mturk(header)
    assert not looks_like_mturk(["HITId", "WorkerId", "Answer.label"])


@pytest.mark.parametrize("answer, label", [
    ({"crowd-classifier": {"label": "positive"}}, "positive"),
    ({"response": {"label": "Response 2"}}, "Response 2"),
    ({"category": "x"}, "x"),
    ({"rating": 3}, "3"),
    ({"pick": {"labels": ["cat"]}}, "cat"),
    ({"sentiment": {"negative": False, "positive": True}}, "positive"),
    ({"positive": {"on": True}, "negative": {"on": False}}, "positive"),
    ({"positive": {"positive": True}, "negative": {"negative": False}}, "positive"),
    ({}, None),
    ({"sentiment": {"label": " "}}, None),
])
def test_crowd_answer_label_reads_the_crowd_elements_outputs(answer, label):
    assert crowd_answer_label(answer) == label


@pytest.mark.parametrize("answer, message", [
    ({"pick": {"labels": ["cat", "dog"]}}, "several labels"),
    ({"boundingBox": {"boundingBoxes": [], "inputImageProperties": {"height": 1}}},
     "several answer fields"),
    ({"a": "x", "b": "y"}, "several answer fields"),
])
def test_crowd_answer_label_refuses_what_is_not_one_label(answer, message):
    with pytest.raises(ValueError, match=message):
        crowd_answer_label(answer)
