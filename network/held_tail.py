"""What peers hold of a restored node's lost tail (issue 25, point 2).

A restore from an older backup loses the entries signed after it; the peers still hold their
headers, the views of them they were delivered, and when. The restored node asks each peer
``GET /v1/peer/held/{origin}?start=N`` (``held_page`` answers it, for the caller's own log only:
it is the caller's own data handed back) and ``lost_tail`` puts the answers together per lost
seq. A header a peer returns is evidence, not data to trust: ``lost_tail`` checks its signature
against the keys this node signs with and names any that it never signed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from network.problems import PeerDenied
from network.wire import b64, checked_seq, unb64
from node.core.access import view_hash
from node.core.canonical import parse_json
from node.core.crypto import PublicKey
from node.core.entries import EntryHeader, entry_hash, signing_message
from node.core.errors import InvalidInput, PeerMisbehaved, PeerThrottled, PeerUnavailable
from node.store.open import NodeStore

__all__ = ["HELD_PAGE", "HeldSeq", "ask_held", "held_page", "lost_tail", "report"]

HELD_PAGE = 200  # seqs per answer: each may carry a view (a record's fields, up to 64 KiB)


def held_page(store: NodeStore, asker: str, origin: str, start: int) -> dict[str, Any]:
    """What this node holds of ``origin``'s log from seq ``start`` (at most HELD_PAGE seqs):
    per seq the signed header, the view delivered here and when, and whether a whole document
    (an agreement, an erasure) was delivered. ``next`` is where the following page starts
    (equal to ``size`` at the end).

    Raises PeerDenied (403) unless ``asker`` asks of its own log, InvalidInput for a bad
    ``start``."""
    if origin != asker:
        raise PeerDenied(
            403, f"{asker} may ask only what this node holds of its own log", "wrong-origin"
        )
    start = checked_seq(start, "start")
    head = store.head(origin)
    size = head.size if head else 0
    stop = min(size, start + HELD_PAGE)
    items = []
    for entry in store.entries(origin, start, stop) if start < stop else ():
        header = EntryHeader.from_bytes(entry.body)
        item: dict[str, Any] = {
            "seq": entry.seq,
            "kind": header.kind.value,
            "ts": header.ts,
            "hash": entry_hash(entry.body).hex(),
            "body": b64(entry.body),
            "signature": b64(entry.signature),
            "document": entry.payload is not None,
        }
        view = store.view_at(origin, entry.seq)
        if view is not None:
            agreements, body, _ = view
            fields = parse_json(body)
            aeo_id = str(fields.get("aeo_id", ""))
            received = [
                row["received_ts"]
                for row in store.views_held(aeo_id)
                if (row["origin"], row["seq"]) == (origin, entry.seq)
            ]
            item["view"] = {
                "aeo_id": aeo_id,
                "hash": view_hash(body),
                "agreements": [a for a in agreements.split(",") if a],
                "received_ts": received[0] if received else None,
                "fields": fields,
            }
        items.append(item)
    return {
        "origin": origin,
        "start": start,
        "size": size,
        "next": max(start, stop),
        "items": items,
    }


Request = Callable[..., Awaitable[Any]]  # (method, peer code, path, params=...) -> JSON
MAX_WAIT = 10  # seconds a throttled peer is waited for, once per page


async def _ask_one(request: Request, code: str, me: str, start: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        try:
            page = await request("GET", code, f"/v1/peer/held/{me}", params={"start": start})
        except PeerThrottled as exc:
            if exc.retry_after > MAX_WAIT:
                raise
            await asyncio.sleep(exc.retry_after)
            continue
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise PeerMisbehaved(f"{code} answered a page that is not {{items: [...]}}")
        items.extend(i for i in page["items"] if isinstance(i, dict))
        following = checked_seq(page.get("next"), "next")
        if following <= start or following >= checked_seq(page.get("size"), "size"):
            return items
        start = following


async def ask_held(
    request: Request, codes: Iterable[str], me: str, start: int
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Ask every peer in ``codes`` what it holds of ``me``'s log from ``start``, all at once.
    Returns the items each answered and, per peer that did not, why (unreachable, refused):
    a peer that is down is reported, never fatal."""
    codes = sorted(codes)
    results = await asyncio.gather(
        *(_ask_one(request, code, me, start) for code in codes), return_exceptions=True
    )
    answers: dict[str, list[dict[str, Any]]] = {}
    failed: dict[str, str] = {}
    for code, result in zip(codes, results, strict=True):
        if isinstance(result, PeerUnavailable):
            failed[code] = f"unreachable: {result}"
        elif isinstance(result, (PeerMisbehaved, PeerThrottled, InvalidInput)):
            failed[code] = f"refused: {result}"
        elif isinstance(result, BaseException):
            raise result
        else:
            answers[code] = result
    return answers, failed


