"""Matplotlib for the report: one style, and figures rendered the same bytes every run.

Matplotlib is imported only when a figure is made (the command line must start
without it). Figures are built with :class:`matplotlib.figure.Figure` directly, not
pyplot, so no global backend or figure registry is touched. SVG text stays text (small,
searchable, read by screen readers) in matplotlib's own DejaVu Sans, which the page
embeds (:func:`font_css`, subset to the characters it uses), so charts and page look
the same on every machine and lay out exactly as matplotlib measured them. The date is
left out of the metadata and element ids are salted and prefixed per chart, so the same
input gives the same file and several charts can share one page.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..exceptions import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Okabe & Ito's palette, told apart with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000")
#: Marker shapes paired with the palette, so series differ in shape as well as colour.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Sequential colour map for heatmaps: perceptually uniform and readable in greyscale
#: and with red-green colour blindness (Nuñez et al., 2018).
SEQUENTIAL = "cividis"
GREY = "#6b6b6b"
WIDTH = 5.4
#: PNG resolution for the Markdown form.
PNG_DPI = 110
#: The font of charts and page: matplotlib's bundled files, and the weights they give.
FONT_FAMILY = "DejaVu Sans"
FONT_FILES = (("DejaVuSans.ttf", "normal"), ("DejaVuSans-Bold.ttf", "bold"))

STYLE: dict[str, Any] = {
    "svg.hashsalt": "consensus-report",
    "svg.fonttype": "none",
    "font.family": FONT_FAMILY,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "image.cmap": SEQUENTIAL,
    "path.simplify": True,
}


@dataclass(frozen=True, eq=False)
class Chart:
    """One figure of the report and what it says in words.

    Attributes
    ----------
    key : str
        Short unique name (file name of its PNG, prefix of its SVG ids).
    title : str
    alt : str
        The text alternative: what the chart shows, with its key numbers.
    data : DataFrame
        The numbers drawn, shown beside the chart as a table.
    figure : matplotlib Figure
    """

    key: str
    title: str
    alt: str
    data: pd.DataFrame
    figure: Figure


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError("the report draws its charts with matplotlib: "
                         "pip install 'consensus[plot]'") from exc
    return matplotlib


@contextmanager
def style() -> Iterator[None]:
    """The report's matplotlib settings, for building and for saving figures."""
    matplotlib = _matplotlib()
    settings = dict(STYLE)
    settings["axes.prop_cycle"] = matplotlib.cycler(color=list(PALETTE))
    with matplotlib.rc_context(settings):
        yield


def new_figure(height: float, width: float = WIDTH, **subplots: Any) -> tuple[Figure, Any]:
    """A figure and its axes (``subplots`` as :meth:`Figure.subplots`), laid out to fit."""
    _matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots(**subplots)


_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(href="#|url\(#)')


def svg_markup(chart: Chart) -> str:
    """The chart as an ``<svg>`` element to inline in HTML, ids prefixed by its key."""
    buffer = io.StringIO()
    with style():
        chart.figure.savefig(buffer, format="svg",
                             metadata={"Date": None, "Creator": None, "Format": None,
                                       "Type": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)
    text = _ID.sub(lambda m: f'id="{chart.key}-{m.group(1)}"', text)
    return _REF.sub(lambda m: f"{m.group(1)}{chart.key}-", text).strip()


def png_bytes(chart: Chart) -> bytes:
    """The chart as a PNG (for the Markdown form)."""
    buffer = io.BytesIO()
    with style():
        chart.figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buffer.getvalue()


def font_css(text: str) -> str:
    """``@font-face`` rules embedding :data:`FONT_FAMILY` (regular and bold) as WOFF data,
    subset to the characters of ``text`` (a few tens of kB instead of 1.4 MB)."""
    matplotlib = _matplotlib()
    from fontTools import subset

    folder = Path(matplotlib.get_data_path(), "fonts", "ttf")
    characters = "".join(sorted(set(text) | set(_BASIC)))
    rules = []
    for name, weight in FONT_FILES:
        options = subset.Options()
        options.flavor = "woff"
        options.hinting = False  # screens need no hints; halves the size and the time
        options.layout_features = ["kern"]
        options.drop_tables = [*options.drop_tables, "FFTM"]
        font = subset.load_font(str(folder / name), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=characters)
        subsetter.subset(font)
        buffer = io.BytesIO()
        subset.save_font(font, buffer, options)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        rules.append(f"@font-face {{ font-family: '{FONT_FAMILY}'; font-style: normal; "
                     f"font-weight: {weight}; src: url(data:font/woff;base64,{data}) "
                     f"format('woff'); }}")
    return "\n".join(rules) + "\n"


#: Characters always embedded, whatever the page says (digits, letters, punctuation).
_BASIC = "".join(chr(c) for c in range(32, 127))
