"""The ``consensus`` command: a thin click layer over the library, one module per command.

Each command parses options, calls one library function and formats the
result. Library errors become one line on stderr and exit status 2.
"""

from __future__ import annotations

import warnings

import click

from .. import __version__
from .aggregate import aggregate
from .agreement import agreement
from .budget import budget, next_pass
from .calibration import calibration
from .flags import confusions, flag
from .gold import score, vet
from .options import show_warning
from .predict import predict
from .report import report
from .review import review
from .taxonomy import taxonomy


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="consensus")
def cli() -> None:
    """Turn annotators' votes into labels you can trust, and tell whom to trust.

    Votes are a table with one row per vote: item, annotator, label (or
    crowd-kit's task, worker, label) as CSV, Parquet or JSON Lines, or a
    partitioned Parquet dataset: a folder or glob of Parquet files (or an
    fsspec URL such as s3://bucket/votes/), read as one table.

    Exit status: 0 done, 2 bad input (one line on stderr says what to change),
    4 out of memory; `consensus vet` also uses 1 and 3.
    """


for command in (aggregate, predict, score, vet, agreement, calibration, flag, confusions, review,
                budget, next_pass, taxonomy, report):
    cli.add_command(command)


def main() -> None:
    """Console entry point: warnings as one line each, no tracebacks for bad input."""
    from .memory import return_freed_memory

    warnings.showwarning = show_warning
    return_freed_memory()
    cli(prog_name="consensus")


__all__ = ["cli", "main"]
