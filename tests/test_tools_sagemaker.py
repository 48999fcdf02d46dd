"""SageMaker Ground Truth worker responses in: folder depths, iterations, answer shapes, manifest.

Expected votes are read off the hand-written fixture job
(tests/fixtures/tools/sagemaker/SOURCES.md).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT

from consensus.data.tools.sagemaker import (
    looks_like_sagemaker,
    read_sagemaker,
    read_sagemaker_manifest,
)
from consensus.exceptions import InputError

JOB = ROOT / "tests" / "fixtures" / "tools" / "sagemaker" / "review-sentiment"
RESPONSES = JOB / "annotations" / "worker-response"
W1, W2, W3 = ("private.us-east-1.1a2b3c4d5e6f7081", "private.us-east-1.9f8e7d6c5b4a3921",
              "private.us-east-1.55aa66bb77cc88dd")


def _votes(frame) -> set[tuple[str, str, str]]:
    return set(frame[["item", "annotator", "label"]].itertuples(index=False, name=None))


def _job_with(tmp_path: Path, content: dict, obj: str = "7") -> Path:
    """A copy of the fixture job with one more response file, for object ``obj``."""
    job = tmp_path / "job"
    shutil.copytree(JOB, job)
    extra = job / "annotations" / "worker-response" / "iteration-1" / obj / "2024-03-06_08-00.json"
    extra.parent.mkdir(parents=True, exist_ok=True)
    extra.write_text(json.dumps(content))
    return job


def _answer(content: dict, worker: str = "w9") -> dict:
    return {"answers": [{"workerId": worker, "answerContent": content,
                         "timeSpentInSeconds": 3.5, "submissionTime": "2024-03-06T08:00:00.000Z"}]}


def test_two_objects_three_workers_with_a_later_iteration_superseding():
    result = read_sagemaker(JOB)
    assert result.tool == "sagemaker"
    assert _votes(result.frame) == {
        ("0", W1, "positive"), ("0", W2, "positive"), ("0", W3, "neutral"),
        ("1", W1, "negative"), ("1", W2, "negative"), ("1", W3, "negative"),
    }  # W2 said "neutral" on object 1 in iteration-1, then "negative" in iteration-2
    assert result.dropped == {"superseded": 1}
    later = result.frame[(result.frame["item"] == "1") & (result.frame["annotator"] == W2)]
    assert later["seconds"].tolist() == [22.331]
    assert later["created_at"].tolist() == ["2024-03-05T09:02:12.731Z"]
    assert result.frame["seconds"].dtype == float


@pytest.mark.parametrize("where", [JOB, JOB / "annotations", RESPONSES])
def test_the_job_folder_annotations_or_worker_response_can_be_given(where):
    assert looks_like_sagemaker(where)
    assert _votes(read_sagemaker(where).frame) == _votes(read_sagemaker(JOB).frame)


def test_other_paths_do_not_look_like_sagemaker(tmp_path):
    assert not looks_like_sagemaker(JOB / "manifests")
    assert not looks_like_sagemaker(JOB / "manifests" / "output" / "output.manifest")
    assert not looks_like_sagemaker(tmp_path / "nowhere")


def test_a_folder_without_worker_responses_says_where_it_looked(tmp_path):
    with pytest.raises(InputError, match="no worker-response folder here, in annotations/"):
        read_sagemaker(tmp_path)


def test_pointing_at_the_manifest_file_points_to_the_manifest_reader():
    with pytest.raises(InputError, match="read_sagemaker_manifest"):
        read_sagemaker(JOB / "manifests" / "output" / "output.manifest")


@pytest.mark.parametrize("content, label", [
    ({"crowd-image-classifier": {"label": "dog"}}, "dog"),
    ({"response": {"label": "Response 2"}}, "Response 2"),
    ({"crowd-image-classifier-multi-select": {"labels": ["cat"]}}, "cat"),
])
def test_built_in_image_classifier_and_custom_templates_give_their_label(tmp_path, content, label):
    frame = read_sagemaker(_job_with(tmp_path, _answer(content))).frame
    assert _votes(frame[frame["item"] == "7"]) == {("7", "w9", label)}


def test_an_empty_answer_is_counted_not_kept(tmp_path):
    result = read_sagemaker(_job_with(tmp_path, _answer({})))
    assert "7" not in set(result.frame["item"])
    assert result.dropped == {"no answer": 1, "superseded": 1}


@pytest.mark.parametrize("content, message", [
    ({"crowd-classifier": {"label": "x"}, "notes": {"label": "y"}}, "several label fields"),
    ({"boundingBox": {"boundingBoxes": [{"label": "Bird"}],
                      "inputImageProperties": {"height": 2, "width": 3}}}, "several answer fields"),
])
def test_ambiguous_answer_content_is_an_error_naming_the_file(tmp_path, content, message):
    with pytest.raises(InputError) as info:
        read_sagemaker(_job_with(tmp_path, _answer(content)))
    assert "iteration-1/7/2024-03-06_08-00.json: answer 1 (worker w9)" in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize("body, message", [
    ("{not json", "could not be read as JSON"),
    ('[{"workerId": "w9"}]', 'an "answers" list'),
    ('{"answers": [{"answerContent": {"c": {"label": "x"}}}]}', "answer 1: no workerId"),
    ('{"answers": [{"workerId": "w9", "answerContent": {"c": {"label": "x"}}, '
     '"timeSpentInSeconds": "slow"}]}', "timeSpentInSeconds 'slow' is not a number"),
])
def test_malformed_response_files_are_errors_naming_the_file(tmp_path, body, message):
    job = _job_with(tmp_path, _answer({"c": {"label": "x"}}))
    bad = next((job / "annotations" / "worker-response" / "iteration-1" / "7").glob("*.json"))
    bad.write_text(body)
    with pytest.raises(InputError, match=message) as info:
        read_sagemaker(job)
    assert str(bad) in str(info.value)


def test_the_manifest_gives_ground_truths_own_labels_keyed_like_the_votes():
    manifest = read_sagemaker_manifest(JOB / "manifests" / "output" / "output.manifest")
    assert manifest[["item", "label"]].values.tolist() == [["0", "positive"], ["1", "negative"]]
    assert manifest["confidence"].tolist() == [0.83, 0.91]
    assert manifest["source"].iloc[1] == "Arrived broken. Never again."
    assert set(manifest["item"]) == set(read_sagemaker(JOB).frame["item"])
    assert read_sagemaker_manifest(JOB).equals(manifest)


def _manifest(tmp_path: Path, *lines: dict | str) -> Path:
    path = tmp_path / "output.manifest"
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines))
    return path


def _line(attr: str, name: str | None, **extra) -> dict:
    meta = {"confidence": 0.5, "job-name": f"labeling-job/{attr}"}
    if name is not None:
        meta["class-name"] = name
    return {"source-ref": "s3://bucket/a.jpg", attr: 0, f"{attr}-metadata": meta, **extra}


def test_unlabelled_lines_are_left_out_but_keep_their_place(tmp_path):
    path = _manifest(tmp_path, _line("sport", None), "", _line("sport", "football"))
    assert read_sagemaker_manifest(path)[["item", "label"]].values.tolist() == [["1", "football"]]


def test_several_label_attributes_need_one_chosen(tmp_path):
    chained = _line("sport", "football", **{"venue": 1, "venue-metadata": {"class-name": "indoor"}})
    path = _manifest(tmp_path, chained)
    with pytest.raises(InputError, match=r"several label attributes \(sport, venue\); "
                                         r"pick one with label_attribute="):
        read_sagemaker_manifest(path)
    assert read_sagemaker_manifest(path, label_attribute="venue")["label"].tolist() == ["indoor"]


def test_multi_label_manifests_and_bad_lines_are_errors(tmp_path):
    multi = {"source-ref": "s3://b/a.jpg", "animals": [1, 0],
             "animals-metadata": {"class-map": {"0": "cat", "1": "dog"}}}
    with pytest.raises(InputError, match="multi-label classification"):
        read_sagemaker_manifest(_manifest(tmp_path, multi))
    with pytest.raises(InputError, match=r"output\.manifest: line 2: not JSON"):
        read_sagemaker_manifest(_manifest(tmp_path, _line("sport", "golf"), "{oops"))
