"""Which column is which: the spellings of item, annotator and label that tools use.

crowd-kit writes ``task,worker,label``, most exports ``item,annotator,label``;
both are found by name, case-insensitively, and anything else is named explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..exceptions import InputError
from ..wording import option

#: Cell values that mean "no value" in spreadsheet and database exports.
MISSING_MARKERS = frozenset(
    {"", "na", "n/a", "#n/a", "#na", "nan", "null", "none", "nil", "<na>", "missing"}
)

#: Accepted spellings of the three columns, first match wins.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "item": ("item", "task", "item_id", "task_id", "question", "object", "example"),
    "annotator": ("annotator", "worker", "annotator_id", "worker_id", "rater", "labeler", "user"),
    "label": ("label", "answer", "response", "annotation", "class", "vote"),
}


def find_columns(
    columns: Sequence[Any],
    chosen: dict[str, str | None],
    aliases: dict[str, tuple[str, ...]],
    required: Sequence[str],
    source: str,
    where: str = "",
    suggest_option: bool = False,
) -> dict[str, str]:
    """Map roles to column names: an explicit name wins, else the first alias present.

    Aliases match case-insensitively. A required role with no match is an error
    that lists the columns found (and, with ``suggest_option``, names the
    parameter that picks the column); an optional one is simply left out.
    """
    found = {str(c).strip().lower(): c for c in columns}
    names = ", ".join(map(str, columns))
    result: dict[str, str] = {}
    for role, name in chosen.items():
        if name is not None:
            if name not in columns:
                raise InputError(
                    f"{source}: no column named {name!r} (given for the {role}); "
                    f"columns found: {names}"
                )
            result[role] = name
            continue
        match = next((found[a] for a in aliases[role] if a in found), None)
        if match is not None:
            result[role] = match
        elif role in required:
            raise InputError(
                f"{source}: no {role} column{where}; expected one of "
                f"{', '.join(aliases[role][:4])}; columns found: {names}"
                + (f". Name it with {option(role)}." if suggest_option else "")
            )
    picked = [result[r] for r in required]
    if len(set(picked)) < len(picked):
        raise InputError(f"{source}: one column was chosen for two roles: {result}")
    return result


def resolve_columns(
    columns: Sequence[str],
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    source: str = "the votes",
) -> dict[str, str]:
    """Map the roles item/annotator/label to the columns of a table of votes."""
    return find_columns(
        columns,
        {"item": item, "annotator": annotator, "label": label},
        COLUMN_ALIASES,
        ("item", "annotator", "label"),
        source,
        suggest_option=True,
    )
