"""The report as one self-contained HTML file.

Every style, script and chart is inline (charts are SVG with their text drawn as
paths, so no font is loaded), and a Content-Security-Policy forbids the page to fetch
anything: it opens from disk with no network and looks the same everywhere.
Tables sort on a click on their header and filter as one types (a little plain
JavaScript, :file:`assets/report.js`).
"""

from __future__ import annotations

from html import escape
from importlib.resources import files
from itertools import groupby
from pathlib import Path

import pandas as pd

from ..data.writers import atomic_path
from .figures import WIDTH, Chart, font_css, svg_markup
from .page import Block, Figures, Page, Section, Table, Text, cell_number, cell_text

#: Rows of a chart's numbers shown under it (the rest are in the section's tables).
CHART_DATA_ROWS = 200

POLICY = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
          "img-src data:; font-src data:")


def asset(name: str) -> str:
    """The text of a file in :file:`consensus/report/assets`."""
    return files("consensus.report").joinpath("assets").joinpath(name).read_text(encoding="utf-8")


def table_html(table: Table, tools: bool = True) -> str:
    frame = table.frame
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(
        frame[c]) for c in frame.columns]
    head = "".join(
        f'<th scope="col" class="{"num" if num else "text"}" '
        f'data-type="{"num" if num else "text"}" aria-sort="none">'
        f'<button type="button">{escape(str(c))}</button></th>'
        for c, num in zip(frame.columns, numeric, strict=True))
    rows = []
    specs = [table.formats.get(str(c), "") for c in frame.columns]
    for values in frame.itertuples(index=False, name=None):
        cells = []
        for value, spec, num in zip(values, specs, numeric, strict=True):
            text = escape(cell_text(value, spec))
            if num:
                number = cell_number(value)
                sort = "" if number is None else repr(number)
                cells.append(f'<td class="num" data-sort="{sort}">{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    parts = [f'<div class="table" id="table-{escape(table.key)}">']
    if tools:
        parts.append(f'<div class="table-tools"><input type="search" placeholder="Filter rows" '
                     f'aria-label="Filter {escape(table.caption)}"><span class="count">'
                     f'</span></div>')
    parts.append(f'<div class="scroll"><table class="sortable"><caption>{escape(table.caption)}'
                 f'</caption><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
                 f'</table></div>')
    if table.note:
        parts.append(f'<p class="table-note">Showing {escape(table.note)}.</p>')
    parts.append("</div>")
    return "".join(parts)


def chart_html(chart: Chart) -> str:
    svg = svg_markup(chart).replace("<svg ", '<svg aria-hidden="true" focusable="false" ', 1)
    data = Table(f"{chart.key}-data", f"The numbers behind: {chart.title}",
                 chart.data.head(CHART_DATA_ROWS), total=len(chart.data),
                 rest="see the tables of this section")
    wide = " wide" if chart.figure.get_figwidth() > WIDTH + 0.5 else ""
    return (f'<figure class="chart{wide}" id="chart-{escape(chart.key)}">'
            f'<div class="plot" role="img" aria-label="{escape(chart.alt)}">{svg}</div>'
            f"<figcaption>{escape(chart.alt)}</figcaption>"
            f"<details><summary>The numbers behind this chart</summary>"
            f"{table_html(data, tools=False)}</details></figure>")


def block_html(block: Block) -> str:
    if isinstance(block, Figures):
        items = "".join(f"<div><dt>{escape(label)}</dt><dd>{escape(value)}</dd></div>"
                        for label, value in block.pairs)
        return f'<dl class="figures">{items}</dl>'
    if isinstance(block, Text):
        return f'<p class="{escape(block.kind)}">{escape(block.text)}</p>'
    if isinstance(block, Table):
        return table_html(block)
    return chart_html(block)


def section_html(section: Section) -> str:
    parts = []
    for is_chart, run in groupby(section.blocks, key=lambda b: isinstance(b, Chart)):
        html = "\n".join(block_html(b) for b in run)
        parts.append(f'<div class="charts">{html}</div>' if is_chart else html)
    body = "\n".join(parts)
    return (f'<section id="{section.id}" aria-labelledby="{section.id}-title">'
            f'<h2 id="{section.id}-title">{escape(section.title)}</h2>'
            f'<p class="how"><strong>How to read:</strong> {escape(section.how_to_read)}</p>'
            f"\n{body}\n</section>")


def page_html(page: Page) -> str:
    """The whole page as one HTML document, with the font it uses embedded."""
    body = page_body(page)
    return body.replace("/*FONTS*/\n", font_css(body), 1)


def page_body(page: Page) -> str:
    """The page before its font is embedded (at the ``/*FONTS*/`` mark)."""
    nav = "".join(f'<li><a href="#{s.id}">{escape(s.title)}</a></li>' for s in page.sections)
    sections = "\n".join(section_html(s) for s in page.sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{POLICY}">
<title>{escape(page.title)}</title>
<style>
/*FONTS*/
{asset("report.css")}</style>
</head>
<body>
<header><div class="inner">
<h1>{escape(page.title)}</h1>
<p class="subtitle">{escape(page.subtitle)}</p>
<nav aria-label="Sections"><ul>{nav}</ul></nav>
</div></header>
<main>
{sections}
</main>
<footer><p>{escape(page.footer)}</p></footer>
<script>
{asset("report.js")}</script>
</body>
</html>
"""


def write_html(page: Page, path: str | Path) -> int:
    """Write the page to ``path`` (atomically); returns its size in bytes."""
    data = page_html(page).encode("utf-8")
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return len(data)
