"""``aggregate --engine dask``: the same labels as the in-memory engine, from the command line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from consensus.cli import cli

pytest.importorskip("distributed", reason="the dask extra is not installed")

EXAMPLE = Path(__file__).parent.parent / "examples" / "data" / "sentiment_votes.csv"


def test_the_dask_engine_gives_the_in_memory_labels(tmp_path):
    votes = pd.read_csv(EXAMPLE, dtype=str)
    folder = tmp_path / "votes"
    folder.mkdir()
    items = votes["item"].unique()
    for k in range(3):
        votes[votes["item"].isin(items[k::3])].to_parquet(folder / f"part-{k}.parquet",
                                                          index=False)
    result = CliRunner().invoke(cli, ["aggregate", str(folder), "--engine", "dask",
                                      "--method", "pooled", "-o", str(tmp_path / "labels")])
    assert result.exit_code == 0, result.output
    dask_labels = pd.read_parquet(tmp_path / "labels").set_index("item")["label"]
    memory = CliRunner().invoke(cli, ["aggregate", str(EXAMPLE), "--method", "pooled", "-o",
                                      str(tmp_path / "memory.csv")])
    assert memory.exit_code == 0
    memory_labels = pd.read_csv(tmp_path / "memory.csv", dtype=str).set_index("item")["label"]
    assert dask_labels.astype(str).sort_index().equals(memory_labels.sort_index())


def test_the_dask_engine_needs_an_output_folder(tmp_path):
    result = CliRunner().invoke(cli, ["aggregate", str(EXAMPLE), "--engine", "dask"])
    assert result.exit_code == 2
    assert "-o FOLDER" in result.output
