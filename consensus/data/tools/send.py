"""Sending consensus labels and review queues back to the tool the team works in.

One entry point per table kind, so the commands stay thin: ``--to label-studio``
writes tasks to import (the consensus as a read-only prediction), ``--to
argilla`` writes records to log (the consensus as a suggestion). When the votes
came from the same tool, the tasks keep their own data and labelling control.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from ...exceptions import InputError
from ...wording import option
from .source import Origin

#: Values of ``--to``: a plain table, or a tool's import format.
DESTINATIONS = ("table", "label-studio", "argilla")


def model_version(method: str) -> str:
    """``consensus-0.1.0-pooled``: names the engine, its version and the model in the tool."""
    from ... import __version__

    return f"consensus-{__version__}-{method}"


def send(kind: str, frame: pd.DataFrame, path: str | os.PathLike[str] | None, to: str, *,
         origin: Origin | None, method: str, control: str | None = None,
         question: str | None = None) -> None:
    """Write ``frame`` (``labels``: aggregate's items; ``queue``: a review queue) for a tool.

    Parameters
    ----------
    kind : {"labels", "queue"}
    to : {"label-studio", "argilla"}
    origin : Origin, optional
        Where the votes came from: its tasks' data and control are reused when
        it is the same tool.
    control, question : str, optional
        The Label Studio Choices control (``from_name``) or Argilla question the
        suggestion is for, when the votes did not come from that tool.
    """
    if path is None or str(path) == "-":
        raise InputError(f"{option('to', to)} writes a file to import; give the file to write")
    same = origin if origin is not None and origin.tool == to else None
    version = model_version(method)
    if to == "label-studio":
        from . import label_studio as ls

        chosen = _ls_control(same, control)
        make = ls.labels_to_label_studio if kind == "labels" else ls.queue_to_label_studio
        ls.write_label_studio(make(frame, source=same, control=chosen, model_version=version),
                              path)
    elif to == "argilla":
        from . import argilla as rg

        name = question
        if name is None and same is not None and same.control:
            name = same.control.get("question")
        make_records = rg.labels_to_argilla if kind == "labels" else rg.queue_to_argilla
        rg.write_argilla(make_records(frame, source=same, question=name, agent=version), path)
    else:
        raise InputError(f"unknown destination {to!r}; use one of {', '.join(DESTINATIONS)}")


def _ls_control(same: Origin | None, control: str | None) -> dict[str, Any] | None:
    """The Choices control the prediction addresses: the source's, or one named by --control."""
    if same is not None and same.control:
        return dict(same.control)
    if control:
        return {"from_name": control, "to_name": "text", "type": "choices"}
    return None
