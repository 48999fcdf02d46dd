"""Argilla: record exports in as votes or corrections, review queues and labels out as records.

Three export shapes are read (``tests/fixtures/tools/argilla/SOURCES.md`` names the
SDK code that writes each):

- **flat**: ``dataset.records.to_list(flatten=True)``, ``to_datasets()``, ``to_hub``.
  Fields and metadata are spread over the record; per question ``q`` the lists
  ``q.responses``, ``q.responses.users`` and ``q.responses.status`` pair up one
  entry per response.
- **nested**: ``Record.to_dict()`` as ``to_disk`` writes it to ``records.json``:
  ``{"id", "fields", "metadata", "suggestions", "responses": {q: [{"value",
  "user_id"}]}, ...}``. The SDK writes no per-response status here, so every
  response is taken as a vote (a ``status`` key, where one is present, is honoured).
- **legacy**: Argilla 1.x FeedbackDataset rows (Hugging Face Hub): per question
  ``{"user_id": [...], "value": [...], "status": [...]}`` or the same as a list
  of objects; the record id is ``id`` or else ``external_id``.

Only ``submitted`` responses are votes; the others are counted by status.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ...exceptions import InputError
from ...wording import option
from ..writers import atomic_path
from .cells import number as _number
from .cells import require_columns as _require
from .cells import show as _show
from .cells import text as _text
from .source import Origin, SourceVotes

#: The response status that makes a vote.
SUBMITTED = "submitted"
#: Prefix of the metadata keys the writers set; corrections are matched back by them.
META_PREFIX = "consensus_"
#: A text question of this name gives a correction its comment.
COMMENT_QUESTION = "comment"
#: Columns of :func:`corrections_from_argilla`, as ``ReviewLog.apply`` reads them.
CORRECTION_COLUMNS = ("queue", "item", "corrected_label", "reviewer", "comment")

# Keys of a flat record that belong to questions, and record keys that are not fields.
_QUESTION_SUFFIXES = (".responses", ".responses.users", ".responses.status", ".suggestion",
                      ".suggestion.score", ".suggestion.agent", "-suggestion",
                      "-suggestion-metadata")
_NOT_FIELDS = frozenset({"id", "status", "_server_id", "external_id", "metadata", "vectors"})

#: One question's responses in a record as the file holds them: values, users, statuses.
Answers = dict[str, tuple[Any, Any, Any]]


def looks_like_argilla(obj: Any) -> str | None:
    """``"flat"``, ``"nested"`` or ``"legacy"`` when a parsed record has that shape, else None.

    Specific so that detection never claims another tool's file: flat needs a
    ``<question>.responses.users`` key (a Parquet header is enough), nested a
    ``responses`` mapping beside ``fields``, legacy a question holding
    ``user_id`` and ``value`` lists.
    """
    if not isinstance(obj, dict):
        return None
    if any(isinstance(key, str) and key.endswith(".responses.users") for key in obj):
        return "flat"
    if isinstance(obj.get("responses"), dict) and "fields" in obj:
        return "nested"
    if any(_legacy_answer(value) is not None for value in obj.values()):
        return "legacy"
    return None


def read_argilla(path: str | os.PathLike[str], *, question: str | None = None) -> SourceVotes:
    """Votes from an Argilla export: one per submitted response to one label question.

    Parameters
    ----------
    path : path-like
        A flat or nested export as a JSON list, JSON Lines or Parquet (``.gz``
        too), or a ``to_disk`` folder holding ``records.json``.
    question : str, optional
        The question whose responses are the votes; needed when responses to
        several questions are present.

    Returns
    -------
    SourceVotes
        ``dropped`` counts drafts, discards and responses of any other status.
        Nested records carry no per-response status, so there every response
        is a vote and nothing is dropped. ``tasks`` maps record id to its
        fields; in the flat and legacy shapes those are the keys that are not
        questions, ids or ``consensus_*`` and whose values can be field values
        (text, an object, a list of objects): text metadata cannot be told from
        a field there and comes along.

    Raises
    ------
    InputError
        A record without id, a response without user id or with a list (multi-
        label) or empty value, response lists of unequal length, an unknown or
        ambiguous question, or no submitted response at all.
    """
    _, parsed, chosen, name = _read(path, question)
    items: list[str] = []
    annotators: list[str] = []
    labels: list[str] = []
    dropped: Counter[str] = Counter()
    for record_id, _, answers in parsed:
        where = f"{name}: record {record_id!r}"
        for value, user, status in _responses(answers.get(chosen), chosen, where):
            if status != SUBMITTED:
                dropped["no status" if status is None else str(status)] += 1
                continue
            items.append(record_id)
            annotators.append(_user(user, chosen, where))
            labels.append(_label(value, user, chosen, where))
    if not items:
        held = ", ".join(f"{n} {why}" for why, n in dropped.items())
        raise InputError(f"{name}: no submitted responses to {chosen!r}"
                         f"{f' ({held})' if held else ''}; only submitted responses are votes")
    frame = pd.DataFrame({"item": items, "annotator": annotators, "label": labels}, dtype=str)
    return SourceVotes(frame, "argilla", dict(dropped), None,
                       {record_id: fields for record_id, fields, _ in parsed},
                       {"question": chosen})


def corrections_from_argilla(path: str | os.PathLike[str], *,
                             question: str | None = None) -> pd.DataFrame:
    """Reviewers' answers on a queue dataset, as the rows ``ReviewLog.apply`` reads.

    The dataset must have been made from :func:`queue_to_argilla`'s records: its
    metadata ``consensus_queue`` and ``consensus_item`` (top-level keys in the
    flat shape, where the SDK spreads metadata over the record) say which queue
    and item each record is. One row per submitted response to the label
    question (nested: per response), with the same reviewer's answer to a text
    question named ``comment`` as comment.

    Parameters
    ----------
    path : path-like
        The export, as for :func:`read_argilla`.
    question : str, optional
        The label question; by default the one question other than ``comment``.

    Returns
    -------
    DataFrame
        :data:`CORRECTION_COLUMNS` as text (comment empty when none). Several
        reviewers answering one record give several rows for its item, which
        ``ReviewLog.apply`` refuses (one correction per item and file): give
        the queue dataset one submitted response per record.
    """
    records, parsed, chosen, name = _read(path, question, besides=COMMENT_QUESTION)
    rows: list[tuple[str, str, str, str, str]] = []
    for record, (record_id, _, answers) in zip(records, parsed, strict=True):
        where = f"{name}: record {record_id!r}"
        queue_id, item = (_meta(record, META_PREFIX + key) for key in ("queue", "item"))
        if queue_id is None or item is None:
            raise InputError(
                f"{where} has no {META_PREFIX}queue and {META_PREFIX}item metadata: this "
                f"export does not come from a consensus review queue; export the dataset "
                f"the queue's records were logged to")
        comments = {str(user): _text(value) or "" for value, user, status
                    in _responses(answers.get(COMMENT_QUESTION), COMMENT_QUESTION, where)
                    if status == SUBMITTED}
        for value, user, status in _responses(answers.get(chosen), chosen, where):
            if status == SUBMITTED:
                reviewer = _user(user, chosen, where)
                rows.append((queue_id, item, _label(value, user, chosen, where), reviewer,
                             comments.get(reviewer, "")))
    return pd.DataFrame(rows, columns=list(CORRECTION_COLUMNS), dtype=str)


def queue_to_argilla(queue: pd.DataFrame, *, source: Origin | SourceVotes | None = None,
                     question: str | None = None, agent: str = "consensus") -> list[dict[str, Any]]:
    """A review queue as Argilla records: consensus as suggestion, queue facts as metadata.

    Records are in the nested shape (``Record.to_dict``): ``id`` is the item,
    ``fields`` the source record's fields when known (else ``{"text": content}``
    or ``{"item": item}``), ``suggestions`` the consensus with its confidence as
    score, and ``metadata`` the ``consensus_queue, consensus_item,
    consensus_priority, consensus_reasons, consensus_votes,
    consensus_confidence`` that :func:`corrections_from_argilla` reads back.

    Why nested: ``dataset.records.log`` takes flat dicts too, but only keys named
    after the dataset's fields, questions and *declared* metadata properties; the
    suggestion's score and agent need a ``mapping``, and undeclared metadata
    (which the corrections need) is dropped. ``rg.Record.from_dict`` (what
    ``records.from_json`` uses) keeps all of it. Log into a dataset of its own
    (ids are the items' ids, so logging into the source dataset updates those
    records); with :func:`write_argilla`'s file::

        records = [rg.Record.from_dict(json.loads(line)) for line in open("queue.jsonl")]
        dataset.records.log(records)

    Parameters
    ----------
    queue : DataFrame
        From ``consensus.review.queue.build_queue`` (or its file read back).
    source : SourceVotes, optional
        What :func:`read_argilla` returned, for the fields and the question.
    question : str, optional
        The label question the suggestions answer; by default the source's.
    agent : str
        Shown in Argilla as the suggestion's agent.
    """
    _require(queue, ("queue", "priority", "item", "votes", "consensus", "confidence",
                     "reasons"), "the review queue", "build it with build_queue")
    target = _target_question(question, source)
    records = []
    for row in queue.to_dict("records"):
        item = str(row["item"])
        score = _number(row["confidence"], "confidence", item)
        priority = _number(row["priority"], "priority", item)
        metadata = {"consensus_queue": _text(row["queue"]), "consensus_item": item,
                    "consensus_priority": None if priority is None else int(priority),
                    "consensus_reasons": _text(row["reasons"]),
                    "consensus_votes": _text(row["votes"]), "consensus_confidence": score}
        records.append(_record(item, _fields(item, source, row.get("content")), target,
                               row["consensus"], score, agent, metadata))
    return records


def labels_to_argilla(labels: pd.DataFrame, *, source: Origin | SourceVotes | None = None,
                      question: str | None = None,
                      agent: str = "consensus") -> list[dict[str, Any]]:
    """``aggregate``'s item table as Argilla records with the consensus as suggestion.

    Same shape and way of logging as :func:`queue_to_argilla`; the metadata are
    ``consensus_item, consensus_confidence, consensus_n_votes,
    consensus_agreement`` and ``consensus_gold`` where the table has them.
    """
    _require(labels, ("item", "label", "confidence"), "the labels table",
             "use aggregate's item table")
    target = _target_question(question, source)
    records = []
    for row in labels.to_dict("records"):
        item = str(row["item"])
        score = _number(row["confidence"], "confidence", item)
        n_votes = _number(row.get("n_votes"), "n_votes", item)
        metadata = {"consensus_item": item, "consensus_confidence": score,
                    "consensus_n_votes": None if n_votes is None else int(n_votes),
                    "consensus_agreement": _number(row.get("agreement"), "agreement", item),
                    "consensus_gold": _text(row.get("gold"))}
        records.append(_record(item, _fields(item, source, None), target, row["label"], score,
                               agent, metadata))
    return records


def write_argilla(records: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write records as JSON Lines, atomically.

    A path ending in ``.json`` gets one JSON list instead: the file
    ``dataset.records.from_json`` reads.
    """
    try:
        texts = [json.dumps(record, ensure_ascii=False, allow_nan=False) for record in records]
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: a record cannot be written as JSON ({exc})") from None
    body = ("[" + ",\n".join(texts) + "]\n" if str(path).lower().endswith(".json")
            else "".join(text + "\n" for text in texts))
    with atomic_path(path) as tmp_name, open(tmp_name, "w", encoding="utf-8") as out:
        out.write(body)


