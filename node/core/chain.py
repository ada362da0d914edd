"""Verification of one origin's hash chain, entry by entry (pure).

``verify_entry`` checks, in this order, and fails closed at the first broken step:

1. the header bytes are a canonical, well-formed header          -> ``malformed-entry``
2. the header sits where it is stored (origin and seq)           -> ``wrong-position``
3. ``prev`` is the hash of the previous header (when given)      -> ``broken-chain``
4. the timestamp does not go backwards                           -> ``time-regressed``
5. the signature verifies under the origin's key for that seq    -> ``bad-signature``

Step 5 is the expensive one; bulk verifiers may run it separately and in parallel through
``signature_valid`` (PyNaCl releases the GIL), after steps 1-4 passed. The walk along a whole
chain, with the key in force at each seq, is ``node.core.walk``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from node.core.crypto import Hash32, PublicKey
from node.core.entries import EntryHeader, payload_matches, signing_message
from node.core.errors import IntegrityError, InvalidInput

__all__ = [
    "SignatureJob",
    "check_payload",
    "signature_valid",
    "signatures_valid",
    "start_signature_checks",
    "verify_entry",
]

SignatureJob = tuple[bytes, bytes, PublicKey]  # header bytes, signature, key in force


def verify_entry(
    body: bytes,
    signature: bytes,
    *,
    origin: str,
    seq: int,
    prev: Hash32 | None,
    min_ts: int,
    key: PublicKey | None,
) -> EntryHeader:
    """Verify one stored or received entry against its expected place in the chain.

    ``prev`` None skips step 3 (a lone entry, placed by an inclusion proof instead); ``key``
    None skips step 5 (the caller checks signatures in bulk). Returns the parsed header.
    Raises IntegrityError naming the damage.
    """
    # 1. canonical, well-formed header
    try:
        header = EntryHeader.from_bytes(body)
    except InvalidInput as exc:
        raise IntegrityError("malformed-entry", str(exc), origin=origin, seq=seq) from exc
    # 2. stored where it claims to be
    if header.origin != origin or header.seq != seq:
        raise IntegrityError(
            "wrong-position",
            f"header says {header.origin}#{header.seq}",
            origin=origin,
            seq=seq,
        )
    # 3. chained to its predecessor
    if prev is not None and header.prev != prev:
        raise IntegrityError(
            "broken-chain", "prev does not match the previous entry", origin=origin, seq=seq
        )
    # 4. time never goes backwards within one log (contracts take time from entries)
    if header.ts < min_ts:
        raise IntegrityError(
            "time-regressed", f"ts {header.ts} < previous {min_ts}", origin=origin, seq=seq
        )
    # 5. signed by the origin
    if key is not None and not signature_valid(body, signature, key):
        raise IntegrityError("bad-signature", "signature does not verify", origin=origin, seq=seq)
    return header


def signature_valid(body: bytes, signature: bytes, key: PublicKey) -> bool:
    """True when ``signature`` is ``key``'s signature of the entry header ``body``."""
    return key.verify(signing_message(body), signature)


def signatures_valid(jobs: Sequence[SignatureJob]) -> list[bool]:
    """``signature_valid`` for each job, in order (one unit of work for a thread pool)."""
    return [signature_valid(body, signature, key) for body, signature, key in jobs]


def start_signature_checks(
    jobs: Sequence[SignatureJob], executor: Executor | None
) -> Callable[[], list[bool]]:
    """Start ``signatures_valid`` for ``jobs``, in two halves on ``executor`` when there are
    enough to be worth it; the returned function waits and gives the results in job order."""
    if executor is None or len(jobs) < 64:
        results = signatures_valid(jobs)
        return lambda: results
    half = (len(jobs) + 1) // 2
    parts = [executor.submit(signatures_valid, part) for part in (jobs[:half], jobs[half:])]
    return lambda: [ok for part in parts for ok in part.result()]


def check_payload(header: EntryHeader, salt: bytes, payload: bytes) -> None:
    """Raise IntegrityError ``payload-mismatch`` unless salt and payload open the commitment."""
    if not payload_matches(header, salt, payload):
        raise IntegrityError(
            "payload-mismatch",
            "payload does not match the entry's commitment",
            origin=header.origin,
            seq=header.seq,
        )
