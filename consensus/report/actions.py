"""The report's last three sections: how honest the confidence is, what to fix, and what
more annotation would buy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..quality.crossval import MIN_GOLD_FOR_ESTIMATE
from ..wording import plural
from . import charts
from .page import Block, Figures, Section, Table, Text
from .summary import confidence_note

if TYPE_CHECKING:
    from ..workflows.report import ReportData


def calibration_section(data: ReportData) -> Section:
    result = data.result
    how = ("Is the confidence honest? On held-out gold items, each point is a confidence bin: "
           "on the diagonal a confidence of 0.8 is right 80% of the time, below it the "
           "confidence promises more than it keeps.")
    report = result.calibration
    if report is None:
        if result.n_gold is None:
            why = "no golden set was given, so nothing can measure it"
        else:
            why = (f"{plural(result.n_gold, 'gold item')} are too few to measure it "
                   f"(at least {MIN_GOLD_FOR_ESTIMATE} are needed)")
        return Section("calibration", "Calibration", how, [
            Text(f"No reliability diagram: {why}. The confidence on this page is "
                 f"{confidence_note(result)}.", "note"),
        ])
    blocks: list[Block] = [
        Figures([
            ("gold items", f"{report.n_gold:,} ({report.n_folds}-fold)"),
            ("calibration error (ECE)", f"{report.ece_before:.3f} → {report.ece_after:.3f}"),
            ("Brier score", f"{report.brier_before:.3f} → {report.brier_after:.3f}"),
        ]),
        Text(f"Before is the model's own posterior on gold items it did not see; after is "
             f"{report.calibrator.describe()}, fitted on the other folds. The confidence "
             f"reported everywhere else on this page is the calibrated one."),
        charts.reliability(report.before, report.after, ece_before=report.ece_before,
                           ece_after=report.ece_after, n_gold=report.n_gold),
    ]
    return Section("calibration", "Calibration", how, blocks)


def fix_section(data: ReportData) -> Section:
    flags, pairs = data.flags, data.confusions.table
    blocks: list[Block] = []
    for row in pairs.head(3).itertuples(index=False):
        blocks.append(Text(
            f"Guideline hint: items that are {row.true} are often labelled {row.given} "
            f"({plural(int(row.items), 'item')}, {row.item_share:.0%} of {row.true}; about "
            f"{row.expected_votes:,.0f} votes, {row.top_share:.0%} of them from "
            f"{row.top_annotators}). Look at {row.examples} and say in the guideline which "
            f"one they are."))
    if pairs.empty:
        blocks.append(Text("No class pair is confused: every annotator agrees with the "
                           "consensus."))
    else:
        blocks.append(Table("confusions", "Most confused class pairs (true → given)", pairs,
                            formats={"expected_votes": ",.0f", "item_share": ".0%",
                                     "top_share": ".0%"}))
    counts = ", ".join(f"{name} {n:,}" for name, n in flags.reason_counts.items() if n)
    blocks.append(Text(
        f"Flagged for review: the top {plural(flags.n_flagged_items, 'item')} of "
        f"{flags.n_candidate_items:,} with an item flag and the top "
        f"{plural(flags.n_flagged_votes, 'vote')} of {flags.n_candidate_votes:,} likely "
        f"errors, most suspicious first (score: the probability that the label is wrong)"
        + (f"; reasons: {counts}." if counts else ".")))
    per_class = flags.per_class
    if len(per_class) > 1 and (flags.n_flagged_items or flags.n_flagged_votes):
        blocks.append(charts.class_shares(
            per_class["class"].astype(str).tolist(),
            {"share of the items": per_class["item_share"].to_numpy(),
             "share of flagged items": per_class["flag_share"].to_numpy(),
             "share of flagged votes": per_class["vote_flag_share"].to_numpy()},
            key="flag-shares", title="Flags by consensus class"))
    table = flags.table
    is_item = (table["annotator"] == "").to_numpy()
    rest = "the flag command lists more (its top option)"
    blocks.append(Table("flagged-items", "Items to check, most in doubt first",
                        table[is_item].drop(columns=["annotator", "label"]).reset_index(
                            drop=True),
                        total=flags.n_candidate_items, rest=rest))
    blocks.append(Table("flagged-votes", "Votes to check, most likely wrong first",
                        table[~is_item].drop(columns=["reasons", "split"]).reset_index(
                            drop=True),
                        total=flags.n_candidate_votes, rest=rest))
    blocks += audit_blocks(data)
    return Section("fix", "What to fix",
                   "What to do next, most useful first: the class pairs to clarify in the "
                   "guideline, the items and votes a reviewer should check, and how earlier "
                   "corrections held up when a lead checked them.", blocks)


def audit_blocks(data: ReportData) -> list[Block]:
    audit = data.audit
    if audit is None:
        return [Text("No review database was given, so there is no audit of corrections here.",
                     "note")]
    blocks: list[Block] = [
        Figures([("queues", f"{audit.n_queues:,}"), ("corrections", f"{audit.n_corrections:,}"),
                 ("verified by a lead", f"{audit.n_verified:,}"),
                 ("overturned", f"{audit.n_overturned:,}")]),
    ]
    reviewers = audit.reviewers
    verified = reviewers[reviewers["verified"] > 0]
    if len(verified):
        blocks.append(charts.interval_plot(
            "overturn", "Overturn rate per reviewer (95% Wilson interval)",
            verified["reviewer"].astype(str).tolist(), verified["overturn_rate"].to_numpy(),
            verified["ci_low"].to_numpy(), verified["ci_high"].to_numpy(),
            xlabel="share of verified corrections a lead overturned", xlim=(0.0, 1.0)))
    if len(reviewers):
        blocks.append(Table("reviewers", "Corrections per reviewer", reviewers,
                            formats={"overturn_rate": ".3f"}))
        blocks.append(Table("corrections", "Corrections, old label → new label", audit.matrix))
    return blocks


def budget_section(data: ReportData) -> Section:
    plan = data.budget
    blocks: list[Block] = []
    pairs = [("target", f"{plan.target_accuracy:.1%}"),
             ("now", f"{float(np.mean(data.votes.votes_per_item)):.1f} votes per item")]
    if plan.recommended_k is not None:
        row = plan.by_k.set_index("k").loc[plan.recommended_k]
        pairs += [("recommended", f"{plan.recommended_k} per item"),
                  ("expected accuracy", f"{row.expected_accuracy:.1%} "
                                        f"[{row.ci_low:.1%}, {row.ci_high:.1%}]"),
                  ("cost", f"{row.cost_per_item:,.2f} per item, "
                           f"{row.cost_per_item * data.votes.n_items:,.2f} for "
                           f"{data.votes.n_items:,} items")]
    else:
        pairs.append(("recommended", "none reaches the target"))
    blocks.append(Figures(pairs))
    if plan.suggestion:
        blocks.append(Text(plan.suggestion[:1].upper() + plan.suggestion[1:] + ".", "warning"))
    blocks.append(charts.budget_curve(plan.by_k, target=plan.target_accuracy,
                                      recommended=plan.recommended_k,
                                      cost_per_label=plan.cost_per_label))
    blocks.append(Table("strategies", "Fixed and adaptive strategies", plan.strategies,
                        formats={"expected_accuracy": ".3f", "labels_per_item": ".2f",
                                 "cost_per_item": ",.3f"}))
    blocks.append(Table("by-k", "Expected accuracy by annotators per item",
                        plan.by_k.reset_index(drop=True), formats={"cost_per_item": ",.2f"}))
    blocks += [Text(note[:1].upper() + note[1:] + ".", "note") for note in plan.notes]
    if data.settings.fast:
        blocks += [Text(note, "note") for note in data.settings.notes]
    return Section("budget", "Budget",
                   f"What more votes buy: the expected accuracy of the consensus for k "
                   f"annotators per item with its 95% band, priced on the top axis at "
                   f"{plan.cost_per_label:,.2f} a vote; the dotted line is the smallest k that "
                   f"reaches the target, and the table shows what stopping early saves.",
                   blocks)

