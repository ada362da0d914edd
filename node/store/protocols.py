"""The storage seam: what the ledger services need from a store, and the values that cross it.

Each protocol is one part of a store, a handful of methods: the log (``Log``, ``LogHistory``),
the record read model (``Records``), partners' views (``Views``), erasures and what retention
selects (``Erasures``, ``Retention``), the agreement entries (``AgreementLog``) and the access
log (``AccessTrail``). A service takes the parts it uses. ``SqliteStore`` (node.store.sqlite),
``PostgresStore`` (node.store.postgres) and ``MemoryStore`` (node.store.memory) implement them
all (``Store``), and one contract test suite holds them to answering alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from node.core.access import Access
from node.core.crypto import Hash32, PublicKey
from node.core.entries import EntryHeader, Payload, SignedEntry
from node.core.records import AeoRecord

__all__ = [
    "AccessTrail",
    "AgreementLog",
    "AppendBatch",
    "Deletion",
    "Erasures",
    "Head",
    "Log",
    "LogHistory",
    "LogStore",
    "PendingAppend",
    "Records",
    "Retention",
    "Store",
    "StoredEntry",
    "Subtrees",
    "TreeNode",
    "Views",
    "settled",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Head:
    """The end of one origin's log as stored: its size, last header hash and timestamp."""

    size: int
    last_hash: Hash32
    last_ts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TreeNode:
    """A stored perfect Merkle subtree: ``level`` 0 is a leaf hash."""

    level: int
    index: int
    hash: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEntry:
    """An entry as read back: exact signed bytes plus its payload when still held."""

    origin: str
    seq: int
    body: bytes
    signature: bytes
    salt: bytes | None
    payload: bytes | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Deletion:
    """Copies of ``origin``'s entries ``seqs`` (payloads and views) to delete for good; with
    ``forget``, also the derived current state of ``aeo_id`` (the origin erasing its own)."""

    origin: str
    seqs: Sequence[int]
    aeo_id: str
    forget: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendBatch:
    """Everything one append writes, committed in one transaction (group commit)."""

    origin: str
    entries: Sequence[SignedEntry]
    payloads: Sequence[Payload | None]
    records: Sequence[AeoRecord | None]
    tree_nodes: Sequence[TreeNode]
    checkpoint: bytes | None
    checkpoint_size: int
    keys: Sequence[tuple[int, PublicKey]] = ()  # (since seq, key) that rotations introduce
    deletions: Sequence[Deletion] = ()  # erasures and purges, deleted with the entries naming them
    redeliver: Mapping[str, int] = field(default_factory=dict)  # origin -> fetch again from seq


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingAppend:
    """An append whose signatures are still being made (by the writer's signer):
    what does not depend on them (the headers, payloads and record versions), and ``signed``,
    which waits for them and returns the whole ``AppendBatch``. A store may write the first
    part inside the append's transaction while the signatures are made; nothing is committed
    before ``signed`` returns, and if it raises, nothing of the batch is written."""

    origin: str
    headers: Sequence[EntryHeader]
    payloads: Sequence[Payload | None]
    records: Sequence[AeoRecord | None]
    signed: Callable[[], AppendBatch] = field(repr=False)


def settled(batch: AppendBatch | PendingAppend) -> AppendBatch:
    """The whole batch, waiting for its signatures when it is still pending."""
    return batch.signed() if isinstance(batch, PendingAppend) else batch


class Subtrees(Protocol):
    """The stored Merkle tree of each log (``node.ledger.tree.StoredTree`` reads it), and the
    entries its lowest levels are recomputed from."""

    def tree_nodes(
        self, origin: str, wanted: Iterable[tuple[int, int]]
    ) -> Mapping[tuple[int, int], bytes]: ...

    def entries(
        self, origin: str, start: int = 0, end: int | None = None
    ) -> Iterator[StoredEntry]: ...


class Log(Subtrees, Protocol):
    """Each origin's append-only log: what writing and replicating entries need."""

    def head(self, origin: str) -> Head | None: ...

    def append(self, batch: AppendBatch | PendingAppend) -> None: ...

    def add_key(self, origin: str, since_seq: int, key: PublicKey) -> None: ...

    def public_key(self, origin: str, seq: int) -> PublicKey | None: ...

    def entries(
        self, origin: str, start: int = 0, end: int | None = None
    ) -> Iterator[StoredEntry]: ...

    def entry(self, origin: str, seq: int) -> StoredEntry | None: ...


