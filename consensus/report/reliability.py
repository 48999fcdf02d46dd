"""Reliability diagrams: a calibration report drawn as characters or as a PNG."""

from __future__ import annotations

import pandas as pd

from ..data.writers import atomic_path
from ..exceptions import InputError
from ..quality.calibration import CalibrationReport


def text_diagram(table: pd.DataFrame, width: int = 40) -> str:
    """A reliability diagram in characters: accuracy bar per bin, '|' at mean confidence."""
    lines = ["accuracy per confidence bin ('#' accuracy, '|' mean confidence)"]
    for row in table.itertuples():
        if row.items == 0:
            lines.append(f"{row.bin_low:.1f}–{row.bin_high:.1f} {'':{width}}  (no items)")
            continue
        bar = ["#"] * int(round(row.accuracy * width)) + [" "] * width
        bar = bar[:width]
        mark = min(int(round(row.mean_confidence * width)), width - 1)
        bar[mark] = "|"
        lines.append(f"{row.bin_low:.1f}–{row.bin_high:.1f} {''.join(bar)}  n={row.items}")
    return "\n".join(lines)


def plot_reliability(report: CalibrationReport, path: str) -> None:
    """Write a reliability diagram (before and after) as a PNG; needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError(
            "drawing the reliability diagram needs matplotlib: pip install 'consensus[plot]'"
        ) from exc
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for table, name in ((report.before, f"model (ECE {report.ece_before:.3f})"),
                        (report.after, f"calibrated (ECE {report.ece_after:.3f})")):
        used = table["items"] > 0
        ax.plot(table["mean_confidence"][used], table["accuracy"][used], marker="o", label=name)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy on held-out gold items")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"Reliability on {report.n_gold:,} gold items")
    ax.legend(loc="upper left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
