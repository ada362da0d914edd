"""Agreements on this node's ledger: propose, approve, withdraw, and the state the entries held
here say each agreement is in (DESIGN-BRIEF §2, invariant 4).

The rules live in ``contracts`` (pure); this module reads and writes the ledger. A node only
writes its own log: partners' approvals reach it through replication (the network issue), and
until then an agreement proposed here stays pending here.
"""

from __future__ import annotations

from typing import Any

from contracts.agreement import Agreement
from contracts.lifecycle import Action, AgreementState, Event, derive
from contracts.registry import check_agreement
from node.core.canonical import parse_json
from node.core.crypto import Hash32
from node.core.entries import EntryKind, SignedEntry
from node.core.errors import Conflict, NotFound
from node.ledger.writer import Ledger
from node.store.protocols import AgreementLog

__all__ = ["approve", "events", "no_member", "propose", "shown_state", "states", "withdraw"]

_ACTIONS = {
    EntryKind.AGREEMENT_PROPOSE: Action.PROPOSE,
    EntryKind.AGREEMENT_APPROVE: Action.APPROVE,
    EntryKind.AGREEMENT_WITHDRAW: Action.WITHDRAW,
}


def events(store: AgreementLog) -> list[Event]:
    """The lifecycle events in every agreement entry held whose payload is held."""
    found: list[Event] = []
    for header, payload in store.agreement_entries():
        if payload is None:
            continue
        data: dict[str, Any] = parse_json(payload)
        action = _ACTIONS[header.kind]
        document = Agreement.from_dict(data) if action is Action.PROPOSE else None
        found.append(
            Event(
                action=action,
                by=header.origin,
                ts=header.ts,
                seq=header.seq,
                agreement_id=document.id if document else str(data["id"]),
                version=document.version if document else int(data.get("version", 0)),
                doc_hash=document.hash if document else _hash(data.get("hash")),
                document=document,
            )
        )
    return found


def _hash(text: object) -> Hash32 | None:
    return Hash32(bytes.fromhex(text)) if isinstance(text, str) else None


def states(store: AgreementLog) -> dict[str, AgreementState]:
    return derive(events(store))


def propose(
    ledger: Ledger, store: AgreementLog, doc: Agreement, members: frozenset[str] | None = None
) -> SignedEntry:
    """Record a proposal (or an amendment: same id, higher version) on this node's log.

    Raises InvalidInput, ContractRefused (unknown contract, other source, bad params) or
    Conflict (not a party; a version that is not newer than the ones known).
    """
    check_agreement(doc, members)
    if ledger.origin not in doc.parties:
        raise Conflict(f"{ledger.origin} is not a party to {doc.id}", field="parties")
    known = states(store).get(doc.id)
    if known is not None:
        if known.withdrawn_at is not None:
            raise Conflict(f"{doc.id} was withdrawn; use a new id", field="id")
        newest = max((version for version, _ in known.documents), default=0)
        if doc.version <= newest:
            raise Conflict(
                f"{doc.id} version {newest} exists; an amendment needs version {newest + 1}",
                field="version",
            )
    [entry] = ledger.append_documents([(EntryKind.AGREEMENT_PROPOSE, doc.to_dict())])
    return entry


def approve(
    ledger: Ledger, store: AgreementLog, agreement_id: str, version: int | None = None
) -> SignedEntry:
    """Approve the proposed document (latest version unless ``version``) on this node's log,
    after checking it as a proposer would. Raises NotFound, Conflict, ContractRefused."""
    state = _state(store, agreement_id)
    candidates = {v: doc for (v, _), doc in state.documents.items()}
    if not candidates:
        raise NotFound(f"no proposal of {agreement_id} is held here", field="id")
    chosen = version if version is not None else max(candidates)
    doc = candidates.get(chosen)
    if doc is None:
        raise NotFound(f"no version {chosen} of {agreement_id} is held here", field="version")
    check_agreement(doc)
    if ledger.origin not in doc.parties:
        raise Conflict(f"{ledger.origin} is not a party to {agreement_id}", field="id")
    if ledger.origin in state.approvals.get((doc.version, bytes(doc.hash)), set()):
        raise Conflict(
            f"{ledger.origin} already approved {agreement_id} v{doc.version}", field="version"
        )
    payload = {"id": doc.id, "version": doc.version, "hash": doc.hash.hex()}
    [entry] = ledger.append_documents([(EntryKind.AGREEMENT_APPROVE, payload)])
    return entry


def withdraw(ledger: Ledger, store: AgreementLog, agreement_id: str) -> SignedEntry:
    """Withdraw from an agreement; it ends from this entry's time. Raises NotFound, Conflict."""
    state = _state(store, agreement_id)
    parties = {p for doc in state.documents.values() for p in doc.parties}
    if ledger.origin not in parties:
        raise Conflict(f"{ledger.origin} is not a party to {agreement_id}", field="id")
    if state.withdrawn_at is not None:
        raise Conflict(f"{agreement_id} is already withdrawn", field="id")
    [entry] = ledger.append_documents([(EntryKind.AGREEMENT_WITHDRAW, {"id": agreement_id})])
    return entry


def no_member(doc: Agreement, members: frozenset[str] | None) -> list[str]:
    """The parties of ``doc`` that are no member of ``members``, the membership in force
    (removed, or they left; None: a node of no network). An agreement naming one has ended for
    every party, as if it had withdrawn (``network.sharing``)."""
    return sorted(set(doc.parties) - members) if members is not None else []


def shown_state(status: str, doc: Agreement, members: frozenset[str] | None) -> str:
    """``status`` (a phase, or a status at some time), or "ended (CL no member)" when a party
    of ``doc`` is no member of ``members``; an agreement withdrawn or expired stays so."""
    gone = no_member(doc, members)
    if not gone or status in ("withdrawn", "expired"):
        return status
    return f"ended ({', '.join(gone)} no member)"


def _state(store: AgreementLog, agreement_id: str) -> AgreementState:
    state = states(store).get(agreement_id)
    if state is None:
        raise NotFound(f"no agreement {agreement_id} is held here", field="id")
    return state
