"""Which store holds a node's ledger: ``open_store`` is the one place that chooses.

``database_url`` unset (None): the SQLite file at the home's ``db_path``, the embedded default.
A ``postgresql://`` URL (``MRA_DATABASE_URL``, node.host.settings): that PostgreSQL database,
the home still keeping the API keys' HMAC key beside where the file would be.
"""

from __future__ import annotations

from pathlib import Path

from node.store.postgres import PostgresStore
from node.store.sqlite import SqliteStore

__all__ = ["NodeStore", "open_store"]

NodeStore = SqliteStore | PostgresStore


def open_store(db_path: Path, database_url: str | None, *, durable: bool = True) -> NodeStore:
    """The node's store: PostgreSQL at ``database_url`` when given, else SQLite at ``db_path``
    (``durable=False``: the access log's writer, see ``SqliteStore.open``; PostgreSQL commits
    are always synchronous). Raises StorageFailed."""
    if database_url is not None:
        return PostgresStore.open(database_url, db_path)
    return SqliteStore.open(db_path, durable=durable)
