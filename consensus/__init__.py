"""consensus: multi-annotator consensus and reliability.

Votes go in as a :class:`VoteMatrix`; models share one scikit-learn-like interface.
"""

from .agreement import AgreementResult, agreement_report
from .exceptions import (
    ConsensusError,
    ConvergenceWarning,
    InputError,
    InputWarning,
    NotFittedError,
)
from .gold import GoldSet, read_gold
from .io import read_table, read_votes, write_table
from .models import DawidSkene, MajorityVote, OneCoinDawidSkene, PooledDawidSkene
from .pipeline import aggregate
from .scoring import score_annotators
from .vetting import vet
from .votes import VoteMatrix

__version__ = "0.1.0"

__all__ = [
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
    "read_gold",
    "read_table",
    "read_votes",
    "score_annotators",
    "vet",
    "write_table",
]
