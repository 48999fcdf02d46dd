"""``consensus review``: export a queue, apply corrections, sample for a lead, audit."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from ..exceptions import InputError
from .options import (
    gold_option,
    json_option,
    load_gold,
    load_votes,
    reports_errors,
    to_option,
    vote_options,
)
from .taxonomy import load_versioned_votes, taxonomy_options


def db_option(default_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--db FILE``: the review log."""
    return click.option("--db", default=None, metavar="FILE",
                        help=f"The review log (SQLite). Default: {default_help}.")


def required_output(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("-o", "--output", required=True, metavar="FILE", help=help)


@click.group("review", context_settings={"help_option_names": ["-h", "--help"]})
def review() -> None:
    """Correct flagged labels by hand, with an audit trail in a SQLite log.

    Export a queue of flagged items, let reviewers fill in corrected_label, apply
    their files (all of a file or nothing, each file once), have a lead check a
    sample, and audit how often each reviewer is overturned. `consensus aggregate
    --reviews review.db` then clamps the accepted labels like gold.

    \b
    Example:
      consensus review export votes.csv -o queue.csv
      consensus review apply queue.csv --reviewer alice
      consensus review sample --fraction 0.1 --db review.db -o lead.csv
      consensus review apply lead.csv --reviewer lena --role lead
      consensus review audit --db review.db
    """


@review.command("export")
@click.argument("votes", type=click.Path())
@gold_option(False, "Golden set (item,label): anchors the fit and flags gold conflicts.")
@click.option("--predictions", "predictions_path", default=None, metavar="FILE",
              help="A model's predictions (item,p_<label>... or item,label[,confidence]); "
                   "shown as model_prediction.")
@click.option("--content", "content_path", default=None, metavar="FILE",
              help="Table of item -> text or image path, shown to reviewers.")
@click.option("--content-column", default="text", show_default=True, metavar="NAME",
              help="Column of the --content table to show.")
@click.option("--top", type=float, default=0.05, show_default=True,
              help="Items to queue: a fraction of all items below 1, else a count.")
@db_option("review.db in the folder of VOTES")
@required_output("The queue (.csv, .tsv or .jsonl); CSV cells are formula-escaped.")
@to_option("the queue")
@taxonomy_options
@vote_options
@reports_errors
def export(votes: str, gold_path: str | None, predictions_path: str | None,
           content_path: str | None, content_column: str, top: float, db: str | None,
           output: str, destination: str, taxonomy_path: str | None,
           version_column: str | None, **opts: Any) -> None:
    """Write a queue of flagged items for reviewers and register it in the log.

    One row per item whose consensus is in doubt (the item flags of `consensus
    flag`), most doubtful first, with every vote, its annotator and their
    estimated accuracy; reviewers fill in corrected_label (and reviewer, comment).

    \b
    Example:
      consensus review export examples/data/sentiment_votes.csv --top 0.05 -o queue.csv
      consensus review export export.json --to label-studio -o review_tasks.json
      consensus review export votes.csv --taxonomy taxonomy.json -o relabel_queue.csv

    With --taxonomy the queue is the relabel list of `consensus taxonomy check`
    (items whose votes cannot decide between the labels of a split), in the
    latest labels, and the log records that version with every correction.
    """
    from ..data.readers import read_table
    from ..flags import flag_items
    from ..review import ReviewLog, build_queue, default_log_path, write_queue
    from ..review.results import written_text
    from ..workflows.aggregation import aggregate

    control, question = opts.get("control"), opts.get("question")
    if taxonomy_path:
        _export_relabel(votes, taxonomy_path, version_column, gold_path, db, output,
                        destination, control, question, opts)
        return
    matrix = load_votes(votes, opts)
    gold = load_gold(gold_path, matrix)
    extra: dict[str, Any] = {}
    if predictions_path:
        from ..data.predictions import read_predictions

        extra["predictions"] = read_predictions(predictions_path, matrix)
    result = aggregate(matrix, gold=gold, **extra)
    report = flag_items(result, top=top)
    content = None
    if content_path:
        table = read_table(content_path)
        for name in ("item", content_column):
            if name not in table.columns:
                raise InputError(f"{content_path}: no {name} column; columns found: "
                                 f"{', '.join(map(str, table.columns))}")
        content = table.set_index("item")[content_column]
    flags = report.table
    # the queue holds items whose consensus is in doubt, with their dissenting votes; a vote
    # against a confident consensus is feedback for its annotator (`consensus flag`)
    in_doubt = flags.loc[flags["annotator"] == "", "item"]
    queue = build_queue(flags[flags["item"].isin(in_doubt)], matrix, result.annotators,
                        content=content)
    if queue.empty:
        click.echo("no item was flagged: no queue written")
        return
    log_path = db or default_log_path(votes)
    with ReviewLog(log_path) as log:
        queue_id = log.register_queue(queue, matrix.classes, votes)
    if destination == "table":
        write_queue(queue, output)
    else:
        from ..data.tools.send import send

        send("queue", queue, output, destination, origin=matrix.origin,
             method=str(getattr(result.model, "chosen_", result.method)), control=control,
             question=question)
    click.echo(written_text(len(queue), "item", output,
                            f"queue {queue_id}, registered in {log_path}"))


def _export_relabel(votes: str, taxonomy_path: str, version_column: str | None,
                    gold_path: str | None, db: str | None, output: str, destination: str,
                    control: str | None, question: str | None, opts: dict[str, Any]) -> None:
    """``review export --taxonomy``: the relabel list as a queue, in the latest labels."""
    from ..data.taxonomy import map_votes, read_taxonomy
    from ..review import ReviewLog, build_queue, default_log_path, write_queue
    from ..review.results import written_text
    from ..workflows.taxonomy import check_taxonomy

    versions = read_taxonomy(taxonomy_path)
    versioned = map_votes(load_versioned_votes(votes, opts, version_column), versions, votes)
    check = check_taxonomy(versioned, gold=load_gold(gold_path, versioned.votes))
    if check.flags.empty:
        click.echo("every item's votes reach the latest labels: no relabel queue written")
        return
    queue = build_queue(check.flags, versioned.raw, check.annotators)
    log_path = db or default_log_path(votes)
    with ReviewLog(log_path) as log:
        queue_id = log.register_queue(queue, list(versioned.classes), votes,
                                      taxonomy_version=versions.latest.name)
    if destination == "table":
        write_queue(queue, output)
    else:
        from ..data.tools.send import send

        send("queue", queue, output, destination, origin=versioned.raw.origin,
             method="taxonomy", control=control, question=question)
    click.echo(written_text(len(queue), "item", output,
                            f"relabel queue {queue_id} in {versions.latest.name}, registered "
                            f"in {log_path}"))


@review.command("apply")
@click.argument("corrections", type=click.Path(dir_okay=False))
@click.option("--reviewer", required=True, metavar="NAME",
              help="Who applies the file (a filled reviewer cell names someone else for its "
                   "row); with --role lead, the lead.")
@click.option("--role", type=click.Choice(["reviewer", "lead"]), default="reviewer",
              show_default=True,
              help="reviewer: a filled queue; lead: a filled sample from `review sample`.")
@db_option("review.db in the folder of CORRECTIONS")
@json_option
@reports_errors
def apply(corrections: str, reviewer: str, role: str, db: str | None, as_json: bool) -> None:
    """Apply a filled-in queue or lead sample: all of it or, on any problem, none.

    Rows with an empty corrected_label (or, for a lead, an empty verdict) are
    no change. A file is applied once: applying the same content again changes
    nothing. A Label Studio or Argilla export of a queue sent with `review export
    --to` is read as well: each answer is a correction by the user who gave it.

    \b
    Example:
      consensus review apply queue.csv --reviewer alice
      consensus review apply lead.csv --reviewer lena --role lead --db review.db
      consensus review apply reviewed_export.json --reviewer alice
    """
    from ..review import ReviewLog, default_log_path

    with ReviewLog.open_existing(db or default_log_path(corrections)) as log:
        result = log.apply_file(corrections, reviewer=reviewer, role=role)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else result.summary())


