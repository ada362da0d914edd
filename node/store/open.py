"""Which store holds a node's ledger: ``open_store`` is the one place that chooses.

``database_url`` unset (None): the SQLite file at the home's ``db_path``, the embedded default.
A ``postgresql://`` URL (``MRA_DATABASE_URL``, node.host.settings): that PostgreSQL database,
the home still keeping the API keys' HMAC key beside where the file would be.

``mra init``, ``mra network init`` and ``mra network join`` write the members' first keys into
the home's SQLite file. An empty PostgreSQL database adopts them on first open; one whose file
already holds entries is refused (``StorageFailed``): signing again from seq 0 in an empty
database would fork it; ``mra ledger move-to-postgres`` (node.store.transfer) moves it whole.
"""

from __future__ import annotations

from pathlib import Path

from node.core.errors import StorageFailed
from node.store.postgres import PostgresStore
from node.store.sqlite import SqliteStore

__all__ = ["NodeStore", "open_store"]

NodeStore = SqliteStore | PostgresStore


def open_store(
    db_path: Path,
    database_url: str | None,
    *,
    durable: bool = True,
    owner_url: str | None = None,
) -> NodeStore:
    """The node's store: PostgreSQL at ``database_url`` when given, else SQLite at ``db_path``
    (``durable=False``: the access log's writer, see ``SqliteStore.open``; PostgreSQL commits
    are always synchronous; ``owner_url``: ``MRA_DATABASE_OWNER_URL``, for what only the
    tables' owner may do). Raises StorageFailed."""
    if database_url is None:
        return SqliteStore.open(db_path, durable=durable)
    store = PostgresStore.open(database_url, db_path, owner_url=owner_url)
    try:
        if db_path.exists() and not store.origins():
            _adopt_keys(db_path, store)
    except BaseException:
        store.close()
        raise
    return store


def _adopt_keys(db_path: Path, store: PostgresStore) -> None:
    """Copy the keys of the home's SQLite file into ``store`` (empty). Raises StorageFailed
    when the file holds entries."""
    held = SqliteStore.open_read_only(db_path)
    try:
        sizes = {origin: held.size(origin) for origin in held.origins()}
        if any(sizes.values()):
            logs = ", ".join(f"{o} ({n} entries)" for o, n in sorted(sizes.items()) if n)
            raise StorageFailed(
                f"{db_path} already holds logs ({logs}) and the PostgreSQL database is empty:"
                " starting an empty log would sign their seqs again (a fork); move the ledger"
                " there first, with the node stopped: 'mra ledger move-to-postgres'"
            )
        for origin in sizes:
            for since, key in held.keys(origin):
                store.add_key(origin, since, key)
    finally:
        held.close()
