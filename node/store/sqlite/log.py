"""The log tables: signing keys, entries (the exact signed bytes), payloads, the stored Merkle
tree and checkpoints, and the one append that writes a batch of them with everything derived
from it in one transaction.

Tree nodes are keyed by the leaf that completes them (``last_leaf``), so appends write sequential
keys and a full scan returns nodes in the order an append-only builder emits them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from node.core.crypto import PublicKey
from node.core.entries import EntryHeader, Payload, entry_hash
from node.core.records import AeoRecord
from node.core.walk import key_in_force
from node.store.protocols import AppendBatch, Deletion, Head, PendingAppend, StoredEntry
from node.store.rows import check_continues
from node.store.sqlite import derived
from node.store.sqlite.connection import Connection

__all__ = [
    "add_checkpoint",
    "add_key",
    "add_payload",
    "all_tree_nodes",
    "append",
    "checkpoint_at",
    "checkpoint_covering",
    "checkpoints",
    "entries",
    "entry",
    "entry_seqs_of_kind",
    "head",
    "keys",
    "latest_checkpoint",
    "origins",
    "orphan_payload",
    "public_key",
    "size",
    "tree_nodes",
]

_END = 2**63 - 1


def add_key(db: Connection, origin: str, since_seq: int, key: PublicKey) -> None:
    """Record that ``origin`` signs with ``key`` from ``since_seq`` on."""
    with db.transaction():
        db.conn.execute(
            "INSERT OR IGNORE INTO keys (origin, since_seq, public_key) VALUES (?, ?, ?)",
            (origin, since_seq, key.raw),
        )


def append(db: Connection, batch: AppendBatch | PendingAppend) -> None:
    """Write a batch in one durable transaction; nothing of it is visible if it fails.

    A ``PendingAppend``'s payloads and derived rows are written first, while the writer's
    threads make its signatures; its entries, tree nodes and checkpoint once ``signed``
    returns them, and then it commits.

    Raises StorageFull when no space is left (nothing of the batch is written),
    StorageFailed on other database errors; WriteRaced if the batch does not continue the
    stored log (a concurrent writer on the same database got there first: nothing of this
    batch is written, and the caller may build it again and retry).
    """
    origin = batch.origin
    with db.transaction():
        found = head(db, origin)
        check_continues(batch, found.size if found else 0)
        if isinstance(batch, PendingAppend):
            _add_unsigned(db, batch.headers, batch.payloads, batch.records)
            batch = batch.signed()
        else:
            _add_unsigned(db, [e.header for e in batch.entries], batch.payloads, batch.records)
        db.conn.executemany(
            "INSERT INTO entries (origin, seq, body, signature) VALUES (?, ?, ?, ?)",
            [(origin, e.header.seq, e.body, e.signature) for e in batch.entries],
        )
        db.conn.executemany(
            "INSERT INTO tree_nodes (origin, last_leaf, level, hash) VALUES (?, ?, ?, ?)",
            [(origin, ((n.index + 1) << n.level) - 1, n.level, n.hash) for n in batch.tree_nodes],
        )
        if batch.checkpoint is not None:
            db.conn.execute(
                "INSERT INTO checkpoints (origin, size, note) VALUES (?, ?, ?)",
                (origin, batch.checkpoint_size, batch.checkpoint),
            )
        db.conn.executemany(
            "INSERT INTO keys (origin, since_seq, public_key) VALUES (?, ?, ?)",
            [(origin, since, key.raw) for since, key in batch.keys],
        )
        for deletion in batch.deletions:
            _delete_copies(db, deletion)
        for other, seq in batch.redeliver.items():
            db.conn.execute(
                "UPDATE delivery_cursors SET next_seq = min(next_seq, ?) WHERE origin = ?",
                (seq, other),
            )


def _add_unsigned(
    db: Connection,
    headers: Sequence[EntryHeader],
    payloads: Sequence[Payload | None],
    records: Sequence[AeoRecord | None],
) -> None:
    """The rows of a batch that need no signature: payloads and everything derived."""
    held = [(h, p) for h, p in zip(headers, payloads, strict=True) if p is not None]
    db.conn.executemany(
        "INSERT INTO payloads (origin, seq, salt, body) VALUES (?, ?, ?, ?)",
        [(h.origin, h.seq, p.salt, p.body) for h, p in held],
    )
    versions = [(h, r) for h, r in zip(headers, records, strict=True) if r is not None]
    derived.add_versions(db, versions)
    derived.index_agreements(db, list(headers))
    derived.index_erasures(db, [(h, p.body) for h, p in held])


def _delete_copies(db: Connection, deletion: Deletion) -> None:
    pairs = [(deletion.origin, seq) for seq in deletion.seqs]
    db.conn.executemany("DELETE FROM payloads WHERE origin = ? AND seq = ?", pairs)
    db.conn.executemany("DELETE FROM views WHERE origin = ? AND seq = ?", pairs)
    derived.refresh_view_ids(db, deletion.aeo_id)
    if deletion.forget:
        db.conn.execute("DELETE FROM aeo_current WHERE aeo_id = ?", (deletion.aeo_id,))
        db.conn.execute("DELETE FROM trader_ids WHERE aeo_id = ?", (deletion.aeo_id,))


def add_payload(db: Connection, origin: str, seq: int, salt: bytes, body: bytes) -> bool:
    """Keep a payload received for a held entry (the caller checked its commitment)."""
    with db.transaction():
        cursor = db.conn.execute(
            "INSERT OR IGNORE INTO payloads (origin, seq, salt, body) VALUES (?, ?, ?, ?)",
            (origin, seq, salt, body),
        )
        row = db.conn.execute(
            "SELECT body FROM entries WHERE origin = ? AND seq = ?", (origin, seq)
        ).fetchone()
        if cursor.rowcount and row is not None:
            derived.index_erasures(db, [(EntryHeader.from_bytes(row[0]), body)])
    return cursor.rowcount > 0


def add_checkpoint(db: Connection, origin: str, size: int, note: bytes) -> None:
    """Keep a verified checkpoint of a log held at least up to ``size``."""
    with db.transaction():
        db.conn.execute(
            "INSERT OR IGNORE INTO checkpoints (origin, size, note) VALUES (?, ?, ?)",
            (origin, size, note),
        )


def origins(db: Connection) -> list[str]:
    # The entries' origins one index seek each (the next origin after the last), not a scan
    # of every entry: at 1M entries the scan took 0.17 s, a third of a scrub range's time.
    rows = db.conn.execute(
        "WITH RECURSIVE o(origin) AS (SELECT min(origin) FROM entries UNION ALL"
        " SELECT (SELECT min(origin) FROM entries WHERE origin > o.origin) FROM o"
        " WHERE o.origin IS NOT NULL)"
        " SELECT origin FROM o WHERE origin IS NOT NULL UNION SELECT origin FROM keys"
        " ORDER BY origin"
    ).fetchall()
    return [r[0] for r in rows]


def size(db: Connection, origin: str) -> int:
    """How many entries of ``origin``'s log are held (its seqs are gapless from 0)."""
    row = db.conn.execute("SELECT max(seq) FROM entries WHERE origin = ?", (origin,)).fetchone()
    return 0 if row[0] is None else int(row[0]) + 1


