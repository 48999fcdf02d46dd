"""Amazon Mechanical Turk batch results CSV in, as votes.

One row per assignment: ``HITId`` (or an ``Input.*`` column) is the item,
``WorkerId`` the annotator and one ``Answer.*`` field the label. MTurk and
SageMaker Ground Truth share the crowd HTML elements, whose answers are nested
objects; :func:`crowd_answer_label` reads one label out of such an answer for
both readers.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...exceptions import InputError
from ...wording import describe_rows, option
from ..readers import read_table
from .source import SourceVotes

#: Columns every batch results file has, and by which one is recognised.
MTURK_COLUMNS = ("HITId", "WorkerId", "AssignmentStatus")
#: The single answer column of a ``crowd-form`` without ``answer-format="flatten-objects"``.
TASK_ANSWERS = "Answer.taskAnswers"
_LABEL_FIELDS = ("label", "labels")


def looks_like_mturk(columns: Sequence[str]) -> bool:
    """True for a batch results header: HITId, WorkerId and AssignmentStatus all present."""
    return set(MTURK_COLUMNS) <= {str(c).strip() for c in columns}


def read_mturk(
    path: str | os.PathLike[str],
    *,
    item_column: str | None = None,
    label_column: str | None = None,
) -> SourceVotes:
    """Read a Mechanical Turk batch results CSV as votes.

    Parameters
    ----------
    path : path-like
        The batch results CSV as downloaded from the requester site.
    item_column : str, optional
        Column naming the item, e.g. ``Input.item_id`` (the ``Input.`` prefix may be
        left out); default ``HITId``. Use it when one item was published in several HITs.
    label_column : str, optional
        The ``Answer.*`` column holding the label, or the common prefix of a group of
        true/false option columns (``Answer.sentiment``), or ``Answer.taskAnswers.<field>``
        for one field of the JSON answer. Default: found from the header, see Notes.

    Returns
    -------
    SourceVotes
        ``frame`` with ``item, annotator, label``, ``seconds`` (``WorkTimeInSeconds``) and
        ``created_at`` (``SubmitTime``) when present; ``dropped`` counts ``rejected``
        assignments and ``no answer``; ``tasks`` maps each item to its ``Input.*`` values.

    Notes
    -----
    Without ``label_column`` the label is the one ``Answer.<name>.label`` column
    (``crowd-classifier``), else the only ``Answer.*`` column (``Answer.taskAnswers`` is
    parsed as JSON), else, when every ``Answer.*`` column holds true/false, the option
    whose column is true. Anything else is an error listing the candidates.
    """
    path = Path(path)
    source = str(path)
    frame = read_table(path)
    columns = [str(c) for c in frame.columns]
    missing = [c for c in MTURK_COLUMNS if c not in columns]
    if missing:
        raise InputError(
            f"{source}: not a Mechanical Turk batch results file (no {', '.join(missing)} "
            f"column); columns found: {', '.join(columns)}"
        )
    item = _item_column(columns, item_column, source)
    rejected = _matching(frame["AssignmentStatus"], lambda v: v.strip() == "Rejected")
    kept = frame.loc[~rejected]
    labels, chosen = _labels(kept, label_column, path)
    answered = labels.notna().to_numpy()
    kept, labels = kept.loc[answered], labels.loc[answered]

    for column, role in ((item, "item"), ("WorkerId", "annotator")):
        blank = kept.index[kept[column].isna().to_numpy()]
        if len(blank):
            raise InputError(f"{source}: {_where(path, blank)}: no {column} (the {role}); "
                             f"fill it in or remove those assignments")
    votes = pd.DataFrame({"item": kept[item], "annotator": kept["WorkerId"],
                          "label": labels})
    if "WorkTimeInSeconds" in columns:
        votes["seconds"] = _seconds(kept["WorkTimeInSeconds"], path)
    if "SubmitTime" in columns:
        votes["created_at"] = kept["SubmitTime"]
    dropped = {"rejected": int(rejected.sum()), "no answer": int((~answered).sum())}
    return SourceVotes(
        frame=votes.reset_index(drop=True),
        tool="mturk",
        dropped={reason: n for reason, n in dropped.items() if n},
        tasks=_tasks(frame, item),
        control={"item_column": item, "label_column": chosen},
    )


def crowd_answer_label(answer: Mapping[str, Any], field: str | None = None) -> str | None:
    """The one label in a crowd HTML form's answer object, or None when it is empty.

    ``{"sentiment": {"label": "Positive"}}`` (``crowd-classifier`` and Ground Truth's
    built-in classifiers) and a custom form with one nested ``label`` give that label;
    ``{"category": "x"}`` its only value; radio buttons (every field true/false,
    ``{"sentiment": {"positive": true, "negative": false}}``) the name of the one ticked.
    ``field`` picks a dotted path instead. Raises ValueError saying why otherwise.
    """
    flat = _flatten(answer)
    if field is not None:
        if field not in flat:
            raise ValueError(f"has no field {field!r} (fields: {', '.join(flat) or 'none'})")
        return _label_text(flat[field])
    if not flat:
        return None
    kind, names = _choose(list(flat), lambda: all(isinstance(v, bool) for v in flat.values()))
    if kind == "field":
        return _label_text(flat[names[0]])
    ticked = [name for name, on in zip(_option_names(names), flat.values(), strict=True) if on]
    if len(ticked) != 1:
        raise ValueError(f"has {len(ticked)} of the options {', '.join(names)} set true; "
                         f"a vote needs exactly one")
    return ticked[0]


def _choose(names: Sequence[str], all_boolean: Callable[[], bool]) -> tuple[str, list[str]]:
    """Which answer fields make the label: ``("field", [name])`` or ``("options", names)``.

    A field ending in ``.label`` wins (crowd classifiers name their output so); else a
    lone field; else true/false fields read as radio options. Raises ValueError listing
    the candidates when none of these applies.
    """
    labelled = [n for n in names if n.rsplit(".", 1)[-1] in _LABEL_FIELDS]
    if len(labelled) == 1:
        return "field", labelled
    if len(labelled) > 1:
        raise ValueError(f"has several label fields ({', '.join(labelled)})")
    if len(names) == 1:
        return "field", list(names)
    if all_boolean():
        return "options", list(names)
    raise ValueError(f"has several answer fields ({', '.join(names)}) and no one label")


def _option_names(names: Sequence[str]) -> list[str]:
    """The part of each option's dotted name that differs from the others.

    ``Answer.sentiment.positive`` -> ``positive``, ``Answer.positive.on`` -> ``positive``;
    a repeated remainder collapses (``positive.positive``, a radio button named after
    its value) to one.
    """
    parts = [n.split(".") for n in names]
    shortest = min(len(p) for p in parts)
    head = 0
    while head < shortest - 1 and len({p[head] for p in parts}) == 1:
        head += 1
    tail = 0
    while tail < shortest - head - 1 and len({p[-1 - tail] for p in parts}) == 1:
        tail += 1
    rests = [p[head:len(p) - tail] for p in parts]
    return [rest[0] if len(set(rest)) == 1 else ".".join(rest) for rest in rests]


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted paths (what MTurk's ``flatten-objects`` writes as columns)."""
    flat: dict[str, Any] = {}
    for key, inner in value.items():
        name = f"{prefix}{key}"
        if isinstance(inner, Mapping):
            flat.update(_flatten(inner, f"{name}."))
        else:
            flat[name] = inner
    return flat


