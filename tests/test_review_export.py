"""The loop through the real command line: flag → review export → fill → apply →
aggregate --reviews, on the bundled sentiment data."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner
from conftest import EXAMPLES

from consensus.cli import cli

VOTES = EXAMPLES / "sentiment_votes.csv"


def run(*args: object) -> object:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_export_apply_and_aggregate_with_reviews(tmp_path):
    db, queue_path = tmp_path / "review.db", tmp_path / "queue.csv"
    content = tmp_path / "texts.csv"
    content.write_text("item,text\n309,\"=HYPERLINK(\"\"x\"\")\"\n37,so good\n")
    out = run("review", "export", VOTES, "--top", "10", "--db", db, "--content", content,
              "--content-column", "text", "-o", queue_path)
    assert out.stdout.startswith("10 items written to")
    queue = pd.read_csv(queue_path, dtype=str, keep_default_na=False)
    assert list(queue["priority"]) == [str(i) for i in range(1, 11)]
    assert {"item", "content", "votes", "consensus", "confidence", "reasons",
            "corrected_label", "reviewer", "comment"} <= set(queue.columns)
    assert (queue["corrected_label"] == "").all()
    texts = dict(zip(queue["item"], queue["content"], strict=True))
    assert texts["309"] == "'=HYPERLINK(\"x\")"  # escaped for spreadsheets

    flipped = {queue["item"][0]: "1" if queue["consensus"][0] == "0" else "0",
               queue["item"][1]: "1" if queue["consensus"][1] == "0" else "0"}
    queue["corrected_label"] = queue["item"].map(flipped).fillna("")
    filled = tmp_path / "filled.csv"
    queue.to_csv(filled, index=False)
    applied = run("review", "apply", filled, "--reviewer", "alice", "--db", db)
    assert "2 corrections recorded" in applied.stdout

    items_path = tmp_path / "labels.csv"
    summary = run("aggregate", VOTES, "--reviews", db, "-o", items_path).stdout
    assert "2 reviewed labels clamped like gold" in summary
    items = pd.read_csv(items_path, dtype=str, keep_default_na=False).set_index("item")
    for item, label in flipped.items():
        assert items.loc[item, "label"] == label


def test_export_refuses_a_missing_content_column(tmp_path):
    content = tmp_path / "texts.csv"
    content.write_text("item,body\n1,x\n")
    result = CliRunner().invoke(cli, ["review", "export", str(VOTES), "--content", str(content),
                                      "--db", str(tmp_path / "r.db"), "-o",
                                      str(tmp_path / "q.csv")])
    assert result.exit_code == 2 and "text" in result.stderr
    assert not (tmp_path / "q.csv").exists()