def head(db: Connection, origin: str) -> Head | None:
    row = db.conn.execute(
        "SELECT seq, body FROM entries WHERE origin = ? ORDER BY seq DESC LIMIT 1", (origin,)
    ).fetchone()
    if row is None:
        return None
    header = EntryHeader.from_bytes(row[1])
    return Head(size=row[0] + 1, last_hash=entry_hash(row[1]), last_ts=header.ts)


def entries(
    db: Connection, origin: str, start: int = 0, end: int | None = None
) -> Iterator[StoredEntry]:
    """Entries of ``origin`` in seq order from ``start`` (inclusive) to ``end`` (exclusive)."""
    cursor = db.conn.execute(
        "SELECT e.seq, e.body, e.signature, p.salt, p.body FROM entries e"
        " LEFT JOIN payloads p ON p.origin = e.origin AND p.seq = e.seq"
        " WHERE e.origin = ? AND e.seq >= ? AND e.seq < ? ORDER BY e.seq",
        (origin, start, end if end is not None else _END),
    )
    for seq, body, signature, salt, payload in cursor:
        yield StoredEntry(
            origin=origin, seq=seq, body=body, signature=signature, salt=salt, payload=payload
        )


def entry(db: Connection, origin: str, seq: int) -> StoredEntry | None:
    return next(entries(db, origin, seq, seq + 1), None)


