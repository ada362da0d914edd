"""The access log's file of its own, beside the ledger's: ``ledger.db`` keeps its access log in
``ledger.access.db``.

Every read served adds an access-log row, and the rows are committed every 50 ms. In the
ledger's file those commits reset what the readers of the ledger had read (their page cache,
the key check's memory), and a memory map of the file lost more than it won beside them (issue
26). In a file of its own they leave the ledger's file unchanged between publishes. Both files
are written by the same store (``SqliteStore``); no transaction spans the two, and none needs
to: an access row names what was read, it is not part of what the ledger holds. The access
log's anchors in the own log (``node.ledger.access_anchor``) tie the two together, and
verification checks them.

A file of schema 6 to 10 held the access log in the ledger's file: ``take_rows_of`` copies its
rows here before migration ``ACCESS_MOVED`` drops the table there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from node.core.access import ACCESS_FIELDS
from node.core.errors import StorageFailed
from node.store.sqlite.access_index import index_behind
from node.store.sqlite.connection import (
    Connection,
    SqliteConnection,
    connect,
    connect_read_only,
)
from node.store.sqlite.schema import ACCESS_MIGRATIONS

__all__ = ["ACCESS_OBJECTS", "ACCESS_TABLES", "AccessFile", "access_path", "on_access_file"]

ACCESS_TABLES = ("access_log", "access_runs", "access_index")  # the access log's file's
ACCESS_OBJECTS = "access."  # verification names the file's tables, indexes and triggers so

P = ParamSpec("P")
R = TypeVar("R")


def access_path(ledger: Path | str) -> Path:
    """The access log's file beside the ledger's file ``ledger`` (``X.db`` -> ``X.access.db``);
    beside a database in memory, another in memory."""
    if str(ledger) in ("", ":memory:"):
        return Path(":memory:")
    path = Path(ledger)
    return path.with_name(f"{path.stem}.access{path.suffix}")


class AccessFile(SqliteConnection):
    """The access log's file: the ``local`` family's access-log functions run on it."""

    migrations = ACCESS_MIGRATIONS
    reader_map_bytes = 0  # this file takes a commit every 50 ms: beside them, a map loses
    # Rows are appended, and read back only by audits: a small cache does as well here (a
    # flush of 10,000 rows at 1M took 0.29-0.32 s with 4 MiB or 64 MiB), and a large one
    # would only grow with the file, by up to 64 MiB per connection.
    cache_kib = 4096

    @classmethod
    def open(cls, ledger: Path | str, *, durable: bool) -> Self:
        """The access file beside ``ledger``, created and migrated when needed (``durable``:
        see ``SqliteStore.open``). Raises sqlite3.Error, OSError, StorageFailed."""
        path = access_path(ledger)
        db = connect(path, durable=durable, cache_kib=cls.cache_kib)
        file = cls(db, path)
        file.migrate()
        return file

    @classmethod
    def open_read_only(cls, ledger: Path | str) -> Self:
        """The existing access file beside ``ledger``, never written. Raises StorageFailed
        when it is missing or has another schema than this software's."""
        path = access_path(ledger)
        try:
            file = cls(connect_read_only(path), path)
        except sqlite3.Error as exc:
            raise StorageFailed(f"cannot open {path}, the access log's file: {exc}") from exc
        found = file.schema_version
        if found != len(ACCESS_MIGRATIONS):
            file.close()
            raise StorageFailed(f"{path} has schema {found}, not {len(ACCESS_MIGRATIONS)}")
        return file

    def take_rows_of(self, ledger: Path) -> None:
        """Copy here the rows of the access log still held in the ledger's file ``ledger``
        (of schema 6 to 10) that this file does not hold yet: run again after a crash, it
        copies only what the first run did not commit; the rows copied are indexed with them
        (``access_index``)."""
        columns = ", ".join(("seq", *ACCESS_FIELDS, "hash"))
        try:
            self._writer.execute("ATTACH DATABASE ? AS ledger", (str(ledger),))
        except sqlite3.Error as exc:
            raise StorageFailed(f"cannot read the access log of {ledger}: {exc}") from exc
        try:
            with self.transaction():
                self.conn.execute(
                    f"INSERT INTO main.access_log ({columns}) SELECT {columns}"
                    " FROM ledger.access_log WHERE seq >="
                    " (SELECT coalesce(max(seq) + 1, 0) FROM main.access_log) ORDER BY seq"
                )
                index_behind(self)
        finally:
            self._writer.execute("DETACH DATABASE ledger")


def on_access_file(
    family: Callable[Concatenate[Connection, P], R],
) -> Callable[Concatenate[Any, P], R]:
    """A table family's function as a method of a store with an ``access_file``, run there."""

    def method(store: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return family(store.access_file, *args, **kwargs)

    method.__doc__ = family.__doc__
    return method
