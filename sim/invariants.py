"""The invariants every run is checked against (DESIGN-BRIEF §4), read from the nodes' stores:

- honest nodes converge: every honest origin's log is held whole, with the same head, by
  every honest node, and every partner has fetched the deliveries of its partners;
- on one membership: every honest node holds the same version, the same entries (each
  member's own updates at the same revisions) and the same updates;
- a removed member receives nothing: from the moment a node holds the version that removes it,
  that node neither sends it a request nor answers one of its requests (checked on every
  message, ``reaches_non_member``);
- no payload where it is not due: partners' record payloads are never held, and a view of a
  partner's record is held only under an agreement both are party to, with no field the
  agreement's contract does not share;
- no acknowledged entry lost: each append the origin acknowledged is held, as acknowledged,
  by its origin and by every honest node (an origin since removed: by itself, for whatever it
  had not spread when the others stopped talking to it may stay with it);
- an equivocating origin is found out: every honest node holds fork evidence against it and
  has frozen it, and no honest origin is ever accused.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from contracts.agreement import Agreement
from contracts.mra_full import ALWAYS as FULL_ALWAYS
from contracts.mra_status_only import FIELDS as STATUS_ONLY_FIELDS
from network.sharing import Sharing
from node.core.canonical import parse_json
from node.core.entries import RECORD_KINDS, EntryHeader, entry_hash
from sim.nodes import SimNode

__all__ = [
    "acknowledged_lost",
    "disagreements",
    "forks_misplaced",
    "membership_differs",
    "payloads_misplaced",
    "reaches_non_member",
]


def disagreements(
    honest: Sequence[SimNode],
    agreements: Sequence[Agreement],
    equivocator: str | None,
) -> list[str]:
    """Where the honest nodes do not agree yet: a log held short, a delivery not fetched, an
    equivocator (once it showed two histories) not frozen, a membership in force that differs
    (a member's own update not held everywhere)."""
    found = membership_differs(honest)
    memberships = {node.code: node.service.membership for node in honest}
    for code, membership in memberships.items():
        for member in membership.members:
            others = [n for n, m in memberships.items() if m.member(member.code) != member]
            if others and code == member.code:
                found.append(
                    f"{', '.join(sorted(others))} do not hold {member.code}'s entry at revision"
                    f" {member.revision}"
                )
    for origin in honest:
        head = origin.store.head(origin.code)
        for node in honest:
            if node is origin:
                continue
            held = node.store.head(origin.code)
            if held != head:
                size = head.size if head else 0
                found.append(
                    f"{node.code} holds {origin.code} at {held.size if held else 0} of {size}"
                )
            elif _shares(agreements, origin.code, node.code):
                found.extend(_missing_deliveries(origin, node))
    if equivocator is not None:
        for node in honest:
            if equivocator not in node.store.frozen_origins():
                found.append(f"{node.code} has not frozen the equivocator {equivocator}")
    return found


def membership_differs(honest: Sequence[SimNode]) -> list[str]:
    """The honest nodes whose membership in force (its version, each entry, and the members'
    own updates held) is not the one most of them hold."""
    if not honest:
        return []
    views: dict[str, tuple[object, ...]] = {}
    for node in honest:
        membership = node.service.membership
        members = tuple(sorted(membership.members, key=lambda m: m.code))
        held = node.service.gossip.member_updates.held
        updates = tuple(sorted((c, s.update.revision) for c, s in held.items()))
        views[node.code] = (membership.version, members, updates)
    counted = [(sum(v == w for w in views.values()), v) for v in views.values()]
    common = max(counted, key=lambda c: c[0])[1]
    found = []
    for code, view in sorted(views.items()):
        if view != common:
            found.append(
                f"{code} holds membership v{view[0]} with updates {view[2]}, not the v{common[0]}"
                f" with updates {common[2]} that {counted and max(c for c, _ in counted)} hold"
            )
    return found


def reaches_non_member(node: SimNode, other: str, what: str) -> list[str]:
    """``node`` (honest) ``what`` (sent a request to, or answered one of) ``other``: a
    violation unless ``other`` is a member in force at ``node`` (a removed member receives
    nothing from the moment a node holds the version that removes it)."""
    if other in node.service.peers.member_codes():
        return []
    return [f"{node.code} {what} {other}, which is not a member in force there"]


def _missing_deliveries(origin: SimNode, partner: SimNode) -> list[str]:
    """What ``origin`` owes ``partner`` (as its own Sharing decides) and it lacks."""
    # Under the agreements in force among the members in force (one naming a removed member
    # has ended: its partners owe each other nothing more under it).
    service = origin.service
    members = service.peers.member_codes()
    sharing = Sharing(origin.store, origin.code, service.key, service.clock(), members)
    missing = []
    for entry in origin.store.entries(origin.code):
        if sharing.delivery(entry, partner.code) is None:
            continue
        held = partner.store.entry(origin.code, entry.seq)
        if partner.store.view_at(origin.code, entry.seq) is None and (
            held is None or held.payload is None
        ):
            missing.append(f"{partner.code} lacks the delivery of {origin.code}#{entry.seq}")
    return missing


def _shares(agreements: Sequence[Agreement], a: str, b: str) -> bool:
    return any(a in doc.parties and b in doc.parties for doc in agreements)


def payloads_misplaced(
    honest: Sequence[SimNode],
    nodes: dict[str, SimNode],
    agreements: Sequence[Agreement],
    twin: SimNode | None = None,
) -> list[str]:
    """Record payloads held by a node that is not their origin, and views held beyond what
    the agreements of both parties share. ``twin``: the equivocator's second node, whose
    history a view may come from."""
    found = []
    for node in honest:
        # Read from the file as an auditor would, on a connection of its own.
        uri = f"file:{node.store.path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            payloads = db.execute(
                "SELECT e.origin, e.seq, e.body FROM entries e JOIN payloads p"
                " ON p.origin = e.origin AND p.seq = e.seq WHERE e.origin != ?",
                (node.code,),
            ).fetchall()
            views = db.execute(
                "SELECT origin, seq, agreements, body FROM views ORDER BY origin, seq"
            ).fetchall()
        for origin, seq, body in payloads:
            if EntryHeader.from_bytes(bytes(body)).kind in RECORD_KINDS:
                found.append(f"{node.code} holds the payload of {origin}#{seq}")
        for origin, seq, agreement_ids, body in views:
            found.extend(
                _view_allowed(
                    _sources(nodes, twin, node, origin, seq),
                    agreements,
                    node.code,
                    origin,
                    seq,
                    agreement_ids,
                    parse_json(body),
                )
            )
    return found


