"""consensus: multi-annotator consensus and reliability.

Votes go in as a :class:`VoteMatrix`; models share one scikit-learn-like
interface. Names load on first use, so ``import consensus`` is instant and
pays only for what a program touches.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> module that defines it.
_HOMES = {
    "AgreementReport": "agreement",
    "AgreementResult": "agreement",
    "agreement_report": "agreement",
    "ConsensusError": "exceptions",
    "ConvergenceWarning": "exceptions",
    "InputError": "exceptions",
    "InputWarning": "exceptions",
    "NotFittedError": "exceptions",
    "GoldSet": "data",
    "VoteMatrix": "data",
    "read_gold": "data",
    "read_table": "data",
    "read_votes": "data",
    "write_table": "data",
    "DawidSkene": "models",
    "MajorityVote": "models",
    "OneCoinDawidSkene": "models",
    "PooledDawidSkene": "models",
    "score_annotators": "quality.scoring",
    "vet": "quality.vetting",
    "AggregateResult": "workflows",
    "aggregate": "workflows",
    "check_calibration": "workflows",
}

__all__ = [
    "AggregateResult",
    "AgreementReport",
    "AgreementResult",
    "ConsensusError",
    "ConvergenceWarning",
    "DawidSkene",
    "GoldSet",
    "InputError",
    "InputWarning",
    "MajorityVote",
    "NotFittedError",
    "OneCoinDawidSkene",
    "PooledDawidSkene",
    "VoteMatrix",
    "aggregate",
    "agreement_report",
    "check_calibration",
    "read_gold",
    "read_table",
    "read_votes",
    "score_annotators",
    "vet",
    "write_table",
]

if TYPE_CHECKING:
    from .agreement import AgreementReport, AgreementResult, agreement_report
    from .data import GoldSet, VoteMatrix, read_gold, read_table, read_votes, write_table
    from .exceptions import (
        ConsensusError,
        ConvergenceWarning,
        InputError,
        InputWarning,
        NotFittedError,
    )
    from .models import DawidSkene, MajorityVote, OneCoinDawidSkene, PooledDawidSkene
    from .quality.scoring import score_annotators
    from .quality.vetting import vet
    from .workflows import AggregateResult, aggregate, check_calibration


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
