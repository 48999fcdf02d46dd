"""The streaming readers and the piecewise CSV writer give exactly what the pandas paths give.

Each reading test compares :func:`read_votes` (columns dictionary-encoded batch by
batch, integers encoded as integers) with :meth:`VoteMatrix.from_frame` over
:func:`read_table` (every cell made text by pandas first), the reference that
defines the ids' text. Batches are made tiny so that every file spans many.
"""

from __future__ import annotations

import io
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from consensus import InputError, VoteMatrix, read_table, read_votes, write_table
from consensus.data import readers, writers
from consensus.data.parse import ColumnEncoder


@pytest.fixture(autouse=True)
def tiny_batches(monkeypatch):
    monkeypatch.setattr(readers, "BLOCK_BYTES", 64)
    monkeypatch.setattr(readers, "BATCH_ROWS", 3)
    monkeypatch.setattr(writers, "CSV_PIECE_ROWS", 2)


def reference(path, **options) -> VoteMatrix:
    fmt = readers.table_format(path)
    return VoteMatrix.from_frame(read_table(path, encode=True), source=str(path),
                                 first_line=readers.first_data_line(fmt), **options)


def assert_same(fast: VoteMatrix, slow: VoteMatrix) -> None:
    for name in ("item_codes", "annotator_codes", "label_codes"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
        assert getattr(fast, name).dtype == np.int32
    for name in ("item_ids", "annotator_ids", "classes"):
        assert getattr(fast, name).tolist() == getattr(slow, name).tolist()
        assert all(type(a) is type(b) for a, b in zip(getattr(fast, name), getattr(slow, name),
                                                      strict=True))
    assert set(fast.extras) == set(slow.extras)
    for name, values in fast.extras.items():
        expected = slow.extras[name]
        if values.dtype.kind == "f":
            np.testing.assert_array_equal(values, expected)
        else:
            assert [None if pd.isna(v) else v for v in values] == \
                [None if pd.isna(v) else v for v in expected]


CSV_CASES = {
    "leading zeros": "item,annotator,label\n007,01,1\n007,2,0\n7,01,0\n",
    "whitespace and markers": "item,annotator,label\n a ,x,yes\na,y,no\nNA,x,yes\nb,null,no\n"
                              "b ,z, no\nc,z,N/A\nc,x,yes\n",
    "quoted": 'item,annotator,label\n"a,1",x,yes\n"",x,no\n"a,1",y,"no"\nb,"y",yes\n',
    "padded header": " item , annotator ,label\ni1,a,x\ni1,b,y\ni2,a,x\n",
    "crowd-kit names": "worker,task,label,other\na,t1,yes,1\nb,t1,no,2\na,t2,no,3\n",
    "extras": "item,annotator,label,seconds,created_at\ni1,a,x,1.5,2024-01-01\n"
              "i1,b,y,,2024-01-02\ni2,a,x,3,\n",
}


@pytest.mark.parametrize("content", CSV_CASES.values(), ids=CSV_CASES.keys())
@pytest.mark.parametrize("options", [{"on_missing": "drop"},
                                     {"on_missing": "drop", "duplicates": "last"}])
def test_csv_matches_the_pandas_path(tmp_path, content, options):
    path = tmp_path / "votes.csv"
    path.write_text(content)
    assert readers.read_vote_columns(path) is not None  # the streaming path is taken
    assert_same(read_votes(path, **options), reference(path, **options))


@pytest.mark.parametrize("budget", [ColumnEncoder.TEXT_BUDGET, 100])
def test_many_blocks_keep_first_appearance_order(tmp_path, monkeypatch, budget):
    """Item ids held whole and hashed once, or (past the text budget) batch by batch."""
    monkeypatch.setattr(ColumnEncoder, "TEXT_BUDGET", budget)
    rng = np.random.default_rng(0)
    items = np.char.mod("it%03d", rng.integers(0, 300, 2_000)).astype(object)
    items[::37] = "  it001 "
    frame = pd.DataFrame({"item": items,
                          "annotator": np.char.mod("w%02d", rng.integers(0, 40, 2_000)),
                          "label": rng.choice(["pos", "neg", "n/a"], 2_000)})
    for suffix in (".csv", ".parquet", ".jsonl"):
        path = tmp_path / f"votes{suffix}"
        write_table(frame, path)
        assert readers.read_vote_columns(path) is not None, suffix
        assert_same(read_votes(path, on_missing="drop"), reference(path, on_missing="drop"))


def test_integer_columns_are_encoded_as_integers_and_named_by_their_decimal_text(tmp_path):
    frame = pd.DataFrame({"item": pd.array([12, 12, -3, 2**62, None, 7, -3], dtype="Int64"),
                          "annotator": [5, 6, 5, 6, 5, 5, 6], "label": [1, 0, 1, 1, 0, 2, 2]})
    for suffix in (".parquet", ".jsonl"):
        path = tmp_path / f"votes{suffix}"
        write_table(frame, path)
        votes = read_votes(path, on_missing="drop")
        assert votes.item_ids.tolist() == ["12", "-3", str(2**62), "7"]
        assert votes.annotator_ids.tolist() == ["5", "6"] and votes.classes.tolist() == \
            ["0", "1", "2"]
        if suffix == ".parquet":  # pandas turns JSON's ints with a null into floats
            assert_same(votes, reference(path, on_missing="drop"))


def test_text_ids_stay_text_in_every_format(tmp_path):
    frame = pd.DataFrame({"item": ["007", "007", "7"], "annotator": ["01", "1", "01"],
                          "label": ["0", "1", "1"]})
    for suffix in (".csv", ".tsv", ".parquet", ".jsonl"):
        path = tmp_path / f"votes{suffix}"
        write_table(frame, path)
        votes = read_votes(path)
        assert votes.item_ids.tolist() == ["007", "7"], suffix
        assert votes.annotator_ids.tolist() == ["01", "1"], suffix


def test_parquet_dictionary_columns_follow_first_appearance(tmp_path):
    frame = pd.DataFrame({
        "item": pd.Categorical(["b", "a", "b", "a", "c", "c"], categories=["c", "zz", "b", "a"]),
        "annotator": pd.Categorical([3, 1, 1, 3, 1, 3]), "label": ["x", "y", "y", "x", "x", "y"]})
    path = tmp_path / "votes.parquet"
    pq.write_table(pa.Table.from_pandas(frame), path, row_group_size=2)
    votes = read_votes(path)
    assert votes.item_ids.tolist() == ["b", "a", "c"]
    assert votes.annotator_ids.tolist() == ["3", "1"]
    assert_same(votes, reference(path))


def test_parquet_float_extras_read_as_pandas_reads_them(tmp_path):
    frame = pd.DataFrame({"item": ["i1", "i1", "i2", "i2"], "annotator": ["a", "b", "a", "b"],
                          "label": ["x", "y", "x", "x"], "seconds": [1.5, np.nan, 3.0, 0.1]})
    path = tmp_path / "votes.parquet"
    frame.to_parquet(path, index=False)
    assert readers.read_vote_columns(path) is not None
    assert_same(read_votes(path), reference(path))


@pytest.mark.parametrize(("suffix", "frame"), [
    (".parquet", pd.DataFrame({"item": [1.0, 1.0, 2.5], "annotator": ["a", "b", "a"],
                               "label": [True, False, True]})),
    (".jsonl", pd.DataFrame({"item": [1, "i2", 1], "annotator": ["a", "b", "b"],
                             "label": ["x", "y", "x"]})),
    (".jsonl", pd.DataFrame({"item": ["i1", "i1", "i2"], "annotator": ["a", "b", "a"],
                             "label": ["x", "y", "x"], "created_at": ["2024-01-01"] * 3})),
])
def test_other_types_are_left_to_pandas(tmp_path, suffix, frame):
    """Floats, booleans, mixed JSON and pandas' date columns: read_table's text, exactly."""
    path = tmp_path / f"votes{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(pd.Series(r).to_json() + "\n"
                                for r in frame.to_dict(orient="records")))
    else:
        frame.to_parquet(path, index=False)
    assert readers.read_vote_columns(path) is None
    assert_same(read_votes(path), reference(path))


