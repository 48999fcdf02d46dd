"""Reading and writing tables: formats, errors that name the file, atomic writes."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from consensus import InputError, read_table, read_votes, write_table

VOTES = "item,annotator,label\ni1,a,x\ni1,b,y\ni2,a,x\n"


def test_csv_keeps_ids_as_text(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("item,annotator,label\n007,01,1\n007,2,0\n")
    votes = read_votes(path)
    assert list(votes.item_ids) == ["007"] and list(votes.annotator_ids) == ["01", "2"]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_round_trip_every_format(tmp_path, suffix):
    frame = pd.DataFrame({"item": ["i1", "i1", "i2"], "annotator": ["a", "b", "a"],
                          "label": ["x", "y", "x"]})
    path = tmp_path / f"votes{suffix}"
    write_table(frame, path)
    votes = read_votes(path)
    assert votes.n_votes == 3 and list(votes.classes) == ["x", "y"]
    assert list(os.listdir(tmp_path)) == [path.name]  # no temp file left behind


def test_crowdkit_columns_in_file(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("worker,task,label\na,t1,yes\nb,t1,no\n")
    assert read_votes(path).n_items == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("", "the file is empty"),
        ("item,annotator,label\n", "no votes"),
        ("itme,annotator,label\ni,a,x\n", r"no item column.*columns found: itme, annotator, label"),
        ("item,annotator,label\ni,a,x\ni,b,x\n", "only one label"),
        ("item,annotator,label\ni,a,x,extra\n", "could not be read as CSV"),
        ("just some text\nwithout commas\n", r"matches none of the shapes.*columns just some text"),
    ],
)
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "votes.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        read_votes(path)
    assert "votes.csv" in str(info.value)


def test_binary_file_refused(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(InputError, match="binary"):
        read_table(path)


def test_unknown_extension(tmp_path):
    with pytest.raises(InputError, match="unknown file type '.xlsx'"):
        read_table(tmp_path / "votes.xlsx")


def test_missing_output_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "nope" / "out.csv")


def test_values_with_commas_are_quoted(tmp_path):
    path = tmp_path / "out.csv"
    write_table(pd.DataFrame({"item": ["a,b", "c"], "p": [0.5, 1.0]}), path)
    assert pd.read_csv(path, dtype=str)["item"].tolist() == ["a,b", "c"]


def test_input_file_untouched(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text(VOTES)
    before = path.stat().st_mtime_ns, path.read_bytes()
    read_votes(path)
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
