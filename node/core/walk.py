"""The one walk along an origin's chain of headers, and the key in force at a seq (pure).

Replication (``node.ledger.replica``), fsck (``node.ledger.fsck``) and evidence verification
(``network.evidence``) all check entries through ``ChainWalk``; every "which key signs seq n"
question is ``key_in_force`` over a key schedule, a list of ``(since_seq, key)`` in increasing
``since_seq`` (the ``keys`` table, or the first key and the rotations a bundle proves).

Each step of a walk checks one ``(body, signature)``, in the order of ``node.core.chain``, and
fails closed at the first broken step:

0. a key is in force at the expected seq                          -> ``missing-key``
1. the header bytes are a canonical, well-formed header           -> ``malformed-entry``
2. the header sits at the expected origin and seq                 -> ``wrong-position``
3. ``prev`` is the hash of the previous header (when known)       -> ``broken-chain``
4. the timestamp does not go backwards                            -> ``time-regressed``
5. the signature verifies under the key in force at that seq      -> ``bad-signature``
6. that key is not revoked at that seq (a compromise rotation revoked it from an earlier
   seq; the rotation itself excepted), and a signature that fails step 5 is not by a
   revoked key either                                              -> ``revoked-key``

Step 5 may be deferred (``defer_signatures``): the walk then queues the signatures and
``check_signatures`` runs them in a batch, on a thread pool when given one (PyNaCl releases the
GIL), reporting the first that fails in seq order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from node.core.chain import SignatureJob, signature_valid, start_signature_checks, verify_entry
from node.core.crypto import Hash32, PublicKey
from node.core.entries import GENESIS_PREV, EntryHeader, entry_hash
from node.core.errors import IntegrityError, InvalidInput

__all__ = [
    "ChainWalk",
    "KeySchedule",
    "Link",
    "Revocation",
    "key_in_force",
    "keys_in_force",
    "revoked",
    "walk",
]

KeySchedule = Sequence[tuple[int, PublicKey]]  # (since_seq, key), since_seq increasing


def key_in_force(schedule: KeySchedule, seq: int) -> PublicKey | None:
    """The key that signs ``seq``: the last in ``schedule`` whose ``since_seq`` is at most
    ``seq``; None when none starts at or before it."""
    found = None
    for since, key in schedule:
        if since > seq:
            break
        found = key
    return found


def keys_in_force(schedule: KeySchedule, first: int, last: int) -> list[PublicKey]:
    """Every key in force at some seq in ``first..last``, oldest first."""
    keys = [key for since, key in schedule if first < since <= last]
    start = key_in_force(schedule, first)
    return keys if start is None else [start, *keys]


@dataclass(frozen=True, slots=True, kw_only=True)
class Revocation:
    """``key`` must not be trusted for anything at seq ``since`` or later, except the
    compromise rotation at ``rotation`` that revoked it (its last act, signed before the
    revocation was known): ``node.core.rotation``."""

    key: PublicKey
    since: int
    rotation: int

    def __post_init__(self) -> None:
        if not 0 <= self.since <= self.rotation:
            raise InvalidInput("revoked_from is a seq in 0..the rotation's", field="revoked_from")

    def covers(self, key: PublicKey, seq: int) -> bool:
        """Is ``key`` untrusted at ``seq`` under this revocation?"""
        return key == self.key and seq >= self.since and seq != self.rotation


def revoked(revocations: Iterable[Revocation], key: PublicKey, seq: int) -> Revocation | None:
    """The revocation that makes ``key`` untrusted at ``seq``, if any."""
    return next((r for r in revocations if r.covers(key, seq)), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """Where a walk stands: the seq the next header must have, the hash of the header before
    it (None: not at hand, the chain step is skipped, as for a lone entry that an inclusion
    proof places instead) and that header's time (the next may not be earlier)."""

    origin: str
    seq: int
    prev: Hash32 | None
    min_ts: int

    @classmethod
    def genesis(cls, origin: str) -> Link:
        """The link before ``origin``'s entry 0."""
        return cls(origin=origin, seq=0, prev=GENESIS_PREV, min_ts=0)


