"""``consensus agreement``: inter-annotator agreement with intervals."""

from __future__ import annotations

from typing import Any

import click

from .options import (
    json_option,
    load_votes,
    output_option,
    report_result,
    reports_errors,
    seed_option,
    vote_options,
)


@click.command()
@click.argument("votes", type=click.Path())
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=1000,
              show_default=True, help="Bootstrap resamples of the items for the intervals.")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True,
              help="Level of the intervals.")
@click.option("--interval", type=click.Choice(["auto", "bootstrap", "jackknife"]), default="auto",
              show_default=True,
              help="Percentile bootstrap over items, or the delete-one jackknife (one pass; as "
                   "good with many items). auto: the bootstrap while it costs seconds, else "
                   "the jackknife; the output says which.")
@click.option("--ordinal", is_flag=True,
              help="Labels are ordered (in --labels order): add Krippendorff's alpha with "
                   "ordinal and interval distances and mean weighted kappa (linear, quadratic).")
@click.option("--nominal", multiple=True, metavar="LABEL",
              help="With --ordinal: a class outside the order (repeatable); its votes are left "
                   "out of the ordinal statistics.")
@seed_option("Seed of the bootstrap.")
@click.option("--min-shared-items", type=click.IntRange(min=1), default=10, show_default=True,
              help="Annotator pairs sharing fewer items are left out of the mean Cohen's kappa.")
@output_option("Per-annotator agreement with the others (.csv, .parquet, .jsonl).")
@json_option
@vote_options
@reports_errors
def agreement(votes: str, n_bootstrap: int, confidence: float, interval: str, ordinal: bool,
              nominal: tuple[str, ...], seed: int, min_shared_items: int, output: str | None,
              as_json: bool, **opts: Any) -> None:
    """Inter-annotator agreement: percent, Fleiss, Krippendorff, Cohen, Gwet, with intervals.

    \b
    Example:
      consensus agreement examples/data/sentiment_votes.csv --bootstrap 2000 --json
      consensus agreement ratings.csv --ordinal --labels G,P,R,X
    """
    from ..agreement import agreement_report

    matrix = load_votes(votes, opts)
    result = agreement_report(matrix, n_bootstrap=n_bootstrap, confidence=confidence,
                              seed=seed, min_shared_items=min_shared_items, interval=interval)
    if ordinal:
        import dataclasses

        from ..agreement.ordinal import ordinal_agreement

        extra = ordinal_agreement(matrix, nominal=nominal, n_bootstrap=n_bootstrap,
                                  confidence=confidence, seed=seed,
                                  min_shared_items=min_shared_items, interval=interval)
        result = dataclasses.replace(result, results={**result.results, **extra})
    report_result(result, result.annotators, output, as_json)
