"""Golden sets: items whose right answer is known, matched to a vote table.

A golden set is a small table ``item,label`` with an optional ``note`` (why the
answer is right, shown to annotators who miss it) and an optional ``difficulty``.
It is checked once against the votes it will be used with and stored as integer
codes into that VoteMatrix, so scoring, vetting and models that clamp gold items
never compare strings again. The file format and the checks are described in
``golden_sets/README.md``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError, InputWarning
from ..wording import describe_rows, option
from .columns import COLUMN_ALIASES, MISSING_MARKERS, find_columns
from .readers import first_data_line, read_table, table_format
from .votes import VoteMatrix

#: Accepted spellings of the gold columns, first match wins (case-insensitive).
GOLD_COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "item": COLUMN_ALIASES["item"],
    "label": ("label", "true_label", "gold", "gold_label", "truth", "answer"),
    "note": ("note", "notes", "explanation", "rationale"),
    "difficulty": ("difficulty", "level"),
}


@dataclass(frozen=True, eq=False)
class GoldSet:
    """Known answers for some items of one VoteMatrix, as codes into it.

    Build it with :func:`read_gold`, :meth:`from_frame` or :meth:`from_codes`,
    which check it against the votes; the fields are then trusted as they are.

    Parameters
    ----------
    item_codes : ndarray of int32, shape (n_items,)
        Codes into ``item_ids`` (the votes' ``item_ids``), each item once.
    label_codes : ndarray of int32, shape (n_items,)
        The right answer of each gold item, as a code into ``classes``.
    notes, difficulty : ndarray of object, shape (n_items,), or None
        Free text per gold item (None where a row left it empty); None when the
        file has no such column.
    item_ids, classes : ndarray of object
        The votes' id and class arrays the codes point into, kept so that a gold
        set matched to one vote table is not silently used with another.
    source : str
        Where the gold came from, for messages.
    """

    item_codes: np.ndarray
    label_codes: np.ndarray
    notes: np.ndarray | None
    difficulty: np.ndarray | None
    item_ids: np.ndarray
    classes: np.ndarray
    source: str = "the gold set"

    @property
    def n_items(self) -> int:
        """Number of gold items (after dropping those no one voted on)."""
        return int(self.item_codes.shape[0])

    def __repr__(self) -> str:
        return f"GoldSet(n_items={self.n_items}, source={self.source!r})"

    def per_item(self, n_items: int) -> np.ndarray:
        """Gold label code of every item, -1 where an item has no gold.

        Parameters
        ----------
        n_items : int
            Length of the result, normally ``votes.n_items``.

        Returns
        -------
        ndarray of int32, shape (n_items,)
            A dense lookup, so that models can clamp gold items and scorers can
            pick gold votes with one fancy index instead of a join.
        """
        if self.n_items and n_items <= int(self.item_codes.max()):
            raise InputError(
                f"{self.source}: gold item code {int(self.item_codes.max())} does not fit "
                f"in {n_items} items; was the gold set matched to a different vote table?"
            )
        lookup = np.full(n_items, -1, dtype=np.int32)
        lookup[self.item_codes] = self.label_codes
        return lookup

    def class_counts(self) -> np.ndarray:
        """Gold items per class, shape (n_classes,): which classes the set covers."""
        return np.bincount(self.label_codes, minlength=len(self.classes))

    def check_matches(self, votes: VoteMatrix) -> None:
        """Raise InputError unless this gold set was matched to ``votes``'s ids and classes."""
        same_items = self.item_ids is votes.item_ids or (
            len(self.item_ids) == votes.n_items
            and np.array_equal(self.item_ids.astype(str), votes.item_ids.astype(str))
        )
        same_classes = self.classes is votes.classes or (
            len(self.classes) == votes.n_classes
            and np.array_equal(self.classes.astype(str), votes.classes.astype(str))
        )
        if not (same_items and same_classes):
            raise InputError(
                f"{self.source}: this gold set was matched to a different vote table; "
                f"load it again with read_gold(path, votes) for these votes"
            )

    def to_frame(self) -> pd.DataFrame:
        """The gold set as a table in the file format (``item,label[,note][,difficulty]``)."""
        frame = pd.DataFrame(
            {"item": self.item_ids[self.item_codes], "label": self.classes[self.label_codes]}
        )
        if self.notes is not None:
            frame["note"] = self.notes
        if self.difficulty is not None:
            frame["difficulty"] = self.difficulty
        return frame

    # ----------------------------------------------------------- construction
    @classmethod
    def from_codes(
        cls,
        votes: VoteMatrix,
        item_codes: Any,
        label_codes: Any,
        *,
        source: str = "the gold set",
    ) -> GoldSet:
        """Gold from codes into ``votes`` (simulations, models given gold in code).

        Repeated items must agree; out-of-range codes are an InputError.
        """
        items = np.asarray(item_codes, dtype=np.int64).ravel()
        labels = np.asarray(label_codes, dtype=np.int64).ravel()
        if items.shape != labels.shape:
            raise InputError(f"{source}: {len(items)} item codes but {len(labels)} label codes")
        for name, codes, bound in (
            ("item", items, votes.n_items),
            ("label", labels, votes.n_classes),
        ):
            bad = (codes < 0) | (codes >= bound)
            if bad.any():
                raise InputError(
                    f"{source}: {name} code {int(codes[bad][0])} is outside 0..{bound - 1}"
                )
        order = np.argsort(items, kind="stable")
        items, labels = items[order], labels[order]
        repeat = np.flatnonzero(items[1:] == items[:-1]) + 1
        clash = repeat[labels[repeat] != labels[repeat - 1]]
        if clash.size:
            k = int(clash[0])
            raise InputError(
                f"{source}: item code {int(items[k])} is given two gold labels, "
                f"{int(labels[k - 1])} and {int(labels[k])}"
            )
        keep = np.ones(len(items), dtype=bool)
        keep[repeat] = False
        return cls(
            items[keep].astype(np.int32),
            labels[keep].astype(np.int32),
            None,
            None,
            votes.item_ids,
            votes.classes,
            source,
        )

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        votes: VoteMatrix,
        *,
        item: str | None = None,
        label: str | None = None,
        source: str = "the gold set",
        first_line: int | None = None,
    ) -> GoldSet:
        """Check a gold table against ``votes`` and encode it.

        Parameters
        ----------
        frame : DataFrame
            One row per gold item: ``item,label`` (also ``task``, ``true_label``,
            ``gold``, ...), optional ``note``/``notes`` and ``difficulty``.
        votes : VoteMatrix
            The votes the gold set will be used with; items and labels are
            matched to its ids and classes as stripped text.
        item, label : str, optional
            Column names, when the aliases do not find them.
        source, first_line
            Used only to name the file and line in messages.

        Raises
        ------
        InputError
            Missing columns or cells; an item given two different labels; labels
            outside the votes' classes; no gold item that anyone voted on.

        Warns
        -----
        InputWarning
            Repeated rows with the same label (one kept); gold items no one voted
            on (dropped, since nothing can be scored on them).
        """
        if not isinstance(frame, pd.DataFrame):
            raise InputError(
                f"{source}: expected a table of gold labels, got {type(frame).__name__}"
            )
        cols = _resolve_gold_columns(list(frame.columns), item, label, source)
        if len(frame) == 0:
            raise InputError(f"{source}: no gold items (the table has a header but no rows)")
        table = pd.DataFrame({role: _text(frame[name]) for role, name in cols.items()})

        _check_missing(table, source, first_line)
        table = _drop_repeats(table, source, first_line)

        class_code = {str(c).strip(): k for k, c in enumerate(votes.classes)}
        labels = table["label"].map(class_code)
        if labels.isna().any():
            unknown = table.loc[labels.isna(), "label"].value_counts(sort=False)
            detail = ", ".join(
                f"{name!r} ({n} item{'s' if n > 1 else ''})" for name, n in unknown.items()
            )
            raise InputError(
                f"{source}: gold label(s) not among the votes' classes "
                f"{', '.join(class_code)}: {detail}; fix the gold file or declare the full "
                f"label set when reading the votes ({option('labels')})"
            )

        vote_ids = pd.Index(votes.item_ids.astype(str)).str.strip()
        items = vote_ids.get_indexer(table["item"].astype(str))
        unvoted = items < 0
        if unvoted.all():
            raise InputError(
                f"{source}: none of the {len(table)} gold items appears in the votes "
                f"(gold ids start {_first(table['item'])}; vote ids start "
                f"{_first(pd.Series(votes.item_ids))}); are the two files about the same items?"
            )
        if unvoted.any():
            warnings.warn(
                f"{source}: {int(unvoted.sum())} gold item(s) no one voted on were dropped "
                f"(e.g. {_first(table.loc[unvoted, 'item'])})",
                InputWarning,
                stacklevel=2,
            )
        keep = ~unvoted
        return cls(
            items[keep].astype(np.int32),
            labels.to_numpy()[keep].astype(np.int32),
            _optional(table, "note", keep),
            _optional(table, "difficulty", keep),
            votes.item_ids,
            votes.classes,
            source,
        )


