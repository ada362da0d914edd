"""Names every reader of an origin's log shares: the log's name, and a seq past any log's end."""

from __future__ import annotations

__all__ = ["LATEST", "log_name"]

LATEST = 2**53  # a seq past any log's end: the key in force now


def log_name(origin: str) -> str:
    """The C2SP checkpoint origin line and key name of an origin's log."""
    return f"mra-ledger/{origin}"
