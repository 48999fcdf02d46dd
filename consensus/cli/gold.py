"""``consensus score`` and ``consensus vet``: annotators against known answers."""

from __future__ import annotations

import sys
import warnings
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


@click.command()
@click.argument("votes", type=click.Path())
@gold_option(False, "Golden set (item,label); required unless --gold-from-source.")
@output_option("Per-annotator scores.")
@click.option("--min-gold", type=click.IntRange(min=1), default=10, show_default=True,
              help="Annotators with fewer gold answers are listed but not ranked.")
@click.option("--ordinal", is_flag=True,
              help="Labels are ordered (in --labels order): add mean absolute error and the "
                   "share within one step beside exact accuracy.")
@click.option("--nominal", multiple=True, metavar="LABEL",
              help="With --ordinal: a class outside the order (repeatable).")
@model_options
@json_option
@vote_options
@reports_errors
def score(votes: str, gold_path: str | None, output: str | None, min_gold: int, ordinal: bool,
          nominal: tuple[str, ...], as_json: bool, **opts: Any) -> None:
    """Score annotators (and the consensus) against known answers.

    Accuracy with a 95% Wilson interval, Cohen's kappa against gold, recall per
    class and the pair each annotator confuses most; worst first. The consensus,
    fitted without the gold, is scored too.

    \b
    Example:
      consensus score examples/data/sentiment_votes.csv \\
          --gold golden_sets/sentiment_gold.csv -o scores.csv
    """
    from ..workflows.score import score_with_consensus

    params = model_params(opts)
    matrix = load_votes(votes, opts)
    gold = load_gold(gold_path, matrix, required=True)
    result = score_with_consensus(matrix, gold, min_gold=min_gold, ordinal=ordinal,
                                  nominal=nominal, **params)
    report_result(result, result.annotators, output, as_json)


@click.command()
@click.argument("answers", type=click.Path())
@gold_option(False, "Golden set (item,label); required unless --gold-from-source.")
@click.option("--min-accuracy", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.9, show_default=True, help="Accuracy a candidate must reach to pass.")
@click.option("--tolerance", type=click.FloatRange(0, 1, min_open=True), default=0.1,
              show_default=True, help="Fail at min-accuracy minus this (the SPRT's lower point).")
@click.option("--alpha", type=click.FloatRange(0, 0.5, min_open=True, max_open=True),
              default=0.05, show_default=True,
              help="Chance of passing a candidate who is too weak.")
@click.option("--beta", type=click.FloatRange(0, 0.5, min_open=True, max_open=True),
              default=0.1, show_default=True, help="Chance of failing a candidate who is good.")
@click.option("--min-class-recall", type=click.FloatRange(0, 1), default=None,
              help="Floor on recall in every class; weak classes block a pass.")
@output_option("One row per candidate.")
@json_option
@vote_options
@reports_errors
def vet(answers: str, gold_path: str | None, min_accuracy: float, tolerance: float, alpha: float,
        beta: float, min_class_recall: float | None, output: str | None, as_json: bool,
        **opts: Any) -> None:
    """Pass, fail or keep testing new annotators on gold items (sequential test).

    Exit status: 0 every candidate passed, 1 at least one failed, 3 none failed
    but some are undecided (more_items_needed says about how many more gold
    items would settle them), 2 bad input.

    \b
    Example:
      consensus vet examples/data/sentiment_votes.csv \\
          --gold golden_sets/sentiment_gold.csv --min-accuracy 0.75 -o decisions.csv
    """
    from ..quality.vetting import vet as run_vet

    matrix = load_votes(answers, opts)
    with warnings.catch_warnings():
        # candidates answer only part of a golden set; unanswered gold items are normal here
        warnings.filterwarnings("ignore", message=".*no one voted on were dropped")
        gold = load_gold(gold_path, matrix, required=True)
    result = run_vet(matrix, gold, min_accuracy=min_accuracy, tolerance=tolerance, alpha=alpha,
                     beta=beta, min_class_recall=min_class_recall)
    report_result(result, result.candidates, output, as_json)
    sys.exit(result.exit_code)
