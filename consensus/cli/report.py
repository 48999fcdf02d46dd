"""``consensus report``: one page a lead can read and send on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
    BadInput,
    gold_option,
    load_gold,
    load_votes,
    model_options,
    model_params,
    reports_errors,
    seed_option,
    vote_options,
)

#: Output forms, and the extensions that choose them when not named.
PAGE_FORMATS = ("html", "md")
MARKDOWN_SUFFIXES = (".md", ".markdown")


@click.command()
@click.argument("votes", type=click.Path())
@click.option("-o", "--output", required=True, metavar="FILE",
              help="The report: FILE.html (one self-contained page) or FILE.md (Markdown, "
                   "with its charts as PNG files in FILE_files/).")
@click.option("--page-format", type=click.Choice(PAGE_FORMATS), default=None,
              help="html or md.  [default: md for a .md output, else html]")
@gold_option(False, "Golden set (item,label): anchors the fit, measures accuracy and "
                    "calibration, and scores annotators.")
@click.option("--predictions", "predictions_path", default=None, metavar="FILE",
              help="A model's predictions (item,p_<label>... or item,label[,confidence]), "
                   "weighed as one more annotator.")
@click.option("--reviews", "reviews_path", default=None, metavar="DB",
              help="Review database: accepted corrections are clamped like gold, and the "
                   "audit (corrections per reviewer, overturn rates) is shown.")
@model_options
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Cross-validation folds over the gold items.")
@seed_option("Seed for anything random (folds, bootstrap, simulations).")
@click.option("--raw-confidence", is_flag=True,
              help="Report the model's posteriors as they are (see aggregate).")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=1000,
              show_default=True, help="Bootstrap draws for the agreement intervals (a "
                                      "jackknife replaces them on many items).")
@click.option("--top", type=click.IntRange(min=1), default=100, show_default=True,
              help="Flagged items, and flagged votes, listed in What to fix.")
@click.option("--target-accuracy", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.95, show_default=True, help="Budget: accuracy the consensus should reach.")
@click.option("--cost-per-label", type=click.FloatRange(min=0), default=0.08, show_default=True,
              help="Budget: price of one vote.")
@click.option("--max-annotators", type=click.IntRange(1, 50), default=9, show_default=True,
              help="Budget: largest number of annotators per item considered.")
@click.option("--quick", is_flag=True,
              help="Cheap settings whatever the size (they are used anyway above 50,000 "
                   "votes): the budget curve is simulated with the fitted annotators; the "
                   "page says so.")
@vote_options
@reports_errors
def report(votes: str, output: str, page_format: str | None, gold_path: str | None,
           predictions_path: str | None, reviews_path: str | None, folds: int, seed: int,
           raw_confidence: bool, n_bootstrap: int, top: int, target_accuracy: float,
           cost_per_label: float, max_annotators: int, quick: bool, **opts: Any) -> None:
    """One page for the lead: reliability, confusions, calibration, what to fix, budget.

    Writes a self-contained HTML file (every style, script and chart inline; it opens
    from disk with no network), or Markdown with PNG charts beside it.

    \b
    Example:
      consensus report examples/data/sentiment_votes.csv \\
          --gold golden_sets/sentiment_gold.csv -o report.html
    """
    from ..data.predictions import read_predictions
    from ..report.html import write_html
    from ..report.markdown import write_markdown
    from ..report.page import build_page
    from ..review.log import ReviewLog
    from ..workflows.report import gather_report, report_settings

    form = page_format or ("md" if Path(output).suffix.lower() in MARKDOWN_SUFFIXES else "html")
    if output == "-":
        raise BadInput("the report is a file: give -o FILE.html or -o FILE.md")
    params = model_params(opts)
    matrix = load_votes(votes, opts)
    gold = load_gold(gold_path, matrix)
    predictions = read_predictions(predictions_path, matrix) if predictions_path else None
    log = ReviewLog.open_existing(reviews_path) if reviews_path else None
    settings = report_settings(matrix, n_bootstrap=n_bootstrap, quick=quick, top_flags=top)
    try:
        data = gather_report(matrix, source=Path(votes).name, gold=gold,
                             predictions=predictions, review_log=log, n_folds=folds, seed=seed,
                             honest_confidence=not raw_confidence, settings=settings,
                             target_accuracy=target_accuracy, cost_per_label=cost_per_label,
                             max_annotators=max_annotators, **params)
    finally:
        if log is not None:
            log.close()
    page = build_page(data)
    if form == "html":
        size = write_html(page, output)
        click.echo(f"wrote {output} ({size / 1e6:.2f} MB): {len(page.sections)} sections, "
                   f"{len(page.charts)} charts")
    else:
        written = write_markdown(page, output)
        click.echo(f"wrote {output} and {len(written) - 1} PNG files in "
                   f"{written[0].parent if len(written) > 1 else '-'}")
