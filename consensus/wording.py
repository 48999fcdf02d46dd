"""How messages name things: counts, rows of a file, and the options that fix a problem.

Library messages name Python parameters (``on_missing="drop"``); the command line
rewrites exactly these spellings into its flags (``--on-missing drop``), so
both audiences are told what they can actually type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def plural(count: int, noun: str) -> str:
    """``1 vote``, ``2 votes``, ``1,000 items``: the count with thousands separators."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def describe_rows(positions: np.ndarray, first_line: int | None) -> str:
    """Name at most five offending rows, as file lines when the file is known."""
    shown = ", ".join(
        str(int(p) + first_line) if first_line is not None else str(int(p)) for p in positions[:5]
    )
    more = f" and {len(positions) - 5} more" if len(positions) > 5 else ""
    word = "line" if first_line is not None else "row"
    return f"{word}{'s' if len(positions) > 1 else ''} {shown}{more}"


def option(name: str, *values: str) -> str:
    """A parameter as a message names it: ``on_missing="drop"``, ``duplicates="first"
    or "last"``, or ``labels=...`` when the value is the user's to choose."""
    if not values:
        return f"{name}=..."
    quoted = [f'"{v}"' for v in values]
    choice = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"{name}={choice}"


_OPTION = re.compile(r'\b([a-z_]+)=(\.\.\.|"[^"]*"(?:(?:, | or )"[^"]*")*)')


def options_as_flags(message: str, flags: Mapping[str, tuple[str, str]]) -> str:
    """Rewrite every :func:`option` spelling whose name is in ``flags`` as a command-line flag.

    ``flags`` maps a parameter to ``(flag, metavar)``: ``{"on_missing": ("--on-missing",
    "MODE")}`` turns ``on_missing="drop"`` into ``--on-missing drop`` and ``on_missing=...``
    into ``--on-missing MODE``.
    """

    def rewrite(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        if name not in flags:
            return match.group(0)
        flag, metavar = flags[name]
        return f"{flag} {metavar if value == '...' else value.replace(chr(34), '')}"

    return _OPTION.sub(rewrite, message)
