"""Named errors and warnings, so the CLI can turn each into one clear line."""

from __future__ import annotations


class ConsensusError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(ConsensusError, ValueError):
    """Input data or options that cannot be used; the message says what to change."""


class NotFittedError(ConsensusError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""


class ConsensusWarning(UserWarning):
    """Base class of this package's warnings."""


class InputWarning(ConsensusWarning):
    """Input that was usable after a documented repair (duplicates kept, rows dropped)."""


class ConvergenceWarning(ConsensusWarning):
    """EM stopped at ``max_iter`` before the log-likelihood settled."""