def read_gold(
    path: str | os.PathLike[str],
    votes: VoteMatrix,
    *,
    item: str | None = None,
    label: str | None = None,
) -> GoldSet:
    """Read a gold file (CSV, TSV, Parquet, JSON Lines) and match it to ``votes``.

    Errors name the file and line; see :meth:`GoldSet.from_frame` for the checks.
    """
    frame = read_table(path)
    first_line = first_data_line(table_format(path))
    return GoldSet.from_frame(
        frame, votes, item=item, label=label, source=str(path), first_line=first_line
    )


def gold_per_item(votes: VoteMatrix, gold: Any) -> np.ndarray | None:
    """Per-item gold class codes (-1 where unknown) from any form of gold a model accepts.

    Every way in is checked against ``votes`` the same way: a :class:`GoldSet` must
    have been matched to these votes; a mapping or Series from item id to label
    name is matched like a gold file (unknown labels are an error, items no one
    voted on are dropped with a warning); an integer array needs one code per item,
    -1 or a class code.

    Returns
    -------
    ndarray of int64, shape (n_items,), or None when ``gold`` is None.
    """
    if gold is None:
        return None
    if isinstance(gold, GoldSet):
        gold.check_matches(votes)
        codes = gold.per_item(votes.n_items).astype(np.int64)
    elif isinstance(gold, (Mapping, pd.Series)):
        series = pd.Series(gold, dtype=object)
        frame = pd.DataFrame({"item": series.index.to_numpy(dtype=object), "label": series.array})
        codes = GoldSet.from_frame(frame, votes, source="the gold labels").per_item(votes.n_items)
        codes = codes.astype(np.int64)
    else:
        codes = np.asarray(gold)
        if codes.dtype.kind not in "iu":
            raise InputError(
                f"gold must be a GoldSet, a mapping from item id to label, or integer class "
                f"codes per item; got an array of {codes.dtype}"
            )
        codes = codes.astype(np.int64)
    if codes.shape != (votes.n_items,):
        raise InputError(f"gold must give one code per item ({votes.n_items}), got {codes.shape}")
    if codes.max(initial=-1) >= votes.n_classes or codes.min(initial=-1) < -1:
        raise InputError(
            f"gold codes must be -1 (unknown) or a class code 0..{votes.n_classes - 1}"
        )
    return codes