@review.command("sample")
@click.option("--fraction", type=click.FloatRange(0, 1, min_open=True), required=True,
              help="Share of each reviewer's unverified corrections to check (rounded up).")
@click.option("--per-reviewer", type=click.IntRange(min=1), default=None, metavar="N",
              help="At least this many per reviewer (or all they have).  [default: 1]")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random sample; the same log and seed give the same sample.")
@db_option("review.db in the current folder")
@required_output("The lead's file (.csv, .tsv or .jsonl): fill in verdict, corrected_label.")
@reports_errors
def sample(fraction: float, per_reviewer: int | None, seed: int, db: str | None,
           output: str) -> None:
    """Sample reviewers' corrections for a lead to accept or overturn.

    Stratified by reviewer, so everyone with corrections is checked. The lead
    writes accept or overturn in verdict (and, to overturn, the right label in
    corrected_label), then applies the file with --role lead.

    \b
    Example:
      consensus review sample --fraction 0.1 --db review.db -o lead.csv
    """
    from ..review import ReviewLog, lead_sample_frame, write_sheet
    from ..review.results import per_reviewer_text, written_text

    with ReviewLog.open_existing(db or "review.db") as log:
        chosen = log.sample(fraction, per_reviewer=per_reviewer, seed=seed)
    write_sheet(lead_sample_frame(chosen), output)
    click.echo(written_text(len(chosen), "correction", output,
                            per_reviewer_text(chosen["reviewer"])))


