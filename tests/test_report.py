"""``consensus report`` without a browser: every section and chart is there, the page asks
for nothing from the network, the same input gives the same bytes, the Markdown form has
its PNG files, and the report fits the model once.

The page in a real browser is tested in ``test_report_browser.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, ROOT

from consensus.cli.report import report
from consensus.data.readers import read_votes
from consensus.report.page import SECTIONS

pytest.importorskip("matplotlib")

WEATHER = EXAMPLES / "weather_votes.csv"


def run_report(*args: object) -> str:
    result = CliRunner().invoke(report, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def weather_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("report") / "weather.html"
    run_report(WEATHER, "-o", path, "--quick", "--bootstrap", 200)
    return path, path.read_text(encoding="utf-8")


def test_every_section_has_its_sentence_and_the_page_is_small(weather_page):
    path, html = weather_page
    for section in SECTIONS:
        body = re.search(rf'<section id="{section}".*?</section>', html, re.S)
        assert body, f"no section {section}"
        assert '<p class="how"><strong>How to read:</strong> ' in body.group(0)
    assert path.stat().st_size < 2_000_000


def test_every_chart_is_inline_svg_with_a_text_alternative_and_its_numbers(weather_page):
    _, html = weather_page
    figures = re.findall(r'<figure class="chart[^"]*" id="chart-([^"]+)">(.*?)</figure>', html,
                         re.S)
    assert len(figures) >= 9
    for key, body in figures:
        assert re.search(r'<div class="plot" role="img" aria-label="[^"]{20,}">\s*<svg', body), key
        assert "<figcaption>" in body and "The numbers behind this chart" in body, key
        assert body.count("<svg") == 1 and ("<path" in body or "<rect" in body), key
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "element ids repeat across charts"


def test_the_page_loads_nothing_from_anywhere(weather_page):
    _, html = weather_page
    assert "default-src 'none'" in html  # the browser itself refuses any fetch
    assert not re.search(r'\s(src|href)="(?!#|data:)', html)
    assert not re.search(r"url\((?!#|data:)", html)
    assert "@font-face" in html and "font/woff;base64," in html
    assert "<script src" not in html and "<link" not in html


def test_the_same_input_and_seed_give_the_same_bytes(tmp_path, weather_page):
    path, _ = weather_page
    again = tmp_path / "again.html"
    run_report(WEATHER, "-o", again, "--quick", "--bootstrap", 200)
    assert again.read_bytes() == path.read_bytes()


def test_markdown_form_writes_the_same_sections_with_png_charts(tmp_path):
    out = tmp_path / "report.md"
    message = run_report(WEATHER, "-o", out, "--quick", "--bootstrap", 50)
    assert "report.md" in message
    text = out.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<a id="{section}"></a>' in text
    images = re.findall(r"!\[([^\]]+)\]\(([^)]+\.png)\)", text)
    assert len(images) >= 9
    for alt, link in images:
        png = out.parent / link
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link
        assert len(alt) > 20
    assert link.startswith("report_files/")


def test_the_report_fits_once_and_full_settings_match_the_budget_command(monkeypatch):
    """Small inputs get the budget command's own settings (refitted simulations)."""
    from consensus.workflows import report as workflow

    calls = []
    real = workflow.aggregate
    monkeypatch.setattr(workflow, "aggregate", lambda *a, **k: calls.append(1) or real(*a, **k))
    votes = read_votes(WEATHER)
    settings = workflow.report_settings(votes, n_bootstrap=50)
    assert not settings.fast and settings.budget_refit and not settings.notes
    data = workflow.gather_report(votes, settings=settings, max_annotators=4)
    assert len(calls) == 1
    assert list(data.budget.by_k["method"]) == ["the vote", "refitted", "refitted", "refitted"]
    assert data.flags.n_flagged_items <= settings.top_flags