# ---------------------------------------------------------------------------- reading
Parsed = tuple[str, dict[str, Any], Answers]


def _read(path: str | os.PathLike[str], question: str | None,
          besides: str | None = None) -> tuple[list[Any], list[Parsed], str, str]:
    """Records, each parsed as (id, fields, answers), the label question, the file's name."""
    records, shape, name = _load_records(path)
    parsed = [_parse(record, shape, n, name) for n, record in enumerate(records, 1)]
    return records, parsed, _choose_question(parsed, question, name, besides), name


def _load_records(path: str | os.PathLike[str]) -> tuple[list[Any], str, str]:
    """The records of an export, its shape, and the name messages give the file."""
    file = Path(path)
    if file.is_dir():
        file = file / "records.json"
        if not file.is_file():
            raise InputError(f"{path}: a folder without records.json; give the export file, "
                             f"or the folder dataset.to_disk wrote")
    if not file.exists():
        raise InputError(f"{file}: no such file")
    if file.name.lower().removesuffix(".gz").endswith((".parquet", ".pq")):
        records = _parquet_records(file)
    else:
        records = _json_records(file)
    if not records:
        raise InputError(f"{file}: no records")
    shape = next((found for record in records if (found := looks_like_argilla(record))), None)
    if shape is None:
        first = records[0]
        keys = ", ".join(map(str, list(first)[:8])) if isinstance(first, dict) else repr(first)
        raise InputError(
            f"{file}: not an Argilla export: no record has <question>.responses.users (flat "
            f"export), responses beside fields (records.json) or user_id and value lists "
            f"(Argilla 1.x); the first record's keys are {keys}")
    return records, shape, str(file)


