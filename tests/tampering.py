"""Changing a node's database as an insider covering their tracks would: the append-only
triggers dropped, the change made, the triggers created again exactly as they were (so the
schema check alone cannot give it away)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

Edit = Callable[[sqlite3.Connection], object]


def covertly(path: Path, edit: Edit) -> None:
    """Apply ``edit`` to the database at ``path`` with its triggers out of the way."""
    conn = sqlite3.connect(path)
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    edit(conn)
    for _, statement in triggers:
        conn.execute(statement)
    conn.commit()
    conn.close()
