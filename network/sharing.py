"""What an origin delivers to one partner, decided by the contracts of the agreements in force.

For each of the origin's own entries whose payload it still holds:

- an AEO record goes to a partner as the view that the contracts of the agreements in force
  grant it (several agreements: the union of their fields), signed by the origin and sealed;
- an agreement document, approval or withdrawal goes, whole and with its salt, to the parties
  of that agreement;
- an erasure goes, whole, to the partners it names, and no entry it names goes to them again;
  a purge goes, whole, to the origin of the record purged;
- anything else goes to no one.

Agreements are taken as in force at ``now`` (the serving node's clock), so a partner learns of
records published before its agreement became active once it is, and stops receiving them
when the agreement ends. An agreement naming a party that is not in ``members`` (the membership
in force: a member removed, or one that left) has ended for every party, as if that party had
withdrawn it (``node.ledger.erasure.purge_ended`` purges what was received under it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contracts.agreement import Agreement
from contracts.lifecycle import AgreementState
from contracts.registry import resolve
from network.sealing import Delivery, seal_delivery, sign_view
from network.wire import encoded_size
from node.core.canonical import canonical_json, parse_json
from node.core.crypto import SigningKey
from node.core.documents import Erasure, Purge
from node.core.entries import RECORD_KINDS, EntryHeader, EntryKind, entry_hash
from node.core.errors import ContractRefused
from node.core.records import AeoRecord
from node.ledger import agreements
from node.store.open import NodeStore
from node.store.protocols import StoredEntry

__all__ = ["Sharing", "merge_views"]


def merge_views(views: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The union of several views of one record (nested objects are merged field by field)."""
    merged: dict[str, Any] = {}
    for view in views:
        for name, value in view.items():
            held = merged.get(name)
            if isinstance(held, dict) and isinstance(value, dict):
                merged[name] = {**held, **value}
            else:
                merged[name] = value
    return merged


class Sharing:
    """The deliveries of one origin's entries, as of one moment (agreement states read once)."""

    def __init__(
        self,
        store: NodeStore,
        origin: str,
        key: SigningKey,
        now: int,
        members: frozenset[str] | None = None,
    ) -> None:
        self._store = store
        self._origin = origin
        self._key = key
        states = agreements.states(store)
        self._states: dict[str, AgreementState] = states
        self._withheld = store.withheld(origin)
        self._members = members
        self._in_force: list[Agreement] = [
            doc
            for state in states.values()
            if (doc := state.in_force_at(now)) is not None
            and origin in doc.parties
            and not agreements.no_member(doc, members)
        ]

    def ids_with(self, partner: str) -> set[str]:
        """The agreements in force under which this origin shares with ``partner``."""
        return {doc.id for doc in self._in_force if partner in doc.parties}

    def delivery(self, entry: StoredEntry, partner: str) -> Delivery | None:
        """What ``partner`` receives of ``entry``, if anything: nothing once it is no member."""
        if entry.payload is None or entry.salt is None:
            return None
        if self._members is not None and partner not in self._members:
            return None
        header = EntryHeader.from_bytes(entry.body)
        if header.kind in RECORD_KINDS:
            if partner in self._withheld.get(entry.seq, ()):
                return None
            return self._view(entry, header, partner)
        if partner in self._recipients(header.kind, entry.payload):
            return Delivery(seq=entry.seq, salt=entry.salt, payload=entry.payload)
        return None

    def sealed(
        self, entries: Iterable[StoredEntry], partner: str, sealing_key: bytes
    ) -> list[tuple[Delivery, bytes]]:
        """Each delivery ``partner`` receives of ``entries``, and its sealed form."""
        return self.sealed_page(entries, partner, sealing_key)[0]

    def sealed_page(
        self,
        entries: Iterable[StoredEntry],
        partner: str,
        sealing_key: bytes,
        *,
        budget: int | None = None,
        at_least_one: bool = True,
    ) -> tuple[list[tuple[Delivery, bytes]], int | None]:
        """The deliveries ``partner`` receives of ``entries`` whose sealed forms take at most
        ``budget`` bytes of JSON together (``network.wire.encoded_size``), and the seq of the
        first entry left out (None: every entry was covered). ``at_least_one`` keeps the first
        delivery even when it alone is over the budget, so a page always moves forward."""
        found: list[tuple[Delivery, bytes]] = []
        used = 0
        for entry in entries:
            delivery = self.delivery(entry, partner)
            if delivery is None:
                continue
            blob = seal_delivery(delivery, sealing_key)
            used += encoded_size(blob)
            if budget is not None and used > budget and (found or not at_least_one):
                return found, entry.seq
            found.append((delivery, blob))
        return found, None

    def _view(self, entry: StoredEntry, header: EntryHeader, partner: str) -> Delivery | None:
        assert entry.payload is not None
        record = AeoRecord.from_dict(parse_json(entry.payload))
        views, names = [], []
        for doc in self._in_force:
            if partner not in doc.parties:
                continue
            try:
                contract = resolve(doc)
            except ContractRefused:
                continue  # a contract this node does not hold shares nothing
            view = contract.share(doc, record).get(partner)
            if view is not None:
                views.append(view)
                names.append(doc.id)
        if not views:
            return None
        body = canonical_json(merge_views(views))
        signature = sign_view(self._key, entry_hash(entry.body), partner, body)
        return Delivery(seq=entry.seq, view=body, signature=signature, agreements=tuple(names))

    def _recipients(self, kind: EntryKind, payload: bytes) -> set[str]:
        if kind is EntryKind.AEO_ERASE:
            return set(Erasure.from_bytes(payload).partners)
        if kind is EntryKind.AEO_PURGE:
            return {Purge.from_bytes(payload).origin}
        if kind is EntryKind.AGREEMENT_PROPOSE:
            return set(Agreement.from_dict(parse_json(payload)).parties)
        if kind in (EntryKind.AGREEMENT_APPROVE, EntryKind.AGREEMENT_WITHDRAW):
            state = self._states.get(str(parse_json(payload).get("id")))
            if state is not None:
                return {p for doc in state.documents.values() for p in doc.parties}
        return set()
