"""The storage seam: what the ledger needs from a store, and the values that cross it.

``SqliteStore`` (node.store.sqlite) is the real implementation. The protocol stays narrow so that
an in-memory twin for simulations only needs a handful of methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from node.core.crypto import Hash32, PublicKey
from node.core.entries import Payload, SignedEntry
from node.core.records import AeoRecord

__all__ = ["AppendBatch", "Deletion", "Head", "Store", "StoredEntry", "TreeNode"]


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


class Store(Protocol):
    """What the ledger core reads and writes."""

    def head(self, origin: str) -> Head | None: ...

    def append(self, batch: AppendBatch) -> None: ...

    def entries(
        self, origin: str, start: int = 0, end: int | None = None
    ) -> Iterator[StoredEntry]: ...

    def tree_nodes(
        self, origin: str, wanted: Iterable[tuple[int, int]]
    ) -> Mapping[tuple[int, int], bytes]: ...

    def public_key(self, origin: str, seq: int) -> PublicKey | None: ...

    def current_record(self, aeo_id: str) -> tuple[int, AeoRecord] | None: ...

    def current_records(self, aeo_ids: Iterable[str]) -> dict[str, tuple[int, AeoRecord]]: ...

    def latest_checkpoint(self, origin: str) -> bytes | None: ...
