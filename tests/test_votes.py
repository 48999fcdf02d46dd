"""VoteMatrix construction and validation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from consensus import InputError, InputWarning, VoteMatrix


def frame(rows, columns=("item", "annotator", "label")):
    return pd.DataFrame(rows, columns=list(columns))


BASIC = [("i1", "a", "x"), ("i1", "b", "y"), ("i2", "a", "x"), ("i2", "c", "x")]


def test_codes_and_names_round_trip():
    votes = VoteMatrix.from_frame(frame(BASIC))
    assert votes.n_items == 2 and votes.n_annotators == 3 and votes.n_votes == 4
    assert list(votes.classes) == ["x", "y"]
    assert votes.item_codes.dtype == np.int32
    back = votes.to_frame()
    assert back.values.tolist() == [list(r) for r in BASIC]


@pytest.mark.parametrize("columns", [("task", "worker", "label"), ("Item", "Annotator", "Label")])
def test_column_aliases(columns):
    votes = VoteMatrix.from_frame(frame(BASIC, columns))
    assert votes.n_votes == 4


def test_explicit_columns_and_misspelled_column_named():
    df = frame(BASIC, ("q", "who", "ans"))
    votes = VoteMatrix.from_frame(df, item="q", annotator="who", label="ans")
    assert votes.n_items == 2
    with pytest.raises(InputError, match=r"no item column.*columns found: q, who, ans"):
        VoteMatrix.from_frame(df)
    with pytest.raises(InputError, match="no column named 'lable'"):
        VoteMatrix.from_frame(df, item="q", annotator="who", label="lable")


def test_numeric_labels_sorted_numerically():
    votes = VoteMatrix.from_frame(frame([("i", "a", "10"), ("i", "b", "2"), ("j", "a", "1")]))
    assert list(votes.classes) == ["1", "2", "10"]


def test_declared_labels_keep_unvoted_class_and_reject_unknown():
    votes = VoteMatrix.from_frame(frame(BASIC), labels=["y", "x", "z"])
    assert list(votes.classes) == ["y", "x", "z"]
    assert votes.label_counts.shape == (2, 3)
    with pytest.raises(InputError, match=r"not in the declared set.*'y' \(1 votes\)"):
        VoteMatrix.from_frame(frame(BASIC), labels=["x", "z"])


def test_single_class_is_an_error_unless_declared():
    one = frame([("i", "a", "x"), ("j", "b", "x")])
    with pytest.raises(InputError, match="only one label"):
        VoteMatrix.from_frame(one)
    assert VoteMatrix.from_frame(one, labels=["x", "y"]).n_classes == 2


@pytest.mark.parametrize("marker", [None, np.nan, "", "NA", "#N/A", "null", " N/A "])
def test_missing_values_error_names_line_or_drop(marker):
    rows = BASIC + [("i3", marker, "x")]
    with pytest.raises(InputError, match=r"empty annotator at line 6.*on_missing=\"drop\""):
        VoteMatrix.from_frame(frame(rows), source="v.csv", first_line=2)
    with pytest.warns(InputWarning, match="dropped 1 vote"):
        votes = VoteMatrix.from_frame(frame(rows), on_missing="drop")
    assert votes.n_items == 2  # i3 had only the dropped vote


def test_duplicate_policies():
    rows = BASIC + [("i1", "a", "y")]
    with pytest.warns(InputWarning, match="1 repeated"):
        kept = VoteMatrix.from_frame(frame(rows))
    assert kept.n_votes == 5
    with pytest.warns(InputWarning):
        first = VoteMatrix.from_frame(frame(rows), duplicates="first")
    with pytest.warns(InputWarning):
        last = VoteMatrix.from_frame(frame(rows), duplicates="last")
    assert first.n_votes == last.n_votes == 4
    assert first.label_counts[0].tolist() == [1, 1] and last.label_counts[0].tolist() == [0, 2]
    with pytest.raises(InputError, match="repeated .* line 6"):
        VoteMatrix.from_frame(frame(rows), duplicates="error", first_line=2)


def test_no_warning_without_duplicates():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VoteMatrix.from_frame(frame(BASIC))


def test_whitespace_stripped_and_merged():
    votes = VoteMatrix.from_frame(frame([("i", "a", "x "), ("i", "b", " x"), ("j", "a", "y")]))
    assert list(votes.classes) == ["x", "y"]
    assert votes.label_counts[0].tolist() == [2, 0]


def test_empty_table_and_wrong_type():
    with pytest.raises(InputError, match="no votes"):
        VoteMatrix.from_frame(frame([]))
    with pytest.raises(InputError, match="expected a table"):
        VoteMatrix.from_frame([1, 2, 3])  # type: ignore[arg-type]


def test_sparse_counts_match_votes():
    votes = VoteMatrix.from_frame(frame(BASIC + [("i1", "a", "x")]), duplicates="keep")
    counts = votes.item_annotator_label.toarray()
    assert counts.sum() == votes.n_votes
    # annotator a (code 0), label x (code 0) on item i1 twice
    assert counts[0, 0 * votes.n_classes + 0] == 2


def test_from_codes_validates():
    votes = VoteMatrix.from_codes([0, 0, 1], [0, 1, 0], [0, 1, 1], n_classes=3)
    assert votes.n_classes == 3
    with pytest.raises(InputError):
        VoteMatrix.from_codes([0], [0, 1], [0])
    with pytest.raises(InputError):
        VoteMatrix.from_codes([0], [0], [3], n_classes=2)


def test_input_frame_not_modified():
    df = frame(BASIC + [("i3", None, "x")])
    before = df.copy()
    with pytest.warns(InputWarning):
        VoteMatrix.from_frame(df, on_missing="drop")
    pd.testing.assert_frame_equal(df, before)
