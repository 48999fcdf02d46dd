"""Shared fixtures: bundled example data, and the real datasets when they are present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "data"
GOLDEN = ROOT / "golden_sets"
DATASETS = Path(os.environ.get("CONSENSUS_DATASETS", ROOT.parent / "shared" / "datasets"))


def dataset_path(name: str) -> Path:
    """Folder of a shared real dataset, or skip saying where we looked."""
    folder = DATASETS / name
    if not (folder / "votes.csv").exists():
        if os.environ.get("CONSENSUS_REQUIRE_DATASETS") == "1":
            pytest.fail(f"real dataset {name!r} required but not found in {DATASETS}")
        pytest.skip(
            f"real dataset {name!r} not found in {DATASETS} "
            f"(set CONSENSUS_DATASETS to the folder holding the shared datasets)"
        )
    return folder


@pytest.fixture
def sentiment_csv() -> Path:
    return EXAMPLES / "sentiment_votes.csv"


@pytest.fixture
def weather_csv() -> Path:
    return EXAMPLES / "weather_votes.csv"
