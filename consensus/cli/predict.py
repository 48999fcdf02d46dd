"""``consensus predict``: label a new batch with a saved model, without refitting."""

from __future__ import annotations

import json
from typing import Any

import click

from .options import (
    BadInput,
    json_option,
    output_option,
    reports_errors,
    vote_options,
)


def read_for_model(path: str, saved: Any, opts: dict[str, Any]) -> Any:
    """Votes read with the saved model's label set (pops the shared vote options)."""
    from ..workflows.predict import read_batch

    if opts.pop("gold_from_source"):
        raise BadInput("--gold-from-source: a saved model takes no gold; leave it out")
    return read_batch(
        path,
        saved,
        item=opts.pop("item_column"),
        annotator=opts.pop("annotator_column"),
        label=opts.pop("label_column"),
        duplicates=opts.pop("duplicates"),
        on_missing=opts.pop("on_missing"),
        format=opts.pop("source_format"),
        control=opts.pop("control"),
        question=opts.pop("question"),
    )


@click.command()
@click.argument("votes", type=click.Path())
@click.option("--model", "model_path", required=True, metavar="FILE",
              help="A model file written by `consensus aggregate --save-model FILE`.")
@output_option("Items file (.csv, .parquet, .jsonl); CSV on stdout when omitted.")
@click.option("--raw-confidence", is_flag=True,
              help="Report the model's posteriors as they are, without the saved gold "
                   "calibration or correlated-votes discount.")
@json_option
@vote_options
@reports_errors
def predict(votes: str, model_path: str, output: str | None, raw_confidence: bool,
            as_json: bool, **opts: Any) -> None:
    """Label a new batch of votes with a saved model, without refitting it.

    Annotators the model knew keep their confusion matrices, new ones get its
    population prior, and confidence is made honest as `aggregate` made it (the
    saved gold calibration, else the saved correlated-votes discount). The label
    set is the model's: a label it does not know is an error that names it.

    \b
    Example:
      consensus aggregate votes.csv -o labels.csv --save-model model.cmodel
      consensus predict new_votes.csv --model model.cmodel -o new_labels.csv
    """
    from ..data.writers import write_table
    from ..models.persist import load_model
    from ..workflows.predict import predict as run

    items_on_stdout = output in (None, "-")
    if as_json and items_on_stdout:
        raise BadInput("--json prints the summary on stdout; give -o FILE for the labels")
    saved = load_model(model_path)
    if opts.pop("labels"):
        raise BadInput(f"--labels: the label set is the model's ({', '.join(saved.classes)}); "
                       f"leave it out")
    matrix = read_for_model(votes, saved, opts)
    result = run(matrix, saved, honest_confidence=not raw_confidence)
    write_table(result.items, output)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(result.summary(), err=items_on_stdout)
