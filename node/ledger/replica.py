"""Storing a partner's entries after verifying them (the receiving end of replication).

``accept`` takes entries of ``origin`` that continue what this store holds, verifies each one
(chain, time, signature under the key in force for that origin at that seq, payload commitment
when a payload comes with it; a key rotation must come with its payload, and its key signs what
follows; a key revoked by a compromise rotation, held or in the same page, signs nothing at or
past its ``revoked_from``: damage ``revoked-key``) and appends them in one transaction with
the Merkle nodes recomputed here. Nothing is stored unless everything verifies. The network
issue adds the transport, checkpoints and cosigning around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

from node.core.canonical import parse_json
from node.core.chain import check_payload
from node.core.crypto import PublicKey
from node.core.entries import RECORD_KINDS, EntryHeader, EntryKind, Payload, SignedEntry
from node.core.errors import IntegrityError, InvalidInput, PeerMisbehaved
from node.core.records import AeoRecord
from node.core.rotation import open_rotation, rotated_key
from node.core.walk import ChainWalk, Link, Revocation
from node.ledger.revocations import KeyStore, held_revocations
from node.ledger.tree import StoredTree, grow
from node.store.protocols import AppendBatch, StoredEntry, TreeNode

__all__ = ["accept"]


def accept(
    store: KeyStore,
    origin: str,
    incoming: Sequence[StoredEntry],
    checkpoint: tuple[int, bytes, bytes] | None = None,
    executor: Executor | None = None,
) -> int:
    """Verify and store ``incoming`` (consecutive entries of ``origin``); returns how many.

    ``checkpoint`` is (size, root, signed note), already verified: when the entries end at its
    size, their tree must have its root, and the note is stored with them. The entries are
    checked by the core's ``ChainWalk``; their signatures after everything else, in two halves
    on ``executor`` when one is given.
    Raises PeerMisbehaved naming the first entry that fails, and stores nothing then.
    """
    head = store.head(origin)
    size = head.size if head else 0
    link = (
        Link(origin=origin, seq=size, prev=head.last_hash, min_ts=head.last_ts)
        if head
        else Link.genesis(origin)
    )
    tree = StoredTree(store, origin).compact_range(size)
    entries: list[SignedEntry] = []
    payloads: list[Payload | None] = []
    records: list[AeoRecord | None] = []
    nodes: list[TreeNode] = []
    rotations: list[tuple[int, PublicKey]] = []
    key = store.public_key(origin, size)  # in force from ``size`` on, until a rotation here
    revocations = [*held_revocations(store, origin), *_revocations_in(incoming, key)]
    chain = ChainWalk(
        link,
        [] if key is None else [(size, key)],
        defer_signatures=True,
        revocations=revocations,
    )
    try:
        if incoming and key is None:
            raise IntegrityError("missing-key", f"no key known for {origin}")
        for offset, item in enumerate(incoming):
            header = chain.step(item.body, item.signature)
            payload = None
            record = None
            if item.salt is not None and item.payload is not None:
                check_payload(header, item.salt, item.payload)
                payload = Payload(salt=item.salt, body=item.payload)
                if header.kind in RECORD_KINDS:
                    record = AeoRecord.from_dict(parse_json(item.payload))
                    if record.issuer != origin:
                        # Invariant 2: an administration writes only its own AEO records.
                        raise IntegrityError(
                            "foreign-record",
                            f"{origin} published {record.aeo_id}",
                            origin=origin,
                            seq=size + offset,
                        )
            if header.kind == EntryKind.KEY_ROTATE:
                if item.salt is None or item.payload is None:
                    raise IntegrityError(
                        "rotation-without-key",
                        "a key rotation comes with its payload",
                        origin=origin,
                        seq=size + offset,
                    )
                rotations.append((size + offset + 1, rotated_key(header, item.salt, item.payload)))
                chain.rotate(*rotations[-1])
            entry = SignedEntry(body=item.body, signature=item.signature, header=header)
            entries.append(entry)
            payloads.append(payload)
            records.append(record)
            nodes.extend(grow(tree, [entry]))
        chain.check_signatures(executor)()
    except (IntegrityError, InvalidInput) as exc:
        raise PeerMisbehaved(f"refused {origin} entries: {exc}") from exc
    note, note_size = None, 0
    if checkpoint is not None and checkpoint[0] == tree.size:
        if tree.root() != checkpoint[1]:
            raise PeerMisbehaved(
                f"refused {origin} entries: their root at {tree.size} is not the checkpoint's"
            )
        note, note_size = checkpoint[2], checkpoint[0]
    store.append(
        AppendBatch(
            origin=origin,
            entries=entries,
            payloads=payloads,
            records=records,
            tree_nodes=nodes,
            checkpoint=note,
            checkpoint_size=note_size,
            keys=rotations,
        )
    )
    return len(entries)


def _revocations_in(incoming: Sequence[StoredEntry], key: PublicKey | None) -> list[Revocation]:
    """The revocations the compromise rotations among ``incoming`` make, read ahead of the walk
    so that entries before such a rotation, at or past its ``revoked_from``, are refused too. A
    rotation that does not open is skipped here: the walk names it."""
    found: list[Revocation] = []
    for item in incoming:
        if key is None or item.salt is None or item.payload is None:
            continue
        try:
            header = EntryHeader.from_bytes(item.body)
            if header.kind != EntryKind.KEY_ROTATE:
                continue
            rotated = open_rotation(header, item.salt, item.payload)
        except (InvalidInput, IntegrityError):
            continue
        revocation = rotated.revocation(key)
        if revocation is not None:
            found.append(revocation)
        key = rotated.key
    return found
