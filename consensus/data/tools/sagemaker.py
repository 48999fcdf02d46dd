"""SageMaker Ground Truth worker responses in, as votes; its consolidated labels for comparison.

Ground Truth keeps every worker's answer under
``annotations/worker-response/iteration-N/<dataset-object-id>/<timestamp>.json``
(AWS developer guide, "Output Data"); ``manifests/output/output.manifest`` holds
only the label its own consolidation chose, so it is read apart and never as votes.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ...exceptions import InputError
from ...wording import option
from .mturk import crowd_answer_label
from .source import SourceVotes

WORKER_RESPONSE = "worker-response"
_ITERATION = re.compile(r"iteration-(\d+)")
_METADATA = "-metadata"


def looks_like_sagemaker(path: str | os.PathLike[str]) -> bool:
    """True for a labeling job's output folder, its ``annotations/`` or ``worker-response/``."""
    return _responses_folder(Path(path)) is not None


def read_sagemaker(path: str | os.PathLike[str]) -> SourceVotes:
    """Read every worker's answer of a Ground Truth labeling job as votes.

    Parameters
    ----------
    path : path-like
        The job's output folder (holding ``annotations/``), ``annotations/`` itself, or
        ``annotations/worker-response/``.

    Returns
    -------
    SourceVotes
        ``frame`` with ``item`` (the dataset object id: the folder name, which is the
        line's 0-based index in the input manifest), ``annotator`` (``workerId``),
        ``label``, ``seconds`` (``timeSpentInSeconds``) and ``created_at``
        (``submissionTime``), in folder order. ``dropped`` counts ``no answer`` and
        ``superseded``: when a worker answered the same object in several iterations
        (chained jobs, retries), only the latest iteration's answer is kept.

    Notes
    -----
    The label comes from ``answerContent`` as :func:`~.mturk.crowd_answer_label` reads
    it: the built-in text and image classifiers write
    ``{"crowd-classifier": {"label": ...}}`` and ``{"crowd-image-classifier": {"label": ...}}``,
    a custom template one nested ``label``. Anything else (bounding boxes, multi-select
    with several labels, several fields) is an error naming the file.
    """
    root = Path(path)
    if not root.exists():
        raise InputError(f"{root}: no such folder")
    if root.is_file():
        raise InputError(
            f"{root}: is a file; read_sagemaker reads the labeling job's output folder "
            f"(the one holding annotations/worker-response). For the consolidated "
            f"output.manifest use read_sagemaker_manifest"
        )
    folder = _responses_folder(root)
    if folder is None:
        raise InputError(
            f"{root}: no {WORKER_RESPONSE} folder here, in annotations/ or in "
            f"annotations/{WORKER_RESPONSE}/; point at the labeling job's output folder"
        )
    iterations = sorted(
        (int(match.group(1)), entry)
        for entry in folder.iterdir()
        if entry.is_dir() and (match := _ITERATION.fullmatch(entry.name))
    )
    if not iterations:
        raise InputError(f"{folder}: no iteration-N folders of worker responses")
    rows = [
        (obj.name, *answer, number)
        for number, iteration in iterations
        for obj in sorted((d for d in iteration.iterdir() if d.is_dir()), key=_object_order)
        for file in sorted(obj.glob("*.json"))
        for answer in _answers(file)
    ]
    if not rows:
        raise InputError(f"{folder}: no worker response files (iteration-N/<object id>/*.json)")
    frame = pd.DataFrame(
        rows, columns=["item", "annotator", "label", "seconds", "created_at", "iteration"]
    )
    empty = frame["label"].isna()
    frame = frame.loc[~empty]
    latest = frame.groupby(["item", "annotator"])["iteration"].transform("max")
    superseded = frame["iteration"] < latest
    frame = frame.loc[~superseded].drop(columns="iteration").reset_index(drop=True)
    frame["seconds"] = frame["seconds"].astype(float)
    dropped = {"no answer": int(empty.sum()), "superseded": int(superseded.sum())}
    return SourceVotes(
        frame=frame,
        tool="sagemaker",
        dropped={reason: n for reason, n in dropped.items() if n},
    )


