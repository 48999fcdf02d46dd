"""The command line as a user meets it: outputs, exit codes, help, README coverage."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import click
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, ROOT

from consensus.cli import cli

SENTIMENT = str(EXAMPLES / "sentiment_votes.csv")


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_aggregate_writes_items_annotators_confusion(tmp_path):
    out, ann, conf = tmp_path / "labels.csv", tmp_path / "ann.csv", tmp_path / "conf.csv"
    result = run("aggregate", SENTIMENT, "-o", str(out), "--annotators-out", str(ann),
                 "--confusion-out", str(conf))
    assert result.exit_code == 0, result.output
    assert "1,000 items, 83 annotators, 5,000 votes, 2 classes" in result.output
    assert "least reliable annotators" in result.output
    items = pd.read_csv(out, dtype={"item": str, "label": str})
    assert list(items.columns[:6]) == ["item", "label", "confidence", "n_votes", "agreement", "tie"]
    assert {"p_0", "p_1"} <= set(items.columns) and len(items) == 1000
    annotators = pd.read_csv(ann)
    assert {"annotator", "n_votes", "accuracy", "agreement_with_consensus", "recall_0"} <= set(
        annotators.columns)
    confusion = pd.read_csv(conf)
    assert list(confusion.columns) == ["annotator", "true_label", "given_label", "probability"]
    assert len(confusion) == 83 * 4


def test_stdout_when_no_output_and_summary_on_stderr():
    result = CliRunner().invoke(cli, ["aggregate", SENTIMENT, "--method", "mv"])
    assert result.exit_code == 0
    assert result.stdout.startswith("item,label,confidence")
    assert "method mv" in result.stderr


def test_json_summary(tmp_path):
    result = run("aggregate", SENTIMENT, "-o", str(tmp_path / "l.parquet"), "--json")
    info = json.loads(result.stdout)
    assert info["items"] == 1000 and info["method"] == "auto" and info["converged"] is True
    assert info["chosen_method"] == "pooled"
    assert set(info["class_priors"]) == {"0", "1"} and len(info["least_reliable"]) == 5
    assert len(pd.read_parquet(tmp_path / "l.parquet")) == 1000


@pytest.mark.parametrize("method", ["pooled", "ds", "one-coin", "mv"])
def test_same_input_gives_byte_identical_output(tmp_path, method):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    run("aggregate", SENTIMENT, "-o", str(a), "--method", method)
    run("aggregate", SENTIMENT, "-o", str(b), "--method", method)
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "no such file"),
        ("", [], "empty"),
        ("itme,annotator,label\ni,a,x\ni,b,y\n", [], "columns found: itme"),
        ("item,annotator,label\ni,a,x\ni,b,x\n", [], "only one label"),
        ("item,annotator,label\ni,,x\ni,b,y\n", [], "line 2"),
        ("item,annotator,label\ni,a,x\ni,b,y\n", ["--labels", "x,z"], "'y'"),
        ("item,annotator,label\ni,a,x\ni,a,y\n", ["--duplicates", "error"], "repeated"),
        ("item,annotator,label\ni,a,x\ni,b,y\n", ["--json"], "--json"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, content, args, message):
    path = tmp_path / "votes.csv"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(cli, ["aggregate", str(path), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_no_traceback_from_the_real_entry_point(tmp_path):
    bad = tmp_path / "votes.csv"
    bad.write_text("a,b\n1,2\n")
    proc = subprocess.run([sys.executable, "-m", "consensus", "aggregate", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_warnings_are_one_line(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("item,annotator,label\ni,a,x\ni,a,y\ni,b,y\n")
    proc = subprocess.run([sys.executable, "-m", "consensus", "aggregate", str(path), "-o",
                           str(tmp_path / "o.csv")], capture_output=True, text=True)
    assert proc.returncode == 0
    expected = (f"warning: {path}: 1 repeated (item, annotator) vote(s) kept, each counted "
                "as a vote (--duplicates first, last or error to change)\n")
    assert proc.stderr == expected


def test_every_command_has_an_example_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name, command in cli.commands.items():
        assert "Example:" in (command.help or ""), name
        assert re.search(rf"consensus {name}\b", readme), f"README does not show `{name}`"


def test_every_model_command_offers_the_librarys_methods_and_options():
    from consensus.models import DEFAULT_METHOD, METHODS

    for name in ("aggregate", "score", "calibration"):
        params = {p.name: p for p in cli.commands[name].params}
        assert list(params["method"].type.choices) == list(METHODS), name
        assert params["method"].default == DEFAULT_METHOD, name
        assert {"max_iter", "tol", "smoothing"} <= set(params), name


def test_every_option_has_help_text():
    for name, command in cli.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts[0]} has no help text"


def test_raw_confidence_reports_the_models_posteriors(tmp_path):
    honest, raw = tmp_path / "honest.csv", tmp_path / "raw.csv"
    first = run("aggregate", SENTIMENT, "-o", str(honest), "--json")
    second = run("aggregate", SENTIMENT, "-o", str(raw), "--json", "--raw-confidence")
    assert json.loads(first.stdout)["vote_correlation"] > 0
    assert "vote_correlation" not in json.loads(second.stdout)
    a, b = pd.read_csv(honest), pd.read_csv(raw)
    assert (a["label"] == b["label"]).all()
    assert a["confidence"].mean() < b["confidence"].mean()


@pytest.mark.skipif(sys.platform != "linux", reason="address-space limits as on Linux")
def test_running_out_of_memory_is_not_reported_as_bad_input(tmp_path):
    """A real MemoryError: 100,000 annotators x 300 classes under a 3 GiB address-space cap."""
    import resource

    path = tmp_path / "wide.csv"
    path.write_text("item,annotator,label\n" + "".join(
        f"i{i % 1000},a{i},c{i % 300}\n" for i in range(100_000)))

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    proc = subprocess.run([sys.executable, "-m", "consensus", "aggregate", str(path), "-o",
                           str(tmp_path / "out.csv")], capture_output=True, text=True,
                          preexec_fn=cap)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith("error: ran out of memory") and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.csv").exists()
