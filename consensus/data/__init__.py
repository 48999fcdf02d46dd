"""Votes in and tables out: the VoteMatrix, golden sets, readers, writers."""

from .gold import GoldSet, gold_per_item, read_gold
from .readers import read_table, read_votes
from .votes import VoteMatrix
from .writers import atomic_path, write_table

__all__ = [
    "GoldSet",
    "VoteMatrix",
    "atomic_path",
    "gold_per_item",
    "read_gold",
    "read_table",
    "read_votes",
    "write_table",
]
