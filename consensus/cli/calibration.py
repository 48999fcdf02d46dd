"""``consensus calibration``: is the confidence honest?"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..quality import CALIBRATORS
from .options import (
    gold_option,
    json_option,
    load_gold,
    load_votes,
    model_options,
    model_params,
    output_option,
    report_result,
    reports_errors,
    seed_option,
    vote_options,
)


@click.command()
@click.argument("votes", type=click.Path())
@gold_option(False, "Golden set (item,label); required unless --gold-from-source.")
@model_options
@click.option("--calibrator", type=click.Choice(CALIBRATORS), default="auto", show_default=True,
              help="auto: isotonic with ≥300 gold items, else Platt.")
@click.option("--bins", type=click.IntRange(2, 50), default=10, show_default=True,
              help="Equal-width confidence bins of the reliability table.")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Cross-validation folds over the gold items.")
@seed_option("Seed of the cross-validation folds.")
@click.option("--plot", default=None, metavar="FILE.png", help="Reliability diagram as PNG.")
@output_option("Reliability table (bins before and after calibration).")
@json_option
@vote_options
@reports_errors
def calibration(votes: str, gold_path: str | None, calibrator: str, bins: int, folds: int,
                seed: int, plot: str | None, output: str | None, as_json: bool,
                **opts: Any) -> None:
    """Is the confidence honest? Reliability on held-out gold items, before and after.

    Gold items are predicted by cross-validation (their own gold label unused);
    prints the reliability table, expected calibration error and Brier score,
    and what `consensus aggregate` would report without the gold.

    \b
    Example:
      consensus calibration examples/data/sentiment_votes.csv \\
          --gold golden_sets/sentiment_gold.csv --plot reliability.png
    """
    import pandas as pd

    from ..report.reliability import plot_reliability, text_diagram
    from ..workflows.calibration import check_calibration

    params = model_params(opts)
    matrix = load_votes(votes, opts)
    gold = load_gold(gold_path, matrix, required=True)
    result = check_calibration(matrix, gold, calibrator=calibrator, n_bins=bins, n_folds=folds,
                               seed=seed, **params)
    table = pd.concat([result.report.before.assign(stage="before"),
                       result.report.after.assign(stage="after")], ignore_index=True)
    if plot:
        plot_reliability(result.report, plot)
    report_result(result, table, output, as_json)
    if not as_json and sys.stdout.isatty():
        click.echo(text_diagram(result.report.before))
