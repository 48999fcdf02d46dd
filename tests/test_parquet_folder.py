"""Votes as a partitioned Parquet dataset in memory: a folder, a glob or an fsspec URL.

The reference is one Parquet file holding every part's rows in turn (path order):
reading the parts must give the same VoteMatrix, codes and all, and the same labels
file through the command line. Batches are made tiny so that each part spans several.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from consensus import InputError, VoteMatrix, read_votes
from consensus.cli import cli
from consensus.data import readers
from consensus.data.tools.detect import detect_format

#: Repeated votes and dropped empty labels are warned about on every read; not the point here.
pytestmark = pytest.mark.filterwarnings("ignore::consensus.InputWarning")


@pytest.fixture(autouse=True)
def tiny_batches(monkeypatch):
    monkeypatch.setattr(readers, "BATCH_ROWS", 7)


def votes_frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Text ids with padding and missing markers, and both kinds of per-vote extras."""
    rng = np.random.default_rng(seed)
    items = np.char.mod("it%02d", rng.integers(0, 40, n)).astype(object)
    items[::17] = " it01 "
    return pd.DataFrame({
        "item": items,
        "annotator": np.char.mod("w%d", rng.integers(0, 6, n)),
        "label": rng.choice(["pos", "neg", "n/a"], n),
        "seconds": rng.uniform(1, 9, n).round(2),
        "created_at": pd.date_range("2024-01-01", periods=n, freq="h"),
    })


def write_parts(frame: pd.DataFrame, folder: Path, names: list[str]) -> list[Path]:
    """Split ``frame`` into ``len(names)`` consecutive parts, written in sorted name order."""
    assert names == sorted(names)
    paths = []
    for name, part in zip(names, np.array_split(np.arange(len(frame)), len(names)),
                          strict=True):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.iloc[part].to_parquet(path, index=False, row_group_size=5)
        paths.append(path)
    return paths


