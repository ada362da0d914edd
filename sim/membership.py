"""The membership changes of a run (issue 24), made by the functions the ``mra network``
commands call, while messages are lost, duplicated and reordered:

    move     ``network.member_updates.move``: a member's new endpoint, signed by itself
    renew    ``network.member_updates.renew``: a member's new TLS key and certificate, signed by
             itself; its key is drawn from the run's seed (``network.pki.self_issued``), so that
             a seed replays exactly
    add      ``network.onboarding``: a new member's home (``join``), the next version with it
             (``propose_member``) signed by every member (``sign``), installed at one node
             (``install``) and spread by gossip; the new node then runs like the others
    remove   ``network.removal.propose_removal``: the next version without a member, signed by
             every remaining member, installed at one node; the removed node runs on, refused

Signatures are collected as operators collect them, all at once: a member refuses to sign a
version whose entries it does not hold yet (an update still in flight, a renewal it has not
switched to, the version before not installed), and the operators try again a little later.

The changes draw from a generator of their own, so that the other events of a seed are drawn
as before.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from network.member_updates import NEXT_CERT, move, renew
from network.membership import SignedMembership
from network.onboarding import REQUEST_FILE, install, join, propose_member, sign
from network.removal import propose_removal
from node.core.errors import MraError
from node.host.home import NodeHome
from sim.nodes import SimNode
from sim.scheduler import Scheduler

__all__ = ["Changes"]

AGAIN = 1.0  # seconds before the operators try to collect the signatures again
GOVERNED = 0.2  # the share of seeds with an addition, and (drawn apart) with a removal


class Run(Protocol):
    """What the changes use of the run (``sim.network.Simulation``)."""

    seed: int
    directory: Path
    scheduler: Scheduler
    equivocator: str | None
    nodes: dict[str, SimNode]

    def honest(self) -> list[SimNode]: ...
    def note(self, *parts: object) -> None: ...
    def clock(self, skew_ms: int) -> Callable[[], int]: ...
    def spare_code(self) -> str: ...
    def admit(self, path: Path, code: str) -> None: ...


class Changes:
    """The membership changes of ``sim``'s run, and how many of each were made."""

    def __init__(self, sim: Run) -> None:
        self.sim = sim
        self.rng = random.Random(f"membership-{sim.seed}")
        self.moved = self.renewed = self.added = self.removed = 0
        self.gone: set[str] = set()  # members removed (by a version installed somewhere)
        self.pending: set[str] = set()  # versions whose signatures are still being collected

    def schedule(self, duration: float) -> None:
        """Moves, renewals and, in some seeds, an addition and a removal, during the faults."""
        at = self.sim.scheduler.at
        rng = self.rng
        for number in range(rng.randint(0, 2)):
            at(rng.uniform(0, duration * 0.8), functools.partial(self._move, number))
        for _ in range(rng.randint(1, 2)):
            at(rng.uniform(0, duration * 0.8), self._renew)
        if rng.random() < GOVERNED:
            self.pending.add("addition")
            at(rng.uniform(duration * 0.05, duration * 0.4), self._add)
        if rng.random() < GOVERNED:
            self.pending.add("removal")
            at(rng.uniform(duration * 0.05, duration * 0.4), self._remove)

    def _now(self, node: SimNode) -> datetime:
        return datetime.fromtimestamp(self.sim.clock(node.skew_ms)() / 1000, UTC)

    def _members(self) -> list[SimNode]:
        """The honest members that may change their own entry (no renewal of theirs waits)."""
        return [n for n in self.sim.honest() if not (n.home.path / NEXT_CERT).exists()]

    def _move(self, number: int) -> None:
        """An honest member moves to another port (``mra network move``)."""
        candidates = self._members()
        if not candidates:
            return
        node = self.rng.choice(candidates)
        endpoint = f"https://{node.code.lower()}.sim.invalid:{8000 + number}"
        signed = move(node.home, node.store, endpoint, now=self._now(node))
        self.moved += 1
        self.sim.note("moved", node.code, signed.update.revision, endpoint)

    def _renew(self) -> None:
        """An honest member renews its TLS key and certificate (``mra network renew``)."""
        candidates = self._members()
        if not candidates:
            return
        node = self.rng.choice(candidates)
        key = ec.derive_private_key(self.rng.getrandbits(240) + 1, ec.SECP256R1())
        signed = renew(node.home, node.store, now=self._now(node), tls_key=key)
        self.renewed += 1
        self.sim.note("renewed", node.code, signed.update.revision)

    def _collect(
        self, proposal: SignedMembership, signed: set[str], what: str
    ) -> SignedMembership | None:
        """Every member of the proposed version but those in ``signed`` signs it, then an honest
        one installs it (``mra network sign``, ``install``); None (noted) when one refuses for
        now."""
        sim = self.sim
        codes = sorted(m.code for m in proposal.membership.members)
        try:
            for code in codes:
                if code not in signed:
                    node = sim.nodes[code]
                    proposal = sign(node.home, node.store, proposal)
            honest = [n for n in sim.honest() if n.code in codes]
            installer = self.rng.choice(honest)
            install(installer.home, installer.store, proposal)
        except MraError as exc:
            sim.note(f"{what} waits", type(exc).__name__)
            return None
        sim.note(f"{what} installed", installer.code, proposal.membership.version)
        return proposal

    def _remove(self) -> None:
        """The members remove one of them (``mra network remove``)."""
        sim = self.sim
        candidates = [n for n in sim.honest() if n.code != sim.equivocator]
        if len(candidates) < 3:
            self.pending.discard("removal")
            return
        gone = self.rng.choice(candidates)
        proposer = self.rng.choice([n for n in candidates if n is not gone])
        try:
            proposal = propose_removal(proposer.home, proposer.store, gone.code)
        except MraError as exc:
            sim.note("removal waits", type(exc).__name__)
            proposal = None
        if proposal is None or self._collect(proposal, {proposer.code}, "removal") is None:
            sim.scheduler.at(sim.scheduler.now + AGAIN, self._remove)
            return
        self.gone.add(gone.code)
        self.pending.discard("removal")
        self.removed += 1

    def _add(self) -> None:
        """A new member joins (``mra network join --self-issued``); a member proposes it
        (``propose``); the new member signs first, then the others; once a member installed
        it, so does the new member, and its node starts."""
        sim = self.sim
        code = sim.spare_code()
        path = sim.directory / code
        home = NodeHome(path=path)
        proposer = self.rng.choice(sim.honest())
        if not path.exists():
            endpoint = f"https://{code.lower()}.sim.invalid:7443"
            join(home, code, f"Customs {code}", endpoint, self_issued=self._now(proposer))
        store = home.open_store()
        try:
            try:
                proposal = propose_member(proposer.home, proposer.store, path / REQUEST_FILE)
                proposal = sign(home, store, proposal)
            except MraError as exc:
                sim.note("addition waits", type(exc).__name__)
                proposal = None
            installed = None
            if proposal is not None:
                installed = self._collect(proposal, {proposer.code, code}, "addition")
            if installed is not None:
                install(home, store, installed)
        finally:
            store.close()
        if installed is None:
            sim.scheduler.at(sim.scheduler.now + AGAIN, self._add)
            return
        sim.admit(path, code)
        self.pending.discard("addition")
        self.added += 1
