"""Erasure: a record's payloads deleted at its origin and at every partner, while every hash,
chain link and Merkle proof still verifies (entries commit to salted payloads only), and the
erasure itself evidenced on the ledgers.

- The origin appends an ``aeo.erase`` entry naming the record, the entries concerned, the legal
  basis and reason, and the partners that must delete their copies. The same transaction deletes
  the payloads and salts of those entries, unless only partners' copies are concerned (consent
  withdrawn for them).
- The erasure document goes whole to each partner it names. Each deletes the views it holds of
  those entries and, in the same transaction, appends an ``aeo.purge`` entry answering the
  erasure. The purge document goes back to the origin, which so holds a signed confirmation from
  every partner.
- A node also purges on its own account what it received under an agreement that has ended
  (an ``aeo.purge`` that answers no erasure); what another agreement still grants is fetched
  again from the origin.
- Retention: an origin erases its records whose last status is final once the longest retention
  period set by its agreements has passed since that status was recorded.

Deleted rows leave no bytes behind: the store deletes with ``secure_delete`` and truncates the
WAL after a purge (``scrub``). The erase and purge documents themselves are in
``node.core.documents``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from node.core.canonical import parse_json
from node.core.documents import MAX_REASON, Basis, Erasure, Purge, check_reason
from node.core.entries import EntryHeader, EntryKind, SignedEntry, payload_matches
from node.core.errors import Conflict, InvalidInput, NotFound
from node.store.protocols import (
    AgreementLog,
    Deletion,
    Erasures,
    LogStore,
    Records,
    Retention,
)

if TYPE_CHECKING:
    from node.ledger.writer import Ledger

__all__ = [
    "DAY_MS",
    "ErasureStore",
    "acknowledge",
    "erase",
    "erased_by_own_erasures",
    "erasure_status",
    "partners_of",
    "purge_ended",
    "retention_due",
    "run_retention",
]

DAY_MS = 86_400_000
FINAL = ("revoked", "annulled")


class ErasureStore(AgreementLog, Records, Erasures, Retention, Protocol):
    """The parts of a store erasing, purging and retention read."""


# -- at the origin ---------------------------------------------------------------------------


def partners_of(store: AgreementLog, me: str) -> tuple[str, ...]:
    """Every other party of every agreement known here that names ``me``: every node that can
    have received a copy of one of ``me``'s records."""
    from node.ledger import agreements

    found: set[str] = set()
    for state in agreements.states(store).values():
        for doc in state.documents.values():
            if me in doc.parties:
                found.update(doc.parties)
    found.discard(me)
    return tuple(sorted(found))


def erase(
    ledger: Ledger, store: ErasureStore, aeo_id: str, reason: str, basis: Basis = Basis.REQUEST
) -> tuple[SignedEntry, Erasure]:
    """Erase an own record: delete the payload and salt of every version here, and append the
    signed erasure that tells every partner to delete its copies. Returns the entry and the
    erasure document it carries.

    Raises NotFound for a record this node does not issue, Conflict when it is already erased,
    InvalidInput for an empty or overlong reason.
    """
    check_reason(reason)
    wanted = aeo_id.upper()
    if wanted[:2] != ledger.origin:
        raise NotFound(f"{ledger.origin} does not issue {wanted}", field="aeo_id")
    held = store.erasure_of(wanted)
    if held is not None and held["origin_copy"]:
        raise Conflict(f"{wanted} was erased already (entry {held['seq']})", field="aeo_id")
    seqs = [seq for _, seq, _, _ in store.own_versions(wanted)]
    if not seqs:
        raise NotFound(f"no AEO {wanted} is held here", field="aeo_id")
    doc = Erasure(
        aeo_id=wanted,
        entries=tuple(seqs),
        basis=basis,
        reason=reason,
        partners=partners_of(store, ledger.origin),
    )
    (entry,) = ledger.append_documents(
        [(EntryKind.AEO_ERASE, doc.to_dict())],
        deletions=[Deletion(origin=ledger.origin, seqs=seqs, aeo_id=wanted, forget=True)],
    )
    store.scrub()
    return entry, doc


def retention_due(store: ErasureStore, me: str, now: int) -> list[tuple[str, int]]:
    """Own records due for erasure at ``now``: (aeo_id, retention days) for each record whose
    last status is final and was recorded longer ago than the longest retention period set by
    an agreement naming ``me`` (none set: records are kept)."""
    from node.ledger import agreements

    periods = [
        doc.retention_days
        for state in agreements.states(store).values()
        for doc in state.documents.values()
        if me in doc.parties and doc.retention_days is not None
    ]
    if not periods:
        return []
    days = max(periods)
    return [(aeo_id, days) for aeo_id in store.final_records(me, FINAL, now - days * DAY_MS)]


