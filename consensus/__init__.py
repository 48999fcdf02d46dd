"""consensus: multi-annotator consensus and reliability.

Votes go in as a :class:`VoteMatrix`; models share one scikit-learn-like interface.
"""

from .exceptions import (
    ConsensusError,
    ConvergenceWarning,
    InputError,
    InputWarning,
    NotFittedError,
)
from .io import read_table, read_votes, write_table
from .models import DawidSkene, MajorityVote, OneCoinDawidSkene
from .votes import VoteMatrix

__version__ = "0.1.0"

__all__ = [
    "ConsensusError",
    "ConvergenceWarning",
    "DawidSkene",
    "InputError",
    "InputWarning",
    "MajorityVote",
    "NotFittedError",
    "OneCoinDawidSkene",
    "VoteMatrix",
    "read_table",
    "read_votes",
    "write_table",
]