@review.command("audit")
@db_option("review.db in the current folder")
@json_option
@reports_errors
def audit(db: str | None, as_json: bool) -> None:
    """Per reviewer: corrections, verified, overturned, overturn rate with its interval.

    Also each reviewer's corrections as old label -> new label counts, so a
    drift into one class shows.

    \b
    Example:
      consensus review audit --db review.db
    """
    from ..review import ReviewLog

    with ReviewLog.open_existing(db or "review.db") as log:
        report = log.audit()
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.summary())


#: Columns `review log` shows in a terminal; --json and export-log give them all.
LOG_COLUMNS = ["correction_id", "applied_at", "item", "reviewer", "role", "old_label",
               "new_label", "status", "verdict", "lead", "source", "file_line"]


@review.command("log")
@click.option("--item", default=None, metavar="ID", help="Only this item's corrections.")
@db_option("review.db in the current folder")
@json_option
@reports_errors
def log(item: str | None, db: str | None, as_json: bool) -> None:
    """Show the corrections, oldest first, with their file, line and verdict.

    \b
    Example:
      consensus review log --item 007 --db review.db
    """
    from ..report.text import records, text_table
    from ..review import ReviewLog

    with ReviewLog.open_existing(db or "review.db") as review_log:
        history = review_log.history(item)
    if as_json:
        click.echo(json.dumps(records(history), indent=2))
    elif len(history):
        click.echo(text_table(history[LOG_COLUMNS]))
    else:
        click.echo("no corrections" + (f" of item {item!r}" if item is not None else ""))


@review.command("export-log")
@db_option("review.db in the current folder")
@required_output("Every correction with its verdict (.csv, .tsv, .jsonl or .parquet).")
@reports_errors
def export_log(db: str | None, output: str) -> None:
    """Write the whole log as one table: every correction, its file and line, its verdict.

    \b
    Example:
      consensus review export-log --db review.db -o log.csv
    """
    from ..review import ReviewLog, write_sheet
    from ..review.results import written_text

    with ReviewLog.open_existing(db or "review.db") as review_log:
        history = review_log.history()
    write_sheet(history, output)
    click.echo(written_text(len(history), "correction", output))