def test_large_inputs_get_cheap_settings_that_the_page_states():
    from consensus.simulate import simulate
    from consensus.workflows.report import FULL_UP_TO_VOTES, report_settings

    votes = simulate(FULL_UP_TO_VOTES // 3 + 10, 50, 2, votes_per_item=3, seed=0).votes
    settings = report_settings(votes)
    assert settings.fast and not settings.budget_refit
    assert "Cheap settings" in settings.notes[0] and f"{votes.n_votes:,}" in settings.notes[0]


def test_reviews_add_the_audit_and_clamp_the_corrections(tmp_path):
    from consensus.cli import cli

    runner = CliRunner()
    db, queue = tmp_path / "review.db", tmp_path / "queue.csv"
    done = runner.invoke(cli, ["review", "export", str(WEATHER), "--top", "4", "--db", str(db),
                               "-o", str(queue)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    sheet = pd.read_csv(queue, dtype=str, keep_default_na=False)
    sheet.loc[:1, "corrected_label"] = "4"
    sheet.to_csv(tmp_path / "filled.csv", index=False)
    done = runner.invoke(cli, ["review", "apply", str(tmp_path / "filled.csv"), "--reviewer",
                               "alice", "--db", str(db)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    lead = tmp_path / "lead.csv"
    done = runner.invoke(cli, ["review", "sample", "--fraction", "1", "--db", str(db), "-o",
                               str(lead)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    sheet = pd.read_csv(lead, dtype=str, keep_default_na=False)
    sheet["verdict"] = ["accept", "overturn"]
    sheet.loc[1, "corrected_label"] = "0"
    sheet.to_csv(lead, index=False)
    done = runner.invoke(cli, ["review", "apply", str(lead), "--reviewer", "lena", "--role",
                               "lead", "--db", str(db)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    out = tmp_path / "r.html"
    run_report(WEATHER, "--reviews", db, "-o", out, "--quick", "--bootstrap", 20)
    html = out.read_text(encoding="utf-8")
    assert 'id="table-reviewers"' in html and "alice" in html
    assert 'id="chart-overturn"' in html  # alice: 1 of 2 verified corrections overturned
    assert "2 reviewed labels from the review database were clamped like gold" in html


def test_predictions_are_weighed_but_not_listed_as_an_annotator(tmp_path):
    votes = read_votes(WEATHER)
    rng = np.random.default_rng(0)
    lines = ["item,label,confidence"] + [
        f"{item},{rng.integers(0, 5)},0.9" for item in votes.item_ids[:100]]
    predictions = tmp_path / "predictions.csv"
    predictions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "p.html"
    run_report(WEATHER, "--predictions", predictions, "-o", out, "--quick", "--bootstrap", 20)
    html = out.read_text(encoding="utf-8")
    assert "weighed as one more annotator" in html
    table = re.search(r'id="table-annotators".*?</table>', html, re.S).group(0)
    assert "model:" not in table


def test_bad_output_is_one_line_and_status_2(tmp_path):
    result = CliRunner().invoke(report, [str(WEATHER), "-o", "-"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: the report is a file: give -o FILE.html or -o FILE.md"
    result = CliRunner().invoke(report, [str(tmp_path / "missing.csv"), "-o",
                                         str(tmp_path / "r.html")])
    assert result.exit_code == 2 and result.output.startswith("error: ")


def test_the_report_command_loads_nothing_heavy_until_it_runs():
    probe = ("import sys, consensus.cli.report\n"
             "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('matplotlib', 'pandas', 'numpy', 'fontTools'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_an_interval_that_leaves_out_its_estimate_is_drawn():
    """A bias-corrected interval (the mean pairwise kappa's) need not hold the
    estimate; the forest plot draws it as it is instead of failing."""
    pytest.importorskip("matplotlib")
    from consensus.report.charts import interval_plot

    chart = interval_plot("agreement", "Agreement", ["kappa", "alpha"],
                          np.array([0.40, 0.50]), np.array([0.42, 0.45]),
                          np.array([0.48, 0.55]), xlabel="estimate")
    assert chart.key == "agreement"