def _json_records(file: Path) -> list[Any]:
    """A JSON list, or JSON Lines; ``.gz`` files are decompressed first."""
    try:
        raw = file.read_bytes()
        text = (gzip.decompress(raw) if file.name.lower().endswith(".gz") else raw).decode(
            "utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"{file}: could not be read as UTF-8 JSON ({exc})") from None
    if text.lstrip().startswith("["):
        try:
            whole = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{file}: not valid JSON ({exc.msg} at line {exc.lineno}, column "
                             f"{exc.colno}); fix the file or export it again") from None
        return list(whole)
    records: list[Any] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{file}: line {number} is not valid JSON ({exc.msg}); an "
                                 f"Argilla export is a JSON list of records or JSON Lines, "
                                 f"one record per line") from None
    return records


def _parquet_records(file: Path) -> list[Any]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_table(file).to_pylist())
    except Exception as exc:  # pyarrow's errors are not ValueError subclasses
        raise InputError(f"{file}: could not be read as Parquet ({exc})") from None


def _parse(record: Any, shape: str, number: int, name: str) -> Parsed:
    """A record's id, fields and per-question responses, whatever the shape."""
    if not isinstance(record, dict):
        raise InputError(f"{name}: record {number} is {_show(record)}, not an object; each "
                         f"record must be a JSON object")
    raw_id = record.get("id")
    if _text(raw_id) is None and shape == "legacy":
        raw_id = record.get("external_id")
    record_id = _text(raw_id)
    if record_id is None:
        where = "Argilla's record id, or external_id in Argilla 1.x" if shape == "legacy" \
            else "Argilla's record id"
        raise InputError(f"{name}: record {number} has no id ({_show(raw_id)}); every record "
                         f"needs one ({where}) to name its item")
    where = f"{name}: record {record_id!r}"
    if shape == "nested":
        fields, responses = record.get("fields") or {}, record.get("responses") or {}
        if not isinstance(fields, dict) or not isinstance(responses, dict):
            raise InputError(f"{where}: fields and responses must be objects, not "
                             f"{_show(fields)} and {_show(responses)}")
        return record_id, fields, {q: _from_objects(r, q, where) for q, r in responses.items()}
    if shape == "flat":
        answers = {key.removesuffix(".responses"): (
            record.get(key), record.get(key + ".users"), record.get(key + ".status"))
            for key in record if isinstance(key, str) and key.endswith(".responses")}
    else:
        answers = {key: found for key, value in record.items()
                   if (found := _legacy_answer(value)) is not None}
    fields = {key: value for key, value in record.items()
              if isinstance(key, str) and key not in _NOT_FIELDS and key not in answers
              and not key.endswith(_QUESTION_SUFFIXES)
              and not key.startswith((META_PREFIX, "metadata.", "vectors."))
              and _is_field_value(value)}
    return record_id, fields, answers


