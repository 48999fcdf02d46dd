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
from .taxonomy import load_versioned_votes, taxonomy_options


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
@click.option("--save-model", default=None, metavar="FILE",
              help="Write the fitted model (a .cmodel file) for `consensus predict` and "
                   "--init-model.")
@click.option("--init-model", default=None, metavar="FILE",
              help="Start EM from a saved model's confusion matrices (a warm start); with "
                   "--method auto, the method it was fitted with. The votes are read with its "
                   "label set unless --labels is given.")
@click.option("--history-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              metavar="W",
              help="With --init-model: each annotator it knew keeps its saved confusion "
                   "matrix as a prior worth this many votes (0: a starting point only).")
@click.option("--ordinal", is_flag=True,
              help="Labels are ordered (in --labels order): fit the ordinal model (unless "
                   "--method says otherwise) and add the posterior's median, mean, 80% "
                   "interval and expected error in steps to the items file.")
@click.option("--nominal", multiple=True, metavar="LABEL",
              help="With --ordinal: a class outside the order, like 'broken link' (repeatable).")
@click.option("--engine", type=click.Choice(["memory", "dask"]), default="memory",
              show_default=True,
              help="Where EM runs: in this process, or on a Dask cluster over a partitioned "
                   "Parquet dataset (a folder or glob; -o is then a folder of Parquet files). "
                   "Needs the dask extra.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="With --engine dask: a Dask scheduler's address (tcp://host:8786) or "
                   "scheduler file.  [default: a local cluster on this machine]")
@taxonomy_options
@to_option("the labels")
@json_option
@vote_options
@reports_errors
def aggregate(votes: str, output: str | None, annotators_out: str | None,
              confusion_out: str | None, gold_path: str | None, predictions_path: str | None,
              reviews_path: str | None, folds: int, seed: int, raw_confidence: bool,
              save_model: str | None, init_model: str | None, history_weight: float,
              engine: str, scheduler: str | None,
              ordinal: bool, nominal: tuple[str, ...], taxonomy_path: str | None,
              version_column: str | None, destination: str, as_json: bool,
              **opts: Any) -> None:
    """Consensus label and confidence per item, and how reliable each annotator is.

    \b
    Example:
      consensus aggregate examples/data/sentiment_votes.csv -o labels.csv \\
          --annotators-out annotators.csv --gold golden_sets/sentiment_gold.csv
      consensus aggregate export.json --to label-studio -o consensus_tasks.json
      consensus aggregate today.csv -o labels.csv --init-model yesterday.cmodel \\
          --save-model today.cmodel
      consensus aggregate votes.csv --taxonomy taxonomy.json -o labels.csv
      consensus aggregate ratings.csv --ordinal --labels G,P,R,X -o labels.csv
      consensus aggregate votes/ --engine dask --scheduler tcp://scheduler:8786 -o labels/
    """
    from ..data.predictions import read_predictions
    from ..data.writers import write_table
    from ..models.persist import check_savable, load_model
    from ..workflows.aggregation import aggregate as run
    from ..workflows.predict import save_result
    from .predict import read_for_model

    items_on_stdout = output in (None, "-")
    if as_json and items_on_stdout:
        raise BadInput("--json prints the summary on stdout; give -o FILE for the labels")
    if destination != "table" and items_on_stdout:
        raise BadInput(f"--to {destination} writes a file to import; give -o FILE")
    if history_weight and not init_model:
        raise BadInput("--history-weight needs --init-model FILE, the model whose confusion "
                       "matrices it keeps")
    if engine == "dask":
        _aggregate_on_dask(votes, output, annotators_out, confusion_out, gold_path,
                           raw_confidence, scheduler, as_json, opts)
        return
    method_given = click.get_current_context().get_parameter_source("method")
    params = model_params(opts)
    if nominal and not ordinal:
        raise BadInput("--nominal names classes outside an ordered scale; give --ordinal too")
    if ordinal and method_given == click.core.ParameterSource.DEFAULT:
        params["method"] = "ordinal"
    if save_model:
        check_savable(params["method"])
    control, question = opts.get("control"), opts.get("question")
    init = load_model(init_model) if init_model else None
    declared = init is not None and not opts["labels"] and not opts["gold_from_source"]
    versioned = None
    if taxonomy_path:
        from ..data.taxonomy import map_votes, read_taxonomy

        if save_model or init is not None:
            raise BadInput("--save-model and --init-model do not work with --taxonomy yet")
        versioned = map_votes(load_versioned_votes(votes, opts, version_column),
                              read_taxonomy(taxonomy_path), votes)
        matrix, gold_votes = versioned.raw, versioned.votes
    elif version_column:
        raise BadInput("--version-column needs --taxonomy FILE")
    else:
        matrix = read_for_model(votes, init, opts) if declared else load_votes(votes, opts)
        gold_votes = matrix
    gold = load_gold(gold_path, gold_votes)
    predictions = read_predictions(predictions_path, matrix) if predictions_path else None
    reviews = load_reviews(reviews_path) if reviews_path else None
    progress = progress_printer(params["method"])
    fitted_on = matrix if versioned is None else versioned
    result = run(fitted_on, gold=gold, predictions=predictions, reviews=reviews, n_folds=folds,
                 seed=seed, honest_confidence=not raw_confidence, init=init,
                 history_weight=history_weight, nominal=nominal, progress=progress, **params)
    if progress is not None:
        progress.close()
    items = result.items
    if ordinal:
        from ..models.ordinal import ordinal_summary

        scale = ordinal_summary(result.posteriors, matrix.classes, nominal=nominal)
        where = items.columns.get_loc("confidence") + 1
        for offset, (name, column) in enumerate(scale.add_prefix("ordinal_").items()):
            items.insert(where + offset, name, column.to_numpy())
    if destination == "table":
        write_table(items, output)
    else:
        from ..data.tools.send import send

        method = str(getattr(result.model, "chosen_", result.method))
        send("labels", items, output, destination, origin=matrix.origin, method=method,
             control=control, question=question)
    if annotators_out:
        write_table(result.annotators, annotators_out)
    if confusion_out:
        write_table(result.confusion, confusion_out)
    if save_model:
        save_result(result, save_model)
    if as_json:
        info = result.to_dict()
        if init is not None:
            info["init_model"] = warm_start_dict(result, init)
        if save_model:
            info["saved_model"] = save_model
        click.echo(json.dumps(info, indent=2))
    else:
        lines = [result.summary()]
        if init is not None:
            lines.append(warm_start_line(warm_start_dict(result, init)))
        if save_model:
            lines.append(f"model saved to {save_model}")
        click.echo("\n".join(lines), err=items_on_stdout)