def entry_seqs_of_kind(db: Connection, origin: str, kind: str, since: int = 0) -> list[int]:
    """Seqs of ``origin``'s entries from ``since`` on whose header names ``kind`` (found in the
    signed bytes themselves, not in a derived table; the caller parses each to be sure)."""
    rows = db.conn.execute(
        "SELECT seq FROM entries WHERE origin = ? AND seq >= ?"
        " AND instr(CAST(body AS TEXT), ?) > 0 ORDER BY seq",
        (origin, since, f'"kind":"{kind}"'),
    )
    return [seq for (seq,) in rows]


def orphan_payload(db: Connection) -> tuple[str, int] | None:
    """The first payload stored without an entry, if any (a sign of tampering)."""
    row = db.conn.execute(
        "SELECT p.origin, p.seq FROM payloads p LEFT JOIN entries e"
        " ON e.origin = p.origin AND e.seq = p.seq WHERE e.seq IS NULL"
        " ORDER BY p.origin, p.seq LIMIT 1"
    ).fetchone()
    return (row[0], row[1]) if row else None


def all_tree_nodes(
    db: Connection, origin: str, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, int, bytes]]:
    """Stored ``(last_leaf, level, hash)`` rows completed by leaves ``start`` to ``end``
    (exclusive), in the order an append-only builder completes them."""
    return iter(
        db.conn.execute(
            "SELECT last_leaf, level, hash FROM tree_nodes WHERE origin = ?"
            " AND last_leaf >= ? AND last_leaf < ? ORDER BY last_leaf, level",
            (origin, start, end if end is not None else _END),
        )
    )


def tree_nodes(
    db: Connection, origin: str, wanted: Iterable[tuple[int, int]]
) -> Mapping[tuple[int, int], bytes]:
    """The stored hashes of the perfect subtrees ``(level, index)`` asked for."""
    keys = [(((index + 1) << level) - 1, level) for level, index in wanted]
    found: dict[tuple[int, int], bytes] = {}
    for last_leaf, level in keys:
        row = db.conn.execute(
            "SELECT hash FROM tree_nodes WHERE origin = ? AND last_leaf = ? AND level = ?",
            (origin, last_leaf, level),
        ).fetchone()
        if row is not None:
            found[(level, ((last_leaf + 1) >> level) - 1)] = row[0]
    return found


def public_key(db: Connection, origin: str, seq: int) -> PublicKey | None:
    """``origin``'s key in force at ``seq`` (``node.core.walk.key_in_force`` over its keys)."""
    return key_in_force(keys(db, origin), seq)


def keys(db: Connection, origin: str) -> list[tuple[int, PublicKey]]:
    rows = db.conn.execute(
        "SELECT since_seq, public_key FROM keys WHERE origin = ? ORDER BY since_seq",
        (origin,),
    ).fetchall()
    return [(since, PublicKey(raw)) for since, raw in rows]


def checkpoints(
    db: Connection, origin: str, start: int = 0, end: int | None = None
) -> list[tuple[int, bytes]]:
    """``origin``'s checkpoints of sizes ``start`` to ``end`` (both included; None: all)."""
    upto, args = ("", [origin, start]) if end is None else (" AND size <= ?", [origin, start, end])
    rows = db.conn.execute(
        f"SELECT size, note FROM checkpoints WHERE origin = ? AND size >= ?{upto} ORDER BY size",
        args,
    ).fetchall()
    return [(size, note) for size, note in rows]


def latest_checkpoint(db: Connection, origin: str) -> bytes | None:
    row = db.conn.execute(
        "SELECT note FROM checkpoints WHERE origin = ? ORDER BY size DESC LIMIT 1", (origin,)
    ).fetchone()
    return bytes(row[0]) if row else None


def checkpoint_at(db: Connection, origin: str, size: int) -> bytes | None:
    row = db.conn.execute(
        "SELECT note FROM checkpoints WHERE origin = ? AND size = ?", (origin, size)
    ).fetchone()
    return bytes(row[0]) if row else None


def checkpoint_covering(db: Connection, origin: str, size: int) -> tuple[int, bytes] | None:
    """The smallest checkpoint held of size ``size`` or more."""
    row = db.conn.execute(
        "SELECT size, note FROM checkpoints WHERE origin = ? AND size >= ? ORDER BY size LIMIT 1",
        (origin, size),
    ).fetchone()
    return (row[0], bytes(row[1])) if row else None
