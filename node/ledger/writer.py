"""The write path of one origin's log: validate, build entries, sign, extend the tree, append.

``Ledger`` is the only place that creates entries. Its dependencies are passed in: the store, the
origin's signing key and a clock (milliseconds since the epoch), so tests control all three.
A batch is validated as a whole against the stored state and earlier records of the same batch,
then signed and written in one transaction with a fresh signed checkpoint: either all of it is
durable when ``publish`` returns, or none of it is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from node.core import merkle
from node.core.canonical import canonical_json
from node.core.checkpoint import Checkpoint, sign_checkpoint
from node.core.clock import Clock, system_clock
from node.core.crypto import PublicKey, SigningKey, new_salts
from node.core.documents import Erasure, consent_erasure
from node.core.entries import (
    GENESIS_PREV,
    EntryHeader,
    EntryKind,
    Payload,
    SignedEntry,
    entry_hash,
    payload_commitment,
    signing_message,
)
from node.core.errors import Conflict, InvalidInput, MraError, StorageFailed
from node.core.logs import LATEST, log_name
from node.core.records import AeoRecord, check_update
from node.core.rotation import compromise_document, rotation_document
from node.ledger.tree import StoredTree, grow
from node.store.protocols import (
    AppendBatch,
    Deletion,
    Erasures,
    Log,
    PendingAppend,
    Records,
    TreeNode,
)

__all__ = ["BatchSigner", "Ledger", "LedgerStore", "PublishResult"]

PARALLEL_SIGN_THRESHOLD = 512
# Messages handed to the signer at a time (a batch of 1,000 makes seven chunks).
SIGN_CHUNK = 128


_Frontier = tuple[tuple[int, bytes], merkle.CompactRange]


class LedgerStore(Log, Records, Erasures, Protocol):
    """The parts of a store the writer reads (current records, erasures) and appends to."""


class BatchSigner(Protocol):
    """Makes a chunk's signatures somewhere else while the writer goes on building the batch
    (``node.host.signer.SigningProcess``: a process of its own, on the other core)."""

    def submit(self, key: SigningKey, messages: list[bytes]) -> Callable[[], list[bytes]]:
        """Start signing; the returned function gives the signatures, in order."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishResult:
    """What one publish did: entries appended, records already identical, records refused."""

    entries: tuple[SignedEntry, ...] = ()
    unchanged: tuple[str, ...] = ()
    rejected: tuple[tuple[int, MraError], ...] = ()
    checkpoint: bytes | None = field(default=None, repr=False)


