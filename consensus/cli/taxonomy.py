"""``consensus taxonomy``: votes made under several versions of the label set."""

from __future__ import annotations

from typing import Any

import click

from .options import (
    gold_option,
    json_option,
    load_gold,
    output_option,
    report_result,
    reports_errors,
    stack,
    vote_options,
)

#: ``--taxonomy FILE`` and ``--version-column NAME``, for every command that reads versions.
taxonomy_options = stack(
    click.option("--taxonomy", "taxonomy_path", default=None, metavar="FILE",
                 help="Taxonomy versions (JSON or TOML: each version's labels and its split, "
                      "merge, rename from the one before); consensus is in the latest labels."),
    click.option("--version-column", default=None, metavar="NAME",
                 help="Column saying which taxonomy version each vote was made under.  "
                      "[default: taxonomy_version; else the votes' times (created_at) "
                      "against each version's start]"),
)


def load_versioned_votes(path: str, opts: dict[str, Any], version_column: str | None) -> Any:
    """Read votes with the shared options, keeping each vote's taxonomy version; pops them
    from ``opts`` as :func:`consensus.cli.options.load_votes` does."""
    from ..data.taxonomy import read_versioned_votes

    labels = opts.pop("labels")
    return read_versioned_votes(
        path,
        version_column=version_column,
        item=opts.pop("item_column"),
        annotator=opts.pop("annotator_column"),
        label=opts.pop("label_column"),
        labels=[s.strip() for s in labels.split(",")] if labels else None,
        duplicates=opts.pop("duplicates"),
        on_missing=opts.pop("on_missing"),
        format=opts.pop("source_format"),
        control=opts.pop("control"),
        question=opts.pop("question"),
        gold_from_source=opts.pop("gold_from_source"),
    )


@click.group("taxonomy", context_settings={"help_option_names": ["-h", "--help"]})
def taxonomy() -> None:
    """Votes made under several versions of the label set (splits, merges, renames).

    A taxonomy file lists the versions oldest first; `consensus aggregate --taxonomy
    FILE` gives the consensus in the latest labels, reading an older version's vote
    as evidence for every label it became.

    \b
    Example:
      consensus taxonomy check votes.csv --taxonomy taxonomy.json -o relabel.csv
    """


@taxonomy.command("check")
@click.argument("votes", type=click.Path())
@taxonomy_options
@gold_option(False, "Golden set (item, latest label): anchors the fit; gold items need no "
                    "relabelling.")
@output_option("The relabel queue: items whose votes cannot decide between the labels of a "
               "split (.csv, .parquet, .jsonl).")
@json_option
@vote_options
@reports_errors
def check(votes: str, taxonomy_path: str | None, version_column: str | None,
          gold_path: str | None, output: str | None, as_json: bool, **opts: Any) -> None:
    """Votes per taxonomy version, mixed items, unused labels, and what to relabel.

    Items whose votes were all made before a split (only `car`, never `sedan` or
    `suv`) get their latest label from the class priors alone: they are the relabel
    queue, written with -o (item, label, confidence, resolved_in, candidates,
    n_votes, votes).

    \b
    Example:
      consensus taxonomy check votes.csv --taxonomy taxonomy.json -o relabel.csv
      consensus taxonomy check export.json --taxonomy taxonomy.toml --json
    """
    from ..data.taxonomy import map_votes, read_taxonomy
    from ..exceptions import InputError
    from ..workflows.taxonomy import check_taxonomy

    if taxonomy_path is None:
        raise InputError("say which taxonomy the votes were made under: --taxonomy FILE")
    versions = read_taxonomy(taxonomy_path)
    matrix = map_votes(load_versioned_votes(votes, opts, version_column), versions, votes)
    gold = load_gold(gold_path, matrix.votes)
    result = check_taxonomy(matrix, gold=gold)
    report_result(result, result.relabel if output else None, output, as_json)
