"""The identifier lookup: a partner asks the issuing node directly which of its AEOs, if any,
holds a trader identifier, and their status (``POST /v1/peer/lookup``), and what it may learn.

A partner that receives status-only views holds no identifiers, so it cannot find a declared
trader by EORI or TIN in what it holds. The origin answers it, under these rules:

1. Only what the contracts let the partner see at status level: an AEO is named only when
   the agreements in force give the partner a view of its current record with a status code
   (``status_level``), and only that view is sent (the one its deliveries carry).
2. "Not found" never says "no AEO holds this identifier". Which records a partner may see
   depends on each record (its certificate, its status, the trader's consent, an erasure that
   names the partner), so answering "none" for some identifiers and "not shared" for others
   would tell a partner that an AEO it may not see exists. The origin says ``none-you-may-see``:
   no AEO it shares with you holds it. This is the same answer whether another AEO holds it
   or not.
3. A partner to which the origin shares nothing (no agreement in force names both) is told
   ``nothing-shared``, for every identifier: that depends on the agreements only, never on
   the records, so it learns nothing of them.
4. Every lookup answered is one row of the origin's access log (actor ``peer:<code>``; the
   AEOs named, never the identifier), and each peer's lookups are rate-limited
   (``network.ratelimit``; 429 with Retry-After).

``answer_lookup`` is the origin's side; ``checked_answer`` is the asker's check of what came
back. Identifiers match as ``node.core.identifiers`` says (EORI and C-TPAT in any case).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from network.sharing import Sharing
from node.core.canonical import parse_json
from node.core.errors import PeerMisbehaved
from node.core.records import AEO_ID
from node.store.open import NodeStore

__all__ = ["NOT_FOUND", "PATH", "answer_lookup", "checked_answer", "status_level"]

PATH = "/v1/peer/lookup"
NONE_YOU_MAY_SEE = "none-you-may-see"
NOTHING_SHARED = "nothing-shared"
# What each "not found" means, as the answer says it ({origin}, {partner} filled in).
NOT_FOUND: Mapping[str, str] = {
    NONE_YOU_MAY_SEE: "no AEO that {origin} shares with {partner} under the agreements in force"
    " holds this identifier; {origin} does not say whether an AEO it does not share holds it",
    NOTHING_SHARED: "{origin} shares no records with {partner} under any agreement in force,"
    " so it says nothing of its records",
}


def status_level(view: Mapping[str, Any]) -> bool:
    """Does ``view`` let its receiver see the record's status (a status code)?"""
    status = view.get("status")
    return isinstance(status, dict) and isinstance(status.get("code"), str)


def answer_lookup(
    store: NodeStore, sharing: Sharing, origin: str, partner: str, scheme: str, value: str
) -> dict[str, Any]:
    """What ``origin`` answers ``partner`` asking who holds (``scheme``, ``value``), already
    normalised (``node.core.identifiers.lookup_key``): the AEOs of ``origin`` whose current
    record holds it and which ``sharing`` gives ``partner`` at status level, each with that
    view; or, when there is none, why ("not found" as NOT_FOUND says)."""
    found: list[dict[str, Any]] = []
    if sharing.ids_with(partner):
        for aeo_id in store.find_by_identifier(scheme, value):
            current = store.current_payload(aeo_id)
            if current is None or current[0] != origin:
                continue  # a partner's record: not this origin's to answer for
            entry = store.entry(origin, current[1])
            delivery = sharing.delivery(entry, partner) if entry is not None else None
            if entry is None or delivery is None or delivery.view is None:
                continue
            view = parse_json(delivery.view)
            if not status_level(view):
                continue
            found.append(
                {
                    "aeo_id": aeo_id,
                    "origin": origin,
                    "seq": entry.seq,
                    "agreements": list(delivery.agreements),
                    "view": view,
                }
            )
        reason = None if found else NONE_YOU_MAY_SEE
    else:
        reason = NOTHING_SHARED
    return {"origin": origin, "scheme": scheme, "found": found, "not_found": reason}


def checked_answer(origin: str, data: object) -> dict[str, Any]:
    """``origin``'s answer to a lookup, checked: every AEO named is one of ``origin``'s, with
    a view at status level, and a "not found" is one of NOT_FOUND. Raises PeerMisbehaved."""
    if not isinstance(data, dict) or data.get("origin") != origin:
        raise PeerMisbehaved(f"{origin} answered a lookup with something else")
    found = data.get("found")
    reason = data.get("not_found")
    if not isinstance(found, list) or (reason is None) == (not found):
        raise PeerMisbehaved(f"{origin} answered a lookup with neither AEOs nor a reason")
    if reason is not None and reason not in NOT_FOUND:
        raise PeerMisbehaved(f"{origin} answered a lookup with an unknown reason")
    for item in found:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("aeo_id"), str)
            and AEO_ID.fullmatch(item["aeo_id"])
            and item["aeo_id"][:2] == origin
            and item.get("origin") == origin
            and isinstance(item.get("seq"), int)
            and isinstance(item.get("agreements"), list)
            and isinstance(item.get("view"), dict)
            and item["view"].get("aeo_id") == item["aeo_id"]
            and status_level(item["view"])
        ):
            raise PeerMisbehaved(f"{origin} named an AEO in a lookup that is not one of its own")
    return {"origin": origin, "found": found, "not_found": reason}
