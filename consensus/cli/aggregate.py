"""``consensus aggregate``: the main job."""

from __future__ import annotations

import json
from typing import Any

import click

from .options import (
    BadInput,
    gold_option,
    json_option,
    load_gold,
    load_reviews,
    load_votes,
    model_options,
    model_params,
    output_option,
    progress_printer,
    reports_errors,
    seed_option,
    to_option,
    vote_options,
)


@click.command()
@click.argument("votes", type=click.Path())
@output_option("Items file (.csv, .parquet, .jsonl); CSV on stdout when omitted.")
@click.option("--annotators-out", default=None, metavar="FILE",
              help="Per-annotator reliability table.")
@click.option("--confusion-out", default=None, metavar="FILE",
              help="Confusion matrices in long form.")
@gold_option(False, "Golden set (item,label): clamps those items and estimates accuracy.")
@click.option("--predictions", "predictions_path", default=None, metavar="FILE",
              help="A model's predictions (item,p_<label>... or item,label[,confidence]), "
                   "weighed as one more annotator; never outvotes a confident crowd.")
@click.option("--reviews", "reviews_path", default=None, metavar="DB",
              help="Review database (`consensus review apply`): the latest accepted "
                   "correction per item is clamped like gold.")
@model_options
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Cross-validation folds over the gold items.")
@seed_option("Seed for anything random (cross-validation folds).")
@click.option("--raw-confidence", is_flag=True,
              help="Report the model's posteriors as they are. Without gold calibration the "
                   "confidence is otherwise computed leaving each item out of its annotators' "
                   "confusion estimates and discounted for correlated votes.")
@to_option("the labels")
@json_option
@vote_options
@reports_errors
def aggregate(votes: str, output: str | None, annotators_out: str | None,
              confusion_out: str | None, gold_path: str | None, predictions_path: str | None,
              reviews_path: str | None, folds: int, seed: int, raw_confidence: bool,
              destination: str, as_json: bool, **opts: Any) -> None:
    """Consensus label and confidence per item, and how reliable each annotator is.

    \b
    Example:
      consensus aggregate examples/data/sentiment_votes.csv -o labels.csv \\
          --annotators-out annotators.csv --gold golden_sets/sentiment_gold.csv
      consensus aggregate export.json --to label-studio -o consensus_tasks.json
    """
    from ..data.predictions import read_predictions
    from ..data.writers import write_table
    from ..workflows.aggregation import aggregate as run

    items_on_stdout = output in (None, "-")
    if as_json and items_on_stdout:
        raise BadInput("--json prints the summary on stdout; give -o FILE for the labels")
    if destination != "table" and items_on_stdout:
        raise BadInput(f"--to {destination} writes a file to import; give -o FILE")
    params = model_params(opts)
    control, question = opts.get("control"), opts.get("question")
    matrix = load_votes(votes, opts)
    gold = load_gold(gold_path, matrix)
    predictions = read_predictions(predictions_path, matrix) if predictions_path else None
    reviews = load_reviews(reviews_path) if reviews_path else None
    progress = progress_printer(params["method"])
    result = run(matrix, gold=gold, predictions=predictions, reviews=reviews, n_folds=folds,
                 seed=seed, honest_confidence=not raw_confidence, progress=progress, **params)
    if progress is not None:
        progress.close()
    if destination == "table":
        write_table(result.items, output)
    else:
        from ..data.tools.send import send

        method = str(getattr(result.model, "chosen_", result.method))
        send("labels", result.items, output, destination, origin=matrix.origin, method=method,
             control=control, question=question)
    if annotators_out:
        write_table(result.annotators, annotators_out)
    if confusion_out:
        write_table(result.confusion, confusion_out)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(result.summary(), err=items_on_stdout)