class Ledger:
    """Appends AEO records to ``origin``'s own log in ``store``, signed with ``key``."""

    def __init__(
        self,
        *,
        store: LedgerStore,
        origin: str,
        key: SigningKey,
        clock: Clock = system_clock,
        signers: BatchSigner | None = None,
        on_append: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._origin = origin
        self._key = key
        self._clock = clock
        self._signers = signers
        # Called after each committed append, on the thread that wrote it (the node wakes its
        # push to peers: node.app.compose).
        self._on_append = on_append
        # The error appending now would raise, if any: why it could sign a seq twice
        # (NodeHome.open_ledger and node.host.guard.StartGuard set it).
        self.hold: Callable[[], StorageFailed | None] = lambda: None
        # The tree's frontier after this ledger's last append, keyed by (size, last entry
        # hash), and the one the batch being appended grows to (``_frontier_at``).
        self._frontier: _Frontier | None = None
        self._grown: _Frontier | None = None
        known = store.public_key(origin, 0)
        if known is None:
            store.add_key(origin, 0, key.public_key)
        elif store.public_key(origin, LATEST) != key.public_key:
            raise InvalidInput(
                f"this key is not {origin}'s current signing key in the store", field="key"
            )

    @property
    def origin(self) -> str:
        return self._origin

    def publish(self, records: Sequence[AeoRecord], *, skip_invalid: bool = False) -> PublishResult:
        """Validate, sign and durably append ``records`` as one batch.

        A record identical to the current version is not appended again (imports are
        idempotent). Without ``skip_invalid`` any refused record refuses the whole batch and
        raises its error (InvalidInput / Conflict naming ``records[i].field``); with it, refused
        records are reported in ``rejected`` and the rest is written.

        Before signing anything, raises the error ``hold`` names (OwnLogBehind,
        OwnLogUnconfirmed); raises WriteRaced when another writer on the same database appended
        first (nothing written: retry).
        """
        accepted, unchanged, rejected = self._validate(records)
        if rejected and not skip_invalid:
            index, error = rejected[0]
            raise _at_index(error, index)
        if not accepted:
            return PublishResult(unchanged=tuple(unchanged), rejected=tuple(rejected))
        items: list[tuple[EntryKind, Mapping[str, Any]]] = []
        versions: list[AeoRecord | None] = []
        for record, kind, erasure in accepted:
            items.append((kind, record.to_dict()))
            versions.append(record)
            if erasure is not None:
                # Consent withdrawn: the partners' copies go, by the same mechanism as erasure.
                items.append((EntryKind.AEO_ERASE, erasure.to_dict()))
                versions.append(None)
        batch = self._append(items, versions)
        self._on_append()
        return PublishResult(
            entries=tuple(batch.entries),
            unchanged=tuple(unchanged),
            rejected=tuple(rejected),
            checkpoint=batch.checkpoint,
        )

    def append_documents(
        self,
        items: Sequence[tuple[EntryKind, Mapping[str, Any]]],
        *,
        deletions: Sequence[Deletion] = (),
        redeliver: Mapping[str, int] | None = None,
    ) -> tuple[SignedEntry, ...]:
        """Durably append entries whose payloads are documents (agreements, approvals,
        erasures...), and delete in the same transaction the copies an erasure or purge names.

        The caller has validated the documents; this only signs and appends them, in one batch.
        """
        if not items:
            return ()
        batch = self._append(
            items, [None] * len(items), deletions=deletions, redeliver=redeliver or {}
        )
        self._on_append()
        return tuple(batch.entries)

    def rotate_key(
        self, new_key: SigningKey, *, compromised: bool = False, revoked_from: int | None = None
    ) -> SignedEntry:
        """Append a rotation to ``new_key`` (signed, with its checkpoint, by the current key)
        and sign everything after it with ``new_key``. ``compromised``: the current key leaked,
        and must not be trusted from ``revoked_from`` on (default: the rotation's own seq, so
        that every entry before it stays vouched for; ``node.core.rotation``).

        Raises InvalidInput when ``revoked_from`` is not in 0..the rotation's seq."""
        document = rotation_document(new_key.public_key)
        if compromised or revoked_from is not None:
            head = self._store.head(self._origin)
            at = head.size if head else 0
            since = at if revoked_from is None else revoked_from
            if not 0 <= since <= at:
                raise InvalidInput(
                    f"a seq in 0..{at} (this rotation's seq): entries before it stay trusted",
                    field="revoked_from",
                )
            document = compromise_document(self._origin, new_key, since)
        batch = self._append(
            [(EntryKind.KEY_ROTATE, document)], [None], rotation=new_key.public_key
        )
        self._key = new_key
        self._on_append()
        return batch.entries[0]

    def validate(self, records: Sequence[AeoRecord]) -> list[tuple[int, MraError]]:
        """Check a batch against the ledger without writing; returns (index, error) pairs."""
        return self._validate(records)[2]

    def _validate(
        self, records: Sequence[AeoRecord]
    ) -> tuple[
        list[tuple[AeoRecord, EntryKind, Erasure | None]], list[str], list[tuple[int, MraError]]
    ]:
        accepted: list[tuple[AeoRecord, EntryKind, Erasure | None]] = []
        unchanged: list[str] = []
        rejected: list[tuple[int, MraError]] = []
        stored = self._store.current_records(r.aeo_id for r in records)
        erased = self._store.erased_among(r.aeo_id for r in records if r.aeo_id not in stored)
        latest: dict[str, AeoRecord] = {aeo_id: record for aeo_id, (_, record) in stored.items()}
        for index, record in enumerate(records):
            try:
                if record.issuer != self._origin:
                    # DESIGN-BRIEF invariant 2: each administration writes only its own AEOs.
                    raise Conflict(
                        f"{self._origin} may only publish AEO ids starting with {self._origin}",
                        field="aeo_id",
                    )
                previous = latest.get(record.aeo_id)
                if previous is None and record.aeo_id in erased:
                    raise Conflict(
                        f"{record.aeo_id} was erased; a new authorisation gets a new AEO id",
                        field="aeo_id",
                    )
                if previous == record:
                    unchanged.append(record.aeo_id)
                    continue
                check_update(previous, record)
            except MraError as error:
                rejected.append((index, error))
                continue
            status_changed = previous is not None and previous.status.code != record.status.code
            erasure = None
            withdrawn = previous is not None and set(previous.consent) - set(record.consent)
            if previous is not None and withdrawn and record.aeo_id in stored:
                seqs = [seq for _, seq, _, _ in self._store.own_versions(record.aeo_id)]
                erasure = consent_erasure(previous, record, seqs)
            accepted.append(
                (record, EntryKind.AEO_STATUS if status_changed else EntryKind.AEO_UPSERT, erasure)
            )
            latest[record.aeo_id] = record
        return accepted, unchanged, rejected

    def _append(
        self,
        items: Sequence[tuple[EntryKind, Mapping[str, Any]]],
        records: Sequence[AeoRecord | None],
        *,
        rotation: PublicKey | None = None,
        deletions: Sequence[Deletion] = (),
        redeliver: Mapping[str, int] | None = None,
    ) -> AppendBatch:
        """Sign and durably append ``items`` (with ``records``, the versions they are, and
        what a rotation, erasure or purge adds); returns the batch as written.

        The store gets the batch while its signatures are being made (``PendingAppend``):
        it writes the payloads and derived rows meanwhile, then waits for them."""
        headers, payloads, sign = self._build(items)
        written: list[AppendBatch] = []

        def signed() -> AppendBatch:
            if not written:
                entries, nodes, note, size = sign()
                written.append(
                    AppendBatch(
                        origin=self._origin,
                        entries=entries,
                        payloads=payloads,
                        records=records,
                        tree_nodes=nodes,
                        checkpoint=note,
                        checkpoint_size=size,
                        keys=[(size, rotation)] if rotation is not None else (),
                        deletions=deletions,
                        redeliver=redeliver or {},
                    )
                )
            return written[0]

        pending = PendingAppend(
            origin=self._origin,
            headers=headers,
            payloads=payloads,
            records=records,
            signed=signed,
        )
        self._commit(pending)
        return signed()

    def _build(
        self, items: Sequence[tuple[EntryKind, Mapping[str, Any]]]
    ) -> tuple[
        list[EntryHeader],
        list[Payload | None],
        Callable[[], tuple[list[SignedEntry], list[TreeNode], bytes, int]],
    ]:
        """The headers and payloads of ``items``, with their signing under way, and the
        function that waits for the signatures, grows the tree and signs the checkpoint."""
        held_back = self.hold()
        if held_back is not None:
            raise held_back
        if self._store.public_key(self._origin, LATEST) != self._key.public_key:
            raise Conflict(
                f"{self._origin}'s signing key was rotated by another process; restart the node",
                field="key",
            )
        head = self._store.head(self._origin)
        size = head.size if head else 0
        prev = head.last_hash if head else GENESIS_PREV
        ts = max(self._clock(), head.last_ts if head else 0)
        # Signing runs on the signer while this thread builds the next headers and the store
        # writes the payloads and derived rows: each chunk of messages is handed over as soon
        # as it is complete.
        parallel = self._signers is not None and len(items) >= PARALLEL_SIGN_THRESHOLD
        signing: list[Callable[[], list[bytes]]] = []
        headers: list[EntryHeader] = []
        bodies: list[bytes] = []
        payloads: list[Payload | None] = []
        messages: list[bytes] = []
        salts = new_salts(len(items))
        origin = self._origin
        for offset, (kind, document) in enumerate(items):
            payload = Payload(salt=salts[offset], body=canonical_json(document))
            header = EntryHeader(
                origin=origin,
                seq=size + offset,
                prev=prev,
                ts=ts,
                kind=kind,
                commitment=payload_commitment(payload.salt, payload.body),
            )
            body = header.to_bytes()
            prev = entry_hash(body)
            headers.append(header)
            bodies.append(body)
            payloads.append(payload)
            messages.append(signing_message(body))
            if parallel and len(messages) == SIGN_CHUNK:
                signing.append(self._submit_signing(messages))
                messages = []
        if parallel and messages:
            signing.append(self._submit_signing(messages))
            messages = []
        tree = self._frontier_at(size, head.last_hash if head else GENESIS_PREV)
        key = self._key
        # Without a signer, signed here, before the store's transaction takes the write lock.
        last = [key.sign(m) for m in messages]

        def sign() -> tuple[list[SignedEntry], list[TreeNode], bytes, int]:
            entries: list[SignedEntry] = []
            nodes: list[TreeNode] = []
            # Each chunk joins the tree as soon as its signatures are in.
            for signatures in (*(result() for result in signing), last):
                done = len(entries)
                chunk = [
                    SignedEntry(body=bodies[done + i], signature=s, header=headers[done + i])
                    for i, s in enumerate(signatures)
                ]
                nodes.extend(grow(tree, chunk))
                entries.extend(chunk)
            new_size = size + len(entries)
            checkpoint = Checkpoint(origin=log_name(origin), size=new_size, root=tree.root())
            note = sign_checkpoint(checkpoint, log_name(origin), key)
            self._grown = ((new_size, entries[-1].hash), tree) if entries else None
            return entries, nodes, note, new_size

        return headers, payloads, sign

    def _frontier_at(self, size: int, last_hash: bytes) -> merkle.CompactRange:
        """The tree's frontier at ``size``: the one kept from this ledger's last append when
        the log still ends there (the chain's last hash names every entry before it), else
        read from the store. Taken, not shared: an append that fails leaves none kept."""
        kept, self._frontier = self._frontier, None
        if kept is not None and kept[0] == (size, last_hash):
            return kept[1]
        return StoredTree(self._store, self._origin).compact_range(size)

    def _commit(self, batch: PendingAppend) -> None:
        """Append ``batch`` built by ``_build``; keep the frontier it grew for the next one."""
        self._grown = None
        try:
            self._store.append(batch)
        finally:
            grown, self._grown = self._grown, None
        if grown is not None and grown[0][0] == batch.headers[-1].seq + 1:
            self._frontier = grown

    def _submit_signing(self, messages: list[bytes]) -> Callable[[], list[bytes]]:
        assert self._signers is not None
        return self._signers.submit(self._key, messages)


def _at_index(error: MraError, index: int) -> MraError:
    """The same error with its field prefixed by the record's position in the batch."""
    if isinstance(error, InvalidInput):
        field_name = f"records[{index}]" + (f".{error.field}" if error.field else "")
        return type(error)(error.reason, field=field_name)
    return error
