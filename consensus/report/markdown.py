"""The report as Markdown with its charts as PNG files, for a wiki or a pull request.

Same sections, sentences and tables as the HTML page; the charts go to a folder beside
the Markdown file (``report.md`` → ``report_files/``) and are linked relatively, each
with its text alternative as the image's alt text. Tables are cut shorter than on the
page, since Markdown cannot sort or filter them.
"""

from __future__ import annotations

from pathlib import Path

from ..data.writers import atomic_path
from .figures import Chart, png_bytes
from .page import Block, Figures, Page, Table, Text, cell_text

#: Rows of a table written to Markdown.
MARKDOWN_ROWS = 20


def escape_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_markdown(table: Table) -> str:
    frame = table.frame.head(MARKDOWN_ROWS)
    columns = [str(c) for c in frame.columns]
    specs = [table.formats.get(c, "") for c in columns]
    lines = [f"**{table.caption}**", "", "| " + " | ".join(escape_cell(c) for c in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for values in frame.itertuples(index=False, name=None):
        cells = [escape_cell(cell_text(v, s)) for v, s in zip(values, specs, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    total = table.total if table.total is not None else len(table.frame)
    if total > len(frame):
        where = f"; {table.rest}" if table.rest else ""
        lines += ["", f"*The first {len(frame):,} of {total:,} rows{where}.*"]
    return "\n".join(lines)


def block_markdown(block: Block, folder: str) -> str:
    if isinstance(block, Figures):
        return " · ".join(f"**{label}** {value}" for label, value in block.pairs)
    if isinstance(block, Text):
        prefix = {"warning": "> **Warning:** ", "note": "> "}.get(block.kind, "")
        return prefix + block.text
    if isinstance(block, Table):
        return table_markdown(block)
    alt = block.alt.replace("]", ")").replace("[", "(")
    return f"![{alt}]({folder}/{block.key}.png)"


def page_markdown(page: Page, folder: str) -> str:
    """The page as Markdown text, its charts linked as ``folder/<key>.png``."""
    parts = [f"# {page.title}", "", page.subtitle, ""]
    parts.append(" · ".join(f"[{s.title}](#{s.id})" for s in page.sections))
    for section in page.sections:
        parts += ["", f'<a id="{section.id}"></a>', "", f"## {section.title}", "",
                  f"*How to read:* {section.how_to_read}"]
        for block in section.blocks:
            parts += ["", block_markdown(block, folder)]
    parts += ["", "---", "", page.footer, ""]
    return "\n".join(parts)


def write_markdown(page: Page, path: str | Path) -> list[Path]:
    """Write ``path`` and its charts' PNG files (in ``<stem>_files`` beside it); returns
    every file written, the Markdown last."""
    path = Path(path)
    folder = path.parent / f"{path.stem}_files"
    folder.mkdir(exist_ok=True)
    written = []
    chart: Chart
    for chart in page.charts:
        target = folder / f"{chart.key}.png"
        with atomic_path(target) as tmp:
            Path(tmp).write_bytes(png_bytes(chart))
        written.append(target)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page_markdown(page, folder.name), encoding="utf-8")
    written.append(path)
    return written