def _label_text(value: Any) -> str | None:
    """A JSON answer value as label text: strings kept, numbers and booleans as JSON writes them."""
    if isinstance(value, list):
        if len(value) > 1:
            raise ValueError(f"holds several labels {value!r}; a vote takes one label")
        value = value[0] if value else None
    if value is None:
        return None
    if isinstance(value, Mapping | list):
        raise ValueError(f"holds {json.dumps(value)[:80]}, not a label")
    text = value if isinstance(value, str) else json.dumps(value)
    return text if text.strip() else None


def _item_column(columns: Sequence[str], item_column: str | None, source: str) -> str:
    if item_column is None:
        return "HITId"
    for name in (item_column, f"Input.{item_column}"):
        if name in columns:
            return name
    inputs = [c for c in columns if c.startswith("Input.")]
    raise InputError(
        f"{source}: no column {item_column!r} for the item; Input columns: "
        f"{', '.join(inputs) or '(none)'}. Pass one of them as {option('item_column')}, "
        f"or leave it out to use HITId"
    )


def _labels(kept: pd.DataFrame, label_column: str | None, path: Path) -> tuple[pd.Series, str]:
    """One label (NA: no answer) per kept assignment, and the column or prefix it came from."""
    answers = [c for c in kept.columns if c.startswith("Answer.")]
    if label_column is not None:
        return _chosen_labels(kept, answers, label_column, path)
    if not answers:
        raise InputError(f"{path}: no Answer.* column; the file holds no workers' answers")
    try:
        kind, names = _choose(answers, lambda: all(_is_boolean(kept[c]) for c in answers))
    except ValueError as exc:
        raise InputError(
            f"{path}: the file {exc}; pick one with {option('label_column')}"
        ) from None
    if kind == "options":
        return _option_labels(kept, names, path), _common_prefix(names)
    if names[0] == TASK_ANSWERS:
        return _task_answer_labels(kept[TASK_ANSWERS], None, path), TASK_ANSWERS
    return _text_labels(kept[names[0]]), names[0]