def _legacy_answer(value: Any) -> tuple[Any, Any, Any] | None:
    """An Argilla 1.x question's responses, or None when ``value`` is not one.

    The Hugging Face Hub shows the list of response objects as an object of
    lists; files written from it may hold either.
    """
    if isinstance(value, dict) and isinstance(value.get("user_id"), list) \
            and isinstance(value.get("value"), list):
        return value["value"], value["user_id"], value.get("status")
    if isinstance(value, list) and value and all(
            isinstance(entry, dict) and {"user_id", "value"} <= entry.keys() for entry in value):
        return _from_objects(value, "", "")
    return None


def _from_objects(entries: Any, question: str, where: str) -> tuple[Any, Any, Any]:
    """``[{"value", "user_id"[, "status"]}]`` as lists; no status keys means all count."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InputError(f"{where}: the responses to {question!r} are {_show(entries)}, not a "
                         f"list of {{value, user_id}} objects; export the dataset again")
    statuses = [e.get("status") for e in entries] if any("status" in e for e in entries) \
        else None
    return [e.get("value") for e in entries], [e.get("user_id") for e in entries], statuses


def _responses(answer: tuple[Any, Any, Any] | None, question: str,
               where: str) -> Iterator[tuple[Any, Any, Any]]:
    """``(value, user, status)`` per response; a missing status list means submitted."""
    if answer is None or all(part is None for part in answer):
        return
    values, users, statuses = answer
    parts = {"": values, ".users": users, ".status": statuses}
    for suffix, part in parts.items():
        if not isinstance(part, list) and not (suffix == ".status" and part is None):
            raise InputError(f"{where}: {question}.responses{suffix} is {_show(part)}, not a "
                             f"list; export the dataset again with to_list(flatten=True)")
    if statuses is None:
        statuses = [SUBMITTED] * len(values)
    if not len(values) == len(users) == len(statuses):
        raise InputError(
            f"{where}: the responses to {question!r} pair {len(values)} values with "
            f"{len(users)} user ids and {len(statuses)} statuses; the lists ({question}"
            f".responses, .users, .status) must be equally long, one entry per response: "
            f"export the dataset again")
    yield from zip(values, users, statuses, strict=True)


def _choose_question(parsed: list[Parsed], question: str | None, name: str,
                     besides: str | None) -> str:
    """The label question: the one asked for, or the only one with responses."""
    present = list(dict.fromkeys(q for _, _, answers in parsed for q in answers))
    if question is not None:
        if question not in present:
            raise InputError(f"{name}: no responses to a question {question!r}; questions "
                             f"with responses: {', '.join(present) or 'none'}")
        return question
    candidates = [q for q in present if q != besides]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InputError(f"{name}: no record has responses to a label question; export the "
                         f"dataset after annotators have submitted")
    raise InputError(f"{name}: responses to {len(candidates)} questions "
                     f"({', '.join(candidates)}); pick one with {option('question')}")


def _user(user: Any, question: str, where: str) -> str:
    # The SDK's flat export writes str(user_id), so a missing id arrives as "None".
    text = _text(user)
    if text is None or text == "None":
        raise InputError(f"{where}: a response to {question!r} has no user id "
                         f"({_show(user)}); a vote must say who cast it: export the dataset "
                         f"again with its responses' user ids")
    return text


def _label(value: Any, user: Any, question: str, where: str) -> str:
    if isinstance(value, (list, tuple)):
        raise InputError(f"{where}: {user}'s response to {question!r} is {_show(value)}: "
                         f"single-label consensus needs one label per response; pick a "
                         f"single-label question with {option('question')}")
    text = None if isinstance(value, dict) else _text(value)
    if text is None:
        raise InputError(f"{where}: {user}'s submitted response to {question!r} is "
                         f"{_show(value)}, not a label; pick a label question with "
                         f"{option('question')}")
    return text


def _meta(record: dict[str, Any], key: str) -> str | None:
    """A metadata value: nested, spread over a flat record, or as ``metadata.<key>``."""
    nested = record.get("metadata")
    for value in (nested.get(key) if isinstance(nested, dict) else None, record.get(key),
                  record.get(f"metadata.{key}")):
        if (text := _text(value)) is not None:
            return text
    return None


def _is_field_value(value: Any) -> bool:
    """Argilla fields hold text (or an image URL), an object, or a chat (list of objects);
    metadata numbers and vectors never look like that."""
    return isinstance(value, (str, dict)) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value))


# ---------------------------------------------------------------------------- writing
def _record(item: str, fields: dict[str, Any], question: str, label: Any, score: float | None,
            agent: str, metadata: dict[str, Any]) -> dict[str, Any]:
    value = _text(label)
    return {"id": item, "fields": fields,
            "metadata": {key: v for key, v in metadata.items() if v is not None},
            "suggestions": {} if value is None else
            {question: {"value": value, "score": score, "agent": agent}},
            "responses": {}, "vectors": {}}


def _fields(item: str, source: Origin | SourceVotes | None, content: Any) -> dict[str, Any]:
    """The item's own fields when the source knows them, so reviewers see what annotators saw."""
    tasks = source.tasks if source is not None and source.tasks else {}
    if item in tasks:
        return dict(tasks[item])
    text = _text(content)
    return {"text": text} if text is not None else {"item": item}


def _target_question(question: str | None, source: Origin | SourceVotes | None) -> str:
    if question:
        return question
    known = (source.control or {}).get("question") if source is not None else None
    if known:
        return str(known)
    raise InputError(f"name the Argilla question the suggestions answer with "
                     f"{option('question')}; the votes did not come from Argilla, so it is "
                     f"not known")







