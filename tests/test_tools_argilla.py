"""Argilla exports in as votes and corrections, review queues and labels out as records.

The fixtures copy the layouts the Argilla SDK writes; tests/fixtures/tools/argilla/SOURCES.md
names the SDK code behind each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from consensus.data.tools.argilla import (
    CORRECTION_COLUMNS,
    corrections_from_argilla,
    labels_to_argilla,
    looks_like_argilla,
    queue_to_argilla,
    read_argilla,
    write_argilla,
)
from consensus.exceptions import InputError
from consensus.review.log import ReviewLog
from consensus.review.queue import build_queue

FIXTURES = Path(__file__).parent / "fixtures" / "tools" / "argilla"
ANA = "6f1c2a10-0d4e-4b7a-9d3e-2c5b8a1f0e01"
BEN = "a2b9c3d4-1e2f-4a5b-8c6d-7e8f9a0b1c02"
CY = "c3d4e5f6-2a3b-4c5d-9e6f-8a9b0c1d2e03"
TEXTS = {"rec-1": {"text": "The goose neck needs a little coaxing"},
         "rec-2": {"text": "Arrived broken, and support never answered"},
         "rec-3": {"text": "Does what it says"}}


def _votes(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    return list(frame[["item", "annotator", "label"]].itertuples(index=False, name=None))


def _write_json(path: Path, records: Any) -> Path:
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def _flat(record_id: str, values: Any, users: Any, statuses: Any,
          question: str = "sentiment") -> dict[str, Any]:
    return {"id": record_id, "status": "completed", "text": "some text",
            f"{question}.responses": values, f"{question}.responses.users": users,
            f"{question}.responses.status": statuses}


# ---------------------------------------------------------------------------- reading
def test_flat_export_takes_submitted_responses_and_counts_drafts_and_discards():
    source = read_argilla(FIXTURES / "flat_records.json")
    assert source.tool == "argilla"
    assert source.control == {"question": "sentiment"}
    assert _votes(source.frame) == [("rec-1", ANA, "neutral"), ("rec-1", BEN, "negative"),
                                    ("rec-2", ANA, "negative"), ("rec-2", BEN, "negative")]
    assert source.dropped == {"draft": 1, "discarded": 1}
    # ids, status, numeric metadata and the question's own keys are not fields
    assert source.tasks == TEXTS
    assert source.gold is None


def test_flat_export_reads_the_same_as_json_lines_and_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = json.loads((FIXTURES / "flat_records.json").read_text())
    lines = tmp_path / "records.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in records))
    parquet = tmp_path / "records.parquet"
    pq.write_table(pa.Table.from_pylist(records), parquet)
    expected = read_argilla(FIXTURES / "flat_records.json")
    for path in (lines, parquet):
        source = read_argilla(path)
        pd.testing.assert_frame_equal(source.frame, expected.frame)
        assert source.dropped == expected.dropped
        assert source.tasks == expected.tasks


def test_nested_records_json_and_its_to_disk_folder_take_every_response():
    for path in (FIXTURES / "to_disk", FIXTURES / "to_disk" / "records.json"):
        source = read_argilla(path)
        assert _votes(source.frame) == [
            ("rec-1", ANA, "neutral"), ("rec-1", BEN, "negative"), ("rec-2", ANA, "negative"),
            ("rec-2", BEN, "negative"), ("rec-2", CY, "neutral")]
        assert source.dropped == {}
        assert source.tasks == TEXTS


def test_nested_responses_with_a_status_are_filtered_by_it(tmp_path):
    record = {"id": "r", "fields": {"text": "t"}, "responses": {"sentiment": [
        {"value": "neutral", "user_id": "u1", "status": "submitted"},
        {"value": "negative", "user_id": "u2", "status": "draft"}]}}
    source = read_argilla(_write_json(tmp_path / "records.json", [record]))
    assert _votes(source.frame) == [("r", "u1", "neutral")]
    assert source.dropped == {"draft": 1}


def test_legacy_feedback_rows_in_both_layouts():
    source = read_argilla(FIXTURES / "legacy_feedback.jsonl")
    assert _votes(source.frame) == [
        ("ext-1", "7e2b1f4a-3c5d-4e6f-8a9b-0c1d2e3f4a01", "neutral"),
        ("ext-2", "7e2b1f4a-3c5d-4e6f-8a9b-0c1d2e3f4a01", "negative"),
        ("ext-2", "8f3c2a5b-4d6e-4f7a-9b0c-1d2e3f4a5b02", "negative")]
    assert source.dropped == {"discarded": 1}
    assert source.tasks == {"ext-1": TEXTS["rec-1"], "ext-2": TEXTS["rec-2"]}


def test_several_questions_need_a_choice_and_give_that_questions_votes():
    path = FIXTURES / "flat_two_questions.jsonl"
    with pytest.raises(InputError, match=r"2 questions \(sentiment, topic\); pick one with "
                                         r"question=\.\.\."):
        read_argilla(path)
    topic = read_argilla(path, question="topic")
    assert _votes(topic.frame) == [("t-1", "u-ana", "finance"), ("t-1", "u-ben", "finance"),
                                   ("t-2", "u-ana", "sport")]
    assert topic.dropped == {"draft": 1}
    assert topic.control == {"question": "topic"}
    assert _votes(read_argilla(path, question="sentiment").frame) == [
        ("t-1", "u-ana", "negative"), ("t-1", "u-ben", "neutral"), ("t-2", "u-ana", "positive")]
    with pytest.raises(InputError, match="no responses to a question 'label'; questions with "
                                         "responses: sentiment, topic"):
        read_argilla(path, question="label")


def test_a_multi_label_response_is_refused_naming_the_record(tmp_path):
    path = _write_json(tmp_path / "flat.json", [
        _flat("r1", ["a"], ["u1"], ["submitted"]),
        _flat("r2", [["a", "b"]], ["u1"], ["submitted"])])
    with pytest.raises(InputError, match=r"record 'r2': u1's response to 'sentiment' is "
                                         r"\['a', 'b'\]: single-label consensus needs one "
                                         r"label per response"):
        read_argilla(path)


def test_response_lists_of_unequal_length_are_refused(tmp_path):
    path = _write_json(tmp_path / "flat.json",
                       [_flat("r7", ["a", "b"], ["u1"], ["submitted", "submitted"])])
    with pytest.raises(InputError, match="record 'r7': the responses to 'sentiment' pair 2 "
                                         "values with 1 user ids and 2 statuses"):
        read_argilla(path)


@pytest.mark.parametrize("user", [None, "", "None"])
def test_a_response_without_user_id_is_refused(tmp_path, user):
    path = _write_json(tmp_path / "flat.json", [_flat("r3", ["a"], [user], ["submitted"])])
    with pytest.raises(InputError, match=r"record 'r3': a response to 'sentiment' has no "
                                         r"user id"):
        read_argilla(path)


def test_a_nested_response_without_user_id_is_refused(tmp_path):
    record = {"id": "r4", "fields": {}, "responses": {"sentiment": [{"value": "a"}]}}
    with pytest.raises(InputError, match="record 'r4': a response to 'sentiment' has no user"):
        read_argilla(_write_json(tmp_path / "records.json", [record]))


def test_a_record_without_id_is_named_by_its_position(tmp_path):
    records = [_flat("r1", ["a"], ["u1"], ["submitted"]), _flat("", ["a"], ["u1"], ["submitted"])]
    with pytest.raises(InputError, match="record 2 has no id"):
        read_argilla(_write_json(tmp_path / "flat.json", records))


def test_malformed_files_are_input_errors(tmp_path):
    bad_line = tmp_path / "bad.jsonl"
    bad_line.write_text(json.dumps(_flat("r1", ["a"], ["u1"], ["submitted"])) + "\n{oops\n")
    with pytest.raises(InputError, match="line 2 is not valid JSON"):
        read_argilla(bad_line)
    with pytest.raises(InputError, match="not an Argilla export"):
        read_argilla(_write_json(tmp_path / "other.json", [{"item": 1, "label": "a"}]))
    with pytest.raises(InputError, match="sentiment.responses is 'a', not a list"):
        read_argilla(_write_json(tmp_path / "flat.json", [_flat("r1", "a", ["u1"], None)]))
    with pytest.raises(InputError, match="a folder without records.json"):
        read_argilla(tmp_path)
    with pytest.raises(InputError, match=r"no submitted responses to 'sentiment' \(1 draft\)"):
        read_argilla(_write_json(tmp_path / "drafts.json",
                                 [_flat("r1", ["a"], ["u1"], ["draft"])]))


def test_looks_like_argilla_is_specific():
    assert looks_like_argilla({"id": None, "label.responses": None,
                               "label.responses.users": None}) == "flat"  # a Parquet header
    assert looks_like_argilla({"id": "r", "fields": {}, "responses": {}}) == "nested"
    assert looks_like_argilla({"q": {"user_id": ["u"], "value": ["a"]}}) == "legacy"
    assert looks_like_argilla({"q": [{"user_id": "u", "value": "a"}]}) == "legacy"
    label_studio = {"id": 1, "data": {"text": "t"}, "annotations": [
        {"completed_by": 3, "result": [{"value": {"choices": ["a"]}}]}]}
    for other in (label_studio, {"item": "1", "annotator": "a", "label": "x"},
                  {"responses": {}}, [], None):
        assert looks_like_argilla(other) is None


# ---------------------------------------------------------------------------- writing
def _queue(source_frame: pd.DataFrame, content: dict[str, str] | None = None) -> pd.DataFrame:
    flags = pd.DataFrame({"item": ["rec-2", "rec-1"], "annotator": ["", ""],
                          "label": ["", ""], "consensus": ["negative", "neutral"],
                          "confidence": [0.97, 0.55], "score": [0.4, 0.9],
                          "reasons": ["model disagrees", "low confidence"]})
    annotators = pd.DataFrame({"annotator": [ANA, BEN], "accuracy": [0.9, 0.8]})
    return build_queue(flags, source_frame, annotators, content=content)


def test_queue_records_carry_the_consensus_as_suggestion_and_the_queue_as_metadata():
    source = read_argilla(FIXTURES / "flat_records.json")
    queue = _queue(source.frame)
    records = queue_to_argilla(queue, source=source, question=None, agent="consensus-ds")
    assert [r["id"] for r in records] == ["rec-1", "rec-2"]  # most suspicious first
    assert records[0] == {
        "id": "rec-1", "fields": TEXTS["rec-1"],
        "metadata": {"consensus_queue": queue["queue"][0], "consensus_item": "rec-1",
                     "consensus_priority": 1, "consensus_reasons": "low confidence",
                     "consensus_votes": f"neutral ({ANA}, 0.90); negative ({BEN}, 0.80)",
                     "consensus_confidence": 0.55},
        "suggestions": {"sentiment": {"value": "neutral", "score": 0.55,
                                      "agent": "consensus-ds"}},
        "responses": {}, "vectors": {}}
    json.dumps(records, allow_nan=False)  # plain JSON types only


def test_queue_records_without_an_argilla_source_show_content_or_the_item():
    votes = pd.DataFrame({"item": ["rec-1", "rec-2"], "annotator": [ANA, ANA],
                          "label": ["neutral", "negative"]})
    queue = _queue(votes, content={"rec-1": "first text"})
    records = queue_to_argilla(queue, question="label", agent="a")
    assert [r["fields"] for r in records] == [{"text": "first text"}, {"item": "rec-2"}]
    assert records[0]["suggestions"] == {"label": {"value": "neutral", "score": 0.55,
                                                   "agent": "a"}}
    with pytest.raises(InputError, match=r"name the Argilla question .* with question=\.\.\."):
        queue_to_argilla(queue, agent="a")
    with pytest.raises(InputError, match="the review queue has no consensus column"):
        queue_to_argilla(queue.drop(columns="consensus"), question="label")


def test_labels_records_carry_the_consensus_and_its_confidence():
    source = read_argilla(FIXTURES / "flat_records.json")
    labels = pd.DataFrame({"item": ["rec-1", "rec-3"], "label": ["neutral", "positive"],
                           "confidence": [0.6, float("nan")], "n_votes": [2, 0],
                           "agreement": [0.5, 0.0], "tie": [True, False],
                           "p_negative": [0.4, 0.3], "p_neutral": [0.6, 0.3]})
    records = labels_to_argilla(labels, source=source, question=None, agent="consensus-ds")
    assert records[0] == {
        "id": "rec-1", "fields": TEXTS["rec-1"],
        "metadata": {"consensus_item": "rec-1", "consensus_confidence": 0.6,
                     "consensus_n_votes": 2, "consensus_agreement": 0.5},
        "suggestions": {"sentiment": {"value": "neutral", "score": 0.6,
                                      "agent": "consensus-ds"}},
        "responses": {}, "vectors": {}}
    assert records[1]["suggestions"]["sentiment"]["score"] is None  # NaN is not JSON
    assert "consensus_confidence" not in records[1]["metadata"]


def test_write_argilla_writes_json_lines_or_a_json_list(tmp_path):
    records = [{"id": "a", "fields": {"text": "é"}}, {"id": "b", "fields": {"text": "x"}}]
    write_argilla(records, tmp_path / "queue.jsonl")
    lines = (tmp_path / "queue.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == records
    write_argilla(records, tmp_path / "queue.json")  # what records.from_json reads
    assert json.loads((tmp_path / "queue.json").read_text(encoding="utf-8")) == records
    with pytest.raises(InputError, match="cannot be written as JSON"):
        write_argilla([{"id": "c", "score": float("nan")}], tmp_path / "bad.jsonl")
    assert not (tmp_path / "bad.jsonl").exists()


# ---------------------------------------------------------------------------- round trip
def _answered(tmp_path: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """A queue written for Argilla, read back, with reviewers' responses added by hand."""
    source = read_argilla(FIXTURES / "flat_records.json")
    queue = _queue(source.frame)
    write_argilla(queue_to_argilla(queue, source=source, question=None, agent="c"),
                  tmp_path / "queue.jsonl")
    records = [json.loads(line) for line in (tmp_path / "queue.jsonl").read_text().splitlines()]
    records[0]["responses"] = {"sentiment": [{"value": "negative", "user_id": "rev-1"}],
                               "comment": [{"value": "sarcasm", "user_id": "rev-1"}]}
    records[1]["responses"] = {"sentiment": [{"value": "negative", "user_id": "rev-2"}]}
    return queue, records


