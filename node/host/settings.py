"""Every setting a node takes from its environment, read once into one frozen value.

Only this module reads ``os.environ`` (``Settings.from_environ``, and ``key_passphrase`` for the
commands not yet given their Settings); everything else is given the value it needs. A bad value
is refused when the node starts, naming the variable, not at first use.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from node.core.errors import InvalidInput

__all__ = ["Settings", "database_url", "key_passphrase"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    gossip_interval: float = 2.0  # MRA_GOSSIP_INTERVAL: seconds between gossip rounds
    peer_read_seconds: float = 30.0  # MRA_PEER_READ_SECONDS: a peer's request body must arrive
    head_seconds: float = 10.0  # MRA_HEAD_SECONDS: a TLS client's request line and headers
    anchor_seconds: float = 60.0  # MRA_ANCHOR_SECONDS: the access log is anchored this often
    retention_seconds: float = 3600.0  # MRA_RETENTION_SECONDS: how often retention runs
    verify_budget: float = 0.05  # MRA_VERIFY_BUDGET: a fraction of one core; 0 turns it off
    verify_start_seconds: float = 10.0  # MRA_VERIFY_START_SECONDS: the scrubber's first pause
    lookup_rate: float = 2.0  # MRA_LOOKUP_RATE: identifier lookups a second per peer, after
    lookup_burst: int = 20  # MRA_LOOKUP_BURST: this many at once (network.lookup)
    # MRA_KEY_PASSPHRASE, or the file named by MRA_KEY_PASSPHRASE_FILE; never in a repr or a log
    key_passphrase: bytes | None = field(default=None, repr=False)
    # MRA_DATABASE_URL: postgresql://... keeps the ledger in PostgreSQL (None: the SQLite file);
    # never in a repr (it may hold a password)
    database_url: str | None = field(default=None, repr=False)
    # MRA_DATABASE_OWNER_URL: the same database as the tables' owner, when MRA_DATABASE_URL
    # names a runtime role (node.store.postgres.roles): the erasures' rewrite runs on it
    database_owner_url: str | None = field(default=None, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls()

        def seconds(name: str, default: float, *, zero: bool = False) -> float:
            text = env.get(name)
            if text is None or text == "":
                return default
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
                wanted = "a number of seconds, 0 or more" if zero else "a positive number"
                raise InvalidInput(f"{wanted}, not {text!r}", field=name)
            return value

        def count(name: str, default: int) -> int:
            text = env.get(name)
            if text is None or text == "":
                return default
            if not text.strip().isdigit() or int(text) < 1:
                raise InvalidInput(f"a whole number, 1 or more, not {text!r}", field=name)
            return int(text)

        return cls(
            gossip_interval=seconds("MRA_GOSSIP_INTERVAL", defaults.gossip_interval),
            peer_read_seconds=seconds("MRA_PEER_READ_SECONDS", defaults.peer_read_seconds),
            head_seconds=seconds("MRA_HEAD_SECONDS", defaults.head_seconds),
            anchor_seconds=seconds("MRA_ANCHOR_SECONDS", defaults.anchor_seconds),
            retention_seconds=seconds("MRA_RETENTION_SECONDS", defaults.retention_seconds),
            verify_budget=seconds("MRA_VERIFY_BUDGET", defaults.verify_budget, zero=True),
            verify_start_seconds=seconds(
                "MRA_VERIFY_START_SECONDS", defaults.verify_start_seconds, zero=True
            ),
            lookup_rate=seconds("MRA_LOOKUP_RATE", defaults.lookup_rate),
            lookup_burst=count("MRA_LOOKUP_BURST", defaults.lookup_burst),
            key_passphrase=key_passphrase(env),
            database_url=database_url(env),
            database_owner_url=database_url(env, "MRA_DATABASE_OWNER_URL"),
        )


def database_url(
    environ: Mapping[str, str] | None = None, name: str = "MRA_DATABASE_URL"
) -> str | None:
    """``MRA_DATABASE_URL`` (or ``name``: ``MRA_DATABASE_OWNER_URL``): a ``postgresql://``
    (or ``postgres://``) URL, or None when unset or empty (SQLite). Raises InvalidInput for any
    other value."""
    env = os.environ if environ is None else environ
    value = env.get(name) or None
    if value is not None and not value.startswith(("postgresql://", "postgres://")):
        raise InvalidInput("a postgresql://... URL, or unset for the SQLite file", field=name)
    return value


def key_passphrase(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The key passphrase: ``MRA_KEY_PASSPHRASE``, or the content of the file
    ``MRA_KEY_PASSPHRASE_FILE`` names (its last line break removed). Raises InvalidInput for a
    file it cannot read."""
    env = os.environ if environ is None else environ
    named = env.get("MRA_KEY_PASSPHRASE_FILE")
    if named:
        try:
            text = Path(named).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise InvalidInput(
                f"cannot read MRA_KEY_PASSPHRASE_FILE ({named}): {exc.strerror}",
                field="passphrase",
            ) from None
        return text.encode()
    value = env.get("MRA_KEY_PASSPHRASE")
    return value.encode() if value else None
