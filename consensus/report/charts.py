"""The report's charts: each draws given numbers and says them in words (its text
alternative), and keeps the numbers as a table for readers who cannot see it.

Nothing here computes a statistic; the sections hand over what to draw. Call inside
:func:`consensus.report.figures.style` so that the report's style applies.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .figures import GREY, MARKERS, PALETTE, SEQUENTIAL, Chart, new_figure

#: Largest number of classes whose heatmap cells are written out as numbers.
ANNOTATED_CLASSES = 8


def plain(text: object) -> str:
    """A user's string as matplotlib should draw it: ``$`` would start mathematics."""
    return str(text).replace("$", r"\$")


def _text(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if value == value else "n/a"


def whole_numbers(axis: Any) -> None:
    """Ticks at whole numbers only, written plainly (``1,000``, not ``10^3``)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    if axis.get_scale() != "log":
        axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    else:
        axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


def legend_below(figure: Any, ncols: int) -> None:
    """The figure's legend under its axes, where it hides no data."""
    figure.legend(loc="outside lower center", ncols=ncols)


def count_histogram(key: str, title: str, values: np.ndarray, *, xlabel: str, unit: str,
                    log: bool = False) -> Chart:
    """Counts per value (whole numbers, e.g. votes per item), or per log-spaced bin."""
    values = np.asarray(values, dtype=np.int64)
    figure, ax = new_figure(2.4)
    low, high = int(values.min()), int(values.max())
    if not log and high - low <= 40:
        edges = np.arange(low, high + 2) - 0.5
    elif log:
        edges = np.unique(np.round(np.geomspace(max(low, 1), high + 1, 25)))
        edges = np.concatenate([edges[:1] - 0.5, edges[1:] - 0.5]) if len(edges) > 1 else \
            np.array([low - 0.5, high + 0.5])
        ax.set_xscale("log")
    else:
        edges = np.linspace(low - 0.5, high + 0.5, 31)
    counts, edges = np.histogram(values, bins=edges)
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=PALETTE[0],
           edgecolor="white", linewidth=0.5)
    if not log and high - low < 4:
        ax.set_xlim(low - 2.5, high + 2.5)
    whole_numbers(ax.xaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(unit)
    ax.set_title(title)
    data = pd.DataFrame({"from": np.ceil(edges[:-1]).astype(np.int64),
                         "to": np.floor(edges[1:]).astype(np.int64), unit: counts})
    data = data[data[unit] > 0].reset_index(drop=True)
    median = float(np.median(values))
    alt = (f"{title}: {len(values):,} {unit}, median {median:g}, from {low:,} to {high:,}; "
           f"the most common is {int(data.loc[data[unit].idxmax(), 'from']):,}.")
    return Chart(key, title, alt, data, figure)


def confidence_histogram(confidence: np.ndarray, codes: np.ndarray,
                         classes: Sequence[str]) -> Chart:
    """Items by the confidence of their consensus, stacked by consensus class."""
    k = len(classes)
    low = np.floor(10.0 / k) / 10.0
    edges = np.linspace(low, 1.0, int(round((1.0 - low) / 0.025)) + 1)
    figure, ax = new_figure(2.8)
    bottom = np.zeros(len(edges) - 1)
    data = pd.DataFrame({"from": edges[:-1], "to": edges[1:]})
    for code, name in enumerate(classes):
        counts, _ = np.histogram(np.clip(confidence[codes == code], low, 1.0), bins=edges)
        ax.bar(edges[:-1], counts, width=np.diff(edges), bottom=bottom, align="edge",
               color=PALETTE[code % len(PALETTE)], edgecolor="white", linewidth=0.4,
               label=plain(name))
        bottom += counts
        data[str(name)] = counts
    ax.set_xlim(low, 1.0)
    ax.set_xlabel("confidence of the consensus label")
    ax.set_ylabel("items")
    title = "Confidence by consensus class"
    ax.set_title(title)
    if k <= 12:
        ax.legend(title="consensus", ncols=min(k, 6), loc="upper left")
    sure = float((confidence >= 0.9).mean())
    by_class = "; ".join(
        f"{name} {float((confidence[codes == c] >= 0.9).mean()) if (codes == c).any() else 0:.0%}"
        for c, name in enumerate(classes))
    alt = (f"{title}: {sure:.0%} of {len(confidence):,} items have a confidence of 0.9 or "
           f"more; by class: {by_class}.")
    return Chart("confidence", title, alt, data, figure)


def class_shares(classes: Sequence[str], columns: dict[str, np.ndarray], *, key: str,
                 title: str, xlabel: str = "share") -> Chart:
    """Grouped horizontal bars: one group per class, one bar per named share."""
    k, m = len(classes), len(columns)
    figure, ax = new_figure(1.2 + 0.28 * k * m)
    height = 0.8 / m
    positions = np.arange(k)
    for j, (name, values) in enumerate(columns.items()):
        ax.barh(positions + (j - (m - 1) / 2) * height, values, height=height * 0.92,
                color=PALETTE[j], label=name, edgecolor="white", linewidth=0.4)
    ax.set_yticks(positions, [plain(c) for c in classes])
    ax.invert_yaxis()
    ax.set_xlim(0, min(1.0, max(float(np.max(v)) for v in columns.values()) * 1.15 + 0.02))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="y", visible=False)
    legend_below(figure, m)
    data = pd.DataFrame({"class": [str(c) for c in classes], **columns})
    parts = "; ".join(
        f"{row['class']}: " + ", ".join(f"{name} {row[name]:.1%}" for name in columns)
        for row in data.to_dict("records"))
    return Chart(key, title, f"{title}. {parts}.", data, figure)


