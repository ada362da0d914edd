"""The agreement lifecycle, derived from ledger entries (pure, table-driven, order-independent).

Events come from the parties' logs: a party proposes a document, every other party approves
that document's hash on its own log, and any party may withdraw. A version is *approved* when
every party has approved the same hash (the proposer's proposal counts as its approval); the
highest approved version is in force and supersedes earlier ones; a withdrawal ends the
agreement from the withdrawing entry's time. Time comes from entry timestamps only.

Events are applied in one total order (timestamp, party, seq, action), so every node holding the
same entries derives the same state whatever order they arrived in (DESIGN-BRIEF invariant 5).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from contracts.agreement import Agreement
from node.core.crypto import Hash32

__all__ = ["TRANSITIONS", "Action", "AgreementState", "Event", "Phase", "derive"]


class Action(StrEnum):
    PROPOSE = "propose"
    APPROVE = "approve"
    WITHDRAW = "withdraw"


class Phase(StrEnum):
    PROPOSED = "proposed"  # some party has not approved the latest version yet
    APPROVED = "approved"  # a version has every party's approval (active inside its window)
    WITHDRAWN = "withdrawn"  # a party withdrew: ended, final


# (phase, what happened) -> next phase. "complete": the last missing approval of a version.
TRANSITIONS: Mapping[tuple[Phase, str], Phase] = {
    (Phase.PROPOSED, "propose"): Phase.PROPOSED,
    (Phase.PROPOSED, "approve"): Phase.PROPOSED,
    (Phase.PROPOSED, "complete"): Phase.APPROVED,
    (Phase.PROPOSED, "withdraw"): Phase.WITHDRAWN,
    (Phase.APPROVED, "propose"): Phase.APPROVED,  # an amendment under way; the old one holds
    (Phase.APPROVED, "approve"): Phase.APPROVED,
    (Phase.APPROVED, "complete"): Phase.APPROVED,  # the amendment supersedes the old version
    (Phase.APPROVED, "withdraw"): Phase.WITHDRAWN,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One agreement entry: who did what, when (entry ts, ms) and where in their log."""

    action: Action
    by: str
    ts: int
    seq: int
    agreement_id: str
    version: int = 0
    doc_hash: Hash32 | None = None
    document: Agreement | None = None

    def order(self) -> tuple[int, str, int, str]:
        return (self.ts, self.by, self.seq, self.action.value)


@dataclass(slots=True)
class AgreementState:
    """What the ledgers say about one agreement id."""

    agreement_id: str
    phase: Phase = Phase.PROPOSED
    documents: dict[tuple[int, bytes], Agreement] = field(default_factory=dict)
    approvals: dict[tuple[int, bytes], set[str]] = field(default_factory=dict)
    in_force: list[tuple[int, Agreement]] = field(default_factory=list)  # (since ts, document)
    withdrawn_at: int | None = None
    ignored: list[str] = field(default_factory=list)

    @property
    def current(self) -> Agreement | None:
        """The version in force (latest approved), else the latest proposed."""
        if self.in_force:
            return self.in_force[-1][1]
        return max(self.documents.values(), key=lambda d: d.version, default=None)

    def in_force_at(self, ts: int) -> Agreement | None:
        """The document in force at ``ts`` (ms): approved by then, not withdrawn, in window."""
        if self.withdrawn_at is not None and self.withdrawn_at <= ts:
            return None
        document = None
        for since, doc in self.in_force:
            if since <= ts:
                document = doc
        if document is None:
            return None
        day = datetime.fromtimestamp(ts / 1000, tz=UTC).date()
        if day < document.valid_from or (document.valid_until and day >= document.valid_until):
            return None
        return document

    def status_at(self, ts: int) -> str:
        """active, pending, not-yet-valid, expired or withdrawn, as of ``ts``."""
        if self.withdrawn_at is not None and self.withdrawn_at <= ts:
            return "withdrawn"
        if self.in_force_at(ts) is not None:
            return "active"
        approved = [doc for since, doc in self.in_force if since <= ts]
        if not approved:
            return "pending"
        day = datetime.fromtimestamp(ts / 1000, tz=UTC).date()
        return "not-yet-valid" if day < approved[-1].valid_from else "expired"


def derive(events: Iterable[Event]) -> dict[str, AgreementState]:
    """Every agreement's state from its events, in their one total order."""
    states: dict[str, AgreementState] = {}
    for event in sorted(events, key=Event.order):
        state = states.setdefault(event.agreement_id, AgreementState(event.agreement_id))
        if state.phase is Phase.WITHDRAWN:
            state.ignored.append(f"{event.by} {event.action} after withdrawal")
            continue
        _apply(state, event)
    return states


def _apply(state: AgreementState, event: Event) -> None:
    if event.action is Action.PROPOSE:
        doc = event.document
        if doc is None or doc.id != state.agreement_id or event.by not in doc.parties:
            state.ignored.append(f"proposal by {event.by} is not by a party")
            return
        key = (doc.version, bytes(doc.hash))
        state.documents[key] = doc
        state.approvals.setdefault(key, set()).add(event.by)
        _step(state, "propose")
    elif event.action is Action.APPROVE:
        key = (event.version, bytes(event.doc_hash or b""))
        state.approvals.setdefault(key, set()).add(event.by)
        _step(state, "approve")
    else:
        parties = {p for doc in state.documents.values() for p in doc.parties}
        if event.by not in parties:
            state.ignored.append(f"withdrawal by {event.by}, not a party")
            return
        state.withdrawn_at = event.ts
        _step(state, "withdraw")
        return
    _complete(state, event.ts)


def _complete(state: AgreementState, ts: int) -> None:
    """A known document approved by all its parties (and newer than the one in force) takes
    force from ``ts``, the time of the approval that completed it."""
    newest = state.in_force[-1][1].version if state.in_force else 0
    for (version, hash_), doc in sorted(state.documents.items()):
        if version > newest and state.approvals.get((version, hash_), set()) >= set(doc.parties):
            state.in_force.append((ts, doc))
            newest = version
            _step(state, "complete")


def _step(state: AgreementState, what: str) -> None:
    state.phase = TRANSITIONS[(state.phase, what)]