def _chosen_labels(
    kept: pd.DataFrame, answers: list[str], label_column: str, path: Path
) -> tuple[pd.Series, str]:
    """Labels from the column, option group or taskAnswers field the caller named."""
    for name in (label_column, f"Answer.{label_column}"):
        if name == TASK_ANSWERS and name in kept.columns:
            return _task_answer_labels(kept[name], None, path), name
        if name.startswith(f"{TASK_ANSWERS}.") and TASK_ANSWERS in kept.columns:
            field = name[len(TASK_ANSWERS) + 1:]
            return _task_answer_labels(kept[TASK_ANSWERS], field, path), name
        if name in kept.columns:
            return _text_labels(kept[name]), name
        group = [c for c in answers if c.startswith(f"{name}.")]
        if len(group) > 1:
            odd = [c for c in group if not _is_boolean(kept[c])]
            if odd:
                raise InputError(f"{path}: {name!r} names a group of option columns, but "
                                 f"{', '.join(odd)} hold more than true/false")
            return _option_labels(kept, group, path), name
    raise InputError(
        f"{path}: no answer column {label_column!r}; Answer columns: "
        f"{', '.join(answers) or '(none)'}. Pass one of them as {option('label_column')}"
    )


def _text_labels(column: pd.Series) -> pd.Series:
    """A plain answer column, with blank cells as no answer."""
    return column.mask(_matching(column, lambda v: not v.strip()))


def _matching(column: pd.Series, test: Callable[[str], bool]) -> np.ndarray:
    """Where ``test`` holds, tried once per distinct text (answers repeat, files are long)."""
    hits = [v for v in pd.unique(column.dropna().to_numpy()) if test(v)]
    return column.isin(hits).to_numpy()


def _is_boolean(column: pd.Series) -> bool:
    values = pd.unique(column.dropna().to_numpy())
    return bool(len(values)) and all(v.strip().lower() in ("true", "false") for v in values)


def _common_prefix(names: Sequence[str]) -> str:
    """``Answer.sentiment`` for ``Answer.sentiment.positive`` and ``Answer.sentiment.negative``."""
    shared: list[str] = []
    for parts in zip(*(n.split(".") for n in names), strict=False):
        if len(set(parts)) > 1:
            break
        shared.append(parts[0])
    return ".".join(shared)


