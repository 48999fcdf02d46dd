"""What every annotation-tool reader returns: tidy votes plus what the tool said about them.

A reader turns one tool's export into the long table every other part of the
engine reads (``item, annotator, label`` as text), keeps per-vote extras the
tool records (time spent, timestamps), counts what it dropped and why, and
keeps what a writer needs to send a queue back to the same project (the tasks'
own data, the name of the labelling control or question).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..votes import VOTE_EXTRAS  # the extra per-vote columns a reader may add

__all__ = ["VOTE_EXTRAS", "Origin", "SourceVotes"]


@dataclass(frozen=True)
class SourceVotes:
    """Votes read from an annotation tool's export, before they are coded.

    Attributes
    ----------
    frame : DataFrame
        One row per vote: ``item, annotator, label`` as text (str, never NaN),
        then any of :data:`VOTE_EXTRAS` the source carries (``seconds`` float,
        ``created_at`` text as the tool wrote it). Rows in the file's order.
    tool : str
        The format read: ``label-studio``, ``argilla``, ``mturk``, ``sagemaker``.
    dropped : dict of str to int
        Why annotations were not taken as votes, and how many: for example
        ``{"cancelled": 3}``, ``{"rejected": 2}``, ``{"draft": 1, "discarded": 4}``.
    gold : DataFrame or None
        ``item, label`` the tool itself marks as known answers (Label Studio's
        ``ground_truth`` annotations), used only when the user asks for it.
    tasks : dict or None
        Item id (text) -> the task's own data as the tool holds it (Label
        Studio's ``data``, Argilla's ``fields``), so a queue sent back shows the
        reviewer the same content.
    control : dict or None
        What a writer needs to address the same labelling control: for Label
        Studio ``{"from_name", "to_name", "type"}``, for Argilla ``{"question"}``.
    """

    frame: pd.DataFrame
    tool: str
    dropped: dict[str, int] = field(default_factory=dict)
    gold: pd.DataFrame | None = None
    tasks: dict[str, Any] | None = None
    control: dict[str, Any] | None = None

    @property
    def n_votes(self) -> int:
        return int(len(self.frame))

    def origin(self, path: str) -> Origin:
        """What the votes' matrix keeps of its source once the table is coded."""
        return Origin(self.tool, str(path), dict(self.dropped), self.gold, self.tasks,
                      self.control)


@dataclass(frozen=True)
class Origin:
    """Where a VoteMatrix came from, when that was an annotation tool's export.

    Writers read it to send a queue back to the same project (the tasks' data,
    the control or question); summaries read ``dropped``.
    """

    tool: str
    path: str
    dropped: dict[str, int] = field(default_factory=dict)
    gold: pd.DataFrame | None = None
    tasks: dict[str, Any] | None = None
    control: dict[str, Any] | None = None

    def dropped_text(self) -> str:
        """``3 cancelled, 1 no answer`` or empty."""
        return ", ".join(f"{n} {why}" for why, n in self.dropped.items() if n)
