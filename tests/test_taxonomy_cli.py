"""``consensus aggregate --taxonomy``: the consensus in the latest labels, from the CLI."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from consensus.cli import cli

SPLIT = {"versions": [
    {"name": "v1", "labels": ["car", "person", "bike"]},
    {"name": "v2", "labels": ["sedan", "suv", "person", "bike"],
     "split": {"car": ["sedan", "suv"]}},
]}


def _project(tmp_path, n_items: int = 300, seed: int = 0):
    rng = pd.Series(range(n_items)).sample(frac=1, random_state=seed).to_numpy()
    import numpy as np

    gen = np.random.default_rng(seed)
    fine = np.array(["sedan", "suv", "person", "bike"])
    rows = []
    for i in rng:
        truth = gen.choice(4, p=[0.3, 0.2, 0.3, 0.2])
        early = gen.uniform() < 0.5
        for a in gen.choice(20, 3, replace=False):
            answer = truth if gen.uniform() < 0.85 else gen.integers(4)
            version = "v1" if early else "v2"
            label = "car" if version == "v1" and answer < 2 else fine[answer]
            rows.append((f"i{i}", f"a{a}", label, version))
    frame = pd.DataFrame(rows, columns=["item", "annotator", "label", "taxonomy_version"])
    frame.to_csv(tmp_path / "votes.csv", index=False)
    (tmp_path / "taxonomy.json").write_text(json.dumps(SPLIT))
    return frame


def test_aggregate_with_a_taxonomy_labels_in_the_latest_version(tmp_path):
    frame = _project(tmp_path)
    result = CliRunner().invoke(cli, ["aggregate", str(tmp_path / "votes.csv"), "--taxonomy",
                                      str(tmp_path / "taxonomy.json"), "-o",
                                      str(tmp_path / "labels.csv")])
    assert result.exit_code == 0, result.output
    labels = pd.read_csv(tmp_path / "labels.csv", dtype=str)
    assert set(labels["label"]) <= {"sedan", "suv", "person", "bike"}
    assert "resolved_in" in labels.columns
    only_old = frame.groupby("item")["taxonomy_version"].agg(lambda v: set(v) == {"v1"})
    carish = labels.set_index("item")["label"].isin(["sedan", "suv"])
    # an item with only v1 votes whose consensus is sedan or suv is resolved only in v1
    old_cars = only_old[only_old].index.intersection(carish[carish].index)
    assert len(old_cars) > 0
    assert (labels.set_index("item").loc[old_cars, "resolved_in"] == "v1").all()
    new_items = only_old[~only_old].index
    assert (labels.set_index("item").loc[new_items, "resolved_in"] == "v2").all()


def test_a_version_column_without_a_taxonomy_is_refused(tmp_path):
    _project(tmp_path, n_items=30)
    result = CliRunner().invoke(cli, ["aggregate", str(tmp_path / "votes.csv"),
                                      "--version-column", "taxonomy_version"])
    assert result.exit_code == 2
    assert "--taxonomy" in result.output


def test_the_relabel_queue_goes_to_review_and_the_log_records_the_version(tmp_path):
    _project(tmp_path, n_items=120, seed=1)
    db = tmp_path / "review.db"
    sent = CliRunner().invoke(cli, ["review", "export", str(tmp_path / "votes.csv"),
                                    "--taxonomy", str(tmp_path / "taxonomy.json"), "--db",
                                    str(db), "-o", str(tmp_path / "queue.csv")])
    assert sent.exit_code == 0, sent.output
    assert "in v2" in sent.output
    queue = pd.read_csv(tmp_path / "queue.csv", dtype=str, keep_default_na=False)
    assert len(queue) > 0
    assert set(queue["consensus"]) <= {"sedan", "suv"}
    queue.loc[:, "corrected_label"] = "suv"
    queue.to_csv(tmp_path / "filled.csv", index=False)
    applied = CliRunner().invoke(cli, ["review", "apply", str(tmp_path / "filled.csv"),
                                       "--reviewer", "ana", "--db", str(db)])
    assert applied.exit_code == 0, applied.output
    history = CliRunner().invoke(cli, ["review", "log", "--db", str(db), "--json"])
    rows = json.loads(history.output)
    assert rows and {row["taxonomy_version"] for row in rows} == {"v2"}
