"""Label Studio: exports in as votes or corrections, review queues and labels out as tasks.

Three export layouts are read (``tests/fixtures/tools/label_studio/SOURCES.md``
names the Label Studio code that writes each):

- **JSON**: a list of tasks, each ``{"id", "data", "annotations": [...]}``; an
  annotation's Choices answer is ``result[].value.choices`` where ``type`` is
  ``choices``. ``completed_by`` is a user id, or a user object in snapshot exports.
- **JSON_MIN**: one flat record per annotation: the task's data fields, ``id``
  (the task), ``annotator``, ``annotation_id``, ``lead_time``, ``created_at`` and
  one key per control holding its answer.
- **CSV** (or TSV): the same records as columns, every cell text.

Label Studio writes cancelled (skipped) annotations into JSON exports; they are
counted, never votes. JSON_MIN and CSV leave them out and cannot say which
annotations are ground truth, nor which columns are task data and which are
answers, so they need the control named.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...exceptions import InputError
from ...wording import option
from ..writers import atomic_path
from .cells import number as _number
from .cells import require_columns as _require
from .cells import show as _show
from .cells import text as _text
from .source import Origin, SourceVotes

#: What a prediction addresses when neither the source nor the caller names a control:
#: ``<Choices name="label" toName="text">``. Pass ``control`` to match the project.
DEFAULT_CONTROL = {"from_name": "label", "to_name": "text", "type": "choices"}
#: Columns of :func:`corrections_from_label_studio`, as ``ReviewLog.apply`` reads them.
CORRECTION_COLUMNS = ("queue", "item", "corrected_label", "reviewer", "comment")

# Keys every JSON_MIN / CSV record has that are neither task data nor answers.
_RECORD_KEYS = frozenset({"id", "annotator", "annotation_id", "created_at", "updated_at",
                          "lead_time", "agreement", "was_cancelled", "history"})
_LAYOUT_KEYS = frozenset({"id", "annotator", "annotation_id"})
_SPACE = re.compile(r"[ \t\n\r]*")
_COMMA = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")
_PIECE = 1 << 24  # bytes of a JSON export decoded at a time


def looks_like_label_studio(obj: Any) -> str | None:
    """``"json"``, ``"json-min"`` or ``"csv"`` when a first record or header has that layout.

    ``obj`` is the first element of a JSON list (a dict) or a CSV header (a list
    of column names). Specific, so that format detection never claims another
    tool's file: a task needs both ``annotations`` and ``data``; a JSON_MIN record
    or CSV header needs ``id``, ``annotator`` and ``annotation_id``.
    """
    if isinstance(obj, dict):
        if "annotations" in obj and "data" in obj:
            return "json"
        return "json-min" if _LAYOUT_KEYS <= obj.keys() else None
    if isinstance(obj, (list, tuple)):
        return "csv" if _LAYOUT_KEYS <= {str(c).strip() for c in obj} else None
    return None


# ---------------------------------------------------------------------------- reading
def read_label_studio(path: str | os.PathLike[str], *, control: str | None = None,
                      gold_from_source: bool = False) -> SourceVotes:
    """Votes from a Label Studio export: one per annotation's answer to one Choices control.

    Parameters
    ----------
    path : path-like
        A JSON export (list of tasks), a JSON_MIN export, or a CSV/TSV export.
    control : str, optional
        The Choices control (its ``name``, the results' ``from_name``) whose
        answers are the votes. Needed when a JSON export answers several, and
        always for JSON_MIN and CSV, whose records mix task data and answers.
    gold_from_source : bool
        Take ``ground_truth`` annotations (JSON only) as ``gold`` instead of votes.

    Returns
    -------
    SourceVotes
        ``frame``: ``item`` (task id), ``annotator`` (user id as text; the email
        when a user object has no id, or when JSON_MIN/CSV give one), ``label``,
        and ``seconds`` (``lead_time``) and ``created_at`` where annotations carry
        them. ``dropped`` counts ``cancelled`` annotations, annotations with ``no
        answer`` for the control, and ``tasks without annotations``. ``tasks``
        (JSON only) maps task id to its ``data``; ``control`` is ``{"from_name",
        "to_name", "type"}`` (no ``to_name`` from JSON_MIN/CSV).

    Raises
    ------
    InputError
        Not an export of these layouts, a task without an ``annotations`` list,
        an annotation without ``completed_by``, a multi-choice answer, an unknown
        or ambiguous control, conflicting ground truths, or no votes at all.
    """
    file, name = _existing(path)
    if file.suffix.lower() in (".csv", ".tsv"):
        table, columns = _read_csv(file, name, control)
        return _votes_from_table(table, columns, "CSV", control, gold_from_source, name)
    layout, records = _layout(file, name)
    if layout == "json":
        return votes_from_tasks(records, control=control, gold_from_source=gold_from_source,
                                name=name)
    rows = list(records)
    if (bad := next((n for n, r in enumerate(rows, 1) if type(r) is not dict), None)):
        raise InputError(f"{name}: element {bad} is {_describe(rows[bad - 1])}; a JSON_MIN "
                         f"export is a list of records")
    table = pd.DataFrame(rows, dtype=object)  # ids stay as written (17, not 17.0 beside a gap)
    return _votes_from_table(table, list(table.columns), "JSON_MIN", control, gold_from_source,
                             name)


def _layout(file: Path, name: str) -> tuple[str, Iterator[Any]]:
    """``"json"`` or ``"json-min"`` by the first element, and all the elements."""
    if file.suffix.lower() in (".csv", ".tsv"):
        raise InputError(f"{name}: a CSV file, where a Label Studio JSON export is needed; "
                         f"export the project as JSON")
    records = _json_list(file, name)
    first = next(records, None)
    if first is None:
        raise InputError(f"{name}: an empty JSON list: no tasks; export the project again "
                         f"after annotating")
    layout = looks_like_label_studio(first)
    if layout is None:
        raise InputError(
            f"{name}: not a Label Studio export: the first element is {_describe(first)}; a "
            f"JSON export's tasks have annotations and data, a JSON_MIN export's records have "
            f"id, annotator and annotation_id")
    return layout, _chain(first, records)


def votes_from_tasks(tasks: Iterable[Any], *, control: str | None = None,
                     gold_from_source: bool = False, name: str = "the tasks") -> SourceVotes:
    """Votes from Label Studio tasks already parsed (a JSON export, or the SDK's task dicts).

    The one pass over the tasks keeps every Choices answer with its control's
    name, so the control is chosen (or found ambiguous) once everything is seen;
    the rest is vectorised. ``name`` is what messages call the source. See
    :func:`read_label_studio` for the parameters and result.
    """
    items: list[str] = []
    annotators: list[str] = []
    controls: list[Any] = []
    labels: list[str] = []
    seconds: list[Any] = []
    created: list[Any] = []
    owners: list[int] = []  # the row's annotation, as an index into annotation_ids
    annotation_ids: list[Any] = []  # one per annotation not cancelled
    odd: list[tuple[int, Any]] = []  # rows whose answer is not one text choice
    gold_rows: list[int] = []
    to_names: dict[Any, Any] = {}
    data_of: dict[str, Any] = {}
    users: dict[int, str] = {}  # user id -> its text
    seen: dict[str, str] = {}  # one object per label or user: hashed once, cheap to code
    dropped: Counter[str] = Counter()
    for number, task in enumerate(tasks, 1):
        item, annotations = _task(task, number, name)
        data_of[item] = task["data"]
        if not annotations:
            dropped["tasks without annotations"] += 1
            continue
        for annotation in annotations:
            if type(annotation) is not dict:
                raise InputError(f"{name}: task {item}: an annotation is {_show(annotation)}, "
                                 f"not an object; export the project again")
            if annotation.get("was_cancelled"):
                dropped["cancelled"] += 1
                continue
            raw = annotation.get("completed_by")
            who = users.get(raw) if type(raw) is int else None
            if who is None:
                who = _user(raw, item, annotation, name)
                who = seen.setdefault(who, who)
                if type(raw) is int:
                    users[raw] = who
            owner = len(annotation_ids)
            annotation_ids.append(annotation.get("id"))
            is_gold = gold_from_source and annotation.get("ground_truth") is True
            lead, when = annotation.get("lead_time"), annotation.get("created_at")
            result = annotation.get("result")
            if type(result) is not list:
                result = _result_list(result, item, annotation, name)
            for region in result:
                if type(region) is not dict or region.get("type") != "choices":
                    continue
                value = region.get("value")
                choices = value.get("choices") if type(value) is dict else None
                if type(choices) is list and len(choices) == 1 and type(choices[0]) is str:
                    label = seen.setdefault(choices[0], choices[0])
                else:
                    odd.append((len(items), value))
                    label = ""
                control_name = region.get("from_name")
                if control_name not in to_names:
                    to_names[control_name] = _to_name(region, item, annotation, name)
                if is_gold:
                    gold_rows.append(len(items))
                items.append(item)
                annotators.append(who)
                controls.append(control_name)
                labels.append(label)
                seconds.append(lead)
                created.append(when)
                owners.append(owner)
    if not to_names:
        _no_votes(dropped, name)
    chosen = _choose_control(list(to_names), control, name)
    rows = (np.arange(len(controls)) if len(to_names) == 1 else
            np.flatnonzero(np.asarray(controls, dtype=object) == chosen))
    unanswered = _check_odd(odd, rows, items, labels, annotation_ids, owners, chosen, name)
    keep = rows if not unanswered.size else np.setdiff1d(rows, unanswered)
    answered = int(np.count_nonzero(np.bincount(np.asarray(owners, dtype=np.int64)[keep],
                                                minlength=len(annotation_ids))))
    if len(annotation_ids) > answered:
        dropped["no answer"] = len(annotation_ids) - answered
    gold = None
    if gold_from_source:
        marked = np.zeros(len(items), dtype=bool)
        marked[gold_rows] = True
        gold = _gold(_take(items, keep[marked[keep]]), _take(labels, keep[marked[keep]]), name)
        keep = keep[~marked[keep]]
    voted = _take(items, keep)
    frame = _frame({"item": voted, "annotator": _take(annotators, keep),
                    "label": _take(labels, keep),
                    **_extras(_take(seconds, keep), _take(created, keep), voted, name)},
                   dropped, name)
    return SourceVotes(frame, "label-studio", _in_order(dropped), gold, data_of,
                       {"from_name": chosen, "to_name": to_names[chosen], "type": "choices"})


def corrections_from_label_studio(path: str | os.PathLike[str], *,
                                  control: str | None = None) -> pd.DataFrame:
    """Reviewers' answers in a JSON export of a project made from :func:`queue_to_label_studio`.

    Each task's ``data.consensus_queue`` and ``data.consensus_item`` say which
    queue and item it is. One row per annotation not cancelled that answers the
    Choices control; a TextArea answer in the same annotation (``type``
    ``textarea``, its ``value.text`` lines joined by newlines) is the comment.

    Returns
    -------
    DataFrame
        :data:`CORRECTION_COLUMNS` as text (comment empty when none); reviewer is
        the ``completed_by`` user id, or the email when the user has no id.
    """
    file, name = _existing(path)
    answers: list[tuple[Any, Any, str, tuple[str, str, str, str]]] = []
    to_names: dict[Any, Any] = {}
    layout, tasks = _layout(file, name)
    if layout != "json":
        raise InputError(f"{name}: a JSON_MIN export; corrections are read from the full "
                         f"JSON export: export the project as JSON")
    for number, task in enumerate(tasks, 1):
        item, annotations = _task(task, number, name)
        queue_id, queue_item = (_text(task["data"].get(f"consensus_{key}"))
                                for key in ("queue", "item"))
        if queue_id is None or queue_item is None:
            raise InputError(f"{name}: task {item} has no consensus_queue and consensus_item "
                             f"in its data: this export does not come from a consensus "
                             f"review queue; export, as JSON, the project its tasks were "
                             f"imported into")
        for annotation in annotations:
            if type(annotation) is not dict:
                raise InputError(f"{name}: task {item}: an annotation is {_show(annotation)}, "
                                 f"not an object; export the project again")
            if annotation.get("was_cancelled"):
                continue
            reviewer = _user(annotation.get("completed_by"), item, annotation, name)
            regions = [r for r in _result_list(annotation.get("result"), item, annotation, name)
                       if type(r) is dict]
            comment = "\n".join(str(line) for r in regions if r.get("type") == "textarea"
                                for line in _lines(r.get("value")))
            where = f"task {item}, annotation {annotation.get('id')}"
            for region in regions:
                if region.get("type") == "choices":
                    control_name = region.get("from_name")
                    to_names.setdefault(control_name, _to_name(region, item, annotation, name))
                    answers.append((control_name, region.get("value"), where,
                                    (queue_id, queue_item, reviewer, comment)))
    chosen = _choose_control(list(to_names), control, name) if answers else None
    rows = []
    for control_name, value, where, (queue_id, queue_item, reviewer, comment) in answers:
        if control_name != chosen:
            continue
        if (label := _answer(value, where, name)) is not None:
            rows.append((queue_id, queue_item, label, reviewer, comment))
    return pd.DataFrame(rows, columns=list(CORRECTION_COLUMNS), dtype=str)


def _task(task: Any, number: int, name: str) -> tuple[str, list[Any]]:
    """A task's id as text and its annotations, or InputError saying what is wrong."""
    if type(task) is not dict:
        raise InputError(f"{name}: element {number} of the list is {_describe(task)}; a Label "
                         f"Studio JSON export is a list of task objects")
    raw_id = task.get("id")
    if type(raw_id) is int or (type(raw_id) is str and raw_id.strip()):
        item = str(raw_id)
    else:
        raise InputError(f"{name}: task {number} of the list has id {_show(raw_id)}; every "
                         f"task needs its Label Studio id to name its item")
    annotations = task.get("annotations")
    if type(annotations) is not list:
        have = "no annotations key" if "annotations" not in task else \
            f"annotations {_show(annotations)}, not a list"
        raise InputError(f"{name}: task {item} has {have}; export the project as JSON with "
                         f"its annotations")
    if type(task.get("data")) is not dict:
        raise InputError(f"{name}: task {item} has data {_show(task.get('data'))}, not an "
                         f"object; export the project as JSON")
    return item, annotations


def _user(who: Any, item: str, annotation: dict[str, Any], name: str) -> str:
    """Who made an annotation: a user id as text, whether ``completed_by`` is the id
    (plain exports) or the user object (snapshots); the email when there is no id."""
    if isinstance(who, dict):
        who = who.get("id") if who.get("id") is not None else who.get("email")
    if (type(who) is int) or (type(who) is str and who.strip()):
        return str(who)
    raise InputError(f"{name}: task {item}, annotation {annotation.get('id')} has completed_by "
                     f"{_show(annotation.get('completed_by'))}; a vote must say who cast it: "
                     f"export the project again with its annotators")


def _result_list(result: Any, item: str, annotation: dict[str, Any], name: str) -> list[Any]:
    if result is None:
        return []
    if type(result) is not list:
        raise InputError(f"{name}: task {item}, annotation {annotation.get('id')} has result "
                         f"{_show(result)}, not a list; export the project again")
    return result


def _to_name(region: dict[str, Any], item: str, annotation: dict[str, Any], name: str) -> Any:
    """The object a control labels; checked once per control (its first answer)."""
    if type(region.get("from_name")) is not str:
        raise InputError(f"{name}: task {item}, annotation {annotation.get('id')} has a "
                         f"Choices answer without from_name ({_show(region)}); export the "
                         f"project again")
    return region.get("to_name")


def _lines(value: Any) -> list[Any]:
    """A TextArea answer's lines: ``value.text`` is a list of strings."""
    text = value.get("text") if isinstance(value, dict) else None
    return text if isinstance(text, list) else [] if text is None else [text]


def _choose_control(present: list[Any], control: str | None, name: str) -> str:
    """The Choices control whose answers are votes: the one named, or the only one."""
    shown = ", ".join(map(str, present)) or "none"
    if control is not None:
        if control not in present:
            raise InputError(f"{name}: no Choices answers for a control {control!r}; controls "
                             f"with answers: {shown}")
        return control
    if len(present) == 1:
        return str(present[0])
    raise InputError(f"{name}: answers to {len(present)} Choices controls ({shown}); pick one "
                     f"with {option('control')}")


def _check_odd(odd: list[tuple[int, Any]], rows: np.ndarray, items: list[str],
               labels: list[str], annotation_ids: list[Any], owners: list[int], chosen: str,
               name: str) -> np.ndarray:
    """Settle the answers of the chosen control that were not one text choice: fill in
    ``labels``, return the rows with no choice (to drop); a multi-choice or malformed
    answer is an error naming its task and annotation."""
    if not odd:
        return np.empty(0, dtype=np.int64)
    relevant = np.isin(np.fromiter((row for row, _ in odd), np.int64, len(odd)), rows)
    empty = []
    for (row, value), hit in zip(odd, relevant, strict=True):
        if not hit:
            continue
        where = f"task {items[row]}, annotation {annotation_ids[owners[row]]}"
        label = _answer(value, where, name, chosen)
        if label is None:
            empty.append(row)
        else:
            labels[row] = label
    return np.asarray(empty, dtype=np.int64)


def _answer(value: Any, where: str, name: str, control: str | None = None) -> str | None:
    """The one choice of a JSON export's Choices ``value``; None when nothing was chosen."""
    if value is not None and not isinstance(value, dict):
        raise InputError(f"{name}: {where} has the Choices value {_show(value)}, not an "
                         f"object with choices; export the project again")
    return None if value is None else _single_choice(value.get("choices"), where, name, control)


def _single_choice(value: Any, where: str, name: str, control: str | None = None) -> str | None:
    """The one choice of an answer: a list of choices, ``{"choices": [...]}`` or (JSON_MIN,
    CSV) the label itself; None when nothing was chosen."""
    choices = value.get("choices") if isinstance(value, dict) else value
    if not isinstance(choices, list):
        choices = [] if choices is None else [choices]
    if len(choices) > 1:
        raise InputError(f"{name}: {where} chose {_show(choices)}"
                         f"{f' in {control!r}' if control else ''}: single-label consensus "
                         f"needs one choice; pick a single-choice control with "
                         f"{option('control')}, or make the answer one choice")
    if not choices or choices[0] is None:
        return None
    if isinstance(choices[0], (dict, list, bool)):
        raise InputError(f"{name}: {where} has the Choices answer {_show(value)}, not a label; "
                         f"export the project again")
    text = str(choices[0])
    return text if text.strip() else None


def _gold(items: np.ndarray, labels: np.ndarray, name: str) -> pd.DataFrame:
    """Ground truth per item; two different ground truths for one item is an error."""
    gold = pd.DataFrame({"item": items, "label": labels}, dtype=object).drop_duplicates()
    repeated = gold["item"].duplicated(keep=False)
    if repeated.any():
        first = gold.loc[repeated, "item"].iloc[0]
        both = ", ".join(gold.loc[gold["item"] == first, "label"])
        raise InputError(f"{name}: task {first} has different ground truths ({both}); keep one "
                         f"ground-truth annotation per task, or read without gold_from_source")
    return gold.reset_index(drop=True)


def _take(values: list[Any], rows: np.ndarray) -> np.ndarray:
    """``values[rows]`` as an object array (one C-level conversion, then fancy indexing)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array[rows] if len(rows) != len(values) else array


def _extras(seconds: np.ndarray, created: np.ndarray, items: np.ndarray,
            name: str) -> dict[str, np.ndarray]:
    """``seconds`` and ``created_at`` columns (one value per vote), each only when some
    vote has it; missing times are NaN and empty text."""
    out: dict[str, np.ndarray] = {}
    absent = pd.isna(seconds)
    if not absent.all():
        try:
            out["seconds"] = seconds.astype(np.float64)
        except (TypeError, ValueError):
            bad = np.flatnonzero(pd.to_numeric(pd.Series(seconds), errors="coerce").isna()
                                 & ~absent)[0]
            raise InputError(f"{name}: task {items[bad]} has lead_time {_show(seconds[bad])}, "
                             f"not a number of seconds") from None
    absent = pd.isna(created)
    if not absent.all():
        out["created_at"] = np.where(absent, "", created) if absent.any() else created
    return out


def _in_order(dropped: Counter[str]) -> dict[str, int]:
    """What was not taken, always in the same order (summaries print it as it stands)."""
    return {why: int(dropped[why]) for why in ("cancelled", "no answer",
                                               "tasks without annotations") if dropped[why]}


def _no_votes(dropped: Counter[str], name: str) -> None:
    held = ", ".join(f"{n} {why}" for why, n in dropped.items() if n)
    raise InputError(f"{name}: no votes{f' ({held})' if held else ''}: no annotation answers "
                     f"a Choices control (type \"choices\"); export the project after "
                     f"annotators have submitted answers")


def _frame(columns: dict[str, Any], dropped: Counter[str], name: str) -> pd.DataFrame:
    """The votes table; text stays plain ``object`` (pandas' Arrow strings would cost a
    conversion here and make ``VoteMatrix.from_frame`` slower, not faster)."""
    if len(columns["item"]) == 0:
        _no_votes(dropped, name)
    return pd.DataFrame({key: pd.Series(values, dtype=None if key == "seconds" else object)
                         for key, values in columns.items()})


# -------------------------------------------------------------- JSON_MIN and CSV exports
def _votes_from_table(table: pd.DataFrame, columns: list[str], layout: str,
                      control: str | None, gold_from_source: bool, name: str) -> SourceVotes:
    """JSON_MIN or CSV records as a table, one row per annotation, the control's answer
    in the column named after it; vectorised but for answers that are not plain text."""
    if gold_from_source:
        raise InputError(f"{name}: a {layout} export does not say which annotations are "
                         f"ground truth; export the project as JSON to use gold_from_source")
    if control is None or control not in columns:
        why = (f"has no column {control!r}" if control is not None else
               "mixes task data and answers, so the Choices control cannot be told apart")
        candidates = ", ".join(str(k) for k in columns if k not in _RECORD_KEYS)
        raise InputError(f"{name}: this Label Studio {layout} export {why}; pick the control "
                         f"with {option('control')}, one of: {candidates or 'none'}")
    item, who, annotation = (_texts(table, key) for key in ("id", "annotator", "annotation_id"))
    if (bad := np.flatnonzero(pd.isna(item))).size:
        raise InputError(f"{name}: record {bad[0] + 1} has task id "
                         f"{_show(table['id'].iloc[bad[0]])}; every record needs the task's id")
    empty = pd.isna(who) & pd.isna(annotation)  # a task without annotations
    cancelled = ~empty & np.isin(_texts(table, "was_cancelled"), ["True", "true", "TRUE"])
    live = np.flatnonzero(~empty & ~cancelled)
    if (bad := live[pd.isna(who[live])]).size:
        raise InputError(f"{name}: task {item[bad[0]]}, annotation {annotation[bad[0]]} has no "
                         f"annotator; a vote must say who cast it: export the project again")
    labels = _labels(table[control].to_numpy(dtype=object)[live], item[live],
                     annotation[live], layout == "CSV", control, name)
    answered = live[~pd.isna(labels)]
    dropped = Counter({"cancelled": int(cancelled.sum()), "no answer": len(live) - len(answered),
                       "tasks without annotations": int(empty.sum())})
    seconds, created = (_texts(table, key)[answered] for key in ("lead_time", "created_at"))
    frame = _frame({"item": item[answered], "annotator": who[answered],
                    "label": labels[~pd.isna(labels)],
                    **_extras(seconds, created, item[answered], name)}, dropped, name)
    return SourceVotes(frame, "label-studio", _in_order(dropped), None, None,
                       {"from_name": control, "type": "choices"})


def _labels(values: np.ndarray, items: np.ndarray, annotations: np.ndarray, from_csv: bool,
            control: str, name: str) -> np.ndarray:
    """Each annotation's label (None when unanswered): plain text as it stands; lists,
    objects (multi-choice) and CSV cells holding JSON looked at one by one."""
    text = pd.Series(values, dtype=object)
    if pd.api.types.infer_dtype(text, skipna=True) in ("string", "empty"):
        is_text = text.notna().to_numpy()
    else:
        is_text = text.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    odd = ~is_text & text.notna().to_numpy()  # lists, objects, numbers: one by one
    words = np.where(is_text, values, "")
    if from_csv:  # "U1" keeps each text's first character
        holds_json = np.isin(words.astype("U1"), ["[", "{"])
        odd, is_text = odd | holds_json, is_text & ~holds_json
    answered = is_text & (words != "")
    out = np.full(len(values), None, dtype=object)
    out[answered] = values[answered]
    for row in np.flatnonzero(odd):
        value = _json_cell(values[row]) if from_csv else values[row]
        out[row] = _single_choice(value, f"task {items[row]}, annotation {annotations[row]}",
                                  name, control)
    return out


def _texts(table: pd.DataFrame, key: str) -> np.ndarray:
    """A column as text, None where missing or empty (an id written as 17 becomes "17")."""
    if key not in table.columns:
        return np.full(len(table), None, dtype=object)
    values = table[key].to_numpy(dtype=object, copy=True)
    present = ~pd.isna(values)
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        values[present] = [str(v) for v in values[present]]  # JSON_MIN's ints
    values[~present | (values == "")] = None
    return values


def _json_cell(value: str) -> Any:
    """A CSV cell holding a multi-choice answer (``{"choices": [...]}``) as Label Studio
    writes it; other text is a label as it stands."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, (list, dict)) else value


def _read_csv(file: Path, name: str, control: str | None) -> tuple[pd.DataFrame, list[str]]:
    """The columns votes are made of, every cell as text (empty cells as empty text, never
    NA: ``None`` is a label too), and the names of all columns."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from ..readers import header_columns

    delimiter = "\t" if file.suffix.lower() == ".tsv" else ","
    header = header_columns(file, delimiter)
    if looks_like_label_studio(header) is None:
        raise InputError(f"{name}: not a Label Studio CSV export: it needs columns id, "
                         f"annotator and annotation_id; found {', '.join(header[:12])}")
    try:
        table = pacsv.read_csv(
            file, parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header}, strings_can_be_null=False))
    except Exception as exc:  # pyarrow's errors are not ValueError subclasses
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{name}: could not be read as CSV ({detail}); export it "
                         f"again") from None
    # Only the columns votes are made of become Python text, not the task data.
    names = [str(c).strip() for c in table.column_names]
    wanted = {"id", "annotator", "annotation_id", "was_cancelled", "lead_time", "created_at",
              control}
    return pd.DataFrame({c: table.column(k).to_numpy(zero_copy_only=False)
                         for k, c in enumerate(names) if c in wanted}, dtype=object), names


# ---------------------------------------------------------------------------- JSON text
def _existing(path: str | os.PathLike[str]) -> tuple[Path, str]:
    file = Path(path)
    if not file.exists():
        raise InputError(f"{file}: no such file")
    if file.is_dir():
        raise InputError(f"{file}: is a folder; give the exported file")
    return file, str(file)


def _json_list(file: Path, name: str) -> Iterator[Any]:
    """The elements of a file's JSON list, decoded one at a time from pieces of its text.

    Element by element, each task's objects are freed while they are still in
    cache: faster than ``json.loads`` of the whole export (whose tree is several
    times the file's size), and only a piece of the text is in memory at once.
    """
    decode = json.JSONDecoder().raw_decode
    with open(file, "rb") as handle:
        text = _Text(handle, name)
        if text.next_char() != "[":
            raise InputError(f"{name}: {_not_a_list(text.buffer[text.pos:text.pos + 40])}")
        text.pos += 1
        found = text.next_char()
        while found != "]":
            try:
                element, end = decode(text.buffer, text.pos)
            except json.JSONDecodeError as exc:
                # cut off by the piece's end (a string, or a \uXXXX escape, runs on): read on
                cut = exc.pos >= len(text.buffer) - 6 or exc.msg.startswith("Unterminated")
                if cut and text.refill():
                    continue
                raise InputError(f"{name}: not valid JSON ({exc.msg.removesuffix(' at')} at "
                                 f"{text.where(exc.pos)}); fix the file or export it "
                                 f"again") from None
            if end == len(text.buffer) and text.refill():
                continue  # a number may go on in the next piece: decode it whole
            yield element
            step = _COMMA.match(text.buffer, end)
            if step is not None and step.end() < len(text.buffer):
                text.pos = step.end()  # the usual case: on to the next element at once
                continue
            text.pos = end
            found = text.next_char()
            if found not in (",", "]"):
                raise InputError(f"{name}: not valid JSON (expected ',' or ']' at "
                                 f"{text.where(text.pos)}); fix the file or export it again")
            if found == ",":
                text.pos += 1
                text.next_char()
        text.pos += 1
        if text.next_char():
            raise InputError(f"{name}: more text after the JSON list ends, at "
                             f"{text.where(text.pos)}; fix the file or export it again")


class _Text:
    """A UTF-8 file's text read in pieces: ``buffer[pos:]`` is not consumed yet."""

    def __init__(self, handle: Any, name: str) -> None:
        self.handle, self.name = handle, name
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.buffer, self.pos, self.line, self.done = "", 0, 1, False

    def refill(self) -> bool:
        """Append the next piece of the file; False when there was none."""
        if self.done:
            return False
        raw = self.handle.read(_PIECE)
        self.done = not raw
        try:
            piece = self.decoder.decode(raw, final=self.done)
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.name}: not UTF-8 text (byte "
                             f"{self.handle.tell() - len(raw) + exc.start}); a Label Studio "
                             f"export is UTF-8") from None
        self.line += self.buffer.count("\n", 0, self.pos)
        self.buffer, self.pos = self.buffer[self.pos:] + piece, 0
        return bool(raw)

    def next_char(self) -> str:
        """The next character that is not white space ("" at the end), reading on as needed."""
        while True:
            self.pos = _SPACE.match(self.buffer, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buffer) or not self.refill():
                return self.buffer[self.pos:self.pos + 1]

    def where(self, pos: int) -> str:
        return f"line {self.line + self.buffer.count(chr(10), 0, pos)}"


def _not_a_list(start: str) -> str:
    if not start:
        return "the file is empty"
    if start.startswith("{"):
        return ("one JSON object, not a list; a Label Studio export is a JSON list of tasks "
                "(a single task goes inside [ ])")
    return (f"not a JSON list: it starts with {start[:40]!r}; a Label Studio export is a "
            f"JSON list of tasks (or records), or a CSV file named .csv")


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


# ---------------------------------------------------------------------------- writing
def queue_to_label_studio(queue: pd.DataFrame, *, source: SourceVotes | Origin | None = None,
                          control: dict[str, Any] | None = None,
                          model_version: str = "consensus") -> list[dict[str, Any]]:
    """A review queue as Label Studio tasks to import, the consensus as a prediction.

    Each task's ``data`` is the source task's own data when known (else ``{"text":
    content}``, else ``{"item": item}``) plus ``consensus_queue, consensus_item,
    consensus_priority, consensus_reasons, consensus_label, consensus_confidence,
    consensus_votes``: Data Manager columns to sort and filter by, and what
    :func:`corrections_from_label_studio` reads back. The prediction (read-only
    in Label Studio; copied into new annotations when "show predictions to
    annotators" is on) has ``model_version``, ``score`` = confidence and one
    Choices result addressing the control: see :func:`labels_to_label_studio`.
    """
    _require(queue, ("queue", "priority", "item", "votes", "consensus", "confidence",
                     "reasons"), "the review queue", "build it with build_queue")
    target = _control(source, control)
    tasks = []
    for row in queue.to_dict("records"):
        item = str(row["item"])
        score = _number(row["confidence"], "confidence", item)
        priority = _number(row["priority"], "priority", item)
        fields = {"consensus_queue": _text(row["queue"]), "consensus_item": item,
                  "consensus_priority": None if priority is None else int(priority),
                  "consensus_reasons": _text(row["reasons"]),
                  "consensus_label": _text(row["consensus"]), "consensus_confidence": score,
                  "consensus_votes": _text(row["votes"])}
        tasks.append(_task_out(item, source, row.get("content"), fields, target,
                               row["consensus"], score, model_version))
    return tasks


def labels_to_label_studio(labels: pd.DataFrame, *, source: SourceVotes | Origin | None = None,
                           control: dict[str, Any] | None = None,
                           model_version: str = "consensus") -> list[dict[str, Any]]:
    """``aggregate``'s item table as Label Studio tasks, the consensus as a prediction.

    ``data`` is as for :func:`queue_to_label_studio`, with ``consensus_item,
    consensus_label, consensus_confidence, consensus_n_votes, consensus_agreement,
    consensus_tie`` and ``consensus_gold`` (true when the label was clamped to gold)
    where the table has them.

    The prediction's result addresses the control: ``source.control`` (the
    project the votes came from), else ``control``, else :data:`DEFAULT_CONTROL`,
    key by key; its ``from_name``/``to_name`` must match the importing project's
    labelling config, so pass ``control`` when the votes came from elsewhere.

    No task ``id`` is written: Label Studio ignores ids on import and numbers the
    new tasks itself (label-studio issues #626, #3509, #7061), so the source task
    id travels as ``data.consensus_item`` instead.
    """
    _require(labels, ("item", "label", "confidence"), "the labels table",
             "use aggregate's item table")
    target = _control(source, control)
    tasks = []
    for row in labels.to_dict("records"):
        item = str(row["item"])
        score = _number(row["confidence"], "confidence", item)
        n_votes = _number(row.get("n_votes"), "n_votes", item)
        fields = {"consensus_item": item, "consensus_label": _text(row["label"]),
                  "consensus_confidence": score,
                  "consensus_n_votes": None if n_votes is None else int(n_votes),
                  "consensus_agreement": _number(row.get("agreement"), "agreement", item),
                  "consensus_tie": _flag(row.get("tie")), "consensus_gold": _flag(row.get("gold"))}
        tasks.append(_task_out(item, source, None, fields, target, row["label"], score,
                               model_version))
    return tasks


def write_label_studio(tasks: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write tasks as the JSON list Label Studio imports, atomically, one task per line."""
    try:
        texts = [json.dumps(task, ensure_ascii=False, allow_nan=False) for task in tasks]
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: a task cannot be written as JSON ({exc})") from None
    with atomic_path(path) as tmp_name, open(tmp_name, "w", encoding="utf-8") as out:
        out.write("[" + ",\n".join(texts) + "]\n")


def _task_out(item: str, source: SourceVotes | Origin | None, content: Any,
              fields: dict[str, Any], target: dict[str, Any], label: Any, score: float | None,
              model_version: str) -> dict[str, Any]:
    """One task: the item's own data (so the team recognises it) plus the consensus fields."""
    known = source.tasks if source is not None and source.tasks else {}
    if item in known:
        data = dict(known[item])
    else:
        text = _text(content)
        data = {"text": text} if text is not None else {"item": item}
    data.update((key, value) for key, value in fields.items() if value is not None)
    choice = _text(label)
    predictions = [] if choice is None else [{
        "model_version": model_version, "score": score,
        "result": [{"from_name": target["from_name"], "to_name": target["to_name"],
                    "type": "choices", "value": {"choices": [choice]}}]}]
    return {"data": data, "predictions": predictions}


def _control(source: SourceVotes | Origin | None, control: dict[str, Any] | None
             ) -> dict[str, Any]:
    """The Choices control predictions address: the source's, then ``control``'s, then
    the default, key by key (JSON_MIN and CSV exports do not name ``to_name``)."""
    chosen = dict(DEFAULT_CONTROL)
    for given in (control, source.control if source is not None else None):
        chosen.update((k, v) for k, v in (given or {}).items() if v is not None)
    chosen["type"] = "choices"
    return chosen






def _flag(value: Any) -> bool | None:
    """A true/false cell (a bool, or its text in a file read back); None when missing."""
    text = _text(value)
    return None if text is None else text.strip().lower() in ("true", "1")




def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"an object with keys {', '.join(map(str, list(value)[:8])) or 'none'}"
    return f"{_show(value)} ({type(value).__name__})"

