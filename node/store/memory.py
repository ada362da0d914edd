"""``MemoryStore``: every protocol of ``node.store.protocols`` over plain Python containers.

The in-memory twin of ``SqliteStore`` for unit tests of the ledger services and for
simulations: no file, no SQL. It answers as the SQLite store does (the contract tests in
``tests/integration/test_store_contract.py`` hold both to it): the derived rows are computed by
``node.store.rows`` for both, and an append checks everything that could refuse it before it
changes anything, so a refused batch leaves nothing behind, as a rolled-back transaction does.
It keeps no status events, webhooks, API keys, forks or delivery cursors (local state the ledger
services do not read).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from node.core.canonical import parse_json
from node.core.crypto import PublicKey
from node.core.entries import EntryHeader, Payload, entry_hash
from node.core.errors import StorageFailed
from node.core.records import AeoRecord
from node.core.walk import key_in_force
from node.store.memory_access import MemoryAccessTrail
from node.store.protocols import AppendBatch, Head, PendingAppend, StoredEntry, settled
from node.store.rows import check_continues, document_row, record_of, served, version_row

if TYPE_CHECKING:
    from node.store.protocols import Store

__all__ = ["MemoryStore"]

_ERASURE = ("origin", "seq", "ts", "aeo_id", "basis", "reason", "partners", "origin_copy")
_PURGE = ("origin", "seq", "ts", "of_origin", "aeo_id", "erasure", "reason", "views", "entries")
_END = 2**63 - 1


class MemoryStore(MemoryAccessTrail):
    """A node's ledger state in dicts and lists; nothing survives the process."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[str, dict[int, PublicKey]] = {}
        self._entries: dict[str, list[tuple[bytes, bytes]]] = {}  # origin -> [(body, signature)]
        self._payloads: dict[tuple[str, int], Payload] = {}
        self._tree: dict[str, dict[tuple[int, int], bytes]] = {}  # (last_leaf, level) -> hash
        self._checkpoints: dict[str, dict[int, bytes]] = {}
        self._cosignatures: dict[tuple[str, int], dict[str, str]] = {}
        # aeo_id -> (origin, seq, ts, status, certificate, legal_name), as ``aeo_current``
        self._current: dict[str, tuple[str, int, int, str, str, str]] = {}
        self._versions: dict[str, dict[int, int]] = {}  # aeo_id -> seq -> ts
        self._trader_ids: dict[str, set[tuple[str, str]]] = {}
        self._agreements: set[tuple[str, int]] = set()
        self._documents: dict[str, dict[tuple[str, int], tuple[Any, ...]]] = {
            "erasures": {},
            "purges": {},
        }
        # (origin, seq) -> (aeo_id, agreements, body, signature, received_ts)
        self._views: dict[tuple[str, int], tuple[str, str, bytes, bytes, int]] = {}

    # -- the log -----------------------------------------------------------------------------

    def append(self, batch: AppendBatch | PendingAppend) -> None:
        """As ``SqliteStore.append``: all of the batch, or (raising) nothing of it."""
        batch = settled(batch)
        origin = batch.origin
        log = self._entries.get(origin, [])
        check_continues(batch, len(log))
        held = zip(batch.entries, batch.payloads, strict=True)
        documents = [document_row(e.header, p.body) for e, p in held if p is not None]
        checkpoints = self._checkpoints.get(origin, {})
        keys = self._keys.get(origin, {})
        if (batch.checkpoint is not None and batch.checkpoint_size in checkpoints) or any(
            since in keys for since, _ in batch.keys
        ):
            raise StorageFailed(f"database error: a checkpoint or key of {origin} is held")
        self._entries.setdefault(origin, log).extend((e.body, e.signature) for e in batch.entries)
        for entry, payload in zip(batch.entries, batch.payloads, strict=True):
            if payload is not None:
                self._payloads[(origin, entry.header.seq)] = payload
        tree = self._tree.setdefault(origin, {})
        for node in batch.tree_nodes:
            tree[(((node.index + 1) << node.level) - 1, node.level)] = node.hash
        if batch.checkpoint is not None:
            self._checkpoints.setdefault(origin, checkpoints)[batch.checkpoint_size] = (
                batch.checkpoint
            )
        for entry, record in zip(batch.entries, batch.records, strict=True):
            if record is not None:
                self._apply(entry.header, record)
        self._agreements.update(
            (origin, e.header.seq)
            for e in batch.entries
            if e.header.kind.value.startswith("agreement.")
        )
        for table, row in filter(None, documents):
            self._documents[table].setdefault((row[0], row[1]), row)
        self._keys.setdefault(origin, keys).update(batch.keys)
        for deletion in batch.deletions:
            for seq in deletion.seqs:
                self._payloads.pop((deletion.origin, seq), None)
                self._views.pop((deletion.origin, seq), None)
            if deletion.forget:
                self._current.pop(deletion.aeo_id, None)
                self._trader_ids.pop(deletion.aeo_id, None)

    def _apply(self, header: EntryHeader, record: AeoRecord) -> None:
        origin, seq, ts, aeo_id, status, certificate, name, ids = version_row(header, record)
        self._current[aeo_id] = (origin, seq, ts, status, certificate, name)
        self._versions.setdefault(aeo_id, {}).setdefault(seq, ts)
        self._trader_ids[aeo_id] = set(ids)

    def add_key(self, origin: str, since_seq: int, key: PublicKey) -> None:
        self._keys.setdefault(origin, {}).setdefault(since_seq, key)

    def head(self, origin: str) -> Head | None:
        log = self._entries.get(origin)
        if not log:
            return None
        body = log[-1][0]
        return Head(
            size=len(log), last_hash=entry_hash(body), last_ts=EntryHeader.from_bytes(body).ts
        )

    def entries(self, origin: str, start: int = 0, end: int | None = None) -> Iterator[StoredEntry]:
        log = self._entries.get(origin, [])
        for seq in range(max(start, 0), min(len(log), _END if end is None else end)):
            payload = self._payloads.get((origin, seq))
            yield StoredEntry(
                origin=origin,
                seq=seq,
                body=log[seq][0],
                signature=log[seq][1],
                salt=None if payload is None else payload.salt,
                payload=None if payload is None else payload.body,
            )

    def entry(self, origin: str, seq: int) -> StoredEntry | None:
        return next(self.entries(origin, seq, seq + 1), None)

    def _header(self, origin: str, seq: int) -> bytes | None:
        log = self._entries.get(origin, [])
        return log[seq][0] if 0 <= seq < len(log) else None

    def public_key(self, origin: str, seq: int) -> PublicKey | None:
        return key_in_force(self.keys(origin), seq)

    def keys(self, origin: str) -> list[tuple[int, PublicKey]]:
        return sorted(self._keys.get(origin, {}).items())

    def tree_nodes(
        self, origin: str, wanted: Iterable[tuple[int, int]]
    ) -> Mapping[tuple[int, int], bytes]:
        tree = self._tree.get(origin, {})
        found = {}
        for level, index in wanted:
            hash_ = tree.get((((index + 1) << level) - 1, level))
            if hash_ is not None:
                found[(level, index)] = hash_
        return found

    def all_tree_nodes(
        self, origin: str, start: int = 0, end: int | None = None
    ) -> Iterator[tuple[int, int, bytes]]:
        stop = _END if end is None else end
        nodes = sorted(self._tree.get(origin, {}).items())
        return iter([(leaf, level, h) for (leaf, level), h in nodes if start <= leaf < stop])

    def origins(self) -> list[str]:
        return sorted({o for o in self._keys} | {o for o, log in self._entries.items() if log})

    def checkpoints(
        self, origin: str, start: int = 0, end: int | None = None
    ) -> list[tuple[int, bytes]]:
        held = sorted(self._checkpoints.get(origin, {}).items())
        return [(size, n) for size, n in held if start <= size and (end is None or size <= end)]

    def latest_checkpoint(self, origin: str) -> bytes | None:
        held = self.checkpoints(origin)
        return held[-1][1] if held else None

    def add_cosignature(self, origin: str, size: int, witness: str, line: str) -> bool:
        held = self._cosignatures.setdefault((origin, size), {})
        if witness in held:
            return False
        held[witness] = line
        return True

    def cosignatures(self, origin: str, size: int) -> dict[str, str]:
        return dict(self._cosignatures.get((origin, size), {}))

    def entry_seqs_of_kind(self, origin: str, kind: str, since: int = 0) -> list[int]:
        needle = f'"kind":"{kind}"'.encode()
        log = self._entries.get(origin, [])
        return [seq for seq in range(since, len(log)) if needle in log[seq][0]]

    def agreement_entries(self) -> list[tuple[EntryHeader, bytes | None]]:
        found = []
        for origin, seq in sorted(self._agreements):
            payload = self._payloads.get((origin, seq))
            body = self._header(origin, seq)
            if body is not None:
                found.append(
                    (EntryHeader.from_bytes(body), None if payload is None else payload.body)
                )
        return found

    # -- records -------------------------------------------------------------------------------

    def current_record(self, aeo_id: str) -> tuple[int, AeoRecord] | None:
        row = self._current.get(aeo_id)
        payload = None if row is None else self._payloads.get((row[0], row[1]))
        return None if row is None or payload is None else (row[1], record_of(payload.body))

    def current_records(self, aeo_ids: Iterable[str]) -> dict[str, tuple[int, AeoRecord]]:
        found = {aeo_id: self.current_record(aeo_id) for aeo_id in set(aeo_ids)}
        return {aeo_id: held for aeo_id, held in sorted(found.items()) if held is not None}

    def current_payload(self, aeo_id: str) -> tuple[str, int, bytes] | None:
        row = self._current.get(aeo_id)
        if row is None:
            return None
        payload, header = self._payloads.get(row[:2]), self._header(*row[:2])
        if payload is None or header is None:
            return None
        return served(aeo_id, row[0], row[1], payload.salt, payload.body, header)

    def current_payloads(self, aeo_ids: list[str]) -> dict[str, tuple[str, int, bytes]]:
        found = {aeo_id: self.current_payload(aeo_id) for aeo_id in aeo_ids}
        return {aeo_id: held for aeo_id, held in found.items() if held is not None}

    def own_versions(self, aeo_id: str) -> list[tuple[str, int, int, bytes | None]]:
        origin = aeo_id[:2]
        versions = sorted(self._versions.get(aeo_id, {}).items())
        payloads = [(seq, ts, self._payloads.get((origin, seq))) for seq, ts in versions]
        return [(origin, seq, ts, None if p is None else p.body) for seq, ts, p in payloads]

    def version_at(self, aeo_id: str, ts: int) -> tuple[str, int] | None:
        row = self._current.get(aeo_id)
        versions = self._versions.get(aeo_id, {})
        own = [seq for seq, at in versions.items() if at <= ts] if row else []
        if row is not None and own:
            return row[0], max(own)
        viewed = [
            (seq, origin)
            for (origin, seq), view in self._views.items()
            if view[0] == aeo_id
            and (body := self._header(origin, seq)) is not None
            and EntryHeader.from_bytes(body).ts <= ts
        ]
        return (max(viewed)[1], max(viewed)[0]) if viewed else None

    def find_by_identifier(self, scheme: str, value: str) -> list[str]:
        return sorted(a for a, ids in self._trader_ids.items() if (scheme, value) in ids)

    def final_records(self, origin: str, statuses: Iterable[str], before: int) -> list[str]:
        wanted = set(statuses)
        return sorted(
            aeo_id
            for aeo_id, row in self._current.items()
            if row[0] == origin and row[3] in wanted and row[2] < before
        )

    # -- views -----------------------------------------------------------------------------------

    def add_views(self, rows: Iterable[tuple[str, int, str, str, bytes, bytes, int]]) -> int:
        added = 0
        for origin, seq, aeo_id, names, body, signature, received in sorted(
            rows, key=lambda r: (r[0], r[1])
        ):
            if (origin, seq) not in self._views:
                self._views[(origin, seq)] = (aeo_id, names, body, signature, received)
                added += 1
        return added

    def _views_of(self, aeo_id: str) -> list[tuple[str, int, tuple[str, str, bytes, bytes, int]]]:
        return sorted((o, s, v) for (o, s), v in self._views.items() if v[0] == aeo_id)

    def view_of(self, aeo_id: str) -> tuple[str, int, str, bytes, bytes] | None:
        held = sorted(self._views_of(aeo_id), key=lambda v: v[1])
        if not held:
            return None
        origin, seq, (_, names, body, signature, _) = held[-1]
        return origin, seq, names, body, signature

    def views_of(self, aeo_ids: list[str]) -> dict[str, tuple[str, int, str, bytes, bytes]]:
        found = {aeo_id: self.view_of(aeo_id) for aeo_id in aeo_ids}
        return {aeo_id: held for aeo_id, held in found.items() if held is not None}

    def view_at(self, origin: str, seq: int) -> tuple[str, bytes, bytes] | None:
        view = self._views.get((origin, seq))
        return None if view is None else (view[1], view[2], view[3])

    def views_by_identifier(self, scheme: str, value: str) -> list[str]:
        def shows(body: bytes) -> bool:
            ids = parse_json(body).get("identifiers")
            return isinstance(ids, list) and any(
                isinstance(i, dict) and i.get("scheme") == scheme and i.get("value") == value
                for i in ids
            )

        return sorted({v[0] for v in self._views.values() if shows(v[2])})

    def views_held(self, aeo_id: str) -> list[dict[str, Any]]:
        held = []
        for origin, seq, (_, names, body, _, received) in self._views_of(aeo_id):
            header = self._header(origin, seq)
            ts = None if header is None else EntryHeader.from_bytes(header).ts
            held.append(
                {"origin": origin, "seq": seq, "agreements": names, "body": body}
                | {"received_ts": received, "ts": ts}
            )
        return held

    def view_agreements(self) -> list[str]:
        return sorted({view[1] for view in self._views.values()})

    def views_by_record(
        self, agreements: list[str]
    ) -> dict[tuple[str, str], list[tuple[int, str]]]:
        found: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for (origin, seq), view in sorted(self._views.items(), key=lambda v: (v[0][0], v[1][0])):
            if view[1] in agreements:
                found.setdefault((origin, view[0]), []).append((seq, view[1]))
        return found

    def views_count(self, origin: str, seqs: Iterable[int]) -> int:
        return sum((origin, seq) in self._views for seq in seqs)

    # -- erasures and purges ---------------------------------------------------------------------

    def erasures_of(self, aeo_id: str) -> list[dict[str, Any]]:
        return [row for row in self._erasures() if row["aeo_id"] == aeo_id]

    def erasure_of(self, aeo_id: str) -> dict[str, Any] | None:
        rows = self.erasures_of(aeo_id)
        return rows[-1] if rows else None

    def erased_among(self, aeo_ids: Iterable[str]) -> set[str]:
        wanted = set(aeo_ids)
        return {r[3] for r in self._documents["erasures"].values() if r[7] and r[3] in wanted}

    def pending_erasures(self, me: str) -> list[dict[str, Any]]:
        answered = {(r[3], r[5]) for r in self._documents["purges"].values() if r[0] == me}
        return [
            {k: row[k] for k in ("origin", "seq", "aeo_id", "basis", "reason", "partners")}
            | {"entries": row["entries"]}
            for row in self._erasures()
            if row["origin"] != me
            and (row["origin"], row["seq"]) not in answered
            and me in row["partners"].split(",")
        ]

    def _erasures(self) -> list[dict[str, Any]]:
        rows = sorted(self._documents["erasures"].items())
        return [dict(zip((*_ERASURE, "entries"), row, strict=True)) for _, row in rows]

    def _purges(self) -> Iterator[dict[str, Any]]:
        for row in self._documents["purges"].values():
            purge = dict(zip(_PURGE, row, strict=True))
            yield {"by": purge.pop("origin"), **purge}

    def purges_answering(self, origin: str, erasure: int) -> list[dict[str, Any]]:
        return [
            {"by": p["by"], "seq": p["seq"], "ts": p["ts"], "views": p["views"]}
            for p in sorted(self._purges(), key=lambda p: (p["by"], p["seq"]))
            if p["of_origin"] == origin and p["erasure"] == erasure
        ]

    def purges_of(self, aeo_id: str) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in p.items() if k != "aeo_id"}
            for p in sorted(self._purges(), key=lambda p: (p["ts"], p["by"], p["seq"]))
            if p["aeo_id"] == aeo_id
        ]

    def scrub(self) -> bool:
        """Nothing to scrub: a deleted container item leaves no copy behind."""
        return True


if TYPE_CHECKING:
    _conforms: type[Store] = MemoryStore  # a method drifting from the protocols fails mypy