#: How annotator groups are drawn in every chart: colour and marker.
GROUP_STYLE = {"ok": (PALETTE[0], "o"), "chance": (PALETTE[5], "s"), "below": (PALETTE[1], "^"),
               "few": ("#b0b0b0", "D")}


def interval_plot(key: str, title: str, names: Sequence[str], estimate: np.ndarray,
                  low: np.ndarray, high: np.ndarray, *, xlabel: str,
                  group: np.ndarray | None = None, groups: dict[str, str] | None = None,
                  references: dict[str, float] | None = None,
                  xlim: tuple[float, float] | None = None) -> Chart:
    """A forest plot: one row per name, its estimate and interval, in the order given;
    rows coloured by ``group`` (keys of ``groups`` and :data:`GROUP_STYLE`) when given."""
    n = len(names)
    group = np.full(n, "ok", dtype=object) if group is None else np.asarray(group)
    groups = groups or {"ok": "estimate"}
    figure, ax = new_figure(1.3 + 0.19 * max(n, 3))
    rows = np.arange(n)
    for name, label in groups.items():
        mask = group == name
        if mask.any():
            colour, marker = GROUP_STYLE[name]
            # The interval drawn as a line of its own: a bias-corrected interval need
            # not hold the estimate (errorbar's whiskers could not draw that).
            ax.hlines(rows[mask], low[mask], high[mask], color=colour, linewidth=1.2)
            ax.plot(estimate[mask], rows[mask], linestyle="none", marker=marker, color=colour,
                    markersize=4, label=f"{label} ({int(mask.sum())})" if len(groups) > 1
                    else label)
    for j, (label, value) in enumerate((references or {}).items()):
        ax.axvline(value, color=GREY, linestyle=("--", ":", "-.")[j % 3], linewidth=0.9,
                   label=label)
    ax.set_yticks(rows, [plain(name) for name in names])
    ax.tick_params(axis="y", labelsize=7 if n > 30 else 8)
    ax.set_ylim(n - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    if references or len(groups) > 1:
        legend_below(figure, 2)
    data = pd.DataFrame({"name": [str(x) for x in names], "estimate": estimate,
                         "ci_low": low, "ci_high": high})
    if len(groups) > 1:
        data["group"] = [groups[g] for g in group]
    shown = data.head(3)
    first = "; ".join(f"{r.name} {_text(r.estimate)} [{_text(r.ci_low)}, {_text(r.ci_high)}]"
                      for r in shown.itertuples())
    alt = f"{title}: {n} rows; first {first}"
    if len(groups) > 1:
        alt += "; " + ", ".join(f"{int((group == g).sum())} {label}"
                                for g, label in groups.items())
    return Chart(key, title, alt + ".", data, figure)


def volume_accuracy(names: np.ndarray, n_votes: np.ndarray, accuracy: np.ndarray,
                    low: np.ndarray, high: np.ndarray, group: np.ndarray,
                    groups: dict[str, str], chance: float, *, label_top: int = 4) -> Chart:
    """Annotators' votes against accuracy, drawn by ``group`` (keys of ``groups``, whose
    values are the legend's words, and of :data:`GROUP_STYLE`); the busiest annotators
    at chance level or reliably below the median are named."""
    figure, ax = new_figure(3.9)
    x = np.maximum(n_votes, 1)
    many = len(x) > 2_000
    for name, label in groups.items():
        mask = group == name
        if not mask.any():
            continue
        colour, marker = GROUP_STYLE[name]
        if name != "few":  # their intervals span nearly everything and say nothing
            ax.errorbar(x[mask], accuracy[mask], yerr=[accuracy[mask] - low[mask],
                                                       high[mask] - accuracy[mask]],
                        fmt="none", ecolor=colour, elinewidth=0.6, alpha=0.45,
                        rasterized=many)
        ax.scatter(x[mask], accuracy[mask], s=16 if name in ("ok", "few") else 30,
                   color=colour, marker=marker,
                   label=f"{label} ({int(mask.sum()):,})", zorder=3, rasterized=many,
                   edgecolors="white", linewidths=0.3)
        if name in ("chance", "below"):
            for i in np.flatnonzero(mask)[np.argsort(-x[mask], kind="stable")][:label_top]:
                ax.annotate(plain(names[i]), (x[i], accuracy[i]), xytext=(4, -3),
                            textcoords="offset points", fontsize=6.5, color=GREY)
    ax.axhline(chance, color=GREY, linestyle="--", linewidth=0.9,
               label=f"always the most common class ({chance:.2f})")
    spread = float(x.max() / x.min()) if len(x) else 1.0
    if spread > 20:
        ax.set_xscale("log")
    floor = min(chance, float(np.nanmin(accuracy)) if len(accuracy) else chance)
    ax.set_ylim(max(0.0, floor - 0.15), 1.02)
    ax.set_xlabel("votes" + (" (log scale)" if spread > 20 else ""))
    ax.set_ylabel("estimated accuracy")
    title = "Volume against accuracy"
    ax.set_title(title)
    whole_numbers(ax.xaxis)
    legend_below(figure, 2)
    data = pd.DataFrame({"annotator": names.astype(str), "votes": n_votes,
                         "accuracy": accuracy, "ci_low": low, "ci_high": high,
                         "group": [groups[g] for g in group]})
    counts = ", ".join(f"{int((group == g).sum()):,} {label}" for g, label in groups.items())
    heavy = int(np.argmax(n_votes)) if len(n_votes) else 0
    alt = (f"{title}: {len(names):,} annotators ({counts}); the busiest, {names[heavy]}, has "
           f"{int(n_votes[heavy]):,} votes at accuracy {_text(float(accuracy[heavy]))}.")
    return Chart("volume-accuracy", title, alt, data, figure)


def heatmaps(key: str, title: str, panels: list[tuple[str, str, np.ndarray]],
             classes: Sequence[str]) -> Chart:
    """Confusion matrices side by side (true class in rows, given label in columns); each
    panel is ``(name, detail, matrix)``."""
    k, m = len(classes), len(panels)
    per_row = min(m, 4)
    n_rows = (m + per_row - 1) // per_row
    size = 1.5 + 0.12 * min(k, 12)
    figure, axes = new_figure(1.1 + size * n_rows, width=1.0 + size * per_row, squeeze=False,
                              nrows=n_rows, ncols=per_row, sharey=True)
    image = None
    names = [str(c) for c in classes]
    for index, ax in enumerate(axes.ravel()):
        if index >= m:
            ax.set_visible(False)
            continue
        name, detail, matrix = panels[index]
        image = ax.imshow(matrix, cmap=SEQUENTIAL, vmin=0.0, vmax=1.0)
        lines = textwrap.wrap(name, 24) + textwrap.wrap(detail, 26)
        ax.set_title(plain("\n".join(lines)), fontsize=7.5)
        ax.grid(False)
        ax.set_xticks(range(k), [plain(n) for n in names], rotation=90 if k > 4 else 0,
                      fontsize=7)
        ax.set_yticks(range(k), [plain(n) for n in names], fontsize=7)
        ax.set_xlabel("given", fontsize=7)
        if index % per_row == 0:
            ax.set_ylabel("true", fontsize=7)
        if k <= ANNOTATED_CLASSES:
            for t in range(k):
                for g in range(k):
                    value = float(matrix[t, g])
                    ax.text(g, t, f"{value:.2f}".removeprefix("0"), ha="center",
                            va="center", fontsize=6.5 if k > 4 else 7.5,
                            color="black" if value > 0.55 else "white")
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.8, label="probability")
    figure.suptitle(title, fontsize=10)
    labelled = [(f"{name} ({detail})" if detail else name, matrix)
                for name, detail, matrix in panels]
    rows = [(label, names[t], names[g], float(matrix[t, g]))
            for label, matrix in labelled for t in range(k) for g in range(k)]
    data = pd.DataFrame(rows, columns=["matrix", "true", "given", "probability"])
    parts = []
    for label, matrix in labelled:
        off = matrix.copy()
        np.fill_diagonal(off, -1.0)
        t, g = divmod(int(np.argmax(off)), k)
        parts.append(f"{label}: diagonal {', '.join(f'{v:.2f}' for v in np.diag(matrix))}, "
                     f"worst {names[t]} → {names[g]} {matrix[t, g]:.2f}")
    return Chart(key, title, f"{title}. " + "; ".join(parts) + ".", data, figure)


