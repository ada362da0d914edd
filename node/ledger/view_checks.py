"""Step 5 of verification (``node.ledger.verification``): every view held is of an entry held,
files the record it shows, and is signed by its origin for this node under the key in force at
that seq. The signatures run a chunk at a time on an executor (PyNaCl releases the GIL)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor
from itertools import islice

from node.core.canonical import parse_json
from node.core.crypto import PublicKey
from node.core.entries import RECORD_KINDS, EntryHeader, entry_hash
from node.core.errors import IntegrityError, MraError
from node.core.views import verify_view
from node.core.walk import key_in_force
from node.store.open import NodeStore

__all__ = ["view_damage"]

VIEW_CHUNK = 2048


def view_damage(
    store: NodeStore, own: str | None, executor: Executor | None
) -> Iterator[IntegrityError]:
    """Step 5, a chunk of ``VIEW_CHUNK`` views at a time, their signatures on ``executor``."""
    schedules: dict[str, list[tuple[int, PublicKey]]] = {}
    views = store.all_views()
    while chunk := list(islice(views, VIEW_CHUNK)):
        damages: list[IntegrityError] = []
        jobs: list[tuple[str, int, _ViewJob]] = []
        for origin, seq, aeo_id, _, body, signature, header in chunk:
            if origin not in schedules:
                schedules[origin] = store.keys(origin)
            problem = _view_problem(origin, aeo_id, body, signature, header)
            if problem is None and (not schedules[origin] or own is None):
                problem = "view-signature", "no key of its origin, or no recipient, to check it"
            if problem is not None:
                damages.append(IntegrityError(*problem, origin=origin, seq=seq))
                continue
            assert isinstance(header, bytes)  # _view_problem saw to it
            # A keys table whose first key starts past ``seq`` is fsck's ``missing-key``; the
            # view is still checked, under that first key.
            key = key_in_force(schedules[origin], seq) or schedules[origin][0][1]
            jobs.append((origin, seq, (key, entry_hash(header), str(own), body, signature)))
        checks = [job for _, _, job in jobs]
        signed = executor.map(_view_signed, checks) if executor else map(_view_signed, checks)
        damages.extend(
            IntegrityError(
                "view-signature",
                "the view is not signed by its origin for this node",
                origin=origin,
                seq=seq,
            )
            for (origin, seq, _), ok in zip(jobs, signed, strict=True)
            if not ok
        )
        yield from sorted(damages, key=lambda d: (d.origin or "", d.seq or 0))


# (origin's key in force, entry hash, recipient, view bytes, signature)
_ViewJob = tuple[PublicKey, bytes, str, bytes, bytes]


def _view_signed(job: _ViewJob) -> bool:
    return verify_view(*job)


def _view_problem(
    origin: str, aeo_id: str, body: object, signature: object, header: object
) -> tuple[str, str] | None:
    """What is wrong with a view held, before its signature is checked: (damage, detail)."""
    if header is None:
        return "view-orphan", "a view of an entry not held"
    if not (isinstance(header, bytes) and isinstance(body, bytes) and isinstance(signature, bytes)):
        return "view-mismatch", "not stored as bytes"
    try:
        kind = EntryHeader.from_bytes(header).kind
        shown = parse_json(body)
    except MraError as exc:
        return "view-mismatch", str(exc)
    if kind not in RECORD_KINDS or not isinstance(shown, dict):
        return "view-mismatch", "a view of an entry that is no record"
    if shown.get("aeo_id") != aeo_id or aeo_id[:2] != origin:
        return "view-mismatch", f"filed under {aeo_id}, shows {shown.get('aeo_id')!r}"
    return None
