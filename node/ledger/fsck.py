"""Full verification of a node's stored logs (``mra ledger verify``).

For each origin, in seq order, fail closed at the first damage and name it:

1. the origin has a registered public key                          -> ``missing-key``
2. seqs are gapless from 0                                         -> ``missing-entry``
3. each header is canonical, in place, chained and in time order    -> see ``node.core.walk``
4. each signature verifies under the key in force at that seq      -> ``bad-signature``
   by a key not revoked there by a compromise rotation held          -> ``revoked-key``
   (checkpoints too, step 7)
5. each payload still held opens its entry's commitment             -> ``payload-mismatch``
   the key changes exactly after each key rotation, to the key it    -> ``unexplained-key``,
   names                                                               ``rotation-mismatch``
6. every stored Merkle subtree hash equals the one re-derived       -> ``tree-node-mismatch``,
   from the entries, none missing and none extra                       ``tree-node-missing``,
                                                                       ``tree-node-extra``
7. every checkpoint is signed by the origin and names the root      -> ``checkpoint-signature``,
   re-derived at its size, and none claims more than the log holds      ``checkpoint-mismatch``,
                                                                       ``checkpoint-beyond-log``
8. the node's own log: every payload is held unless one of its      -> ``payload-missing``,
   erasures names it, none that an erasure names is held, the          ``erasure-incomplete``,
   latest checkpoint covers the whole log (written with the entry),    ``checkpoint-missing``
   and a checkpoint is held wherever the entries' time changes
   (every append ends with one; a batch's entries share one time)

Which of the own log's payloads were erased is read from the signed ``aeo.erase`` payloads
themselves (``node.ledger.erasure.erased_by_own_erasures``), never from the derived
``erasures`` table. What lies beyond the logs (views, derived tables, the schema, the access
log) is checked by ``node.ledger.verification``, which runs this for every log.

Steps 3 and 4 are the core's one chain walk (``node.core.walk.ChainWalk``, shared with
replication and evidence verification) with its signatures deferred: they are checked a chunk
at a time on a thread pool, since PyNaCl releases the GIL; the first damage in seq order is
still the one reported. ``node.ledger.fsck_parallel`` runs this over ranges of a long log in
processes of their own, one per core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from itertools import islice

from node.core import merkle
from node.core.chain import check_payload
from node.core.checkpoint import open_checkpoint
from node.core.crypto import PublicKey
from node.core.entries import EntryHeader, EntryKind, entry_hash
from node.core.errors import IntegrityError, InvalidInput
from node.core.logs import log_name
from node.core.rotation import rotated_key
from node.core.walk import ChainWalk, KeySchedule, Link, Revocation, key_in_force, revoked
from node.ledger.erasure import erased_by_own_erasures
from node.ledger.revocations import held_revocations
from node.ledger.tree import STORED_FROM_LEVEL, StoredTree
from node.store.protocols import LogStore, StoredEntry

__all__ = ["LogReport", "Progress", "raise_first", "verify_log"]

CHUNK = 4096
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class LogReport:
    """A log that passed verification."""

    origin: str
    size: int
    root: bytes
    checkpoints: int
    payloads: int


def verify_log(
    store: LogStore,
    origin: str,
    *,
    own: bool = False,
    executor: Executor | None = None,
    progress: Progress | None = None,
    start: int = 0,
    end: int | None = None,
    erased: set[int] | None = None,
) -> LogReport:
    """Verify ``origin``'s entries ``start`` to ``end`` (exclusive; None: to the log's end).

    A range that starts past 0 resumes from the stored header before it and the stored tree
    peaks at ``start``; the range before it verifies both, so ranges verified separately (see
    ``node.ledger.fsck_parallel``) together check exactly what one pass checks. The end-of-log
    checks run only for the range that reaches the end. Steps are numbered in the module
    docstring. ``erased``: the own log's entries its erasures deleted, when the caller holds
    them (``erased_by_own_erasures``, read once for many ranges); read here otherwise.
    """
    # 1. a key to verify with
    keys = store.keys(origin)
    if not keys or keys[0][0] != 0:
        raise IntegrityError(
            "missing-key", "no public key registered from seq 0", origin=origin, seq=0
        )
    key_changes = {since for since, _ in keys if since > 0}
    revocations = held_revocations(store, origin)
    link, tree = _resume(store, origin, start)
    chain = ChainWalk(link, keys, defer_signatures=True, revocations=revocations)
    stored_nodes = _Nodes(store.all_tree_nodes(origin, start, end))
    # The checkpoints this range checks (sizes past ``start``), and the sizes its batches
    # ended at (from ``start``): read for the range only, not the whole log.
    held = store.checkpoints(origin, start, end)
    checkpoints = [(size, note) for size, note in held if size > start]
    next_checkpoint = 0
    if not own:
        erased = set()
    elif erased is None:
        erased = erased_by_own_erasures(store, origin)
    # Every append writes its entries with one timestamp and ends with a checkpoint: in the own
    # log, wherever the time changes between two entries a batch ended, so a checkpoint of
    # that size was written and must still be held.
    written = {size for size, _ in held} if own else set()
    batch_ts = link.min_ts if start > 0 else None
    size, payloads = start, 0
    entries = store.entries(origin, start, end)
    while chunk := list(islice(entries, CHUNK)):
        headers, damage = _check_structure(chain, chunk)
        sound = chunk[: len(headers)]
        # 4. signatures run on the pool while this thread checks payloads and the tree
        signatures = chain.check_signatures(executor)
        try:
            for stored, header in zip(sound, headers, strict=True):
                # 5. payload commitment
                if stored.payload is not None and stored.salt is not None:
                    check_payload(header, stored.salt, stored.payload)
                    payloads += 1
                    if stored.seq in erased:
                        raise IntegrityError(
                            "erasure-incomplete",
                            "the payload of an erased entry is still held",
                            origin=origin,
                            seq=stored.seq,
                        )
                elif own and stored.seq not in erased:
                    raise IntegrityError(
                        "payload-missing",
                        "the payload of an own entry is gone",
                        origin=origin,
                        seq=stored.seq,
                    )
                batch_ended = batch_ts is not None and header.ts != batch_ts
                if own and batch_ended and stored.seq not in written:
                    raise IntegrityError(
                        "checkpoint-missing",
                        f"no checkpoint of size {stored.seq}, where a batch ended",
                        origin=origin,
                        seq=stored.seq - 1,
                    )
                batch_ts = header.ts
                if header.kind == EntryKind.KEY_ROTATE or stored.seq + 1 in key_changes:
                    _check_rotation(stored, header, keys, key_changes)
                # 6. stored tree nodes
                leaf = merkle.leaf_hash(stored.body + stored.signature)
                for level, index, hash_ in tree.append(leaf):
                    _expect_node(stored_nodes, (((index + 1) << level) - 1, level, hash_), origin)
                size += 1
                # 7. checkpoints at this size
                while (
                    next_checkpoint < len(checkpoints) and checkpoints[next_checkpoint][0] == size
                ):
                    _check_checkpoint(
                        origin,
                        size,
                        tree.root(),
                        checkpoints[next_checkpoint][1],
                        _key(keys, size - 1),
                        revocations,
                    )
                    next_checkpoint += 1
        except IntegrityError as error:
            damage = error
        raise_first(_bad_signature(signatures), damage)
        if progress:
            progress(len(chunk))
    if end is not None and size < end:
        raise IntegrityError(
            "missing-entry", f"the log ends before #{end - 1}", origin=origin, seq=size
        )
    leftover = stored_nodes.take()
    if leftover is not None:
        raise IntegrityError(
            "tree-node-extra",
            f"node at level {leftover[1]} beyond the log",
            origin=origin,
            seq=leftover[0],
        )
    if next_checkpoint < len(checkpoints):
        claimed = checkpoints[next_checkpoint][0]
        raise IntegrityError(
            "checkpoint-beyond-log",
            f"a checkpoint of size {claimed} but the log holds {size} entries",
            origin=origin,
            seq=size,
        )
    # 8. own log: checkpointed up to its end
    if own and end is None and size and (not checkpoints or checkpoints[-1][0] != size):
        raise IntegrityError(
            "checkpoint-missing",
            f"no checkpoint covers the log's {size} entries",
            origin=origin,
            seq=size - 1,
        )
    return LogReport(
        origin=origin, size=size, root=tree.root(), checkpoints=len(checkpoints), payloads=payloads
    )


def _resume(store: LogStore, origin: str, start: int) -> tuple[Link, merkle.CompactRange]:
    """Chain link and tree state just before ``start`` (what the previous range ends on)."""
    if start == 0:
        return Link.genesis(origin), merkle.CompactRange()
    before = next(store.entries(origin, start - 1, start), None)
    if before is None:
        raise IntegrityError("missing-entry", "entry is missing", origin=origin, seq=start - 1)
    try:
        ts = EntryHeader.from_bytes(before.body).ts
    except InvalidInput as exc:
        raise IntegrityError("malformed-entry", str(exc), origin=origin, seq=start - 1) from exc
    tree = StoredTree(store, origin).compact_range(start)
    return Link(origin=origin, seq=start, prev=entry_hash(before.body), min_ts=ts), tree


def _check_structure(
    chain: ChainWalk, chunk: list[StoredEntry]
) -> tuple[list[EntryHeader], IntegrityError | None]:
    """Steps 2-3 for one chunk: the headers of the sound prefix, and the damage that ended it."""
    headers: list[EntryHeader] = []
    for stored in chunk:
        expected = chain.seq
        try:
            # 2. gapless
            if stored.seq != expected:
                raise IntegrityError(
                    "missing-entry",
                    f"next stored entry is #{stored.seq}",
                    origin=stored.origin,
                    seq=expected,
                )
            # 3. header, position, chain, time (the signature is queued for step 4)
            headers.append(chain.step(stored.body, stored.signature))
        except IntegrityError as error:
            return headers, error
    return headers, None


def _bad_signature(signatures: Callable[[], None]) -> IntegrityError | None:
    try:
        signatures()
    except IntegrityError as error:
        return error
    return None


def raise_first(*errors: IntegrityError | None) -> None:
    """Raise the damage with the lowest seq (the first broken entry), if any."""
    found = [e for e in errors if e is not None]
    if found:
        raise min(found, key=lambda e: e.seq if e.seq is not None else -1)


class _Nodes:
    """The stored nodes ``(last_leaf, level, hash)`` in order, the next one looked at first."""

    def __init__(self, rows: Iterator[tuple[int, int, bytes]]) -> None:
        self._rows = rows
        self._next = next(rows, None)

    def peek(self) -> tuple[int, int, bytes] | None:
        return self._next

    def take(self) -> tuple[int, int, bytes] | None:
        got, self._next = self._next, next(self._rows, None)
        return got


def _expect_node(stored_nodes: _Nodes, expected: tuple[int, int, bytes], origin: str) -> None:
    """Step 6 for one re-derived node ``(last_leaf, level, hash)``. One below
    ``STORED_FROM_LEVEL`` is stored only in files written before that rule: checked if held."""
    last_leaf, level, _ = expected
    if level < STORED_FROM_LEVEL:
        ahead = stored_nodes.peek()
        if ahead is None or (ahead[0], ahead[1]) != (last_leaf, level):
            return
    got = stored_nodes.take()
    if got == expected:
        return
    name = f"node {level}/{((last_leaf + 1) >> level) - 1}"
    if got is None or (got[0], got[1]) > (last_leaf, level):
        raise IntegrityError(
            "tree-node-missing", f"{name} is not stored", origin=origin, seq=last_leaf
        )
    if (got[0], got[1]) < (last_leaf, level):
        raise IntegrityError(
            "tree-node-extra", f"unexpected node before {name}", origin=origin, seq=last_leaf
        )
    raise IntegrityError(
        "tree-node-mismatch", f"{name} has the wrong hash", origin=origin, seq=last_leaf
    )


def _check_checkpoint(
    origin: str,
    size: int,
    root: bytes,
    note: bytes,
    key: PublicKey,
    revocations: Sequence[Revocation] = (),
) -> None:
    if (revocation := revoked(revocations, key, size - 1)) is not None:
        raise IntegrityError(
            "revoked-key",
            f"checkpoint of size {size} is signed by a key revoked from #{revocation.since}",
            origin=origin,
            seq=size - 1,
        )
    try:
        checkpoint = open_checkpoint(note, log_name(origin), key)
    except InvalidInput as exc:
        raise IntegrityError(
            "checkpoint-signature",
            f"checkpoint of size {size} is malformed: {exc}",
            origin=origin,
            seq=size - 1,
        ) from exc
    except IntegrityError as exc:
        raise IntegrityError(
            "checkpoint-signature",
            f"checkpoint of size {size}: {exc.detail}",
            origin=origin,
            seq=size - 1,
        ) from exc
    if checkpoint.size != size or checkpoint.root != root or checkpoint.origin != log_name(origin):
        raise IntegrityError(
            "checkpoint-mismatch",
            f"checkpoint of size {size} does not match the re-derived tree",
            origin=origin,
            seq=size - 1,
        )


def _check_rotation(
    stored: StoredEntry, header: EntryHeader, keys: KeySchedule, changes: set[int]
) -> None:
    origin, seq = stored.origin, stored.seq
    if header.kind != EntryKind.KEY_ROTATE or seq + 1 not in changes:
        raise IntegrityError(
            "unexplained-key",
            "the signing key changes only after a key rotation entry",
            origin=origin,
            seq=seq,
        )
    if stored.salt is None or stored.payload is None:
        return  # not held here: the signatures after it still check the key in force
    if rotated_key(header, stored.salt, stored.payload) != key_in_force(keys, seq + 1):
        raise IntegrityError(
            "rotation-mismatch",
            "the key in force is not the one the rotation names",
            origin=origin,
            seq=seq,
        )


def _key(keys: KeySchedule, seq: int) -> PublicKey:
    """The key in force at ``seq`` (step 1 made sure one is in force from seq 0)."""
    key = key_in_force(keys, seq)
    assert key is not None
    return key
