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
WAL after a purge (``SqliteStore.scrub``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from node.canonical import canonical_json, parse_json
from node.countries import ISO_COUNTRIES
from node.entries import EntryKind, SignedEntry
from node.errors import Conflict, InvalidInput, NotFound
from node.records import AEO_ID, AeoRecord
from node.store import Deletion

if TYPE_CHECKING:
    from node.ledger import Ledger
    from node.sqlite_store import SqliteStore

__all__ = [
    "DAY_MS",
    "Basis",
    "Erasure",
    "Purge",
    "acknowledge",
    "consent_erasure",
    "erase",
    "erasure_status",
    "partners_of",
    "purge_ended",
    "retention_due",
    "run_retention",
]

DAY_MS = 86_400_000
FINAL = ("revoked", "annulled")
MAX_REASON = 512


class Basis(StrEnum):
    REQUEST = "request"  # the trader's right to erasure, or another legal order
    RETENTION = "retention"  # the agreed retention period has passed
    CONSENT = "consent"  # the trader withdrew consent for the partners named


@dataclass(frozen=True, slots=True, kw_only=True)
class Erasure:
    """The payload of an ``aeo.erase`` entry."""

    aeo_id: str
    entries: tuple[int, ...]
    basis: Basis
    reason: str
    partners: tuple[str, ...]
    origin_copy: bool = True

    def __post_init__(self) -> None:
        _aeo_id(self.aeo_id)
        _seqs(self.entries)
        object.__setattr__(self, "basis", _basis(self.basis))
        _reason(self.reason)
        for i, partner in enumerate(self.partners):
            if partner not in ISO_COUNTRIES or partner == self.aeo_id[:2]:
                raise InvalidInput("a partner's ISO 3166-1 code", field=f"partners[{i}]")
        object.__setattr__(self, "partners", tuple(sorted(set(self.partners))))
        if not isinstance(self.origin_copy, bool):
            raise InvalidInput("must be true or false", field="origin_copy")

    def to_dict(self) -> dict[str, Any]:
        return {
            "aeo_id": self.aeo_id,
            "entries": list(self.entries),
            "basis": self.basis.value,
            "reason": self.reason,
            "partners": list(self.partners),
            "origin_copy": self.origin_copy,
        }

    @classmethod
    def from_bytes(cls, payload: bytes) -> Erasure:
        data = _object(payload, {"aeo_id", "entries", "basis", "reason", "partners", "origin_copy"})
        return cls(
            aeo_id=data["aeo_id"],
            entries=tuple(_list(data["entries"], "entries")),
            basis=data["basis"],
            reason=data["reason"],
            partners=tuple(_list(data["partners"], "partners")),
            origin_copy=data["origin_copy"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Purge:
    """The payload of an ``aeo.purge`` entry: this node deleted its copies of ``origin``'s
    entries ``entries`` of ``aeo_id`` (``views`` of them were held), answering the erasure at
    ``origin#erasure`` or, with ``erasure`` None, on its own account."""

    origin: str
    aeo_id: str
    entries: tuple[int, ...]
    erasure: int | None
    reason: str
    views: int

    def __post_init__(self) -> None:
        _aeo_id(self.aeo_id)
        if self.origin != self.aeo_id[:2]:
            raise InvalidInput("the record's issuer", field="origin")
        _seqs(self.entries)
        for name in ("erasure", "views"):
            value = getattr(self, name)
            if value is None and name == "erasure":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput("must be a non-negative integer", field=name)
        _reason(self.reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "aeo_id": self.aeo_id,
            "entries": list(self.entries),
            "erasure": self.erasure,
            "reason": self.reason,
            "views": self.views,
        }

    @classmethod
    def from_bytes(cls, payload: bytes) -> Purge:
        data = _object(payload, {"origin", "aeo_id", "entries", "erasure", "reason", "views"})
        return cls(
            origin=data["origin"],
            aeo_id=data["aeo_id"],
            entries=tuple(_list(data["entries"], "entries")),
            erasure=data["erasure"],
            reason=data["reason"],
            views=data["views"],
        )


# -- decisions (pure) ------------------------------------------------------------------------


def consent_erasure(previous: AeoRecord, record: AeoRecord, seqs: list[int]) -> Erasure | None:
    """The erasure of partners' copies that a new version withdrawing their consent calls for."""
    withdrawn = sorted(set(previous.consent) - set(record.consent))
    if not withdrawn or not seqs:
        return None
    return Erasure(
        aeo_id=record.aeo_id,
        entries=tuple(seqs),
        basis=Basis.CONSENT,
        reason="the trader withdrew consent to disclosure to " + ", ".join(withdrawn),
        partners=tuple(withdrawn),
        origin_copy=False,
    )


# -- at the origin ---------------------------------------------------------------------------


def partners_of(store: SqliteStore, me: str) -> tuple[str, ...]:
    """Every other party of every agreement known here that names ``me``: every node that can
    have received a copy of one of ``me``'s records."""
    from node import agreements

    found: set[str] = set()
    for state in agreements.states(store).values():
        for doc in state.documents.values():
            if me in doc.parties:
                found.update(doc.parties)
    found.discard(me)
    return tuple(sorted(found))


def erase(
    ledger: Ledger, store: SqliteStore, aeo_id: str, reason: str, basis: Basis = Basis.REQUEST
) -> tuple[SignedEntry, Erasure]:
    """Erase an own record: delete the payload and salt of every version here, and append the
    signed erasure that tells every partner to delete its copies. Returns the entry and the
    erasure document it carries.

    Raises NotFound for a record this node does not issue, Conflict when it is already erased,
    InvalidInput for an empty or overlong reason.
    """
    _reason(reason)
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


def retention_due(store: SqliteStore, me: str, now: int) -> list[tuple[str, int]]:
    """Own records due for erasure at ``now``: (aeo_id, retention days) for each record whose
    last status is final and was recorded longer ago than the longest retention period set by
    an agreement naming ``me`` (none set: records are kept)."""
    from node import agreements

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


def run_retention(ledger: Ledger, store: SqliteStore, now: int) -> list[SignedEntry]:
    """Erase what retention makes due, and purge what was received under ended agreements."""
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
    return done + purge_ended(ledger, store, now)


# -- at partners -------------------------------------------------------------------------------


def acknowledge(ledger: Ledger, store: SqliteStore) -> list[SignedEntry]:
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


def purge_ended(ledger: Ledger, store: SqliteStore, now: int) -> list[SignedEntry]:
    """Purge the views held that were received under an agreement no longer in force at
    ``now``. Deliveries from their origin are fetched again from the first purged entry, so
    what an agreement still in force grants comes back as a view under that agreement only."""
    from node import agreements

    states = agreements.states(store)

    def ended(agreement_id: str) -> bool:
        state = states.get(agreement_id)
        return state is not None and state.status_at(now) in ("withdrawn", "expired")

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


def erasure_status(store: SqliteStore, aeo_id: str) -> list[dict[str, Any]]:
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


# -- parsing helpers -------------------------------------------------------------------------


def _object(payload: bytes, names: set[str]) -> dict[str, Any]:
    data = parse_json(payload)
    if not isinstance(data, dict) or set(data) != names:
        raise InvalidInput(f"an object with exactly {sorted(names)}", field="payload")
    if canonical_json(data) != payload:
        raise InvalidInput("not canonical JSON", field="payload")
    return data


def _list(value: object, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput("must be a list", field=name)
    return value


def _aeo_id(value: object) -> None:
    if not isinstance(value, str) or not AEO_ID.fullmatch(value):
        raise InvalidInput("an AEO id", field="aeo_id")


def _seqs(seqs: tuple[int, ...]) -> None:
    if not seqs:
        raise InvalidInput("names at least one entry", field="entries")
    for i, seq in enumerate(seqs):
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise InvalidInput("an entry's seq", field=f"entries[{i}]")
    if list(seqs) != sorted(set(seqs)):
        raise InvalidInput("in increasing order, without repeats", field="entries")


def _basis(value: object) -> Basis:
    try:
        return Basis(str(value))
    except ValueError:
        raise InvalidInput(f"one of {', '.join(b.value for b in Basis)}", field="basis") from None


def _reason(value: object) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_REASON:
        raise InvalidInput(f"the legal reason, 1 to {MAX_REASON} characters", field="reason")