def warm_start_dict(result: Any, init: Any) -> dict[str, Any]:
    """Where the fit started: the model file, and how many annotators it knew."""
    from ..models.persist import positions

    known = positions(init.model.annotator_ids_, result.votes.annotator_ids) >= 0
    return {"file": init.source, "method": init.chosen_method, "created": init.header["created"],
            "known_annotators": int(known.sum()), "new_annotators": int((~known).sum()),
            "history_weight": result.history_weight}


def warm_start_line(info: dict[str, Any]) -> str:
    weight = info["history_weight"]
    kept = (f"its confusion matrices kept as a prior worth {weight:g} votes per annotator"
            if weight else "a starting point only (history weight 0)")
    return (f"started from {info['file']} ({info['method']}, fitted {info['created']}): "
            f"{info['known_annotators']:,} annotators known, {info['new_annotators']:,} new; "
            f"{kept}")


def _aggregate_on_dask(votes: str, output: str | None, annotators_out: str | None,
                       confusion_out: str | None, gold_path: str | None, raw_confidence: bool,
                       scheduler: str | None, as_json: bool, opts: dict[str, Any]) -> None:
    """``--engine dask``: the same EM over a partitioned Parquet dataset on a Dask cluster."""
    from ..data.writers import write_table

    if output in (None, "-"):
        raise BadInput("--engine dask writes the labels as a folder of Parquet files; give "
                       "-o FOLDER")
    try:
        from ..engines.dask import aggregate_parquet
    except ImportError as exc:
        raise BadInput(f"--engine dask needs the dask extra ({exc}); install it with "
                       f'pip install "consensus[dask]"') from None
    params = model_params(opts)
    labels = opts.pop("labels")
    progress = progress_printer(params["method"])
    result = aggregate_parquet(
        votes, output=str(output), scheduler=scheduler, progress=progress, gold=gold_path,
        item=opts.pop("item_column"), annotator=opts.pop("annotator_column"),
        label=opts.pop("label_column"),
        labels=[s.strip() for s in labels.split(",")] if labels else None,
        duplicates=opts.pop("duplicates"), on_missing=opts.pop("on_missing"),
        honest_confidence=not raw_confidence, **params)
    if progress is not None:
        progress.close()
    if annotators_out:
        write_table(result.annotators, annotators_out)
    if confusion_out:
        write_table(result.confusion_table, confusion_out)
    info = result.to_dict()
    click.echo(json.dumps(info, indent=2) if as_json else
               f"labels written to {output} (dask engine): "
               f"{info.get('n_iter', '?')} iterations, "
               f"{'converged' if info.get('converged') else 'not converged'}")