# ---------------------------------------------------------------- helpers
def _resolve_gold_columns(
    columns: Sequence[Any], item: str | None, label: str | None, source: str
) -> dict[str, str]:
    """Map item/label (required) and note/difficulty (optional) to column names."""
    return find_columns(
        columns,
        {"item": item, "label": label, "note": None, "difficulty": None},
        GOLD_COLUMN_ALIASES,
        ("item", "label"),
        source,
        where=" in the gold set",
    )


def _text(column: pd.Series) -> pd.Series:
    """Stripped text (object dtype) with None for empty cells and the usual missing markers."""
    text = column.astype("string").str.strip()
    text = text.mask(text.str.lower().isin(MISSING_MARKERS))
    return text.astype(object).where(text.notna(), None)


def _check_missing(table: pd.DataFrame, source: str, first_line: int | None) -> None:
    """An empty item or label cannot be guessed: refuse, naming the lines."""
    for role in ("item", "label"):
        missing = table[role].isna().to_numpy()
        if missing.any():
            raise InputError(
                f"{source}: {int(missing.sum())} gold row(s) with an empty {role} at "
                f"{describe_rows(np.flatnonzero(missing), first_line)}; fill or delete them"
            )


def _drop_repeats(table: pd.DataFrame, source: str, first_line: int | None) -> pd.DataFrame:
    """Refuse an item given two labels; keep one row of an item repeated with one label.

    The kept row takes the first non-empty note and difficulty given for the item.
    """
    extra = table["item"].duplicated().to_numpy()
    if not extra.any():
        return table
    items, labels = table["item"].to_numpy(), table["label"].to_numpy()
    n_labels = table.groupby("item", sort=False)["label"].nunique()
    conflicts = n_labels.index[n_labels > 1]
    if len(conflicts):
        details = []
        for name in conflicts[:5]:
            rows = np.flatnonzero(items == name)
            other = rows[labels[rows] != labels[rows[0]]][0]
            details.append(
                f"item {name!r} is {labels[rows[0]]!r} at "
                f"{describe_rows(rows[:1], first_line)} but {labels[other]!r} at "
                f"{describe_rows(np.array([other]), first_line)}"
            )
        more = f" (and {len(conflicts) - 5} more items)" if len(conflicts) > 5 else ""
        raise InputError(
            f"{source}: {len(conflicts)} gold item(s) with conflicting labels: "
            f"{'; '.join(details)}{more}. A gold item needs one right answer: "
            f"fix the label or remove the item"
        )
    warnings.warn(
        f"{source}: {int(extra.sum())} repeated gold row(s) with the same label at "
        f"{describe_rows(np.flatnonzero(extra), first_line)}; kept one row per item",
        InputWarning,
        stacklevel=3,
    )
    return table.groupby("item", sort=False, as_index=False).first()


def _optional(table: pd.DataFrame, role: str, keep: np.ndarray) -> np.ndarray | None:
    """An optional column as an object array with None for empty cells, or None if absent."""
    if role not in table:
        return None
    values = table[role].to_numpy(dtype=object)[keep]
    values[pd.isna(values)] = None
    return values


def _first(ids: pd.Series, n: int = 3) -> str:
    shown = ", ".join(repr(str(v)) for v in ids.iloc[:n])
    return shown + (", ..." if len(ids) > n else "")
