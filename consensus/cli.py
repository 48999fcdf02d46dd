"""The ``consensus`` command: a thin click layer over the library.

Each command parses options, calls one library function and formats the
result. Library errors become one line on stderr and exit status 2.
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from . import __version__
from .exceptions import ConsensusError

INPUT_ERROR_STATUS = 2
# Spelled out (not imported) so `consensus --help` does not load the models;
# tests/test_cli.py checks both against consensus.models.
METHOD_NAMES = ("pooled", "ds", "one-coin", "mv")
DEFAULT_METHOD = "pooled"


class BadInput(click.ClickException):
    """A ConsensusError shown as ``error: ...`` with exit status 2."""

    exit_code = INPUT_ERROR_STATUS

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors and unwritable outputs into one clear line, exit 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConsensusError as exc:
            raise BadInput(str(exc)) from None
        except (PermissionError, IsADirectoryError, FileNotFoundError) as exc:
            raise BadInput(f"{exc.filename}: {exc.strerror}") from None
        except MemoryError:
            raise BadInput("out of memory; try a smaller file or fewer classes") from None

    return wrapper


def vote_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options every command that reads votes shares."""
    options = [
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
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_votes(path: str, opts: dict[str, Any]) -> Any:
    """Read votes with the shared options; pops them from ``opts``."""
    from .io import read_votes

    labels = opts.pop("labels")
    return read_votes(
        path,
        item=opts.pop("item_column"),
        annotator=opts.pop("annotator_column"),
        label=opts.pop("label_column"),
        labels=[s.strip() for s in labels.split(",")] if labels else None,
        duplicates=opts.pop("duplicates"),
        on_missing=opts.pop("on_missing"),
    )


def load_gold(path: str, votes: Any) -> Any:
    """Read a golden set against the votes it belongs to."""
    from .gold import read_gold

    return read_gold(path, votes)


def report_result(result: Any, table: Any, output: str | None, as_json: bool) -> None:
    """Write a report's table to ``output`` and print it as JSON or as text."""
    from .io import write_table

    if output:
        write_table(table, output)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else result.summary())