def _apply(queue: pd.DataFrame, corrections: pd.DataFrame, tmp_path: Path) -> Any:
    with ReviewLog(tmp_path / "review.db") as log:
        log.register_queue(queue, ["negative", "neutral", "positive"], "flat_records.json")
        result = log.apply(corrections, reviewer="lead", source_sha256="0" * 64,
                           source_name="export", first_line=None)
        return result, log.accepted_labels()


def test_round_trip_through_a_nested_export_gives_corrections_the_log_accepts(tmp_path):
    queue, records = _answered(tmp_path)
    (tmp_path / "export").mkdir()
    _write_json(tmp_path / "export" / "records.json", records)
    corrections = corrections_from_argilla(tmp_path / "export")
    queue_id = queue["queue"][0]
    assert list(corrections.columns) == list(CORRECTION_COLUMNS)
    assert list(corrections.itertuples(index=False, name=None)) == [
        (queue_id, "rec-1", "negative", "rev-1", "sarcasm"),
        (queue_id, "rec-2", "negative", "rev-2", "")]
    result, accepted = _apply(queue, corrections, tmp_path)
    assert (result.recorded, result.unchanged) == (1, 1)
    assert accepted == {"rec-1": "negative"}


def _flatten(record: dict[str, Any], statuses: dict[str, list[str]]) -> dict[str, Any]:
    """What GenericIO._record_to_dict(flatten=True) makes of a record (see SOURCES.md)."""
    flat = {"id": record["id"], "status": "completed", "_server_id": None,
            **record["fields"], **record["metadata"]}
    for question, responses in record["responses"].items():
        flat[f"{question}.responses"] = [r["value"] for r in responses]
        flat[f"{question}.responses.users"] = [r["user_id"] for r in responses]
        flat[f"{question}.responses.status"] = statuses[question]
    for question, suggestion in record["suggestions"].items():
        flat[f"{question}.suggestion"] = suggestion["value"]
        flat[f"{question}.suggestion.score"] = suggestion["score"]
        flat[f"{question}.suggestion.agent"] = suggestion["agent"]
    return flat


