"""``consensus budget`` and ``consensus next-pass``: what annotation costs, and where to spend."""

from __future__ import annotations

from pathlib import Path
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
    seed_option,
    vote_options,
)


@click.command()
@click.argument("votes", type=click.Path())
@gold_option(False, "Golden set (item,label): anchors the fitted confusion matrices.")
@click.option("--target-accuracy", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.95, show_default=True, help="Accuracy the consensus should reach.")
@click.option("--cost-per-label", type=click.FloatRange(min=0), default=0.08, show_default=True,
              help="Price of one vote, in your currency.")
@click.option("--max-annotators", type=click.IntRange(1, 50), default=9, show_default=True,
              help="Largest number of annotators per item considered.")
@click.option("--items", "n_items", type=click.IntRange(min=1), default=None,
              help="Items to label: prints the total cost of the recommendation.")
@seed_option("Seed of the simulation.")
@json_option
@model_options
@vote_options
@reports_errors
def budget(votes: str, gold_path: str | None, target_accuracy: float, cost_per_label: float,
           max_annotators: int, n_items: int | None, seed: int, as_json: bool,
           **opts: Any) -> None:
    """How many annotators per item reach a target accuracy, at what cost, and what adaptive
    redundancy saves; predicted from the fitted crowd, with intervals.

    \b
    Example:
      consensus budget examples/data/sentiment_votes.csv --target-accuracy 0.95 \\
          --cost-per-label 0.08 --items 20000
    """
    from ..workflows.budget import budget_plan

    params = model_params(opts)
    matrix = load_votes(votes, opts)
    gold = load_gold(gold_path, matrix)
    plan = budget_plan(matrix, gold=gold, target_accuracy=target_accuracy,
                       cost_per_label=cost_per_label, max_annotators=max_annotators,
                       n_items=n_items, seed=seed, **params)
    report_result(plan, None, None, as_json)


@click.command("next-pass")
@click.argument("votes", type=click.Path())
@click.option("--budget", "n_labels", type=click.IntRange(min=1), required=True,
              help="Labels to spend now: one more vote on each of that many items.")
@click.option("--annotators", default=None, metavar="IDS|FILE",
              help="Annotators available now (comma-separated ids, or a file with one id a "
                   "line); each item gets the best of them. Default: a vote from the pool.")
@gold_option(False, "Golden set (item,label): anchors the fit.")
@output_option("The items to send, best first (.csv, .parquet, .jsonl).")
@json_option
@model_options
@vote_options
@reports_errors
def next_pass(votes: str, n_labels: int, annotators: str | None, gold_path: str | None,
              output: str | None, as_json: bool, **opts: Any) -> None:
    """Which items get the next vote: the largest expected gain in being right per label.

    \b
    Example:
      consensus next-pass examples/data/sentiment_votes.csv --budget 50 -o next.csv
    """
    from ..workflows.budget import next_pass as run

    params = model_params(opts)
    matrix = load_votes(votes, opts)
    gold = load_gold(gold_path, matrix)
    result = run(matrix, n_labels, annotators=annotator_list(annotators), gold=gold, **params)
    report_result(result, result.table, output, as_json)


def annotator_list(value: str | None) -> list[str] | None:
    """Ids from ``a,b,c`` or from a file with one id a line (or an ``annotator`` column)."""
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        ids = [line.split(",")[0].strip() for line in lines if line]
        return ids[1:] if ids and ids[0].lower() in ("annotator", "worker") else ids
    return [part.strip() for part in value.split(",") if part.strip()]