@dataclass(slots=True, kw_only=True)
class HeldSeq:
    """One seq of the lost tail as the peers hold it: per peer, the header's details (and
    whether this node signed it), the view and whether a document was delivered."""

    seq: int
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        kinds = {h["kind"] for h in self.headers.values() if h["signed_here"]}
        return ",".join(sorted(kinds)) or "?"

    @property
    def ts(self) -> int | None:
        stamps = [h["ts"] for h in self.headers.values() if h["signed_here"]]
        return min(stamps) if stamps else None

    @property
    def forged(self) -> list[str]:
        """The peers whose header at this seq this node never signed."""
        return sorted(code for code, h in self.headers.items() if not h["signed_here"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "ts": self.ts,
            "headers": self.headers,
            "views": self.views,
            "documents": self.documents,
            "not_signed_here": self.forged,
        }


def _signed_by(body: bytes, signature: bytes, keys: Iterable[PublicKey]) -> bool:
    return any(key.verify(signing_message(body), signature) for key in keys)


def lost_tail(
    me: str, start: int, keys: Iterable[PublicKey], answers: Mapping[str, list[dict[str, Any]]]
) -> list[HeldSeq]:
    """The seqs from ``start`` of ``me``'s log that peers hold, from their ``answers`` (per
    peer, the items of its pages), each header checked:

    1. its bytes parse as a header of ``me``'s log at the seq the peer gave;
    2. its signature verifies under one of ``keys`` (this node's keys, the current one too).

    A header failing either is kept, marked ``signed_here: false``, with what failed: a peer
    showing it holds something this node never signed is evidence against that peer."""
    keys = list(keys)
    held: dict[int, HeldSeq] = {}
    for code, items in sorted(answers.items()):
        for item in items:
            seq = checked_seq(item.get("seq"), "seq")
            if seq < start:
                continue
            one = held.setdefault(seq, HeldSeq(seq=seq))
            problem = ""
            digest = str(item.get("hash"))
            try:
                body = unb64(item.get("body"), "body")
                signature = unb64(item.get("signature"), "signature")
                digest = entry_hash(body).hex()  # of the bytes shown, not the hash claimed
                header = EntryHeader.from_bytes(body)  # 1.
                if (header.origin, header.seq) != (me, seq):
                    problem = f"a header of {header.origin}#{header.seq} given as {me}#{seq}"
                elif not _signed_by(body, signature, keys):  # 2.
                    problem = f"a signature no key of {me} made"
            except InvalidInput as exc:
                problem = f"not a header: {exc}"
            one.headers[code] = {
                "kind": str(item.get("kind")),
                "ts": item.get("ts"),
                "hash": digest,
                "signed_here": not problem,
                **({"problem": problem} if problem else {}),
            }
            view = item.get("view")
            if isinstance(view, dict):
                one.views[code] = view
            if item.get("document") is True:
                one.documents.append(code)
    return [held[seq] for seq in sorted(held)]


def report(
    me: str,
    size: int,
    keys: Iterable[PublicKey],
    answers: Mapping[str, list[dict[str, Any]]],
    failed: Mapping[str, str],
) -> dict[str, Any]:
    """The lost-tail report as one document (``mra ledger lost-tail --json``, ``GET
    /v1/lost-tail``): this node's log size ``size``, per peer whether it answered (else why
    not), and per lost seq what ``lost_tail`` found."""
    return {
        "origin": me,
        "held_here": size,
        "peers": {code: "answered" for code in answers} | dict(failed),
        "lost": [held.as_dict() for held in lost_tail(me, size, keys, answers)],
    }
