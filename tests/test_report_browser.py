"""The report in a real browser: headless Chromium from the system packages, driven by
Playwright's Python API pointed at it (no browser download).

Each report (the bundled example with its gold, and a real shared dataset) is opened
from disk with every non-file request aborted; it must log no console error, show every
section and a non-empty picture for every chart, and sort a table on a click on its
header. A screenshot of each section goes to ``$CONSENSUS_ARTIFACTS/report-screenshots``
(default: pytest's temporary folder, printed by ``-rA`` in the test's output).

Without Chromium or Playwright these tests skip, saying which is missing; with
``CONSENSUS_REQUIRE_BROWSER=1`` (CI) they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, GOLDEN, dataset_path

from consensus.report.page import SECTIONS

REAL_DATASET = "dog"  # 807 items, 109 annotators, 4 classes


def browser_or_skip() -> tuple[Any, str]:
    """Playwright's sync API and the system Chromium, or skip (fail in CI) saying why."""
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
        missing.append("the playwright package (pip install playwright)")
    chromium = next(filter(None, (shutil.which(n) for n in
                                  ("chromium", "chromium-browser", "google-chrome"))), None)
    if chromium is None:
        missing.append("a Chromium browser on PATH (apt-get install chromium)")
    if missing:
        reason = "browser tests need " + " and ".join(missing)
        if os.environ.get("CONSENSUS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}; CONSENSUS_REQUIRE_BROWSER=1 forbids skipping")
        pytest.skip(reason)
    return sync_playwright, str(chromium)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright, chromium = browser_or_skip()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("CONSENSUS_ARTIFACTS")
    folder = (Path(root) if root else tmp_path_factory.mktemp("artifacts")) / \
        "report-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def make_report(folder: Path, name: str, votes: Path, *options: str) -> Path:
    from consensus.cli.report import report

    out = folder / f"{name}.html"
    result = CliRunner().invoke(report, [str(votes), *options, "-o", str(out), "--quick",
                                         "--bootstrap", "200"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module", params=["example", "real"])
def page_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("pages")
    if request.param == "example":  # with its gold: calibration and gold scores
        return "example", make_report(folder, "sentiment", EXAMPLES / "sentiment_votes.csv",
                                      "--gold", str(GOLDEN / "sentiment_gold.csv"))
    # without gold (its gold covers every item, which would clamp every label): the
    # honest, uncalibrated confidence, and four classes
    data = dataset_path(REAL_DATASET)
    return REAL_DATASET, make_report(folder, REAL_DATASET, data / "votes.csv")


@pytest.fixture
def opened(browser: Any, page_file: tuple[str, Path]) -> Iterator[tuple[str, Any, dict]]:
    """The report opened offline: non-file requests aborted and recorded, errors kept."""
    name, path = page_file
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    page = context.new_page()
    seen: dict[str, list[str]] = {"blocked": [], "errors": []}

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(("file:", "data:")):
            request_route.continue_()
        else:
            seen["blocked"].append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.goto(path.as_uri(), wait_until="load")
    yield name, page, seen
    context.close()


def test_loads_offline_with_no_request_out_and_no_console_error(opened):
    _, page, seen = opened
    page.wait_for_timeout(100)  # let any late script error surface
    assert seen["blocked"] == []
    assert seen["errors"] == []
    assert page.title().startswith("Consensus report: ")


def test_every_section_is_shown_and_screenshotted(opened, artifacts):
    name, page, _ = opened
    for section in SECTIONS:
        element = page.locator(f"section#{section}")
        assert element.is_visible(), section
        assert "How to read:" in element.locator("p.how").inner_text()
        element.screenshot(path=str(artifacts / f"{name}-{section}.png"))
    assert len(list(artifacts.glob(f"{name}-*.png"))) == len(SECTIONS)


def test_every_chart_draws_something(opened):
    _, page, _ = opened
    charts = page.locator("figure.chart")
    assert charts.count() >= 9
    for i in range(charts.count()):
        chart = charts.nth(i)
        key = chart.get_attribute("id")
        box = chart.locator("svg").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100, key
        drawn = chart.locator("svg path, svg rect, svg image, svg use").count()
        assert drawn > 5, key
        assert len(chart.locator("div.plot").get_attribute("aria-label") or "") > 20, key
    # text is drawn in the embedded font, not in whatever the machine has
    loaded = page.evaluate("[...document.fonts].filter(f => f.status === 'loaded')"
                           ".map(f => f.family + ' ' + f.weight)")
    assert {"DejaVu Sans normal", "DejaVu Sans bold"} <= {
        name.replace("'", "").replace('"', "") for name in loaded}


def test_a_click_on_a_header_sorts_the_table_and_typing_filters_it(opened):
    _, page, _ = opened
    table = page.locator("#table-annotators table")
    header = table.locator("thead th", has_text="n_votes")
    column = [h.inner_text() for h in table.locator("thead th").all()].index("n_votes")

    def values() -> list[float]:
        cells = table.locator(f"tbody tr td:nth-child({column + 1})").all()
        return [float(c.get_attribute("data-sort")) for c in cells]

    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    ascending = values()
    assert ascending == sorted(ascending) and ascending[0] < ascending[-1]
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    assert values() == sorted(ascending, reverse=True)

    first = table.locator("tbody tr").first.locator("td").first.inner_text()
    page.locator("#table-annotators input[type=search]").fill(first)
    visible = table.locator("tbody tr:not([hidden])")
    assert 1 <= visible.count() < table.locator("tbody tr").count()
    assert first in visible.first.inner_text()
