"""A node's ledger in PostgreSQL, for administrations that run it: ``PostgresStore`` (``store``)
over the SQLite store's table families (``dialect`` translates their SQL), its own ``schema``
and ``connection`` (durable commits, a reader per thread, the one writer's advisory lock)."""

from node.store.postgres.connection import WriterTaken
from node.store.postgres.store import PostgresStore, redacted

__all__ = ["PostgresStore", "WriterTaken", "redacted"]