def _option_labels(kept: pd.DataFrame, names: Sequence[str], path: Path) -> pd.Series:
    """The option whose true/false column is true; NA when a row left them all empty."""
    ticked = np.column_stack([
        _matching(kept[c], lambda v: v.strip().lower() == "true") for c in names
    ])
    answered = kept[list(names)].notna().any(axis=1).to_numpy()
    count = ticked.sum(axis=1)
    for bad, what in ((answered & (count == 0), "none"), (count > 1, "more than one")):
        if bad.any():
            raise InputError(
                f"{path}: {_where(path, kept.index[bad])}: {what} of the options "
                f"{', '.join(names)} is true; a vote needs exactly one"
            )
    options = np.array(_option_names(names), dtype=object)
    return pd.Series(np.where(answered, options[ticked.argmax(axis=1)], None), index=kept.index)


def _task_answer_labels(column: pd.Series, field: str | None, path: Path) -> pd.Series:
    """Labels from the ``taskAnswers`` JSON, parsing each distinct text once (most repeat)."""
    present = column.dropna()
    texts = present.to_numpy()
    found: dict[str, str | None] = {}
    for text in pd.unique(texts):
        try:
            found[text] = _task_answer(text, field)
        except ValueError as exc:
            where = _where(path, present.index[texts == text])
            raise InputError(
                f"{path}: {where}: {TASK_ANSWERS} {exc}. Name the field holding the label "
                f"with {option('label_column', f'{TASK_ANSWERS}.FIELD')}, or fix those rows"
            ) from None
    return present.map(found).reindex(column.index)


def _task_answer(text: str, field: str | None) -> str | None:
    """The label in one ``taskAnswers`` cell: a JSON array holding one answer object."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not JSON ({exc.msg}: {text[:60]!r})") from None
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list) or len(parsed) > 1:
        count = f"{len(parsed)} answer objects" if isinstance(parsed, list) else repr(parsed)
        raise ValueError(f"holds {count}; one answer object per assignment is supported")
    if not parsed:
        return None
    if not isinstance(parsed[0], dict):
        raise ValueError(f"holds {parsed[0]!r}, not an answer object")
    return crowd_answer_label(parsed[0], field)


def _seconds(column: pd.Series, path: Path) -> pd.Series:
    seconds = pd.to_numeric(column, errors="coerce").astype(float)
    bad = column.notna().to_numpy() & seconds.isna().to_numpy()
    if bad.any():
        raise InputError(
            f"{path}: {_where(path, column.index[bad])}: WorkTimeInSeconds "
            f"{column[bad].iloc[0]!r} is not a number of seconds; fix or empty those cells"
        )
    return seconds


def _tasks(frame: pd.DataFrame, item: str) -> dict[str, Any] | None:
    """Each item's ``Input.*`` values from its first row, so a queue can show the same content."""
    inputs = [c for c in frame.columns if c.startswith("Input.")]
    if not inputs:
        return None
    first = frame.loc[frame[item].notna()].drop_duplicates(subset=item)
    names = [c[len("Input."):] for c in inputs]
    values = [first[c].to_numpy(dtype=object, na_value=None) for c in inputs]
    return {key: dict(zip(names, row, strict=True))
            for key, *row in zip(first[item].to_numpy(), *values, strict=True)}


def _where(path: Path, positions: Sequence[int] | pd.Index) -> str:
    """Name data rows by the file line they start on; ``Input.*`` text often spans lines."""
    positions = np.asarray(positions, dtype=np.int64)
    lines = positions + 2
    wanted = {int(p): i for i, p in enumerate(positions[:5])}
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
            reader = csv.reader(handle)
            start, record = 1, -1
            for row in reader:
                if row:
                    if record in wanted:
                        lines[wanted[record]] = start
                    record += 1
                    if record > max(wanted, default=-1):
                        break
                start = reader.line_num + 1
    except (OSError, csv.Error):
        pass  # fall back to one line per row
    return describe_rows(lines, 0)
