"""The first pass of the Dask engine: survey the files, agree codes, regroup, encode.

Annotator and label codes are agreed once on the driver from every file's distinct
values (small), the items' layout is checked (disjoint item ranges: the files are the
partitions; else one regrouping by item hash), and each partition is encoded once for
every later pass. Missing cells, repeated votes, declared labels and gold are checked
here as :func:`consensus.data.read_votes` and :func:`consensus.data.gold_per_item` check
them in memory.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError, InputWarning
from ..wording import option, plural
from . import partitions as parts
from .cluster import Passes
from .statistics import Layout


@dataclass(frozen=True)
class Encoded:
    """The votes after the first pass: how to read them, and what it counted."""

    layout: Layout
    n_partitions: int
    annotator_ids: np.ndarray
    classes: np.ndarray
    info: list[parts.PartitionInfo]
    repartitioned: bool
    n_gold: int | None

    @property
    def n_votes(self) -> int:
        return sum(i.n_votes for i in self.info)

    @property
    def n_items(self) -> int:
        return sum(i.n_items for i in self.info)

    @property
    def max_votes_per_item(self) -> int:
        return max((i.max_votes_per_item for i in self.info), default=0)

    @property
    def annotator_votes(self) -> np.ndarray:
        return np.sum([i.annotator_votes for i in self.info], axis=0)


def encode(passes: Passes, path: str, scratch: str, storage: Mapping[str, Any], *,
           item: str | None, annotator: str | None, label: str | None,
           labels: Sequence[Any] | None, duplicates: str, on_missing: str, gold: Any,
           n_partitions: int | None, dtype: np.dtype) -> Encoded:
    """Survey the files, agree codes, regroup by item if needed, encode every partition."""
    files = parts.list_vote_files(path, storage)
    cache = parts.join_url(scratch, "votes")
    parts.make_folder(cache, storage)
    columns = parts.vote_columns(files[0], item, annotator, label, storage)
    surveys: list[parts.FileSurvey] = passes.map(
        "survey", parts.survey_file, files, columns=columns, storage_options=storage)
    check_missing(path, surveys, on_missing)
    annotator_ids = pd.unique(np.concatenate([s.annotators.astype(object) for s in surveys]))
    classes = class_order(pd.unique(np.concatenate([s.labels.astype(object)
                                                    for s in surveys])), labels, path)
    whole = parts.items_are_whole(surveys) and n_partitions in (None, len(files))
    if whole:
        pieces: list[list[tuple[str, int | None]]] = [[(f, None)] for f in files]
    else:
        n_buckets = n_partitions or len(files)
        split = [parts.join_url(scratch, f"split-{i:05d}.parquet") for i in range(len(files))]
        groups = passes.map("regroup by item", parts.split_file, files, split,
                            columns=columns, n_buckets=n_buckets, storage_options=storage)
        pieces = [[(split[i], g[b]) for i, g in enumerate(groups) if b in g]
                  for b in range(n_buckets)]
        pieces = [p for p in pieces if p]
    gold_codes = gold_series(gold, classes)
    codes = parts.Codes(pd.Index(annotator_ids), classes, gold_codes)
    info: list[parts.PartitionInfo] = passes.map(
        "encode", parts.encode_partition, pieces, range(len(pieces)), columns=columns,
        codes=passes.broadcast(codes), cache=cache, duplicates=duplicates,
        storage_options=storage)
    check_duplicates(path, info, duplicates)
    n_gold = None
    if gold_codes is not None:
        n_gold = sum(i.n_gold_items for i in info)
        if n_gold < len(gold_codes):
            warnings.warn(f"the gold labels: {plural(len(gold_codes) - n_gold, 'item')} "
                          f"no one voted on were dropped", InputWarning, stacklevel=3)
    layout = Layout(cache, len(annotator_ids), len(classes), dtype.name, gold_codes is not None,
                    storage)
    passes.n_partitions = len(pieces)
    return Encoded(layout, len(pieces), np.asarray(annotator_ids, dtype=object), classes, info,
                   not whole, n_gold)


def check_missing(path: str, surveys: Sequence[parts.FileSurvey], on_missing: str) -> None:
    """Refuse or report votes with an empty cell, as :func:`read_votes` does."""
    missing = [s for s in surveys if s.n_missing]
    if not missing:
        return
    n = sum(s.n_missing for s in missing)
    roles = "/".join(r for r in parts.ROLES if any(r in s.missing_roles for s in missing))
    if on_missing == "error":
        raise InputError(f"{path}: {plural(n, 'vote')} with an empty {roles}, first in "
                         f"{missing[0].url}; fix them or drop them with "
                         f"{option('on_missing', 'drop')}")
    warnings.warn(f"{path}: dropped {plural(n, 'vote')} with an empty {roles}", InputWarning,
                  stacklevel=4)


def check_duplicates(path: str, info: Sequence[parts.PartitionInfo], policy: str) -> None:
    """Refuse or report repeated (item, annotator) votes, as :func:`read_votes` does."""
    n = sum(i.n_repeats for i in info)
    if not n:
        return
    first = next(i.first_repeat for i in info if i.n_repeats)
    if policy == "error":
        raise InputError(f"{path}: {n} repeated (item, annotator) vote(s), first on item "
                         f"{first!r}; choose {option('duplicates', 'keep', 'first', 'last')}")
    if policy == "keep":
        warnings.warn(f"{path}: {n} repeated (item, annotator) vote(s) kept, each counted as "
                      f"a vote ({option('duplicates', 'first', 'last', 'error')} to change)",
                      InputWarning, stacklevel=4)
    else:
        warnings.warn(f"{path}: {n} repeated (item, annotator) vote(s) dropped, keeping the "
                      f"{policy}", InputWarning, stacklevel=4)


def class_order(names: np.ndarray, declared: Sequence[Any] | None, path: str) -> np.ndarray:
    """The classes: the declared labels, else the labels seen, numerically when they all
    read as numbers, else as text (the order :mod:`consensus.data.parse` gives)."""
    if declared is not None:
        text = [str(d).strip() for d in declared]
        unknown = sorted({str(n) for n in names} - set(text))
        if unknown:
            raise InputError(f"{path}: label(s) not in the declared set {', '.join(text)}: "
                             f"{', '.join(map(repr, unknown))}; add them to "
                             f"{option('labels')} or fix the votes")
        classes = np.array(list(declared), dtype=object)
    else:
        as_text = [str(n) for n in names]
        try:
            keys: Any = np.array([float(t) for t in as_text])
        except ValueError:
            keys = np.array(as_text, dtype=object)
        classes = np.asarray(names, dtype=object)[np.argsort(keys, kind="stable")]
    if len(classes) < 2:
        raise InputError(f"{path}: only one label ({classes[0] if len(classes) else 'none'!r}) "
                         f"appears; consensus needs at least two classes. Declare the full "
                         f"label set with {option('labels')}")
    return classes


def gold_series(gold: Any, classes: np.ndarray) -> pd.Series | None:
    """Gold as a Series of class codes indexed by item id as text, or None."""
    if gold is None:
        return None
    if isinstance(gold, (str, bytes)) or hasattr(gold, "__fspath__"):
        from ..data.readers import read_table

        gold = read_table(gold)
    if isinstance(gold, pd.DataFrame):
        from ..data.columns import find_columns
        from ..data.gold import GOLD_COLUMN_ALIASES

        found = find_columns(list(gold.columns), {"item": None, "label": None},
                             GOLD_COLUMN_ALIASES, ("item", "label"), "the gold labels")
        gold = pd.Series(gold[found["label"]].to_numpy(), index=gold[found["item"]].to_numpy())
    series = pd.Series(gold, dtype=object).dropna()
    index = pd.Index([str(i).strip() for i in series.index])
    if index.has_duplicates:
        raise InputError(f"the gold labels give item {index[index.duplicated()][0]!r} twice")
    lookup = {str(c): k for k, c in enumerate(classes)}
    text = [str(v).strip() for v in series.to_numpy()]
    unknown = sorted({t for t in text if t not in lookup})
    if unknown:
        raise InputError(f"the gold labels: label(s) {', '.join(map(repr, unknown))} are not "
                         f"classes of the votes ({', '.join(lookup)})")
    return pd.Series([lookup[t] for t in text], index=index, dtype=np.int64)
