"""Annotation tools in and out: Label Studio, Argilla, Mechanical Turk, SageMaker Ground Truth."""

from __future__ import annotations

import os

from .source import Origin, SourceVotes

__all__ = ["Origin", "SourceVotes", "read_source"]


def read_source(path: str | os.PathLike[str], shape: str, *, control: str | None = None,
                question: str | None = None, item_column: str | None = None,
                label_column: str | None = None, gold_from_source: bool = False) -> SourceVotes:
    """Read one tool's export into tidy votes; ``shape`` names the tool (see ``detect``)."""
    if shape == "label-studio":
        from .label_studio import read_label_studio

        return read_label_studio(path, control=control, gold_from_source=gold_from_source)
    if shape == "argilla":
        from .argilla import read_argilla

        return read_argilla(path, question=question)
    if shape == "mturk":
        from .mturk import read_mturk

        return read_mturk(path, item_column=item_column, label_column=label_column)
    if shape == "sagemaker":
        from .sagemaker import read_sagemaker

        return read_sagemaker(path)
    raise ValueError(f"not a tool's export: {shape!r}")