def whole_file(frame: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "all.parquet"
    frame.to_parquet(path, index=False)
    return path


def assert_same(got: VoteMatrix, expected: VoteMatrix) -> None:
    for name in ("item_codes", "annotator_codes", "label_codes"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
    for name in ("item_ids", "annotator_ids", "classes"):
        assert getattr(got, name).tolist() == getattr(expected, name).tolist(), name
    assert set(got.extras) == set(expected.extras)
    for name, values in got.extras.items():
        assert [None if pd.isna(v) else v for v in values] == \
            [None if pd.isna(v) else v for v in expected.extras[name]], name


def test_a_folder_reads_as_the_file_of_its_parts_in_turn(tmp_path, monkeypatch):
    def unused(*args, **kwargs):
        raise AssertionError("text columns stream through the encoder, not through pandas")

    monkeypatch.setattr(pd, "read_parquet", unused)
    frame = votes_frame()
    write_parts(frame, tmp_path / "votes", ["a.parquet", "b.parq", "c.pq", "sub/d.parquet"])
    expected = read_votes(whole_file(frame, tmp_path), on_missing="drop", duplicates="last")
    got = read_votes(tmp_path / "votes", on_missing="drop", duplicates="last")
    assert_same(got, expected)
    assert set(got.extras) == {"seconds", "created_at"}


def test_integer_ids_and_a_column_of_other_types_read_as_one_file(tmp_path):
    """Integers are encoded as integers across files; float ids go through pandas, whole."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"item": rng.integers(0, 30, 90), "annotator": rng.integers(0, 5, 90),
                          "label": rng.choice(["x", "y"], 90)})
    write_parts(frame, tmp_path / "ints", ["p0.parquet", "p1.parquet", "p2.parquet"])
    assert_same(read_votes(tmp_path / "ints"), read_votes(whole_file(frame, tmp_path)))
    floats = frame.assign(item=frame["item"] / 2)  # 1.0 and 1.5: pandas' text of the whole
    write_parts(floats, tmp_path / "floats", ["p0.parquet", "p1.parquet"])
    (tmp_path / "all.parquet").unlink()
    assert_same(read_votes(tmp_path / "floats"), read_votes(whole_file(floats, tmp_path)))


def test_subfolders_are_read_in_path_order(tmp_path):
    frame = pd.DataFrame({"item": ["i3", "i1", "i2", "i1"], "annotator": ["a", "b", "c", "a"],
                          "label": ["x", "y", "x", "x"]})
    write_parts(frame, tmp_path / "votes",
                ["date=2024-01-01/part-0.parquet", "date=2024-01-01/part-1.parquet",
                 "date=2024-01-02/deeper/part-0.parquet", "date=2024-01-02/part-0.parquet"])
    votes = read_votes(tmp_path / "votes")
    assert votes.item_ids.tolist() == ["i3", "i1", "i2"]
    assert votes.annotator_ids.tolist() == ["a", "b", "c"]


def test_success_markers_metadata_and_hidden_files_are_skipped(tmp_path):
    frame = votes_frame(40)
    folder = tmp_path / "votes"
    write_parts(frame, folder, ["part-0.parquet", "part-1.parquet"])
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / "_metadata").write_bytes(b"not parquet")
    (folder / "_common_metadata.parquet").write_bytes(b"not parquet")
    (folder / ".part-0.parquet.crc").write_bytes(b"not parquet")
    (folder / ".hidden.parquet").write_bytes(b"not parquet")
    (folder / "_temporary" / "0").mkdir(parents=True)
    (folder / "_temporary" / "0" / "part-9.parquet").write_bytes(b"not parquet")
    (folder / "README.txt").write_text("not votes")
    expected = read_votes(whole_file(frame, tmp_path), on_missing="drop")
    assert_same(read_votes(folder, on_missing="drop"), expected)
    assert_same(read_votes(f"{folder}/*.parquet", on_missing="drop"), expected)


def test_a_glob_reads_the_files_it_matches(tmp_path):
    frame = votes_frame(60)
    parts = write_parts(frame, tmp_path / "votes",
                        ["2024-01.parquet", "2024-02.parquet", "2025-01.parquet"])
    expected = read_votes(whole_file(frame.iloc[:40], tmp_path), on_missing="drop")
    for pattern in ("2024-*.parquet", "2024-0?.parquet", "202[4]-*"):
        assert_same(read_votes(f"{tmp_path}/votes/{pattern}", on_missing="drop"), expected)
    assert detect_format(f"{tmp_path}/votes/*.parquet") == "table"
    with pytest.raises(InputError, match=r"2023-\*\.parquet: no Parquet files found \(no file "
                                         r"matches the pattern"):
        read_votes(f"{tmp_path}/votes/2023-*.parquet")
    pd.DataFrame({"item": ["i1"], "annotator": ["a"], "label": ["x"]}).to_csv(
        tmp_path / "votes" / "2024-03.csv", index=False)
    with pytest.raises(InputError, match=r"2024-03\.csv: votes from a folder, a glob or a URL "
                                         r"are read as Parquet files, and this is CSV"):
        read_votes(f"{tmp_path}/votes/2024-*")
    assert parts[0].exists()


def test_an_fsspec_url_reads_as_the_local_folder(tmp_path):
    fsspec = pytest.importorskip("fsspec", reason="fsspec is not installed: URLs need it")
    frame = votes_frame(50)
    local = tmp_path / "votes"
    write_parts(frame, local, ["a.parquet", "sub/b.parquet"])
    memory = fsspec.filesystem("memory")
    root = f"/consensus-test-{uuid.uuid4().hex}"
    try:
        for path in sorted(local.rglob("*.parquet")):
            memory.pipe(f"{root}/{path.relative_to(local).as_posix()}", path.read_bytes())
        memory.pipe(f"{root}/_SUCCESS", b"")
        expected = read_votes(local, on_missing="drop")
        assert_same(read_votes(f"memory://{root}", on_missing="drop"), expected)
        assert_same(read_votes(f"memory://{root}/*/*.parquet", on_missing="drop"),
                    read_votes(local / "sub", on_missing="drop"))
        with pytest.raises(InputError, match="no such file or folder"):
            read_votes(f"memory://{root}-missing")
    finally:
        memory.rm(root, recursive=True)


def test_a_url_without_fsspec_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    monkeypatch.setitem(sys.modules, "fsspec.core", None)
    with pytest.raises(InputError, match=r"s3://bucket/votes/: reading votes from a URL needs "
                                         r"fsspec; install it with `pip install fsspec`"):
        read_votes("s3://bucket/votes/")


def test_a_file_whose_columns_differ_is_named(tmp_path):
    frame = votes_frame(30)[["item", "annotator", "label"]]
    folder = tmp_path / "votes"
    write_parts(frame, folder, ["a.parquet", "b.parquet"])
    frame.rename(columns={"annotator": "worker"}).to_parquet(folder / "c.parquet")
    with pytest.raises(InputError) as caught:
        read_votes(folder)
    assert str(caught.value) == (
        f"{folder}/c.parquet: no column 'annotator'; every file must have the vote columns of "
        f"the first, {folder}/a.parquet ('item', 'annotator', 'label')")
    frame.assign(seconds=1.0).to_parquet(folder / "c.parquet")
    with pytest.raises(InputError, match=r"c\.parquet: a column 'seconds' the first file has "
                                         r"not"):
        read_votes(folder)
    frame.drop(columns="label").to_parquet(folder / "a.parquet")
    with pytest.raises(InputError, match=r"a\.parquet: no label column"):
        read_votes(folder)


def test_integer_ids_in_one_file_and_text_in_another_are_refused(tmp_path):
    """7 and "7" would be one id in memory and two on Dask: no guess, the file is named."""
    folder = tmp_path / "votes"
    folder.mkdir()
    pd.DataFrame({"item": [1, 2], "annotator": ["a", "b"], "label": ["x", "y"]}).to_parquet(
        folder / "a.parquet")
    pd.DataFrame({"item": ["2", "3"], "annotator": ["a", "b"], "label": ["x", "y"]}).to_parquet(
        folder / "b.parquet")
    with pytest.raises(InputError) as caught:
        read_votes(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder}/b.parquet: column 'item' holds text (")
    assert message.endswith(f"but integers (int64) in {folder}/a.parquet; every file must store "
                            f"a vote column the same way (ids as text in every file, or as "
                            f"integers in every file)")


def test_widths_encodings_and_empty_columns_may_differ(tmp_path):
    """int32 and int64, text and a dictionary of text, a column of nulls: the same values."""
    folder = tmp_path / "votes"
    folder.mkdir()
    tables = [
        pa.table({"item": pa.array([1, 2], pa.int32()), "annotator": ["a", "b"],
                  "label": pa.array(["x", "y"]).dictionary_encode()}),
        pa.table({"item": pa.array([2, 3], pa.int64()), "annotator": pa.array(["b", "c"],
                                                                             pa.large_string()),
                  "label": ["y", "x"]}),
        pa.table({"item": pa.array([None, None], pa.null()), "annotator": ["a", "c"],
                  "label": ["x", "x"]}),
    ]
    for k, table in enumerate(tables):
        pq.write_table(table, folder / f"p{k}.parquet")
    votes = read_votes(folder, on_missing="drop")
    assert votes.item_ids.tolist() == ["1", "2", "3"]
    assert votes.annotator_ids.tolist() == ["a", "b", "c"]
    assert votes.classes.tolist() == ["x", "y"]
    assert votes.n_votes == 4


def test_an_empty_folder_or_an_unreadable_file_is_named(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "_SUCCESS").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty: no Parquet files found \(looked for names "
                                         r"ending \.parquet, \.pq, \.parq"):
        read_votes(empty, format="table")
    result = CliRunner().invoke(cli, ["aggregate", str(empty)])
    assert result.exit_code == 2
    assert "SageMaker" in result.output and "Parquet files" in result.output
    folder = tmp_path / "votes"
    write_parts(votes_frame(20), folder, ["a.parquet", "b.parquet"])
    (folder / "b.parquet").write_bytes(b"PAR1 broken")
    with pytest.raises(InputError, match=r"b\.parquet: could not be read as Parquet"):
        read_votes(folder)


def test_row_errors_name_the_file_and_its_row(tmp_path):
    frame = pd.DataFrame({"item": ["i1", "i2", "i1", "i2", "i3", "i3"],
                          "annotator": ["a", "b", "b", "a", "a", ""],
                          "label": ["x", "y", "x", "y", "x", "y"]})
    folder = tmp_path / "votes"
    write_parts(frame, folder, ["a.parquet", "b.parquet", "c.parquet"])
    with pytest.raises(InputError) as caught:
        read_votes(folder)
    assert str(caught.value).startswith(
        f"{folder}: 1 vote(s) with an empty annotator at row 5 (row 1 of {folder}/c.parquet); ")


def test_a_folder_of_parquet_is_a_table_and_tool_folders_stay_tools(tmp_path):
    folder = tmp_path / "votes"
    write_parts(votes_frame(10), folder, ["deep/er/a.parquet"])
    assert detect_format(folder) == "table"
    assert detect_format("memory://bucket/votes/") == "table"
    tools = Path(__file__).parent / "fixtures" / "tools"
    assert detect_format(tools / "argilla" / "to_disk") == "argilla"
    assert detect_format(tools / "sagemaker" / "review-sentiment") == "sagemaker"


def test_aggregate_on_a_folder_writes_the_labels_of_the_whole_file(tmp_path):
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 2, 80)
    rows = [(f"item{i:02d}", f"w{a}", ["neg", "pos"][t if rng.random() < 0.8 else 1 - t])
            for i, t in enumerate(truth) for a in rng.choice(8, 3, replace=False)]
    frame = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    write_parts(frame, tmp_path / "votes", ["part-0.parquet", "part-1.parquet", "part-2.parquet"])
    whole = whole_file(frame, tmp_path)
    for source, out in ((whole, "whole.csv"), (tmp_path / "votes", "folder.csv")):
        result = CliRunner().invoke(cli, ["aggregate", str(source), "--method", "ds",
                                          "-o", str(tmp_path / out)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "folder.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
