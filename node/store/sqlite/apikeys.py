"""API keys for the local API, stored as SHA-256 hashes only, each row carrying an HMAC under a
key kept beside the database file, so an edit of the file alone is refused."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from node.core.canonical import canonical_json
from node.core.errors import StorageFailed
from node.store.sqlite.connection import Connection

__all__ = [
    "API_KEY_MAC_FILE",
    "API_KEY_MAC_TAG",
    "add_api_key",
    "api_key",
    "api_keys",
    "existing_mac_key",
    "mac_key_for",
    "revoke_api_key",
    "seal_api_keys",
]

_API_KEY_COLUMNS = "key_id, key_hash, role, label, created_ts, revoked"
API_KEY_MAC_TAG = b"mra-ledger/api-key-row/v1\x00"
API_KEY_MAC_FILE = "apikeys-mac.key"


def add_api_key(
    db: Connection, key_id: str, key_hash: bytes, role: str, label: str, ts: int
) -> None:
    row = (key_id, key_hash, role, label, ts, 0)
    with db.transaction():
        db.conn.execute(
            "INSERT INTO api_keys (key_id, key_hash, role, label, created_ts, revoked, mac)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (*row, _mac(db, row)),
        )


def revoke_api_key(db: Connection, key_id: str) -> bool:
    """Revoke a key (kept, so the access log's actors stay explained); False if unknown,
    already revoked, or altered outside this software."""
    with db.transaction():
        found = db.conn.execute(
            f"SELECT {_API_KEY_COLUMNS}, mac FROM api_keys WHERE key_id = ? AND revoked = 0",
            (key_id,),
        ).fetchone()
        if found is None or not _intact(db, found):
            return False
        revoked = (*found[:5], 1)
        db.conn.execute(
            "UPDATE api_keys SET revoked = 1, mac = ? WHERE key_id = ?",
            (_mac(db, revoked), key_id),
        )
    return True


def api_keys(db: Connection) -> list[dict[str, Any]]:
    """Every key: id, role, label, creation time, whether it is revoked, and whether its
    row is as this software wrote it (``intact``; no hashes)."""
    rows = db.conn.execute(
        f"SELECT {_API_KEY_COLUMNS}, mac FROM api_keys ORDER BY created_ts, key_id"
    ).fetchall()
    return [
        {
            "key_id": r[0],
            "role": r[2],
            "label": r[3],
            "created_ts": r[4],
            "revoked": r[5],
            "intact": _intact(db, r),
        }
        for r in rows
    ]


def api_key(db: Connection, key_id: str) -> tuple[bytes, str] | None:
    """The hash and role of a key that is not revoked and whose row is intact."""
    row = db.conn.execute(
        f"SELECT {_API_KEY_COLUMNS}, mac FROM api_keys WHERE key_id = ? AND revoked = 0",
        (key_id,),
    ).fetchone()
    if row is None or not _intact(db, row):
        return None
    return bytes(row[1]), str(row[2])


def _mac(db: Connection, row: Sequence[Any]) -> bytes | None:
    if db.mac_key is None:
        return None
    key_id, key_hash, role, label, created_ts, revoked = row
    message = canonical_json(
        {
            "key_id": key_id,
            "key_hash": bytes(key_hash).hex(),
            "role": role,
            "label": label,
            "created_ts": created_ts,
            "revoked": revoked,
        }
    )
    return hmac.new(db.mac_key, API_KEY_MAC_TAG + message, hashlib.sha256).digest()


def _intact(db: Connection, row: Sequence[Any]) -> bool:
    """Whether a row (the API key columns, then its mac) is as this software wrote it."""
    expected = _mac(db, row[:6])
    if expected is None:
        return True  # a store opened without a home (tests, benchmarks) checks nothing
    return row[6] is not None and hmac.compare_digest(bytes(row[6]), expected)


def seal_api_keys(db: Connection) -> None:
    """Give rows written before this home had a MAC key (schema 7 and older) their MAC;
    runs only when the key is created, so a row inserted later without one stays refused."""
    with db.transaction():
        rows = db.conn.execute(
            f"SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE mac IS NULL"
        ).fetchall()
        db.conn.executemany(
            "UPDATE api_keys SET mac = ? WHERE key_id = ?",
            [(_mac(db, r), r[0]) for r in rows],
        )


def existing_mac_key(path: Path | str) -> bytes | None:
    """The HMAC key of the API key rows kept beside ``path``, if there is one (never created)."""
    if not (Path(path).parent / API_KEY_MAC_FILE).exists():
        return None
    return mac_key_for(path)[0]


def mac_key_for(path: Path | str) -> tuple[bytes, bool]:
    """The HMAC key of the API key rows, kept beside the database file (created, mode 0600,
    on first use): someone who can edit the database alone cannot forge a row. True when it
    was created now."""
    if str(path) in ("", ":memory:"):
        return secrets.token_bytes(32), True
    key_path = Path(path).parent / API_KEY_MAC_FILE
    if not key_path.exists():
        # Written whole under another name, then linked: a concurrent opener sees no file or
        # the whole key, and exactly one link succeeds.
        fresh = key_path.with_name(f"{API_KEY_MAC_FILE}.{os.getpid()}.tmp")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(fresh, key_path)
            created = True
        except FileExistsError:
            created = False
        finally:
            fresh.unlink()
    else:
        created = False
    key = key_path.read_bytes()
    if len(key) != 32:
        raise StorageFailed(f"{key_path} is damaged: expected 32 bytes")
    return key, created
