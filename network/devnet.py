"""``mra devnet``: a five-node network (BR, UY, AR, PY, CL) as real processes on 127.0.0.1.

``up`` creates the network material on first use (keys, self-issued certificates, signed
membership, one admin API key per node; no CA: ``network.bootstrap``), starts one ``mra node
run`` per member with TLS, records the agreements on first start (MRA BR-UY under
``mra-full``; a Mercosur plurilateral BR-AR-PY-UY under ``mra-status-only``; CL in none) and
loads demo AEO records. ``down`` stops the nodes.
Everything lives in one directory; ``down`` then ``up`` restarts the same network.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from contracts.registry import SOURCE_HASHES
from network.bootstrap import MemberSpec, client_trust, init_network
from node.core.clock import system_clock
from node.core.errors import Conflict, InvalidInput, PeerUnavailable
from node.core.sample import sample_dicts
from node.host.apikeys import create_key
from node.store.open import open_store

__all__ = ["MEMBERS", "Devnet", "agreements_for"]

MEMBERS = (
    ("BR", "Receita Federal do Brasil"),
    ("UY", "Direccion Nacional de Aduanas"),
    ("AR", "Direccion General de Aduanas"),
    ("PY", "Direccion Nacional de Aduanas del Paraguay"),
    ("CL", "Servicio Nacional de Aduanas"),
)


def agreements_for(today: date) -> list[dict[str, Any]]:
    """The devnet's two agreements, valid from ``today`` for five years."""
    until = today.replace(year=today.year + 5).isoformat()
    return [
        {
            "id": "MRA-BR-UY",
            "kind": "bilateral",
            "parties": ["BR", "UY"],
            "contract": "mra-full",
            "contract_version": 1,
            "contract_sha256": SOURCE_HASHES["mra-full@1"],
            "params": {
                "certificates": ["AEOC", "AEOS", "AEOF"],
                "fields": ["legal_name", "address", "certificate", "identifiers", "authorised"],
                "statuses": ["valid", "suspended", "revoked", "annulled"],
                "consent_required": True,
            },
            "valid_from": today.isoformat(),
            "valid_until": until,
            "title": "Mutual Recognition Arrangement Brazil-Uruguay (devnet)",
            "legal_ref": "devnet",
        },
        {
            "id": "MERCOSUR-AEO",
            "kind": "plurilateral",
            "parties": ["AR", "BR", "PY", "UY"],
            "contract": "mra-status-only",
            "contract_version": 1,
            "contract_sha256": SOURCE_HASHES["mra-status-only@1"],
            "params": {"certificates": ["AEOC", "AEOS", "AEOF"]},
            "valid_from": today.isoformat(),
            "valid_until": until,
            "title": "Mercosur AEO recognition (devnet)",
            "legal_ref": "devnet",
        },
    ]


@dataclass(frozen=True, slots=True)
class NodeInfo:
    code: str
    url: str
    api_key: str


