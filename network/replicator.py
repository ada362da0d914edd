"""The receiving side of gossip: what a node does with what peers send it, before any byte of
it is stored.

- A checkpoint must carry its origin's signature and agree with every checkpoint and entry of
  that origin held here; a contradiction becomes fork evidence and freezes the origin here.
- Entries continue the held log (chain, signatures, timestamps, via ``node.ledger.replica.accept``),
  come with a consistency proof from the held tree to the checkpoint they lead to, and must
  reach that checkpoint's root. Entries relayed by a third node are checked the same way.
- A delivery must be sealed to this node and match the held entry: a payload opens the entry's
  commitment; a view carries its origin's signature over the entry hash and this recipient.
- Each checkpoint this node reaches is cosigned, and cosignatures of other witnesses are kept
  once verified.

Nothing here does I/O beyond the store; ``network.gossip`` moves the bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import nacl.public

from network.forks import Fork, checkpoint_fork, entries_fork, verify_fork
from network.sealing import open_delivery, verify_view
from network.wire import WireEntry
from node.core import merkle
from node.core.canonical import parse_json
from node.core.checkpoint import (
    Checkpoint,
    SignedNote,
    cosign_checkpoint,
    open_checkpoint,
    verify_cosignature,
)
from node.core.crypto import PublicKey, SigningKey
from node.core.documents import Erasure, Purge
from node.core.entries import (
    DOCUMENT_KINDS,
    MAX_SEQ,
    EntryHeader,
    EntryKind,
    entry_hash,
    payload_matches,
    signing_message,
)
from node.core.errors import Conflict, IntegrityError, InvalidInput, MraError, PeerMisbehaved
from node.core.logs import LATEST, log_name
from node.core.walk import revoked
from node.ledger.replica import accept
from node.ledger.revocations import held_revocations
from node.ledger.tree import StoredTree
from node.store.open import NodeStore
from node.store.protocols import StoredEntry

__all__ = ["Received", "Replicator", "WireEntry"]


def _kind(body: bytes) -> EntryKind | None:
    try:
        return EntryHeader.from_bytes(body).kind
    except InvalidInput:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """The outcome of one page of entries: how many were stored, and the size now held."""

    stored: int
    size: int
    fork: Fork | None = None
    cosignature: str | None = None


class Replicator:
    """Verifies and stores what peers send to node ``me``."""

    def __init__(
        self,
        store: NodeStore,
        me: str,
        signing_key: SigningKey,
        sealing_key: nacl.public.PrivateKey,
        clock: Callable[[], int],
        verifiers: Executor | None = None,
    ) -> None:
        """``verifiers``: a pool that checks entry signatures (PyNaCl releases the GIL)."""
        self.store = store
        self.me = me
        self._key = signing_key
        self._sealing_key = sealing_key
        self._clock = clock
        self._verifiers = verifiers

    def use_key(self, key: SigningKey) -> None:
        self._key = key

    # -- checkpoints -----------------------------------------------------------------------

    def size(self, origin: str) -> int:
        return self.store.size(origin)

    def key_at(self, origin: str, seq: int) -> PublicKey:
        """``origin``'s key in force at ``seq``, as far as the entries held here tell."""
        key = self.store.public_key(origin, seq)
        if key is None:
            raise PeerMisbehaved(f"{origin} is not a member known here")
        return key

    def check_checkpoint(
        self, origin: str, note: bytes, reporter: str, *, ahead: bool = False
    ) -> Checkpoint | Fork | None:
        """The verified checkpoint, or the fork it exposes (recorded, origin frozen).

        A checkpoint of size n is signed with the key in force at seq n - 1, never by a key a
        compromise rotation revoked at n - 1 (``revoked-key``). With ``ahead``,
        a checkpoint beyond the entries held here that does not verify gives None: a key
        rotation not yet received may have signed it (the pages that lead to it will tell).
        Raises PeerMisbehaved when the note is malformed or not signed by ``origin``.
        """
        size = 0
        try:
            parsed = Checkpoint.parse(SignedNote.parse(note).text)
            size = parsed.size
            if size == 0:
                raise PeerMisbehaved("a checkpoint of an empty log")
            if size > MAX_SEQ + 1:
                raise InvalidInput(f"a size beyond any log ({MAX_SEQ + 1} entries)", field="size")
            if self.store.checkpoint_at(origin, size) == note:
                return parsed  # held byte for byte: verified when it was stored
            key = self.key_at(origin, size - 1)
            revocation = revoked(held_revocations(self.store, origin), key, size - 1)
            if revocation is not None:
                # Named as the walk names an entry (``revoked-key``), so that the refusal is
                # counted and logged with that reason.
                raise IntegrityError(
                    "revoked-key",
                    f"a checkpoint of {origin} of size {size} signed by the key {origin} revoked"
                    f" from #{revocation.since} (a compromise rotation)",
                )
            checkpoint = open_checkpoint(note, log_name(origin), key)
        except (InvalidInput, IntegrityError) as exc:
            if ahead and isinstance(exc, IntegrityError) and self.size(origin) < size:
                return None
            raise PeerMisbehaved(f"a checkpoint of {origin} that does not verify: {exc}") from exc
        held = self.store.checkpoint_at(origin, checkpoint.size)
        if held is not None:
            held_text = SignedNote.parse(held).text
            if held_text == SignedNote.parse(note).text:
                return checkpoint
            return self._fork(checkpoint_fork(origin, held, note, b"", []), reporter)
        size = self.size(origin)
        if size >= checkpoint.size:
            tree = StoredTree(self.store, origin)
            mine = tree.root(checkpoint.size)
            if mine != checkpoint.root:
                covering = self.store.checkpoint_covering(origin, checkpoint.size)
                if covering is None:
                    raise PeerMisbehaved(f"a checkpoint of {origin} that contradicts its entries")
                proof = tree.consistency_proof(checkpoint.size, covering[0])
                return self._fork(checkpoint_fork(origin, note, covering[1], mine, proof), reporter)
            self.store.add_checkpoint(origin, checkpoint.size, note)
        return checkpoint

    def cosign(self, origin: str, note: bytes) -> str:
        """This node's cosignature line on a checkpoint it has verified and reached."""
        text = SignedNote.parse(note).text
        size = Checkpoint.parse(text).size
        held = self.store.cosignatures(origin, size).get(self.me)
        if held is not None:
            return held
        line = cosign_checkpoint(text, log_name(self.me), self._key, self._clock() // 1000).line()
        self.store.add_cosignature(origin, size, self.me, line)
        return line

    def receive_cosignatures(self, origin: str, size: int, lines: dict[str, str]) -> int:
        """Keep the cosignatures that verify on the checkpoint of ``origin`` held at ``size``
        (``lines`` as a peer sent them: anything but witness -> line text is ignored)."""
        if not isinstance(lines, dict) or not 0 < size <= MAX_SEQ + 1:
            return 0
        known = self.store.cosignatures(origin, size)
        # One cosignature per witness is kept: the first that verified.
        new = {
            witness: line
            for witness, line in lines.items()
            if isinstance(line, str) and witness not in known and witness != origin
        }
        held = self.store.checkpoint_at(origin, size) if new else None
        if held is None:
            return 0
        text = SignedNote.parse(held).text
        kept = 0
        for witness, line in new.items():
            key = self.store.public_key(witness, LATEST)
            if key is None:
                continue
            try:
                note = SignedNote.parse(text + b"\n" + line.encode())
            except InvalidInput:
                continue
            if verify_cosignature(note, log_name(witness), key) is not None:
                kept += self.store.add_cosignature(origin, size, witness, line)
        return kept

    # -- entries ---------------------------------------------------------------------------

    def receive_entries(
        self,
        origin: str,
        start: int,
        entries: Sequence[WireEntry],
        note: bytes,
        proof: Sequence[bytes],
        reporter: str,
    ) -> Received:
        """Store a page of ``origin``'s entries from seq ``start`` leading to checkpoint ``note``
        (``proof``: consistency from the size held here to the checkpoint's size). Only key
        rotations come with their payload (salt, body): every other payload is sealed.

        Raises PeerMisbehaved (nothing stored) for anything that does not verify, and Conflict
        for entries that start past the size held here (a gap: nothing can be checked).
        """
        if origin == self.me:
            raise PeerMisbehaved("a node's own log is written by it alone")
        if origin in self.store.frozen_origins():
            raise PeerMisbehaved(f"{origin} is frozen here by fork evidence")
        found = self.check_checkpoint(origin, note, reporter)
        assert found is not None  # only ``ahead`` checks give None
        size = self.size(origin)
        if isinstance(found, Fork):
            return Received(stored=0, size=size, fork=found)
        if start + len(entries) > found.size:
            raise PeerMisbehaved(f"entries of {origin} beyond the checkpoint they come with")
        if start > size:
            raise Conflict(
                f"entries of {origin} from seq {start}, but {size} are held here", field="start"
            )
        if start < size:
            # Sent for a smaller size than the one held now (a push and a pull crossed, or a
            # replay): only compare what overlaps; the sender resumes from the size returned.
            overlap = [(e.body, e.signature) for e in entries[: max(0, size - start)]]
            fork = self.compare_overlap(origin, start, overlap, reporter)
            return Received(stored=0, size=size, fork=fork)
        if entries:
            if 0 < size < found.size:
                tree = StoredTree(self.store, origin)
                if not merkle.verify_consistency(
                    size, found.size, list(proof), tree.root(size), found.root
                ):
                    raise PeerMisbehaved(
                        f"no valid consistency proof from {origin}'s {size} held entries"
                        f" to its checkpoint of {found.size}"
                    )
            items = []
            for i, entry in enumerate(entries):
                if entry.payload is not None and _kind(entry.body) != EntryKind.KEY_ROTATE:
                    raise PeerMisbehaved(f"a payload in clear for {origin}#{size + i}")
                items.append(
                    StoredEntry(
                        origin=origin,
                        seq=size + i,
                        body=entry.body,
                        signature=entry.signature,
                        salt=entry.salt,
                        payload=entry.payload,
                    )
                )
            accept(
                self.store,
                origin,
                items,
                checkpoint=(found.size, found.root, note),
                executor=self._verifiers,
            )
        size = self.size(origin)
        cosignature = self.cosign(origin, note) if size >= found.size else None
        return Received(stored=len(entries), size=size, cosignature=cosignature)

    def compare_overlap(
        self, origin: str, start: int, overlap: Sequence[tuple[bytes, bytes]], reporter: str
    ) -> Fork | None:
        """Entries already held must be the very same; a different one signed by the origin
        is fork evidence, anything else (a held entry with a signature that does not verify
        included) a misbehaving peer."""
        for offset, (body, signature) in enumerate(overlap):
            held = self.store.entry(origin, start + offset)
            if held is None or (held.body == body and held.signature == signature):
                continue
            if held.body == body:
                key = self.store.public_key(origin, start + offset)
                if key is None or not key.verify(signing_message(body), signature):
                    raise PeerMisbehaved(f"a forged signature on {origin}#{start + offset}")
                continue
            try:
                header = EntryHeader.from_bytes(body)
            except InvalidInput as exc:
                raise PeerMisbehaved(f"a malformed entry of {origin}: {exc}") from exc
            key = self.store.public_key(origin, start + offset)
            if (
                key is None
                or header.origin != origin
                or header.seq != start + offset
                or not key.verify(signing_message(body), signature)
            ):
                raise PeerMisbehaved(f"a forged entry {origin}#{start + offset}")
            mine, theirs = (held.body, held.signature), (body, signature)
            return self._fork(entries_fork(origin, start + offset, mine, theirs), reporter)
        return None

    # -- deliveries ------------------------------------------------------------------------

    def receive_deliveries(self, origin: str, sealed: Sequence[tuple[int, bytes]]) -> int:
        """Open and store deliveries from ``origin`` for entries held here; returns how many
        were new. Raises PeerMisbehaved (nothing stored) when one does not verify."""
        key = self.key_at(origin, LATEST)
        views = []
        payloads = []
        for seq, blob in sealed:
            held = self.store.entry(origin, seq)
            if held is None:
                continue  # the entry comes first; the delivery is fetched again later
            try:
                delivery = open_delivery(blob, self._sealing_key)
                header = EntryHeader.from_bytes(held.body)
                if delivery.seq != seq:
                    raise InvalidInput(f"a delivery for {delivery.seq} sent as {seq}", field="seq")
                if delivery.payload is not None and delivery.salt is not None:
                    if header.kind not in DOCUMENT_KINDS:
                        raise InvalidInput(
                            "whole payloads are sent for agreements and erasures only",
                            field="kind",
                        )
                    if not payload_matches(header, delivery.salt, delivery.payload):
                        raise InvalidInput(
                            "a payload that does not open its commitment", field="payload"
                        )
                    if header.kind is EntryKind.AEO_ERASE:
                        Erasure.from_bytes(delivery.payload)
                    elif (
                        header.kind is EntryKind.AEO_PURGE
                        and Purge.from_bytes(delivery.payload).origin != self.me
                    ):
                        raise InvalidInput("a purge of another origin's record", field="origin")
                    payloads.append((seq, delivery.salt, delivery.payload))
                elif delivery.view is not None and delivery.signature is not None:
                    if not verify_view(
                        key, entry_hash(held.body), self.me, delivery.view, delivery.signature
                    ):
                        raise InvalidInput(f"a view not signed by {origin}", field="signature")
                    aeo_id = parse_json(delivery.view).get("aeo_id")
                    if not isinstance(aeo_id, str) or not aeo_id.startswith(origin):
                        raise InvalidInput(
                            f"a view of a record {origin} does not issue", field="aeo_id"
                        )
                    views.append(
                        (
                            origin,
                            seq,
                            aeo_id,
                            ",".join(delivery.agreements),
                            delivery.view,
                            delivery.signature,
                            self._clock(),
                        )
                    )
            except (InvalidInput, AttributeError) as exc:
                raise PeerMisbehaved(f"refused a delivery {origin}#{seq}: {exc}") from exc
        new = sum(self.store.add_payload(origin, seq, salt, body) for seq, salt, body in payloads)
        return new + (self.store.add_views(views) if views else 0)

    # -- forks -----------------------------------------------------------------------------

    def receive_fork(self, evidence: bytes, reporter: str) -> Fork | None:
        """Keep fork evidence that verifies; None when it was already held.
        Raises PeerMisbehaved when it proves nothing."""
        try:
            origin = parse_json(evidence).get("origin")
            if not isinstance(origin, str):
                raise InvalidInput("fork evidence names its origin", field="origin")
            fork = verify_fork(evidence, lambda seq: self.key_at(origin, seq))
        except (MraError, AttributeError) as exc:
            raise PeerMisbehaved(f"fork evidence that does not verify: {exc}") from exc
        new = self.store.add_fork(fork.origin, fork.evidence, reporter, self._clock())
        return fork if new else None

    def _fork(self, fork: Fork, reporter: str) -> Fork:
        self.store.add_fork(fork.origin, fork.evidence, reporter, self._clock())
        return fork