def run_retention(
    ledger: Ledger, store: ErasureStore, now: int, members: frozenset[str] | None = None
) -> list[SignedEntry]:
    """Erase what retention makes due, and purge what was received under ended agreements
    (``members``: see ``purge_ended``)."""
    done = [
        erase(
            ledger,
            store,
            aeo_id,
            f"retention period of {days} days after a final status has passed",
            Basis.RETENTION,
        )[0]
        for aeo_id, days in retention_due(store, ledger.origin, now)
    ]
    return done + purge_ended(ledger, store, now, members)


# -- at partners -------------------------------------------------------------------------------


def acknowledge(ledger: Ledger, store: ErasureStore) -> list[SignedEntry]:
    """Carry out every erasure held here that names this node and is not answered yet: delete
    the copies and append the purge that answers it, in one transaction each."""
    done: list[SignedEntry] = []
    for row in store.pending_erasures(ledger.origin):
        seqs = parse_json(row["entries"])
        doc = Purge(
            origin=row["origin"],
            aeo_id=row["aeo_id"],
            entries=tuple(seqs),
            erasure=row["seq"],
            reason=f"erasure {row['origin']}#{row['seq']} ({row['basis']}): {row['reason']}"[
                :MAX_REASON
            ],
            views=store.views_count(row["origin"], seqs),
        )
        done.extend(
            ledger.append_documents(
                [(EntryKind.AEO_PURGE, doc.to_dict())],
                deletions=[Deletion(origin=doc.origin, seqs=seqs, aeo_id=doc.aeo_id)],
            )
        )
    if done:
        store.scrub()
    return done


def purge_ended(
    ledger: Ledger, store: ErasureStore, now: int, members: frozenset[str] | None = None
) -> list[SignedEntry]:
    """Purge the views held that were received under an agreement no longer in force at
    ``now``: withdrawn, expired, or naming a party that is not one of ``members`` (the
    membership in force, when given: that party was removed or left). Deliveries from their
    origin are fetched again from the first purged entry, so what an agreement still in force
    grants comes back as a view under that agreement only."""
    from node.ledger import agreements

    states = agreements.states(store)

    def ended(agreement_id: str) -> bool:
        state = states.get(agreement_id)
        if state is None:
            return False
        if state.status_at(now) in ("withdrawn", "expired"):
            return True
        current = state.current
        return current is not None and bool(agreements.no_member(current, members))

    affected = {
        names: gone
        for names in store.view_agreements()
        if (gone := sorted(a for a in names.split(",") if a and ended(a)))
    }
    if not affected:
        return []
    done: list[SignedEntry] = []
    held = store.views_by_record(sorted(affected))
    for (origin, aeo_id), views in sorted(held.items()):
        seqs = [seq for seq, _ in views]
        gone = sorted({a for _, names in views for a in affected[names]})
        doc = Purge(
            origin=origin,
            aeo_id=aeo_id,
            entries=tuple(seqs),
            erasure=None,
            reason=("agreement ended: " + ", ".join(gone))[:MAX_REASON],
            views=len(seqs),
        )
        done.extend(
            ledger.append_documents(
                [(EntryKind.AEO_PURGE, doc.to_dict())],
                deletions=[Deletion(origin=origin, seqs=seqs, aeo_id=aeo_id)],
                redeliver={origin: seqs[0]},
            )
        )
    store.scrub()
    return done


def erasure_status(store: Erasures, aeo_id: str) -> list[dict[str, Any]]:
    """The erasures of ``aeo_id`` held here, each with the partners it names and the purges
    that answered it (at the origin: a signed confirmation from each partner)."""
    out = []
    for row in store.erasures_of(aeo_id):
        purges = store.purges_answering(row["origin"], row["seq"])
        partners = row["partners"].split(",") if row["partners"] else []
        out.append(
            {
                "origin": row["origin"],
                "seq": row["seq"],
                "ts": row["ts"],
                "basis": row["basis"],
                "reason": row["reason"],
                "entries": parse_json(row["entries"]),
                "origin_copy": bool(row["origin_copy"]),
                "partners": partners,
                "confirmed": purges,
                "outstanding": sorted(set(partners) - {p["by"] for p in purges}),
            }
        )
    return out


def erased_by_own_erasures(store: LogStore, origin: str, *, since: int = 0) -> set[int]:
    """The own entries whose payloads an own, signed erasure deleted here (with ``since``, the
    erasures from that seq on only). An erasure entry whose payload is missing or does not
    open its commitment explains nothing (the pass over the log names it)."""
    erased: set[int] = set()
    for seq in store.entry_seqs_of_kind(origin, EntryKind.AEO_ERASE.value, since):
        stored = next(store.entries(origin, seq, seq + 1), None)
        if stored is None or stored.salt is None or stored.payload is None:
            continue
        try:
            header = EntryHeader.from_bytes(stored.body)
            if header.kind is not EntryKind.AEO_ERASE or not payload_matches(
                header, stored.salt, stored.payload
            ):
                continue
            erasure = Erasure.from_bytes(stored.payload)
        except InvalidInput:
            continue
        if erasure.origin_copy:
            erased.update(erasure.entries)
    return erased