def progress_printer(label: str) -> Callable[[int, float], None] | None:
    """Iteration progress on stderr, only when a person is watching a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(iteration: int, log_likelihood: float) -> None:
        click.echo(f"\r{label}: iteration {iteration}, log-likelihood/vote {log_likelihood:.6f}",
                   err=True, nl=False)

    return show


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="consensus")
def cli() -> None:
    """Turn annotators' votes into labels you can trust, and tell whom to trust.

    Votes are a table with one row per vote: item, annotator, label (or
    crowd-kit's task, worker, label) as CSV, Parquet or JSON Lines.
    """


@cli.command()
@click.argument("votes", type=click.Path(dir_okay=False))
@click.option("-o", "--output", default=None, metavar="FILE",
              help="Items file (.csv, .parquet, .jsonl); CSV on stdout when omitted.")
@click.option("--annotators-out", default=None, metavar="FILE",
              help="Per-annotator reliability table.")
@click.option("--confusion-out", default=None, metavar="FILE",
              help="Confusion matrices in long form.")
@click.option("--gold", "gold_path", default=None, metavar="FILE",
              help="Golden set (item,label): clamps those items and estimates accuracy.")
@click.option("--method", type=click.Choice(list(METHOD_NAMES)), default=DEFAULT_METHOD,
              show_default=True,
              help="Pooled Dawid-Skene (annotators shrunk towards the crowd), plain "
                   "Dawid-Skene, one-coin Dawid-Skene, majority vote.")
@click.option("--max-iter", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--tol", type=click.FloatRange(min=0), default=1e-5, show_default=True,
              help="Stop when the log-likelihood per vote changes by less.")
@click.option("--smoothing", type=click.FloatRange(min=0), default=None,
              help="Uniform Dirichlet pseudo-count per confusion cell; 0 is plain maximum "
                   "likelihood.  [default: 0.01; 0 for pooled, whose crowd prior replaces it]")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Cross-validation folds over the gold items.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for anything random (cross-validation folds).")
@click.option("--raw-confidence", is_flag=True,
              help="Report the model's posteriors as they are. Without gold calibration the "
                   "confidence is otherwise computed leaving each item out of its annotators' "
                   "confusion estimates and discounted for correlated votes.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@vote_options
@reports_errors
def aggregate(votes: str, output: str | None, annotators_out: str | None,
              confusion_out: str | None, gold_path: str | None, method: str, max_iter: int,
              tol: float, smoothing: float | None, folds: int, seed: int, raw_confidence: bool,
              as_json: bool, **opts: Any) -> None:
    """Consensus label and confidence per item, and how reliable each annotator is.

    \b
    Example:
      consensus aggregate examples/data/sentiment_votes.csv -o labels.csv \\
          --annotators-out annotators.csv --gold golden_sets/sentiment_gold.csv
    """
    from .io import write_table
    from .pipeline import aggregate as run

    items_on_stdout = output in (None, "-")
    if as_json and items_on_stdout:
        raise BadInput("--json prints the summary on stdout; give -o FILE for the labels")
    matrix = load_votes(votes, opts)
    gold = load_gold(gold_path, matrix) if gold_path else None
    result = run(matrix, method=method, gold=gold, max_iter=max_iter, tol=tol,
                 smoothing=smoothing, n_folds=folds, seed=seed,
                 honest_confidence=not raw_confidence, progress=progress_printer(method))
    if sys.stderr.isatty() and method != "mv":
        click.echo("", err=True)
    write_table(result.items, output)
    if annotators_out:
        write_table(result.annotators, annotators_out)
    if confusion_out:
        write_table(result.confusion, confusion_out)
    if as_json:
        click.echo(json.dumps(result.info, indent=2))
    else:
        click.echo(result.summary(), err=items_on_stdout)


@cli.command()
@click.argument("votes", type=click.Path(dir_okay=False))
@click.option("--gold", "gold_path", required=True, metavar="FILE", help="Golden set (item,label).")
@click.option("-o", "--output", default=None, metavar="FILE", help="Per-annotator scores.")
@click.option("--min-gold", type=click.IntRange(min=1), default=10, show_default=True,
              help="Annotators with fewer gold answers are listed but not ranked.")
@click.option("--method", type=click.Choice(list(METHOD_NAMES)), default=DEFAULT_METHOD,
              show_default=True, help="Model whose consensus is scored on gold too.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@vote_options
@reports_errors
def score(votes: str, gold_path: str, output: str | None, min_gold: int, method: str,
          as_json: bool, **opts: Any) -> None:
    """Score annotators (and the consensus) against known answers.

    Accuracy with a 95% Wilson interval, Cohen's kappa against gold, recall per
    class and the pair each annotator confuses most; worst first.

    \b
    Example:
      consensus score examples/data/sentiment_votes.csv \\
          --gold golden_sets/sentiment_gold.csv -o scores.csv
    """
    from .models import make_model
    from .scoring import score_annotators

    matrix = load_votes(votes, opts)
    gold = load_gold(gold_path, matrix)
    # The consensus is fitted without gold so that its accuracy on gold means something.
    consensus = make_model(method).fit(matrix)
    result = score_annotators(matrix, gold, consensus_labels=consensus.label_codes_,
                              min_gold=min_gold)
    report_result(result, result.annotators, output, as_json)


@cli.command()
@click.argument("answers", type=click.Path(dir_okay=False))
@click.option("--gold", "gold_path", required=True, metavar="FILE", help="Golden set (item,label).")
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
@click.option("-o", "--output", default=None, metavar="FILE", help="One row per candidate.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@vote_options
@reports_errors
def vet(answers: str, gold_path: str, min_accuracy: float, tolerance: float, alpha: float,
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
    from .vetting import vet as run_vet

    matrix = load_votes(answers, opts)
    with warnings.catch_warnings():
        # candidates answer only part of a golden set; unanswered gold items are normal here
        warnings.filterwarnings("ignore", message=".*no one voted on were dropped")
        gold = load_gold(gold_path, matrix)
    result = run_vet(matrix, gold, min_accuracy=min_accuracy, tolerance=tolerance, alpha=alpha,
                     beta=beta, min_class_recall=min_class_recall)
    report_result(result, result.candidates, output, as_json)
    sys.exit(result.exit_code)


@cli.command()
@click.argument("votes", type=click.Path(dir_okay=False))
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=1000,
              show_default=True, help="Bootstrap resamples of the items for the intervals.")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--min-shared-items", type=click.IntRange(min=1), default=10, show_default=True,
              help="Annotator pairs sharing fewer items are left out of the mean Cohen's kappa.")
@click.option("-o", "--output", default=None, metavar="FILE",
              help="Per-annotator agreement with the others (.csv, .parquet, .jsonl).")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@vote_options
@reports_errors
def agreement(votes: str, n_bootstrap: int, confidence: float, seed: int,
              min_shared_items: int, output: str | None, as_json: bool, **opts: Any) -> None:
    """Inter-annotator agreement: percent, Fleiss, Krippendorff, Cohen, Gwet, with intervals.

    \b
    Example:
      consensus agreement examples/data/sentiment_votes.csv --bootstrap 2000 --json
    """
    from .agreement import agreement_report

    matrix = load_votes(votes, opts)
    result = agreement_report(matrix, n_bootstrap=n_bootstrap, confidence=confidence,
                              seed=seed, min_shared_items=min_shared_items)
    report_result(result, result.annotators, output, as_json)


@cli.command()
@click.argument("votes", type=click.Path(dir_okay=False))
@click.option("--gold", "gold_path", required=True, metavar="FILE", help="Golden set (item,label).")
@click.option("--method", type=click.Choice(list(METHOD_NAMES)), default=DEFAULT_METHOD,
              show_default=True, help="Model whose confidence is checked.")
@click.option("--calibrator", type=click.Choice(["auto", "isotonic", "platt", "temperature"]),
              default="auto", show_default=True,
              help="auto: isotonic with ≥300 gold items, else Platt.")
@click.option("--bins", type=click.IntRange(2, 50), default=10, show_default=True)
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--plot", default=None, metavar="FILE.png", help="Reliability diagram as PNG.")
@click.option("-o", "--output", default=None, metavar="FILE",
              help="Reliability table (bins before and after calibration).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@vote_options
@reports_errors
def calibration(votes: str, gold_path: str, method: str, calibrator: str, bins: int, folds: int,
                seed: int, plot: str | None, output: str | None, as_json: bool,
                **opts: Any) -> None:
    """Is the confidence honest? Reliability on held-out gold items, before and after.

    Gold items are predicted by cross-validation (their own gold label unused);
    prints the reliability table, expected calibration error and Brier score.

    \b
    Example:
      consensus calibration examples/data/sentiment_votes.csv \\
          --gold golden_sets/sentiment_gold.csv --plot reliability.png
    """
    import pandas as pd

    from .calibration import calibrate_held_out, plot_reliability, text_diagram
    from .crossval import held_out_posteriors
    from .io import write_table
    from .models import make_model
    from .pipeline import ece_without_gold

    matrix = load_votes(votes, opts)
    gold = load_gold(gold_path, matrix)
    held = held_out_posteriors(matrix, gold.per_item(matrix.n_items),
                               lambda: make_model(method), n_folds=folds, seed=seed)
    result = calibrate_held_out(held, n_bins=bins, seed=seed, kind=calibrator)
    no_gold = ece_without_gold(matrix, gold.per_item(matrix.n_items), method, n_bins=bins)
    if output:
        table = pd.concat([result.before.assign(stage="before"),
                           result.after.assign(stage="after")], ignore_index=True)
        write_table(table, output)
    if plot:
        plot_reliability(result, plot)
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "without_gold": no_gold}, indent=2))
        return
    click.echo(result.summary())
    click.echo(f"without gold, `consensus aggregate` reports confidence with calibration error "
               f"{no_gold['ece_reported']:.3f} on these items (the model's own posteriors: "
               f"{no_gold['ece_model']:.3f})")
    if sys.stdout.isatty():
        click.echo(text_diagram(result.before))


def _one_line_warning(message: Any, category: Any, filename: str, lineno: int,
                      file: Any = None, line: Any = None) -> None:
    click.echo(f"warning: {message}", err=True)


def main() -> None:
    """Console entry point: warnings as one line each, no tracebacks for bad input."""
    warnings.showwarning = _one_line_warning
    cli(prog_name="consensus")


if __name__ == "__main__":  # pragma: no cover
    main()