def _sources(
    nodes: dict[str, SimNode], twin: SimNode | None, partner: SimNode, origin: str, seq: int
) -> SimNode:
    """The node whose history holds the entry ``partner`` holds at ``origin``#``seq``: the
    origin, or its twin when the equivocator showed ``partner`` the second history."""
    held = partner.store.entry(origin, seq)
    if twin is not None and twin.code == origin and held is not None:
        shown = twin.store.entry(origin, seq)
        if shown is not None and shown.body == held.body:
            return twin
    return nodes[origin]


def _view_allowed(
    source_node: SimNode,
    agreements: Sequence[Agreement],
    partner: str,
    origin: str,
    seq: int,
    agreement_ids: str,
    view: dict[str, Any],
) -> list[str]:
    where = f"{partner}'s view of {origin}#{seq}"
    docs = [d for d in agreements if origin in d.parties and partner in d.parties]
    if not docs:
        return [f"{where}: the two share no agreement"]
    if not set(agreement_ids.split(",")) <= {d.id for d in docs}:
        return [f"{where}: granted by {agreement_ids}, not an agreement of both"]
    source = source_node.store.entry(origin, seq)
    record = parse_json(source.payload) if source and source.payload else {}
    allowed: set[str] = set()
    for doc in docs:
        if doc.contract == "mra-full":
            if doc.params.get("consent_required") and partner not in record.get("consent", []):
                continue
            allowed |= set(FULL_ALWAYS) | set(doc.params["fields"])
        else:
            allowed |= set(STATUS_ONLY_FIELDS)
    extra = {p for p in _paths(view) if p not in allowed and p.split(".")[0] not in allowed}
    return [f"{where}: fields {sorted(extra)} are not shared with it"] if extra else []


def _paths(view: dict[str, Any]) -> Iterable[str]:
    """The fields of a view, with the status's sub-fields named one by one."""
    for name, value in view.items():
        if name == "status" and isinstance(value, dict):
            yield from (f"status.{sub}" for sub in value)
        else:
            yield name


def acknowledged_lost(
    honest: Sequence[SimNode],
    acknowledged: Sequence[tuple[str, int, bytes]],
    removed: Iterable[str] = (),
    nodes: dict[str, SimNode] | None = None,
) -> list[str]:
    """Acknowledged appends (origin, seq, entry hash) that an honest node lacks or holds
    otherwise; of an origin since ``removed``, that the origin itself lacks (``nodes``)."""
    found = []
    gone = set(removed)
    for origin, seq, digest in acknowledged:
        holders = honest
        if origin in gone:
            holders = [nodes[origin]] if nodes is not None else []
        for node in holders:
            entry = node.store.entry(origin, seq)
            if entry is None or bytes(entry_hash(entry.body)) != digest:
                found.append(f"{node.code} lost acknowledged {origin}#{seq}")
    return found


def forks_misplaced(honest: Sequence[SimNode], equivocator: str | None) -> list[str]:
    """Honest origins accused of equivocation by an honest node."""
    found = []
    for node in honest:
        accused = {f["origin"] for f in node.store.forks()}
        wrongly = accused - {equivocator}
        if wrongly:
            found.append(f"{node.code} accuses honest origins {sorted(wrongly)}")
    return found
