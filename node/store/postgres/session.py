"""One session of a PostgreSQL-backed store: ``connect`` opens it with the durability every
session needs, ``Session`` runs the table families' SQLite statements on it (translated by
``node.store.postgres.dialect``) and replaces it when it breaks, and ``storage_error`` makes
psycopg's errors ours."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from node.core.errors import StorageFailed, StorageFull
from node.store.postgres.dialect import ROWS_PER_INSERT, rows_insert, translate

__all__ = ["Session", "connect", "storage_error"]

_T = TypeVar("_T")


def connect(url: str, *, read_only: bool = False) -> psycopg.Connection[Any]:
    """A session on ``url`` with ``synchronous_commit=on`` (autocommit: transactions are
    opened explicitly). Raises psycopg.Error.

    A read-only session asks a multi-host URL's ``target_session_attrs=read-write`` as
    ``primary``: libpq judges "read-write" by ``default_transaction_read_only``, which such a
    session sets itself, so no host would qualify; "primary" picks the same server."""
    options = "-c synchronous_commit=on" + (" -c default_transaction_read_only=on" * read_only)
    if read_only and conninfo_to_dict(url).get("target_session_attrs") == "read-write":
        url = make_conninfo(url, target_session_attrs="primary")
    return psycopg.connect(url, autocommit=True, options=options)


class Session:
    """A session on ``url`` that takes the table families' SQLite statements; its errors are
    ours (StorageFailed, StorageFull) by the time they leave. ``retry``: a statement whose
    session turns out broken is run once more on a new one (readers: a read changes nothing)."""

    def __init__(self, url: str, *, read_only: bool, retry: bool) -> None:
        self.url = url
        self.read_only = read_only
        self.retry = retry
        self.raw = self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return connect(self.url, read_only=self.read_only)
        except psycopg.Error as exc:
            raise storage_error("cannot connect to the database", exc) from exc

    def reconnect(self) -> None:
        """Replace the session with a new one (the old one's locks went with it). Raises
        StorageFailed when no server accepts it."""
        with contextlib.suppress(psycopg.Error):
            self.raw.close()
        self.raw = self._connect()

    def _run(self, run: Callable[[psycopg.Connection[Any]], _T]) -> _T:
        # The writer's session is replaced by PgConnection only, between transactions: within
        # one, a new session would commit the rest of it statement by statement.
        if self.retry and self.raw.closed:
            self.reconnect()
        try:
            return run(self.raw)
        except psycopg.Error as exc:
            if not (self.retry and self.raw.broken):
                raise storage_error("database error", exc) from exc
        self.reconnect()
        try:
            return run(self.raw)
        except psycopg.Error as exc:
            raise storage_error("database error", exc) from exc

    def execute(self, sql: str, parameters: Any = (), /) -> psycopg.Cursor[Any]:
        return self.native(translate(sql), parameters)

    def native(self, sql: str, parameters: Any = (), /) -> psycopg.Cursor[Any]:
        """Run ``sql`` as written (PostgreSQL's own)."""

        def run(raw: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
            cursor = raw.cursor()
            cursor.execute(sql, tuple(parameters))
            return cursor

        return self._run(run)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> psycopg.Cursor[Any]:
        rows = [tuple(row) for row in parameters]
        statement = translate(sql)
        batched = len(rows) > 1 and rows_insert(statement, 1) is not None

        def run(raw: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
            cursor = raw.cursor()
            if batched:  # an INSERT: ROWS_PER_INSERT rows per statement
                for start in range(0, len(rows), ROWS_PER_INSERT):
                    part = rows[start : start + ROWS_PER_INSERT]
                    cursor.execute(
                        rows_insert(statement, len(part)),  # type: ignore[arg-type]
                        [value for row in part for value in row],
                    )
            elif rows:
                cursor.executemany(statement, rows)
            return cursor

        return self._run(run)

    def dicts(self, sql: str, params: Sequence[object]) -> list[dict[str, Any]]:
        def run(raw: psycopg.Connection[Any]) -> list[dict[str, Any]]:
            cursor = raw.cursor(row_factory=dict_row)
            cursor.execute(translate(sql), tuple(params))
            return cursor.fetchall()

        return self._run(run)


def storage_error(what: str, exc: psycopg.Error) -> StorageFailed:
    if isinstance(exc, pg_errors.DiskFull):
        return StorageFull(f"{what}: {exc} (the database server's disk is full)")
    return StorageFailed(f"{what}: {exc}")
