"""What every command shares: options, how errors and warnings are shown, exit statuses.

Library errors name Python parameters; here they are shown with the flags a
user can type (:data:`FLAGS`). Options used by several commands are defined
once, as decorators.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from ..exceptions import ConsensusError, InputError
from ..models import DEFAULT_METHOD, METHOD_DESCRIPTIONS, METHODS
from ..wording import options_as_flags

#: Exit statuses of every command (the README lists them).
EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_OUT_OF_MEMORY = 4

#: Library parameter -> (flag, metavar), for rewriting messages that name parameters.
FLAGS: dict[str, tuple[str, str]] = {
    "item": ("--item-column", "NAME"),
    "annotator": ("--annotator-column", "NAME"),
    "label": ("--label-column", "NAME"),
    "labels": ("--labels", "A,B,..."),
    "duplicates": ("--duplicates", "POLICY"),
    "on_missing": ("--on-missing", "MODE"),
    "reviewer": ("--reviewer", "NAME"),
    "role": ("--role", "ROLE"),
    "fraction": ("--fraction", "F"),
    "per_reviewer": ("--per-reviewer", "N"),
    "format": ("--format", "SHAPE"),
    "history_weight": ("--history-weight", "W"),
    "init": ("--init-model", "FILE"),
    "method": ("--method", "NAME"),
    "version_column": ("--version-column", "NAME"),
    "to": ("--to", "TOOL"),
    "control": ("--control", "NAME"),
    "question": ("--question", "NAME"),
    "item_column": ("--item-column", "NAME"),
    "label_column": ("--label-column", "NAME"),
}

#: ``--format`` and ``--to`` choices; tests check they equal ``data.tools``' own lists
#: (kept here so that importing the CLI does not load pandas).
SOURCE_FORMATS = ("auto", "table", "label-studio", "argilla", "mturk", "sagemaker")
DESTINATIONS = ("table", "label-studio", "argilla")

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def as_flags(message: str) -> str:
    """A library message with its parameters spelled as this CLI's flags."""
    return options_as_flags(message, FLAGS)


class BadInput(click.ClickException):
    """A ConsensusError shown as ``error: ...`` with exit status 2."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


class OutOfMemory(BadInput):
    """Not bad input: the machine ran out of memory. Says so, and what to do."""

    exit_code = EXIT_OUT_OF_MEMORY


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors and unwritable outputs into one clear line (exit 2), and
    running out of memory into another (exit 4)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConsensusError as exc:
            raise BadInput(as_flags(str(exc))) from None
        except (PermissionError, IsADirectoryError, FileNotFoundError) as exc:
            raise BadInput(f"{exc.filename}: {exc.strerror}") from None
        except MemoryError:
            raise OutOfMemory(
                "ran out of memory (the input itself may be fine); close other programs, "
                "split the votes into several files, or use a machine with more memory"
            ) from None

    return wrapper


def stack(*options: Decorator) -> Decorator:
    """Several click options as one decorator, in the order given."""

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


vote_options = stack(
    click.option("--item-column", default=None, metavar="NAME",
                 help="Column of item ids (default: item or task)."),
    click.option("--annotator-column", default=None, metavar="NAME",
                 help="Column of annotator ids (default: annotator or worker)."),
    click.option("--label-column", default=None, metavar="NAME",
                 help="Column of labels (default: label)."),
    click.option("--labels", default=None, metavar="A,B,...",
                 help="Declared label set, in output order; other labels are an error."),
    click.option("--duplicates", type=click.Choice(["keep", "first", "last", "error"]),
                 default="keep", show_default=True,
                 help="Repeated (item, annotator) votes: count each, keep one, or refuse."),
    click.option("--on-missing", type=click.Choice(["error", "drop"]), default="error",
                 show_default=True, help="Votes with an empty item, annotator or label."),
    click.option("--format", "source_format", type=click.Choice(list(SOURCE_FORMATS)),
                 default="auto", show_default=True,
                 help="Shape of the votes: a table (a file, or a folder or glob of Parquet "
                      "files), or an annotation tool's export (auto: detected from the "
                      "content; never guessed)."),
    click.option("--control", default=None, metavar="NAME",
                 help="Label Studio: the Choices control to read, when there are several."),
    click.option("--question", default=None, metavar="NAME",
                 help="Argilla: the label question to read, when there are several."),
    click.option("--gold-from-source", is_flag=True,
                 help="Take the export's own known answers (Label Studio ground-truth "
                      "annotations) as the golden set, not as votes."),
)

model_options = stack(
    click.option("--method", type=click.Choice(list(METHODS)), default=DEFAULT_METHOD,
                 show_default=True,
                 help="; ".join(f"{name}: {text}" for name, text in METHOD_DESCRIPTIONS.items())
                 + "."),
    click.option("--max-iter", type=click.IntRange(min=1), default=None,
                 help="Most EM iterations.  [default: the model's own: 100; 500 for ebcc "
                      "and bwa]"),
    click.option("--tol", type=click.FloatRange(min=0), default=None,
                 help="Stop when the log-likelihood per vote changes by less.  [default: the "
                      "model's own: 1e-5; 1e-7 for ebcc]"),
    click.option("--smoothing", type=click.FloatRange(min=0), default=None,
                 help="Uniform Dirichlet pseudo-count per confusion cell; 0 is plain maximum "
                      "likelihood.  [default: 0.01; 0 for pooled, whose crowd prior replaces it]"),
)


def gold_option(required: bool, help: str) -> Decorator:
    """``--gold FILE``, passed to the command as ``gold_path``."""
    return click.option("--gold", "gold_path", required=required, default=None, metavar="FILE",
                        help=help)


def output_option(help: str) -> Decorator:
    """``-o/--output FILE``: the command's table, by extension (.csv, .parquet, .jsonl)."""
    return click.option("-o", "--output", default=None, metavar="FILE", help=help)


