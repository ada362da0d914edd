"""A whole network in one process, driven by one seed: real nodes (real homes, keys,
certificates, signed membership, SQLite files) opened as ``mra node run`` opens them, gossiping
over an in-memory transport that loses, duplicates, delays and reorders messages, cuts the
network in two and skews every node's clock. Only the sockets and the clocks are replaced.

Time is virtual (``scheduler``): gossip coroutines run in the order of their wake-up times, so
a seed replays exactly (the trace of what happened, message by message, is the same on every
run; the bytes differ only where the product draws fresh salts and keys: renewed TLS keys come
from the seed).

    scheduler   virtual time
    faults      what the network does to messages; what a run comes to
    nodes       one simulated node, opened by ``node.app.compose.open_node`` as a served one
    network     the simulated network and one seeded run
    membership  the membership changes of a run: moves, renewals, an addition, a removal
    invariants  what every run is checked against (DESIGN-BRIEF §4)
    runner      the template network and ``run_seed``

``scripts/simulate --seeds N`` runs seeds from the command line; the test suite runs 200.
"""

from sim.faults import Faults, Outcome
from sim.network import Simulation
from sim.runner import run_seed

__all__ = ["Faults", "Outcome", "Simulation", "run_seed"]
