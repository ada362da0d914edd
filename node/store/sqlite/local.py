"""What the node keeps for itself beside the ledger: the hash-chained access log, status events
(an outbox written with the change they report) and webhook subscriptions with every delivery
attempt."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from node.core.access import ACCESS_FIELDS, ACCESS_GENESIS, Access, access_hash
from node.store.sqlite.connection import Connection

__all__ = [
    "access_chain",
    "access_hash_at",
    "access_rows",
    "access_size",
    "add_webhook",
    "add_webhook_attempt",
    "append_access",
    "chain_access",
    "events",
    "last_event_id",
    "received_events",
    "remove_webhook",
    "webhook_attempts",
    "webhooks",
]

# -- access log ----------------------------------------------------------------------------------


def append_access(db: Connection, rows: list[Access]) -> None:
    """Append rows to the hash-chained access log in one transaction."""
    with db.transaction():
        chain_access(db, rows)


def chain_access(db: Connection, rows: list[Access]) -> None:
    """Append rows to the hash-chained access log, inside the caller's transaction."""
    last = db.conn.execute("SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, bytes(last[1])) if last else (0, ACCESS_GENESIS)
    chained = []
    first: dict[tuple[str, str, int, str], int] = {}
    for access in rows:
        if access.entry_seq is not None and access.view_hash:
            access = _marked(db, first, seq, access)
        prev = access_hash(prev, seq, access)
        chained.append((seq, *(getattr(access, f) for f in ACCESS_FIELDS), prev))
        seq += 1
    marks = ", ".join("?" * (len(ACCESS_FIELDS) + 2))
    db.conn.executemany(
        f"INSERT INTO access_log (seq, {', '.join(ACCESS_FIELDS)}, hash) VALUES ({marks})",
        chained,
    )


def _marked(
    db: Connection, first: dict[tuple[str, str, int, str], int], seq: int, access: Access
) -> Access:
    """``access`` (row ``seq``, a delivery) with ``repeat_of`` naming the row that first
    delivered the same view of the same entry to the same actor, if one did."""
    assert access.entry_seq is not None
    key = (access.actor, access.entry_origin, access.entry_seq, access.view_hash)
    if key not in first:
        row = db.conn.execute(
            "SELECT seq FROM access_log WHERE actor = ? AND entry_origin = ? AND entry_seq = ?"
            " AND view_hash = ? AND repeat_of IS NULL ORDER BY seq LIMIT 1",
            key,
        ).fetchone()
        if row is None:
            first[key] = seq
            return access
        first[key] = int(row[0])
    return replace(access, repeat_of=first[key])


def access_size(db: Connection) -> int:
    row = db.conn.execute("SELECT max(seq) FROM access_log").fetchone()
    return 0 if row[0] is None else int(row[0]) + 1


def access_hash_at(db: Connection, seq: int) -> bytes | None:
    """The stored chain hash of access row ``seq``, if the row is held."""
    row = db.conn.execute("SELECT hash FROM access_log WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else bytes(row[0])


def access_chain(db: Connection) -> Iterator[tuple[int, Access, bytes]]:
    """Every access row in seq order, with its stored hash."""
    cursor = db.conn.execute(
        f"SELECT seq, {', '.join(ACCESS_FIELDS)}, hash FROM access_log ORDER BY seq"
    )
    for row in cursor:
        yield row[0], Access(**dict(zip(ACCESS_FIELDS, row[1:-1], strict=True))), bytes(row[-1])


def access_rows(
    db: Connection,
    *,
    since: int | None = None,
    until: int | None = None,
    actor: str | None = None,
    aeo_id: str | None = None,
    action: str | None = None,
    entry_seq: int | None = None,
    repeats: bool = True,
    after: int = -1,
    before: int | None = None,
    newest_first: bool = False,
    limit: int = 1000,
    seqs_of: tuple[str, list[object]] | None = None,
) -> list[dict[str, Any]]:
    """A page of access rows (``after < seq < before``; oldest first, or newest first for a
    page back from ``before``) matching every filter given; times are ms since the epoch,
    ``until`` exclusive; ``repeats=False`` leaves out the rows that repeat an earlier
    delivery. ``seqs_of``: a query of the seqs the rows are among, with its arguments (an
    index kept apart from the table: ``node.store.sqlite.access_index``)."""
    where: list[str] = ["seq > ?"] + ([] if repeats else ["repeat_of IS NULL"])
    args: list[object] = [after]
    if seqs_of is not None:
        where.append(f"seq IN ({seqs_of[0]})")
        args.extend(seqs_of[1])
    for clause, value in (
        ("ts >= ?", since),
        ("ts < ?", until),
        ("actor = ?", actor),
        ("aeo_id = ?", aeo_id),
        ("action = ?", action),
        ("entry_seq = ?", entry_seq),
        ("seq < ?", before),
    ):
        if value is not None:
            where.append(clause)
            args.append(value)
    rows = db.dicts(
        f"SELECT seq, {', '.join(ACCESS_FIELDS)}, hash FROM access_log"
        f" WHERE {' AND '.join(where)} ORDER BY seq{' DESC' if newest_first else ''} LIMIT ?",
        [*args, limit],
    )
    return [{**row, "hash": bytes(row["hash"]).hex()} for row in rows]


# -- events and webhooks -------------------------------------------------------------------------


def events(db: Connection, *, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """Status events with id > ``after``, oldest first."""
    return list(
        db.dicts(
            "SELECT id, ts, aeo_id, origin, seq, status, previous, effective FROM events"
            " WHERE id > ? ORDER BY id LIMIT ?",
            [after, limit],
        )
    )


def received_events(
    db: Connection, own: str, *, before: int | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """Status events of records of origins other than ``own`` (changes received from
    partners) with id < ``before`` (all when None), newest first, at most ``limit``."""
    where, args = "origin != ?", list[object]([own])
    if before is not None:
        where += " AND id < ?"
        args.append(before)
    return list(
        db.dicts(
            "SELECT id, ts, aeo_id, origin, seq, status, previous, effective FROM events"
            f" WHERE {where} ORDER BY id DESC LIMIT ?",
            [*args, limit],
        )
    )


def last_event_id(db: Connection) -> int:
    row = db.conn.execute("SELECT max(id) FROM events").fetchone()
    return int(row[0] or 0)


def add_webhook(db: Connection, hook_id: str, url: str, secret: str, ts: int) -> None:
    """Subscribe ``url`` to events from the next one on."""
    with db.transaction():
        db.conn.execute(
            "INSERT INTO webhooks (id, url, secret, created_ts, next_event)"
            " VALUES (?, ?, ?, ?, (SELECT coalesce(max(id), 0) + 1 FROM events))",
            (hook_id, url, secret, ts),
        )


def webhooks(db: Connection, *, with_secrets: bool = False) -> list[dict[str, Any]]:
    columns = "id, url, created_ts, next_event" + (", secret" if with_secrets else "")
    return list(db.dicts(f"SELECT {columns} FROM webhooks WHERE removed = 0 ORDER BY id"))


def remove_webhook(db: Connection, hook_id: str) -> bool:
    with db.transaction():
        cursor = db.conn.execute(
            "UPDATE webhooks SET removed = 1 WHERE id = ? AND removed = 0", (hook_id,)
        )
    return cursor.rowcount > 0


def add_webhook_attempt(
    db: Connection, hook_id: str, event: int, attempt: int, ts: int, status: int | None, error: str
) -> None:
    """Log one delivery attempt; a delivered one moves the hook past its event."""
    delivered = status is not None and 200 <= status < 300
    with db.transaction():
        db.conn.execute(
            "INSERT INTO webhook_attempts (webhook, event, attempt, ts, status, error,"
            " delivered) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (hook_id, event, attempt, ts, status, error, int(delivered)),
        )
        if delivered:
            db.conn.execute(
                "UPDATE webhooks SET next_event = max(next_event, ?) WHERE id = ?",
                (event + 1, hook_id),
            )


def webhook_attempts(db: Connection, hook_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The latest delivery attempts of a hook, newest first."""
    return list(
        db.dicts(
            "SELECT event, attempt, ts, status, error, delivered FROM webhook_attempts"
            " WHERE webhook = ? ORDER BY id DESC LIMIT ?",
            [hook_id, limit],
        )
    )
