"""``consensus flag`` and ``consensus confusions``: what to look at, and what to fix."""

from __future__ import annotations

from typing import Any

import click

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
    vote_options,
)

predictions_option = click.option(
    "--predictions", "predictions_path", default=None, metavar="FILE",
    help="A model's predictions (item,p_<label>... or item,label[,confidence]), weighed as one "
         "more annotator whose reliability is learned; never outvotes a confident crowd.")

top_option = click.option(
    "--top", type=float, default=0.05, show_default=True,
    help="Items to flag: a fraction of all items below 1 (0.05 = the top 5%), else a count.")


def fitted_result(votes: str, gold_path: str | None, predictions_path: str | None,
                  opts: dict[str, Any], reviews: Any = None) -> Any:
    """Read the votes (and gold, predictions), and run ``aggregate`` with the model options."""
    from ..data.predictions import read_predictions
    from ..workflows.aggregation import aggregate

    params = model_params(opts)
    matrix = load_votes(votes, opts)
    gold = load_gold(gold_path, matrix)
    predictions = read_predictions(predictions_path, matrix) if predictions_path else None
    return aggregate(matrix, gold=gold, predictions=predictions, reviews=reviews, **params)


@click.command()
@click.argument("votes", type=click.Path())
@gold_option(False, "Golden set (item,label): anchors the fit and flags gold conflicts.")
@predictions_option
@top_option
@output_option("Flags table, one row per flagged item or vote (.csv, .parquet, .jsonl).")
@json_option
@model_options
@vote_options
@reports_errors
def flag(votes: str, gold_path: str | None, predictions_path: str | None, top: float,
         output: str | None, as_json: bool, **opts: Any) -> None:
    """Flag likely label errors, ambiguous items and thin evidence, most suspicious first.

    Scores are the probability that a label is wrong, from the honest confidence of
    `consensus aggregate`, so they compare across classes; the summary shows each
    class's share of items beside its share of flags.

    \b
    Example:
      consensus flag examples/data/sentiment_votes.csv --top 0.05 -o flags.csv
    """
    from ..flags import flag_items

    result = fitted_result(votes, gold_path, predictions_path, opts)
    report = flag_items(result, top=top)
    report_result(report, report.table, output, as_json)


@click.command()
@click.argument("votes", type=click.Path())
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="Class pairs to show.")
@gold_option(False, "Golden set (item,label): anchors the fit.")
@output_option("The pairs as a table (.csv, .parquet, .jsonl).")
@json_option
@model_options
@vote_options
@reports_errors
def confusions(votes: str, top: int, gold_path: str | None, output: str | None, as_json: bool,
               **opts: Any) -> None:
    """Guideline hints: the class pairs confused most, by whom, with example items.

    \b
    Example:
      consensus confusions examples/data/weather_votes.csv --top 5
    """
    from ..flags import confusion_pairs

    result = fitted_result(votes, gold_path, None, opts)
    report = confusion_pairs(result, top=top)
    report_result(report, report.table, output, as_json)
