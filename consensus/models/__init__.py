"""Aggregation models, one family per module, all with the same interface."""

import inspect

from ..exceptions import InputError
from .base import Aggregator, EMAggregator
from .dawid_skene import DawidSkene, OneCoinDawidSkene
from .majority import MajorityVote
from .pooled import PooledDawidSkene

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "Aggregator",
    "DawidSkene",
    "EMAggregator",
    "MajorityVote",
    "OneCoinDawidSkene",
    "PooledDawidSkene",
    "make_model",
]

#: The model ``consensus aggregate`` and :func:`consensus.aggregate` use unless told otherwise:
#: on 20 real datasets it is never more than 0.3 points below plain Dawid–Skene, and in
#: sparse crowds it closes most of plain DS's gap to the Bayes-optimal accuracy.
DEFAULT_METHOD = "pooled"

#: The names ``--method`` accepts, mapped to their model classes.
METHODS = {
    "pooled": PooledDawidSkene,
    "ds": DawidSkene,
    "one-coin": OneCoinDawidSkene,
    "mv": MajorityVote,
}


def make_model(method: str, **params: object) -> Aggregator:
    """Build the model a method name stands for, passing only the options it takes."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    cls = METHODS[method]
    accepted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in params.items() if k in accepted and v is not None})