class LogHistory(Protocol):
    """What verifying and reporting a log reads beside its entries."""

    def origins(self) -> list[str]: ...

    def keys(self, origin: str) -> list[tuple[int, PublicKey]]: ...

    # Sizes ``start`` to ``end``, both included (None: to the last held).
    def checkpoints(
        self, origin: str, start: int = 0, end: int | None = None
    ) -> list[tuple[int, bytes]]: ...

    def latest_checkpoint(self, origin: str) -> bytes | None: ...

    def cosignatures(self, origin: str, size: int) -> dict[str, str]: ...

    def all_tree_nodes(
        self, origin: str, start: int = 0, end: int | None = None
    ) -> Iterator[tuple[int, int, bytes]]: ...

    def entry_seqs_of_kind(self, origin: str, kind: str, since: int = 0) -> list[int]: ...


class LogStore(Log, LogHistory, Protocol):
    """A log's entries and what is held beside them: what verifying a log reads."""


class Records(Protocol):
    """The record read model: each AEO's current version, its versions, identifier lookups."""

    def current_record(self, aeo_id: str) -> tuple[int, AeoRecord] | None: ...

    def current_records(self, aeo_ids: Iterable[str]) -> dict[str, tuple[int, AeoRecord]]: ...

    def current_payload(self, aeo_id: str) -> tuple[str, int, bytes] | None: ...

    def current_payloads(self, aeo_ids: list[str]) -> dict[str, tuple[str, int, bytes]]: ...

    def own_versions(self, aeo_id: str) -> list[tuple[str, int, int, bytes | None]]: ...

    def version_at(self, aeo_id: str, ts: int) -> tuple[str, int] | None: ...

    def find_by_identifier(self, scheme: str, value: str) -> list[str]: ...


class Views(Protocol):
    """Views of partners' records, as received (signed by their origin)."""

    def add_views(self, rows: Iterable[tuple[str, int, str, str, bytes, bytes, int]]) -> int: ...

    def view_of(self, aeo_id: str) -> tuple[str, int, str, bytes, bytes] | None: ...

    def views_of(self, aeo_ids: list[str]) -> dict[str, tuple[str, int, str, bytes, bytes]]: ...

    def view_at(self, origin: str, seq: int) -> tuple[str, bytes, bytes] | None: ...

    def views_by_identifier(self, scheme: str, value: str) -> list[str]: ...

    def views_held(self, aeo_id: str) -> list[dict[str, Any]]: ...


class Erasures(Protocol):
    """The erasures and purges held, and the scrub that leaves no copy of what they deleted."""

    def erasure_of(self, aeo_id: str) -> dict[str, Any] | None: ...

    def erasures_of(self, aeo_id: str) -> list[dict[str, Any]]: ...

    def erased_among(self, aeo_ids: Iterable[str]) -> set[str]: ...

    def pending_erasures(self, me: str) -> list[dict[str, Any]]: ...

    def purges_answering(self, origin: str, erasure: int) -> list[dict[str, Any]]: ...

    def purges_of(self, aeo_id: str) -> list[dict[str, Any]]: ...

    def scrub(self) -> bool: ...


class Retention(Protocol):
    """What erasing on schedule and purging after an agreement ended select."""

    def final_records(self, origin: str, statuses: Iterable[str], before: int) -> list[str]: ...

    def view_agreements(self) -> list[str]: ...

    def views_by_record(
        self, agreements: list[str]
    ) -> dict[tuple[str, str], list[tuple[int, str]]]: ...

    def views_count(self, origin: str, seqs: Iterable[int]) -> int: ...


class AgreementLog(Protocol):
    """The agreement entries held, whichever log they are in."""

    def agreement_entries(self) -> list[tuple[EntryHeader, bytes | None]]: ...


class AccessTrail(Protocol):
    """The hash-chained access log: who was given or asked for what."""

    def append_access(self, rows: list[Access]) -> None: ...

    def access_size(self) -> int: ...

    def access_hash(self, seq: int) -> bytes | None: ...

    def access_rows(
        self,
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
    ) -> list[dict[str, Any]]: ...


class Store(
    Log,
    LogHistory,
    Records,
    Views,
    Erasures,
    Retention,
    AgreementLog,
    AccessTrail,
    Protocol,
):
    """Every part a ledger service may ask for: what both stores implement."""