def reliability(before: pd.DataFrame, after: pd.DataFrame, *, ece_before: float,
                ece_after: float, n_gold: int) -> Chart:
    """Accuracy against confidence per bin, before and after calibration."""
    figure, ax = new_figure(3.6, width=4.6)
    ax.plot([0, 1], [0, 1], color=GREY, linestyle="--", linewidth=0.9, label="perfect")
    for j, (table, label) in enumerate(((before, f"model (ECE {ece_before:.3f})"),
                                        (after, f"calibrated (ECE {ece_after:.3f})"))):
        used = table["items"] > 0
        ax.plot(table["mean_confidence"][used], table["accuracy"][used], marker=MARKERS[j],
                color=PALETTE[j], linestyle=("-", "-.")[j], label=label, markersize=5)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy on held-out gold items")
    title = f"Reliability on {n_gold:,} gold items"
    ax.set_title(title)
    ax.legend(loc="upper left")
    data = pd.concat([before.assign(stage="before"), after.assign(stage="after")],
                     ignore_index=True)
    alt = (f"{title}: expected calibration error {ece_before:.3f} before calibration and "
           f"{ece_after:.3f} after; points under the diagonal are overconfident.")
    return Chart("reliability", title, alt, data, figure)


def budget_curve(by_k: pd.DataFrame, *, target: float, recommended: int | None,
                 cost_per_label: float) -> Chart:
    """Expected accuracy by annotators per item with its band, the target, the chosen k,
    and a second axis in cost per item."""
    from matplotlib.ticker import PercentFormatter

    figure, ax = new_figure(3.8)
    k = by_k["k"].to_numpy()
    ax.fill_between(k, by_k["ci_low"], by_k["ci_high"], color=PALETTE[4], alpha=0.35,
                    linewidth=0, label="95% interval")
    measured = (by_k["method"] == "measured on gold").to_numpy()
    ax.plot(k, by_k["expected_accuracy"], color=PALETTE[0], linewidth=1.6)
    ax.plot(k[~measured], by_k["expected_accuracy"][~measured], "o", color=PALETTE[0],
            markersize=4, label="predicted")
    if measured.any():
        ax.plot(k[measured], by_k["expected_accuracy"][measured], "s", color=PALETTE[5],
                markersize=5, label="measured on gold")
    ax.axhline(target, color=GREY, linestyle="--", linewidth=0.9,
               label=f"target {target:.1%}")
    if recommended is not None:
        row = by_k.set_index("k").loc[recommended]
        ax.axvline(recommended, color=PALETTE[2], linestyle=":", linewidth=1.2,
                   label=f"recommended k = {recommended}")
        ax.annotate(f"{row.expected_accuracy:.1%}", (recommended, row.expected_accuracy),
                    xytext=(6, -12), textcoords="offset points", fontsize=8, color=PALETTE[2])
    ax.set_xticks(k)
    ax.set_xlabel("annotators per item (k)")
    ax.set_ylabel("expected accuracy of the consensus")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    if cost_per_label > 0:
        top = ax.secondary_xaxis("top", functions=(lambda v: v * cost_per_label,
                                                   lambda v: v / cost_per_label))
        top.set_xticks(k * cost_per_label, [f"{c:,.2f}" for c in k * cost_per_label])
        top.set_xlabel("cost per item")
    legend_below(figure, 3)
    title = "Expected accuracy by annotators per item"
    data = by_k[["k", "expected_accuracy", "ci_low", "ci_high", "cost_per_item", "method"]]
    if recommended is not None:
        row = by_k.set_index("k").loc[recommended]
        verdict = (f"{recommended} annotators per item reach {row.expected_accuracy:.1%} "
                   f"at {row.cost_per_item:,.2f} per item")
    else:
        verdict = f"the target {target:.1%} is not reached within {int(k.max())} annotators"
    first, last = by_k.iloc[0], by_k.iloc[-1]
    alt = (f"{title}: from {first.expected_accuracy:.1%} with 1 to {last.expected_accuracy:.1%} "
           f"with {int(last.k)}; {verdict}.")
    return Chart("budget", title, alt, data.reset_index(drop=True), figure)