def seed_option(help: str) -> Decorator:
    return click.option("--seed", type=int, default=0, show_default=True, help=help)


def to_option(what: str) -> Decorator:
    """``--to table|label-studio|argilla``: the shape ``-o`` is written in."""
    return click.option(
        "--to", "destination", type=click.Choice(list(DESTINATIONS)), default="table",
        show_default=True,
        help=f"Write {what} as a table, as Label Studio tasks to import (the consensus as a "
             f"prediction) or as Argilla records to log (the consensus as a suggestion).")


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the result as JSON on stdout.")


def model_params(opts: dict[str, Any]) -> dict[str, Any]:
    """Pop the model options from a command's keyword arguments."""
    return {name: opts.pop(name) for name in ("method", "max_iter", "tol", "smoothing")}


def load_votes(path: str, opts: dict[str, Any]) -> Any:
    """Read votes with the shared options; pops them from ``opts``."""
    from ..data.readers import read_votes

    labels = opts.pop("labels")
    gold_from_source = opts.pop("gold_from_source")
    votes = read_votes(
        path,
        item=opts.pop("item_column"),
        annotator=opts.pop("annotator_column"),
        label=opts.pop("label_column"),
        labels=[s.strip() for s in labels.split(",")] if labels else None,
        duplicates=opts.pop("duplicates"),
        on_missing=opts.pop("on_missing"),
        format=opts.pop("source_format"),
        control=opts.pop("control"),
        question=opts.pop("question"),
        gold_from_source=gold_from_source,
    )
    if gold_from_source and (votes.origin is None or votes.origin.gold is None
                             or len(votes.origin.gold) == 0):
        raise InputError(f"{path}: --gold-from-source, but the votes mark no known answers "
                         f"(only Label Studio exports with ground-truth annotations do); give "
                         f"a golden set with --gold FILE")
    return votes


def load_gold(path: str | None, votes: Any, required: bool = False) -> Any:
    """The golden set for these votes: from ``path``, or marked in their export
    (``--gold-from-source``); None when neither and it is optional."""
    from ..data.gold import GoldSet, read_gold

    marked = votes.origin is not None and votes.origin.gold is not None
    if path and marked:
        raise InputError("give either --gold FILE or --gold-from-source, not both")
    if path:
        return read_gold(path, votes)
    if marked:
        return GoldSet.from_frame(votes.origin.gold, votes,
                                  source=f"{votes.origin.path} (ground truth)")
    if required:
        raise InputError("this command needs a golden set: give --gold FILE, or "
                         "--gold-from-source with a Label Studio export that marks ground truth")
    return None


def load_reviews(path: str) -> dict[str, str]:
    """The latest accepted correction per item, from a review database."""
    from ..review.log import ReviewLog

    return ReviewLog.open_existing(path).accepted_labels()


def report_result(result: Any, table: Any, output: str | None, as_json: bool) -> None:
    """Write a result's table to ``output`` and print the result as JSON or as text."""
    from ..data.writers import write_table

    if output and table is not None:
        write_table(table, output)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else result.summary())


class Progress:
    """Iteration progress on stderr, on one line that the next output starts after."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.shown = False

    def __call__(self, iteration: int, log_likelihood: float) -> None:
        click.echo(f"\r{self.label}: iteration {iteration}, log-likelihood/vote "
                   f"{log_likelihood:.6f}", err=True, nl=False)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            click.echo("", err=True)


def progress_printer(label: str) -> Progress | None:
    """Progress only when a person is watching a terminal (never in pipes or CI logs)."""
    return Progress(label) if sys.stderr.isatty() else None


def show_warning(message: Any, category: Any, filename: str, lineno: int,
                 file: Any = None, line: Any = None) -> None:
    """Warnings as one line on stderr, with parameters spelled as flags."""
    click.echo(f"warning: {as_flags(str(message))}", err=True)