def test_round_trip_through_a_flat_export_reads_metadata_spread_over_the_record(tmp_path):
    queue, records = _answered(tmp_path)
    records[1]["responses"]["sentiment"].append({"value": "positive", "user_id": "rev-3"})
    flat = [_flatten(records[0], {"sentiment": ["submitted"], "comment": ["submitted"]}),
            _flatten(records[1], {"sentiment": ["submitted", "draft"]})]
    lines = tmp_path / "export.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in flat))
    corrections = corrections_from_argilla(lines)
    assert corrections[["item", "corrected_label", "reviewer", "comment"]].values.tolist() == [
        ["rec-1", "negative", "rev-1", "sarcasm"], ["rec-2", "negative", "rev-2", ""]]
    # a `metadata.<key>` spelling (a normalised export) is read too
    renamed = [{(f"metadata.{k}" if k.startswith("consensus_") else k): v for k, v in r.items()}
               for r in flat]
    again = corrections_from_argilla(_write_json(tmp_path / "renamed.json", renamed))
    pd.testing.assert_frame_equal(again, corrections)


def test_corrections_refuse_an_export_that_is_not_a_consensus_queue():
    with pytest.raises(InputError, match="record 'rec-1' has no consensus_queue and "
                                         "consensus_item metadata: this export does not come "
                                         "from a consensus review queue"):
        corrections_from_argilla(FIXTURES / "flat_records.json")