def read_sagemaker_manifest(
    path: str | os.PathLike[str], *, label_attribute: str | None = None
) -> pd.DataFrame:
    """The labels Ground Truth's own consolidation chose, to compare with ours (not votes).

    Parameters
    ----------
    path : path-like
        ``output.manifest`` (JSON Lines), or the job's output folder holding
        ``manifests/output/output.manifest``.
    label_attribute : str, optional
        The job's label attribute name; needed only when the manifest carries several
        (chained jobs each add their own).

    Returns
    -------
    DataFrame
        ``item`` (the line's 0-based index among non-blank lines, as text: Ground Truth
        numbers dataset objects by their line in the input manifest, and the output
        manifest keeps that order, so it matches :func:`read_sagemaker`'s items),
        ``label`` (``class-name``), ``confidence`` (float, NaN if absent) and ``source``
        (``source-ref`` or ``source``). Lines without a ``class-name`` (objects that
        failed or are not labelled yet) are left out.
    """
    path = _manifest_file(Path(path))
    records = list(_manifest_records(path))
    attribute = _label_attribute(records, label_attribute, path)
    rows = []
    for index, (_, record) in enumerate(records):
        meta = record.get(f"{attribute}{_METADATA}")
        if not isinstance(meta, dict) or meta.get("class-name") is None:
            continue
        source = record.get("source-ref", record.get("source"))
        rows.append((str(index), str(meta["class-name"]), _number(meta.get("confidence")),
                     None if source is None else str(source)))
    frame = pd.DataFrame(rows, columns=["item", "label", "confidence", "source"])
    frame["confidence"] = frame["confidence"].astype(float)
    return frame


def _responses_folder(path: Path) -> Path | None:
    for candidate in (path / "annotations" / WORKER_RESPONSE, path / WORKER_RESPONSE, path):
        if candidate.name == WORKER_RESPONSE and candidate.is_dir():
            return candidate
    return None


def _object_order(folder: Path) -> tuple[int, int, str]:
    """Dataset object ids are line numbers: sort ``2`` before ``10``."""
    name = folder.name
    return (0, int(name), name) if name.isdigit() else (1, 0, name)


def _answers(file: Path) -> Iterator[tuple[str, str | None, float, str | None]]:
    """``(worker, label, seconds, submitted)`` for each answer in one response file."""
    try:
        body = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{file}: could not be read as JSON ({exc})") from None
    answers = body.get("answers") if isinstance(body, dict) else None
    if not isinstance(answers, list):
        raise InputError(f"{file}: expected an object with an \"answers\" list, as Ground "
                         f"Truth writes worker responses")
    for number, answer in enumerate(answers, start=1):
        where = f"{file}: answer {number}"
        if not isinstance(answer, dict):
            raise InputError(f"{where}: is {answer!r}, not an object")
        worker = answer.get("workerId")
        if isinstance(worker, bool) or not isinstance(worker, str | int) or not str(worker):
            raise InputError(f"{where}: no workerId; remove the file or fill it in")
        where = f"{where} (worker {worker})"
        content = answer.get("answerContent")
        if not isinstance(content, dict):
            raise InputError(f"{where}: answerContent is {content!r}, not an object")
        try:
            label = crowd_answer_label(content)
        except ValueError as exc:
            raise InputError(
                f"{where}: answerContent {exc}; only single-label classification answers "
                f"can be read as votes"
            ) from None
        spent = answer.get("timeSpentInSeconds")
        seconds = _number(spent)
        if spent is not None and math.isnan(seconds):
            raise InputError(f"{where}: timeSpentInSeconds {spent!r} is not a number")
        submitted = answer.get("submissionTime")
        yield str(worker), label, seconds, None if submitted is None else str(submitted)


def _number(value: Any) -> float:
    """A JSON number as float; NaN when absent or not a number."""
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _manifest_file(path: Path) -> Path:
    if path.is_dir():
        for candidate in (path / "manifests" / "output" / "output.manifest",
                          path / "output" / "output.manifest", path / "output.manifest"):
            if candidate.is_file():
                return candidate
        raise InputError(f"{path}: no manifests/output/output.manifest in this folder")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return path


def _manifest_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(file line, object)`` for each non-blank line of a JSON Lines manifest."""
    try:
        with open(path, encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}: line {line_number}: not JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise InputError(f"{path}: line {line_number}: {line.strip()[:60]!r} is "
                                     f"not a JSON object")
                yield line_number, record
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: could not be read ({exc})") from None


def _label_attribute(
    records: list[tuple[int, dict[str, Any]]], chosen: str | None, path: Path
) -> str:
    """The label attribute whose ``-metadata`` carries a ``class-name``."""
    found = sorted({
        key[: -len(_METADATA)]
        for _, record in records
        for key, meta in record.items()
        if key.endswith(_METADATA) and isinstance(meta, dict) and "class-name" in meta
    })
    if chosen is not None:
        if chosen not in found:
            raise InputError(f"{path}: no label attribute {chosen!r} with a class-name; "
                             f"found: {', '.join(found) or 'none'}")
        return chosen
    if len(found) == 1:
        return found[0]
    if found:
        raise InputError(f"{path}: several label attributes ({', '.join(found)}); "
                         f"pick one with {option('label_attribute')}")
    multi = any(isinstance(meta, dict) and "class-map" in meta
                for _, record in records for key, meta in record.items()
                if key.endswith(_METADATA))
    kind = "multi-label classification (class-map), which has no single label per object"
    raise InputError(
        f"{path}: no label attribute with a class-name"
        + (f"; this looks like {kind}" if multi else "; is this a classification job's manifest?")
    )
