"""Review queues, reviewers' corrections and leads' verdicts, in an append-only SQLite log."""

from .log import ReviewLog
from .queue import (
    build_queue,
    default_log_path,
    escape_formulas,
    lead_sample_frame,
    queue_fingerprint,
    read_filled,
    unescape_formulas,
    write_queue,
    write_sheet,
)
from .results import ApplyResult, AuditReport

__all__ = [
    "ApplyResult",
    "AuditReport",
    "ReviewLog",
    "build_queue",
    "default_log_path",
    "escape_formulas",
    "lead_sample_frame",
    "queue_fingerprint",
    "read_filled",
    "unescape_formulas",
    "write_queue",
    "write_sheet",
]