class Devnet:
    """The devnet in ``directory`` (created on first ``up``)."""

    def __init__(
        self,
        directory: Path,
        *,
        base_port: int = 7441,
        gossip_interval: float = 1.0,
        node_env: Mapping[str, Mapping[str, str]] | None = None,
    ):
        """``node_env``: extra environment per member code, e.g. an egress ``HTTPS_PROXY``, or
        ``MRA_DATABASE_URL`` to keep that member's ledger in PostgreSQL."""
        self.dir = directory
        self.base_port = base_port
        self.gossip_interval = gossip_interval
        self.node_env = node_env or {}

    @property
    def pids_path(self) -> Path:
        return self.dir / "pids.json"

    def nodes(self) -> list[NodeInfo]:
        data = json.loads((self.dir / "membership.json").read_text())["document"]
        return [
            NodeInfo(
                code=m["code"],
                url=m["endpoint"],
                api_key=(self.dir / m["code"] / "admin.key").read_text().strip(),
            )
            for m in data["members"]
        ]

    def ports(self) -> list[int] | None:
        """The port of each member's URL, in member order (BR first), as the devnet's signed
        membership holds them; None before the devnet is created."""
        if not (self.dir / "membership.json").exists():
            return None
        return [int(node.url.rsplit(":", 1)[1]) for node in self.nodes()]

    def create(self, endpoint: str | None = None) -> bool:
        """Create the network material unless it exists; True when created now.

        ``endpoint`` is a template such as ``https://{code}:7441`` (``{code}`` lower-case);
        by default the nodes listen on 127.0.0.1 from ``base_port`` on.
        """
        if (self.dir / "membership.json").exists():
            return False
        specs = [
            MemberSpec(
                code=code,
                name=name,
                endpoint=endpoint.format(code=code.lower())
                if endpoint
                else f"https://127.0.0.1:{self.base_port + i}",
            )
            for i, (code, name) in enumerate(MEMBERS)
        ]
        init_network(self.dir, "MRA Ledger devnet", specs, now=datetime.now(UTC))
        for code, _ in MEMBERS:
            # A member given MRA_DATABASE_URL keeps its admin key in that database (which
            # adopts the signing keys init_network wrote into the home's SQLite file).
            url = self.node_env.get(code, {}).get("MRA_DATABASE_URL") or None
            store = open_store(self.dir / code / "ledger.db", url)
            try:
                key = create_key(store, "admin", "devnet", system_clock())
            finally:
                store.close()
            path = self.dir / code / "admin.key"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key + "\n")
        return True

    def start(self) -> dict[str, int]:
        """Start one node process per member; returns their pids."""
        if self.running():
            raise Conflict(f"the devnet in {self.dir} is already running", field="dir")
        pids = {node.code: self.start_node(node.code) for node in self.nodes()}
        self.pids_path.write_text(json.dumps(pids) + "\n")
        return pids

    def start_node(self, code: str) -> int:
        """Start ``code``'s node process; returns its pid. The node logs to its home's node.log
        (node.host.logfile); what the process prints (its URL, a failure to start) goes to
        console.log beside it."""
        node = next(n for n in self.nodes() if n.code == code)
        home = self.dir / code
        env = {
            **os.environ,
            "MRA_GOSSIP_INTERVAL": str(self.gossip_interval),
            **self.node_env.get(code, {}),
        }
        with open(home / "console.log", "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "node",
                    "node",
                    "run",
                    "--home",
                    str(home),
                    "--port",
                    node.url.rsplit(":", 1)[1],
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        return process.pid

    def running(self) -> dict[str, int]:
        if not self.pids_path.exists():
            return {}
        pids: dict[str, int] = json.loads(self.pids_path.read_text())
        return {code: pid for code, pid in pids.items() if _alive(pid)}

    def stop(self, timeout: float = 15.0) -> list[str]:
        """Stop every node (SIGTERM, then SIGKILL after ``timeout``); returns those stopped."""
        pids = self.running()
        for pid in pids.values():
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for pid in pids.values():
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.pids_path.unlink(missing_ok=True)
        return sorted(pids)

    def client(self, code: str) -> httpx.Client:
        """An HTTPS client for ``code``'s local API, with its admin key."""
        node = next(n for n in self.nodes() if n.code == code)
        context = ssl.create_default_context(cafile=str(client_trust(self.dir)))
        return httpx.Client(
            base_url=node.url,
            verify=context,
            headers={"Authorization": f"Bearer {node.api_key}"},
            timeout=30.0,
        )

    def wait_healthy(self, timeout: float = 30.0) -> None:
        for node in self.nodes():
            with self.client(node.code) as client:
                try:
                    _until(lambda c=client: _ok(c, "/v1/health"), timeout, "")  # type: ignore[misc]
                except PeerUnavailable:
                    raise PeerUnavailable(self._why_not_started(node.code, timeout)) from None

    def _why_not_started(self, code: str, timeout: float) -> str:
        """What an operator (or a CI log) needs to see when a node did not answer: whether its
        process is still there, and the last lines it wrote."""
        home = self.dir / code
        pid = json.loads(self.pids_path.read_text()).get(code) if self.pids_path.exists() else None
        state = "still running" if pid and _alive(pid) else "not running"
        tails = "".join(
            f"\n--- last lines of {home / name} ---\n{_tail(home / name)}"
            for name in ("console.log", "node.log")
        )
        return f"{code} did not answer /v1/health within {timeout:.0f} s (process {state}){tails}"

    def setup_agreements(self, today: date, timeout: float = 60.0) -> None:
        """Propose each agreement at BR, and approve it at every other party once there."""
        for doc in agreements_for(today):
            with self.client("BR") as client:
                _check(client.post("/v1/agreements", json=doc))
            for party in doc["parties"]:
                if party == "BR":
                    continue
                with self.client(party) as client:
                    _until(
                        lambda c=client, i=doc["id"]: any(  # type: ignore[misc]
                            a["id"] == i for a in _check(c.get("/v1/agreements"))
                        ),
                        timeout,
                        f"{party} did not receive {doc['id']}",
                    )
                    _check(client.post(f"/v1/agreements/{doc['id']}/approve"))
        for doc in agreements_for(today):
            for party in doc["parties"]:
                with self.client(party) as client:
                    _until(
                        lambda c=client, i=doc["id"]: any(  # type: ignore[misc]
                            a["id"] == i and a["phase"] == "approved"
                            for a in _check(c.get("/v1/agreements"))
                        ),
                        timeout,
                        f"{doc['id']} is not in force at {party}",
                    )

    def load_demo(self, count: int) -> dict[str, int]:
        """Publish ``count`` demo records at each node; returns how many were appended."""
        appended = {}
        for node in self.nodes():
            records = list(sample_dicts(node.code, count))
            with self.client(node.code) as client:
                total = 0
                for start in range(0, len(records), 1000):
                    answer = _check(
                        client.post("/v1/aeo", json={"records": records[start : start + 1000]})
                    )
                    total += len(answer["appended"])
            appended[node.code] = total
        return appended


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A detached node is not our child: once it exits it stays a zombie until its parent reaps
    # it, and an init that never reaps (some containers' PID 1) would keep it "alive" forever.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: the signal 0 above is all there is to go on
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(unreadable: {error.strerror})"


def _ok(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.TransportError:
        return False


def _until(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise PeerUnavailable(message)


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise InvalidInput(
            f"{response.request.method} {response.request.url.path}: {response.text[:300]}",
            field="devnet",
        )
    return response.json()
