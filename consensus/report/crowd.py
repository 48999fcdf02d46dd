"""The report's first four sections: the data and the fit, the consensus, agreement, and
who is reliable."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..wording import plural
from . import charts
from .page import Block, Figures, Section, Table, Text
from .summary import class_warnings, confidence_note, predictions_dict, predictions_line
from .tables import MIN_VOTES_TO_RANK, least_reliable

if TYPE_CHECKING:
    from ..workflows.report import ReportData

#: Annotators drawn in the forest plot (those with the most votes, when more qualify).
FOREST_ROWS = 60
#: Annotators listed in the table (worst first).
TABLE_ROWS = 500
#: Least reliable annotators whose confusion matrices are drawn beside the crowd's.
WORST_SHOWN = 3


def class_names(data: ReportData) -> list[str]:
    return [str(c) for c in data.votes.classes]


def overview_section(data: ReportData) -> Section:
    result, votes, model = data.result, data.votes, data.result.model
    method = str(getattr(model, "chosen_", result.method))
    names = class_names(data)
    pairs = [
        ("items", f"{votes.n_items:,}"),
        ("annotators", f"{votes.n_annotators:,}"),
        ("votes", f"{votes.n_votes:,}"),
        ("classes", f"{len(names)}" + (f" ({', '.join(names)})" if len(names) <= 6 else "")),
        ("method", method if method == result.method else f"{result.method} → {method}"),
        ("iterations", f"{model.n_iter_} ({'converged' if model.converged_ else 'NOT converged'})"),
    ]
    if result.accuracy is not None:
        a = result.accuracy
        pairs.append(("correct on gold", f"{a.accuracy:.1%} [{a.ci_low:.1%}, {a.ci_high:.1%}]"))
    pairs.append(("confidence", "calibrated on gold" if result.calibration is not None
                  else "honest, not calibrated" if result.correlation is not None
                  else "the model's posteriors"))
    blocks: list[Block] = [Figures(pairs)]
    reason = getattr(model, "reason_", None)
    if reason:
        blocks.append(Text(f"Method: {reason}."))
    if not model.converged_:
        blocks.append(Text(f"The fit did not converge in {model.n_iter_} iterations; raise "
                           f"the iteration limit or check annotators with very few votes.",
                           "warning"))
    blocks.append(Text(f"What the confidence means: it is {confidence_note(result)}."))
    if result.accuracy is not None:
        blocks.append(Text(result.accuracy.summary().capitalize() + "."))
    if result.n_reviews:
        blocks.append(Text(f"{plural(result.n_reviews, 'reviewed label')} from the review "
                           f"database were clamped like gold."))
    if result.predictions is not None:
        blocks.append(Text(predictions_line(predictions_dict(result)).capitalize() + "."))
    blocks += [Text(note, "note") for note in data.settings.notes]
    blocks.append(charts.count_histogram("votes-per-item", "Votes per item",
                                         votes.votes_per_item, xlabel="votes on the item",
                                         unit="items"))
    per_annotator = votes.votes_per_annotator
    blocks.append(charts.count_histogram(
        "votes-per-annotator", "Votes per annotator", per_annotator,
        xlabel="votes by the annotator" + (" (log scale)" if per_annotator.max() > 40 else ""),
        unit="annotators", log=bool(per_annotator.max() > 40)))
    return Section("overview", "Overview",
                   "The size of the data, how the consensus was made, and what its "
                   "confidence means: calibrated on gold, or honest but not calibrated.",
                   blocks)


def consensus_section(data: ReportData) -> Section:
    result, votes = data.result, data.votes
    names = class_names(data)
    codes = result.label_codes
    confidence = result.posteriors[np.arange(votes.n_items), codes]
    k = len(names)
    vote_share = np.bincount(votes.label_codes, minlength=k) / max(votes.n_votes, 1)
    items = np.bincount(codes, minlength=k)
    consensus_share = items / max(votes.n_items, 1)
    priors = np.asarray(result.model.class_priors_, dtype=np.float64)
    ties = int(result.model.ties_.sum())
    blocks: list[Block] = [Figures([
        ("mean confidence", f"{confidence.mean():.3f}"),
        ("items below 0.9", f"{int((confidence < 0.9).sum()):,} "
                            f"({float((confidence < 0.9).mean()):.1%})"),
        ("ties", f"{ties:,}"),
    ])]
    blocks += [Text(w, "warning") for w in class_warnings(result)]
    if ties:
        blocks.append(Text(f"{plural(ties, 'item')} are ties: the top two classes are equally "
                           f"probable, so the label shown is the first in class order, not a "
                           f"confident answer.", "warning"))
    blocks.append(charts.confidence_histogram(confidence, codes, names))
    blocks.append(charts.class_shares(
        names, {"share of the votes": vote_share, "share of the consensus": consensus_share,
                "fitted class prior": priors},
        key="class-shares", title="Class priors against vote shares"))
    per_class = pd.DataFrame({
        "class": names,
        "votes": np.bincount(votes.label_codes, minlength=k),
        "vote_share": vote_share,
        "consensus_items": items,
        "consensus_share": consensus_share,
        "class_prior": priors,
        "mean_confidence": [float(confidence[codes == c].mean()) if items[c] else np.nan
                            for c in range(k)],
    })
    blocks.append(Table("classes", "Classes", per_class,
                        formats={"vote_share": ".1%", "consensus_share": ".1%",
                                 "class_prior": ".3f"}))
    return Section("consensus", "Consensus",
                   "How sure the consensus is, class by class: most items should sit at the "
                   "right of the histogram, and each class's share of the consensus should be "
                   "near its share of the votes (a class far above it is a phantom the model "
                   "made up).", blocks)


AGREEMENT_HOW = ("How often annotators agree beyond chance, whatever the model says: kappa "
                 "and alpha near 0 mean chance-level agreement and 1 perfect; percent "
                 "agreement is flattered by a common class, Gwet's AC1 much less.")


def agreement_section(data: ReportData) -> Section:
    report = data.agreement
    if report is None:
        return Section("agreement", "Agreement", AGREEMENT_HOW, [
            Text(f"No agreement statistics: {data.agreement_note}.", "note")])
    results = list(report.results.values())
    first = results[0]
    if first.interval == "jackknife":
        how = "delete-one jackknife over items"
    elif first.n_bootstrap:
        how = f"percentile bootstrap over items, {first.n_bootstrap:,} draws"
    else:
        how = "no intervals"
    if report.interval_note:
        how += f", {report.interval_note}"
    table = pd.DataFrame({
        "statistic": [r.title for r in results],
        "estimate": [r.estimate for r in results],
        "ci_low": [r.ci_low for r in results],
        "ci_high": [r.ci_high for r in results],
        "items": [r.n_items for r in results],
    })
    estimate = table["estimate"].to_numpy(dtype=np.float64)
    low = np.where(np.isnan(table["ci_low"]), estimate, table["ci_low"]).astype(np.float64)
    high = np.where(np.isnan(table["ci_high"]), estimate, table["ci_high"]).astype(np.float64)
    left = min(-0.05, float(np.nanmin(low)) - 0.05) if np.isfinite(low).any() else -0.05
    blocks: list[Block] = [
        Text(f"Intervals: {first.confidence:.0%}, {how}."),
        charts.interval_plot("agreement", f"Agreement with {first.confidence:.0%} intervals",
                             table["statistic"].tolist(), estimate, low, high,
                             xlabel="value (0: chance-level agreement, 1: perfect)",
                             references={"chance": 0.0}, xlim=(left, 1.0)),
        Table("agreement", "Agreement statistics", table),
    ]
    blocks += [Text(f"{r.title}: {r.note}.", "note") for r in results if r.note]
    shares = report.annotators["pairwise_agreement"].dropna()
    if len(shares):
        q1, mid, q3 = np.quantile(shares, [0.25, 0.5, 0.75])
        blocks.append(Text(f"Per annotator, agreement with the others has median {mid:.3f} "
                           f"(quartiles {q1:.3f} and {q3:.3f}) over "
                           f"{plural(len(shares), 'annotator')}."))
    return Section("agreement", "Agreement", AGREEMENT_HOW, blocks)


def typical_confusion(n_votes: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """The crowd's typical confusion matrix (K, K): annotators' rows weighted by votes."""
    weights = n_votes.astype(np.float64)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    return np.einsum("a,akl->kl", weights, confusion) / weights.sum()


#: An annotator within this much of chance accuracy (or below) answers at chance level.
CHANCE_MARGIN = 0.02


def annotator_groups(table: pd.DataFrame, chance: float) -> tuple[np.ndarray, dict[str, str]]:
    """Each annotator's group for the charts: too few votes to tell, at chance level (no
    better than always giving the most common class: a spammer's mark), reliably below
    the crowd's median (the interval's top under it), or the rest."""
    enough = table["n_votes"].to_numpy() >= MIN_VOTES_TO_RANK
    median = float(np.median(table["accuracy"][enough])) if enough.any() else 1.0
    group = np.where(~enough, "few", "ok").astype(object)
    group[enough & (table["ci_high"].to_numpy() < median)] = "below"
    group[enough & (table["accuracy"].to_numpy() <= chance + CHANCE_MARGIN)] = "chance"
    return group, {"ok": "the rest", "chance": "at chance level",
                   "below": "reliably below the crowd's median",
                   "few": f"under {MIN_VOTES_TO_RANK} votes"}


def annotators_section(data: ReportData) -> Section:
    result = data.result
    table = result.annotators
    if result.model_annotator is not None:
        table = table[table["annotator"].astype(str) != result.model_annotator]
    table = table.reset_index(drop=True)
    names = class_names(data)
    chance = float(np.max(result.model.class_priors_))
    group, groups = annotator_groups(table, chance)
    enough = table[table["n_votes"] >= MIN_VOTES_TO_RANK]
    forest = enough if len(enough) else table
    shown = forest
    if len(forest) > FOREST_ROWS:  # those who give the most wrong votes: many, or bad
        wrong = forest["n_votes"] * (1.0 - forest["accuracy"])
        shown = forest.loc[wrong.sort_values(ascending=False, kind="stable").index[:FOREST_ROWS]]
    shown = shown.sort_values(["accuracy", "annotator"], kind="stable")
    median = float(np.median(forest["accuracy"]))
    title = (f"Accuracy of the {len(shown)} with the most wrong votes"
             if len(forest) > FOREST_ROWS else
             f"Accuracy of {plural(len(shown), 'annotator')}"
             + (f" with at least {MIN_VOTES_TO_RANK} votes" if len(enough) else ""))
    blocks: list[Block] = []
    if len(forest) > FOREST_ROWS:
        share = (shown["n_votes"] * (1 - shown["accuracy"])).sum() / max(
            (table["n_votes"] * (1 - table["accuracy"])).sum(), 1e-12)
        blocks.append(Text(f"The first chart shows the {FOREST_ROWS} of {len(forest):,} "
                           f"annotators with at least {MIN_VOTES_TO_RANK} votes who give the "
                           f"most wrong votes (votes times error rate; {share:.0%} of all wrong "
                           f"votes expected); the table below lists everyone.", "note"))
    blocks.append(charts.interval_plot(
        "annotator-accuracy", title + ", worst first", shown["annotator"].astype(str).tolist(),
        shown["accuracy"].to_numpy(), shown["ci_low"].to_numpy(), shown["ci_high"].to_numpy(),
        xlabel="estimated accuracy (95% interval)",
        group=group[shown.index.to_numpy()],
        groups={k: v for k, v in groups.items() if k != "few"} if len(enough) else groups,
        references={f"crowd median {median:.2f}": median,
                    f"always the most common class {chance:.2f}": chance}))
    blocks.append(charts.volume_accuracy(
        table["annotator"].astype(str).to_numpy(), table["n_votes"].to_numpy(),
        table["accuracy"].to_numpy(), table["ci_low"].to_numpy(), table["ci_high"].to_numpy(),
        group, groups, chance))
    model = result.model
    keep = np.ones(len(model.confusion_), dtype=bool)
    if result.model_annotator is not None:
        keep[-1] = False
    panels = [("the crowd's typical annotator", "weighted by votes",
               typical_confusion(data.votes.votes_per_annotator, model.confusion_[keep]))]
    worst = least_reliable(table, WORST_SHOWN)
    index = {str(a): i for i, a in enumerate(result.votes.annotator_ids)}
    gold = {} if data.gold_scores is None else dict(zip(
        data.gold_scores.annotators["annotator"].astype(str),
        data.gold_scores.annotators["accuracy"], strict=True))
    for row in worst.itertuples():
        detail = f"{plural(int(row.n_votes), 'vote')}, accuracy {row.accuracy:.2f}"
        on_gold = gold.get(str(row.annotator), np.nan)
        if on_gold == on_gold:
            detail += f", on gold {on_gold:.2f}"
        panels.append((str(row.annotator), detail, model.confusion_[index[str(row.annotator)]]))
    blocks.append(charts.heatmaps("confusions", "Confusion matrices: the crowd's typical one "
                                  "and the least reliable annotators'", panels, names))
    blocks.append(annotator_table(data, table, group, groups))
    return Section("annotators", "Annotators",
                   "Who is reliable: each annotator's estimated accuracy with a 95% interval, "
                   "worst first (a wide interval means few votes, not bad work); in the "
                   "scatter, annotators low and far right do much work with little skill.",
                   blocks)


def annotator_table(data: ReportData, table: pd.DataFrame, group: np.ndarray,
                    groups: dict[str, str]) -> Table:
    """Every annotator (worst first, at most :data:`TABLE_ROWS`), with gold scores beside."""
    frame = table[["annotator", "n_votes", "accuracy", "ci_low", "ci_high",
                   "agreement_with_consensus"]].copy()
    frame["annotator"] = frame["annotator"].astype(str)
    frame["group"] = [groups[g] for g in group]
    formats = {}
    if data.gold_scores is not None:
        gold = data.gold_scores.annotators[["annotator", "n_gold", "accuracy", "ci_low",
                                            "ci_high", "kappa", "status"]].copy()
        gold["annotator"] = gold["annotator"].astype(str)
        gold.columns = ["annotator", "n_gold", "gold_accuracy", "gold_ci_low", "gold_ci_high",
                        "gold_kappa", "gold_status"]
        frame = frame.merge(gold, on="annotator", how="left")
        frame["n_gold"] = frame["n_gold"].fillna(0).astype(np.int64)
        formats["n_gold"] = ",d"
    frame = frame.sort_values(["accuracy", "annotator"], kind="stable")
    caption = "Annotators, worst first" + (" (gold scores beside)" if data.gold_scores else "")
    return Table("annotators", caption, frame.head(TABLE_ROWS).reset_index(drop=True),
                 total=len(frame), rest="the aggregate command's annotators file has every one",
                 formats=formats)