def test_pandas_index_is_not_a_column(tmp_path):
    frame = pd.DataFrame({"annotator": ["a", "b"], "label": ["x", "y"]},
                         index=pd.Index(["i1", "i2"], name="item"))
    path = tmp_path / "votes.parquet"
    frame.to_parquet(path)
    with pytest.raises(InputError, match="no item column"):
        read_votes(path, format="table")


def test_malformed_csv_still_names_the_file(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("item,annotator,label\ni,a,x\ni,b,y,extra\n")
    with pytest.raises(InputError, match=r"votes\.csv: could not be read as CSV"):
        read_votes(path)


def decoded(column: pa.ChunkedArray) -> list[object]:
    """Values of dictionary chunks that share one dictionary."""
    dictionary = column.chunks[-1].dictionary.to_pylist()
    return [None if i is None else dictionary[i]
            for chunk in column.chunks for i in chunk.indices.to_pylist()]


def test_column_encoder_batches():
    encoder = ColumnEncoder()
    encoder.add(pa.array(["b", None, "a"]))
    encoder.add(pa.array([], type=pa.string()))
    encoder.add(pa.chunked_array([["c", "b"], [None]]))
    assert decoded(encoder.finish()) == ["b", None, "a", "c", "b", None]
    numbers = ColumnEncoder()
    numbers.add(pa.array([30, 4, None], type=pa.int64()))
    numbers.add(pa.array([-1, 4], type=pa.int64()))
    numbers.add(pa.DictionaryArray.from_arrays(pa.array([1, 0]), pa.array([7, -1])))
    column = numbers.finish()
    assert column.chunks[-1].dictionary.to_pylist() == [30, 4, -1, 7]
    assert decoded(column) == [30, 4, None, -1, 4, -1, 7]
    mixed = ColumnEncoder()
    mixed.add(pa.array([1, 2]))
    with pytest.raises(TypeError):
        mixed.add(pa.array(["x"]))
    with pytest.raises(TypeError):
        ColumnEncoder().add(pa.array([1.5]))
    assert len(ColumnEncoder().finish()) == 0


def one_shot_csv(frame: pd.DataFrame, delimiter: str = ",") -> bytes:
    """The writer before pieces: one Arrow call over the whole table."""
    import csv

    table = pa.Table.from_pandas(writers._plain_columns(frame), preserve_index=False)
    header = io.StringIO()
    csv.writer(header, delimiter=delimiter, lineterminator="\n").writerow(frame.columns)
    body = pa.BufferOutputStream()
    try:
        pacsv.write_csv(table, body, write_options=pacsv.WriteOptions(
            include_header=False, delimiter=delimiter, quoting_style="none"))
    except pa.ArrowInvalid:
        body = pa.BufferOutputStream()
        pacsv.write_csv(table, body, write_options=pacsv.WriteOptions(
            include_header=False, delimiter=delimiter, quoting_style="needed"))
    return header.getvalue().encode() + body.getvalue().to_pybytes()


WRITE_CASES = {
    "floats": pd.DataFrame({"item": ["a", "b", "c", "d", "e"], "p": [1 / 3, 0.5, np.nan, 1e-12,
                                                                    2 / 3],
                            "n": [1, 2, 3, 4, 5], "tie": [True, False, False, True, False]}),
    "late quote": pd.DataFrame({"item": ["a", "b", "c", "d", 'e,"f"'], "p": [0.1] * 5}),
    "late tab": pd.DataFrame({"item": ["a", "b", "c", "d", "e\tf"], "p": [0.1] * 5}),
    "late newline": pd.DataFrame({"item": ["a", "b", "c", "d", "e\nf"], "p": [0.1] * 5}),
    "objects": pd.DataFrame({"item": np.arange(5, dtype=object), "label": [None, "x", 2, "y",
                                                                          3.5]}),
    "categories": pd.DataFrame({"c": pd.Categorical(["x", "y,z", "x"], categories=["x", "y,z",
                                                                                   "w\n"]),
                                "p": [0.25, 0.5, 0.75]}),
    "empty": pd.DataFrame({"item": pd.Series([], dtype=object)}),
}


@pytest.mark.parametrize("frame", WRITE_CASES.values(), ids=WRITE_CASES.keys())
@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_pieces_write_the_same_bytes(tmp_path, frame, suffix):
    path = tmp_path / f"out{suffix}"
    write_table(frame, path)
    assert path.read_bytes() == one_shot_csv(frame, "\t" if suffix == ".tsv" else ",")


def test_stdout_gets_the_same_bytes(monkeypatch):
    frame = WRITE_CASES["late quote"]
    buffer = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", type("Out", (), {"buffer": buffer,
                                                        "flush": lambda self: None})())
    write_table(frame, None)
    assert buffer.getvalue() == one_shot_csv(frame)
