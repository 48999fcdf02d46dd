"""A classifier's predictions, read as evidence about items: never as ground truth.

Two layouts are accepted: per-class probabilities (``item, p_<label>, ...``, as
``consensus aggregate`` writes them) or a label per item with an optional
confidence (``item, label[, confidence]``). Either is matched to a VoteMatrix's
items and classes once and kept as an (n_items, K) probability array.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..exceptions import InputError, InputWarning
from ..wording import describe_rows, plural
from .columns import COLUMN_ALIASES, find_columns
from .readers import first_data_line, read_table, table_format
from .votes import VoteMatrix


@dataclass(frozen=True, eq=False)
class Predictions:
    """Class probabilities from a model for some items of one VoteMatrix.

    Attributes
    ----------
    proba : ndarray (n_items, K)
        Rows sum to one where ``known``; NaN elsewhere. Columns in ``votes.classes`` order.
    known : ndarray of bool (n_items,)
        Items the model made a prediction for.
    source : str
        Where they came from, for messages and the model's annotator id.
    """

    proba: np.ndarray
    known: np.ndarray
    source: str

    @property
    def label_codes(self) -> np.ndarray:
        """The model's most probable class per item (-1 where it made no prediction)."""
        codes = np.where(self.known, np.nan_to_num(self.proba, nan=-1.0).argmax(axis=1), -1)
        return codes.astype(np.int64)

    @property
    def confidence(self) -> np.ndarray:
        """The probability the model gives its own label (NaN where it made no prediction)."""
        return np.where(self.known, np.nan_to_num(self.proba, nan=0.0).max(axis=1), np.nan)


def predictions_from_frame(
    frame: pd.DataFrame, votes: VoteMatrix, *, source: str = "the predictions",
    first_line: int | None = None,
) -> Predictions:
    """Match a predictions table to ``votes``; see the module docstring for the layouts."""
    if len(frame) == 0:
        raise InputError(f"{source}: no predictions (the table has a header but no rows)")
    names = [str(c) for c in frame.columns]
    item_col = find_columns(names, {"item": None}, {"item": COLUMN_ALIASES["item"]}, ("item",),
                            source, where=" in the predictions")["item"]
    class_text = [str(c) for c in votes.classes]
    prob_cols = {c[2:]: c for c in names if c.startswith("p_")}
    if prob_cols:
        unknown = sorted(set(prob_cols) - set(class_text))
        if unknown:
            raise InputError(f"{source}: probability column(s) for label(s) not among the "
                             f"votes' classes {', '.join(class_text)}: {', '.join(unknown)}")
        proba = np.zeros((len(frame), votes.n_classes))
        for k, name in enumerate(class_text):
            if name in prob_cols:
                proba[:, k] = _numbers(frame[prob_cols[name]], source, prob_cols[name],
                                       first_line)
        totals = proba.sum(axis=1)
        bad = (proba < 0).any(axis=1) | (np.abs(totals - 1.0) > 1e-3)
        if bad.any():
            where = np.flatnonzero(bad)
            raise InputError(f"{source}: probabilities that are negative or do not sum to 1 at "
                             f"{describe_rows(where, first_line)} (row sums "
                             f"{', '.join(f'{t:g}' for t in totals[where[:3]])})")
        proba /= totals[:, None]
    else:
        label_col = find_columns(names, {"label": None}, {"label": COLUMN_ALIASES["label"]},
                                 ("label",), source, where=" in the predictions")["label"]
        lookup = {c: k for k, c in enumerate(class_text)}
        labels = frame[label_col].astype(str).str.strip()
        codes = labels.map(lookup)
        if codes.isna().any():
            where = np.flatnonzero(codes.isna().to_numpy())
            raise InputError(f"{source}: predicted label {labels.iloc[where[0]]!r} at "
                             f"{describe_rows(where, first_line)} is not one of the votes' "
                             f"classes {', '.join(class_text)}")
        conf_col = next((c for c in names if c.lower() in ("confidence", "score", "prob",
                                                           "probability")), None)
        confidence = (np.ones(len(frame)) if conf_col is None
                      else _numbers(frame[conf_col], source, conf_col, first_line))
        if ((confidence < 0) | (confidence > 1)).any():
            where = np.flatnonzero((confidence < 0) | (confidence > 1))
            raise InputError(f"{source}: confidence outside [0, 1] at "
                             f"{describe_rows(where, first_line)}")
        rest = (1.0 - confidence) / (votes.n_classes - 1)
        proba = np.repeat(rest[:, None], votes.n_classes, axis=1)
        proba[np.arange(len(frame)), codes.to_numpy(dtype=np.int64)] = confidence
    ids = pd.Index(votes.item_ids.astype(str))
    position = ids.get_indexer(frame[item_col].astype(str).str.strip())
    if (position < 0).all():
        raise InputError(f"{source}: none of its items appears in the votes; are the two "
                         f"files about the same items?")
    repeated = pd.Series(position[position >= 0]).duplicated()
    if repeated.any():
        raise InputError(f"{source}: an item is predicted twice "
                         f"({votes.item_ids[position[position >= 0][repeated.to_numpy()][0]]!r})")
    if (position < 0).any():
        warnings.warn(f"{source}: {plural(int((position < 0).sum()), 'prediction')} for items "
                      f"no one voted on were ignored", InputWarning, stacklevel=2)
    full = np.full((votes.n_items, votes.n_classes), np.nan)
    full[position[position >= 0]] = proba[position >= 0]
    known = np.zeros(votes.n_items, dtype=bool)
    known[position[position >= 0]] = True
    return Predictions(full, known, source)


def read_predictions(path: str | os.PathLike[str], votes: VoteMatrix) -> Predictions:
    """Read a predictions file (CSV, Parquet, JSON Lines) and match it to ``votes``."""
    frame = read_table(path)
    return predictions_from_frame(frame, votes, source=str(path),
                                  first_line=first_data_line(table_format(path)))


def _numbers(column: pd.Series, source: str, name: str, first_line: int | None) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        where = np.flatnonzero(np.isnan(values))
        raise InputError(f"{source}: column {name!r} has a value that is not a number "
                         f"({column.iloc[where[0]]!r}) at {describe_rows(where, first_line)}")
    return values