class ChainWalk:
    """One pass along ``link.origin``'s headers in seq order, from ``link`` on, checking each
    under ``schedule`` and ``revocations`` (steps in the module docstring). ``rotate`` extends
    the schedule with a key the walk has just seen a rotation introduce, ``revoke`` the
    revocations with one a compromise rotation makes."""

    __slots__ = (
        "_defer",
        "_jobs",
        "_min_ts",
        "_origin",
        "_prev",
        "_revocations",
        "_schedule",
        "_seq",
    )

    def __init__(
        self,
        link: Link,
        schedule: KeySchedule,
        *,
        defer_signatures: bool = False,
        revocations: Iterable[Revocation] = (),
    ):
        self._origin = link.origin
        self._revocations = list(revocations)
        self._seq = link.seq
        self._prev = link.prev
        self._min_ts = link.min_ts
        self._schedule = list(schedule)
        self._defer = defer_signatures
        self._jobs: list[SignatureJob] = []

    @property
    def seq(self) -> int:
        """The seq the next header must have."""
        return self._seq

    @property
    def link(self) -> Link:
        """Where the walk stands now (after the last header that passed)."""
        return Link(origin=self._origin, seq=self._seq, prev=self._prev, min_ts=self._min_ts)

    def step(self, body: bytes, signature: bytes) -> EntryHeader:
        """Check the next header; returns it parsed. Raises IntegrityError naming the damage
        (steps 0-4, and 5 unless deferred); the walk does not advance then."""
        origin, seq = self._origin, self._seq
        # 0. a key to check the signature with
        key = key_in_force(self._schedule, seq)
        if key is None:
            raise IntegrityError(
                "missing-key", f"no key known for {origin}", origin=origin, seq=seq
            )
        # 1-4. canonical, in place, chained, in time (5 below, or queued)
        header = verify_entry(
            body,
            signature,
            origin=origin,
            seq=seq,
            prev=self._prev,
            min_ts=self._min_ts,
            key=None,
        )
        # 6. (before 5: no signature makes it good) that key is not revoked at seq
        if (revocation := revoked(self._revocations, key, seq)) is not None:
            raise self._revoked(revocation, seq)
        # 5. signed by the key in force at seq
        if self._defer:
            self._jobs.append((body, signature, key))
        elif not signature_valid(body, signature, key):
            raise self._bad_signature(body, signature, seq)
        self._seq, self._prev, self._min_ts = seq + 1, entry_hash(body), header.ts
        return header

    def rotate(self, since: int, key: PublicKey) -> None:
        """``key`` signs from ``since`` on (a rotation entry at ``since`` - 1 named it)."""
        self._schedule.append((since, key))

    def revoke(self, revocation: Revocation) -> None:
        """``revocation`` applies from now on (a compromise rotation the walk just passed)."""
        self._revocations.append(revocation)

    def _revoked(self, revocation: Revocation, seq: int) -> IntegrityError:
        return IntegrityError(
            "revoked-key",
            f"signed by a key revoked from #{revocation.since} (compromise rotation at"
            f" #{revocation.rotation})",
            origin=self._origin,
            seq=seq,
        )

    def _bad_signature(self, body: bytes, signature: bytes, seq: int) -> IntegrityError:
        """Step 5 failed: name ``revoked-key`` when a key revoked at ``seq`` made it."""
        for revocation in self._revocations:
            if revocation.covers(revocation.key, seq) and signature_valid(
                body, signature, revocation.key
            ):
                return self._revoked(revocation, seq)
        return IntegrityError(
            "bad-signature", "signature does not verify", origin=self._origin, seq=seq
        )

    def check_signatures(self, executor: Executor | None = None) -> Callable[[], None]:
        """Start the deferred signature checks (step 5) of the headers stepped since the last
        call, in two halves on ``executor`` when there are enough; the returned function waits
        and raises IntegrityError ``bad-signature`` for the first that fails."""
        jobs, self._jobs = self._jobs, []
        first = self._seq - len(jobs)
        results = start_signature_checks(jobs, executor)

        def wait() -> None:
            for offset, ok in enumerate(results()):
                if not ok:
                    body, signature, _ = jobs[offset]
                    raise self._bad_signature(body, signature, first + offset)

        return wait


def walk(
    link: Link,
    headers: Iterable[tuple[bytes, bytes]],
    schedule: KeySchedule,
    revocations: Iterable[Revocation] = (),
) -> Iterator[EntryHeader]:
    """Check ``headers`` (body, signature) in order from ``link`` on, each with its signature;
    yields each parsed header once it passed. Raises IntegrityError at the first damage."""
    chain = ChainWalk(link, schedule, revocations=revocations)
    for body, signature in headers:
        yield chain.step(body, signature)
