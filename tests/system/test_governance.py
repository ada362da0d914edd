"""Network governance with no single authority (issue 24) on real node processes over TLS:
members that are their own trust root, pinned by the membership."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.registry import SOURCE_HASHES
from network.bootstrap import MemberSpec, init_network
from network.pki import CertificateAuthority, self_issued
from node.core.clock import system_clock
from node.core.sample import sample_dicts
from node.host.apikeys import create_key
from node.host.home import NodeHome
from node.store.sqlite import SqliteStore
from tests.system.lone_node import mra

# Minutes of whole-network procedures: .ci/run runs them as their own step (pytest -m long).
pytestmark = pytest.mark.long

ROOT = Path(__file__).resolve().parents[2]
NODE_RUN = (sys.executable, "-m", "node", "node", "run")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class Net:
    """A self-issued network of real ``mra node run`` processes on 127.0.0.1."""

    def __init__(self, directory: Path, codes: tuple[str, ...], *, self_issued: bool = True):
        self.dir = directory
        self.ports = dict(zip(codes, free_ports(len(codes)), strict=True))
        specs = [MemberSpec(code=c, name=f"Customs {c}", endpoint=self.url(c)) for c in self.ports]
        now = datetime.now(UTC)
        init_network(directory, "Governance test", specs, now=now, network_ca=not self_issued)
        self.keys: dict[str, str] = {}
        for code in self.ports:
            store = SqliteStore.open(directory / code / "ledger.db")
            try:
                self.keys[code] = create_key(store, "admin", "test", system_clock())
            finally:
                store.close()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, code: str) -> str:
        return f"https://127.0.0.1:{self.ports[code]}"

    def start(self, code: str) -> None:
        log = open(self.dir / code / "node.log", "ab")  # noqa: SIM115 (closed by the process)
        self.processes[code] = subprocess.Popen(
            [*NODE_RUN, "--home", str(self.dir / code), "--port", str(self.ports[code])],
            cwd=ROOT,
            env={**os.environ, "MRA_GOSSIP_INTERVAL": "0.5"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    def api(self, code: str) -> httpx.Client:
        """A client of ``code``'s API, trusting the node's own certificate (it is its root)
        and the network CA, if any."""
        context = ssl.create_default_context(cadata=(self.dir / code / "tls.crt").read_text())
        if (self.dir / "ca.crt").exists():
            context.load_verify_locations(cafile=str(self.dir / "ca.crt"))
        return httpx.Client(
            base_url=self.url(code),
            verify=context,
            headers={"Authorization": f"Bearer {self.keys[code]}"},
            timeout=10,
        )

    def health(self, code: str) -> dict[str, Any]:
        with self.api(code) as client:
            answer: dict[str, Any] = client.get("/v1/health").json()
            return answer

    def log(self, code: str) -> str:
        return (self.dir / code / "node.log").read_text(errors="replace")


def running(network: Net) -> Iterator[Net]:
    try:
        for code in network.ports:
            network.start(code)
        for code in network.ports:
            wait_for(lambda c=code: network.health(c), 30, f"{code} to serve")  # type: ignore[misc]
        yield network
    finally:
        network.stop()


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    yield from running(Net(tmp_path / "net", ("AR", "BR")))


@pytest.fixture
def ca_net(tmp_path: Path) -> Iterator[Net]:
    """A network created with a network CA, as every network was before issue 24."""
    yield from running(Net(tmp_path / "net", ("AR", "BR"), self_issued=False))


def test_a_network_with_no_ca_replicates_and_accepts_only_pinned_certificates(net: Net) -> None:
    """Point 1: no CA exists; each node trusts exactly the certificates the membership pins."""
    assert not list(net.dir.rglob("ca.key")) and not list(net.dir.rglob("ca.crt"))
    with net.api("BR") as client:
        answer = client.post("/v1/aeo", json=next(sample_dicts("BR", 1)))
        wait_for(
            lambda: (
                client.post("/v1/aeo", json=next(sample_dicts("BR", 1, start=2))).status_code == 200
            ),
            30,
            "BR to append (after AR vouched for its log)",
        )
        assert answer.status_code in (200, 503)
    wait_for(lambda: net.health("AR")["logs"].get("BR", 0) >= 1, 30, "AR to replicate BR")
    # (after the backoff of BR's tries while AR was starting)
    wait_for(lambda: net.health("BR")["peers"]["AR"]["reachable"], 60, "BR to reach AR")

    # A certificate for AR that AR's entry does not pin: refused in the handshake.
    impostor = self_issued("AR", "Governance test", ["127.0.0.1"], now=datetime.now(UTC))
    (net.dir / "impostor.crt").write_bytes(impostor.cert_pem)
    (net.dir / "impostor.key").write_bytes(impostor.key_pem)
    context = ssl.create_default_context(cafile=str(net.dir / "BR" / "tls.crt"))
    context.load_cert_chain(net.dir / "impostor.crt", net.dir / "impostor.key")
    with pytest.raises(httpx.HTTPError):
        httpx.get(net.url("BR") + "/v1/peer/frontier", verify=context, timeout=5)
    # AR's real certificate is accepted; no certificate at all is refused (401).
    context = ssl.create_default_context(cafile=str(net.dir / "BR" / "tls.crt"))
    context.load_cert_chain(net.dir / "AR" / "tls.crt", net.dir / "AR" / "tls.key")
    assert httpx.get(net.url("BR") + "/v1/peer/frontier", verify=context).status_code == 200
    bare = ssl.create_default_context(cafile=str(net.dir / "BR" / "tls.crt"))
    assert httpx.get(net.url("BR") + "/v1/peer/frontier", verify=bare).status_code == 401


def as_peer(net: Net, target: str, cert: bytes, key: bytes) -> int:
    """The status of ``target``'s frontier asked with ``cert`` (the TLS identity presented)."""
    (net.dir / "client.crt").write_bytes(cert)
    (net.dir / "client.key").write_bytes(key)
    context = ssl.create_default_context(cadata=(net.dir / target / "tls.crt").read_text())
    if (net.dir / "ca.crt").exists():
        context.load_verify_locations(cafile=str(net.dir / "ca.crt"))
    context.load_cert_chain(net.dir / "client.crt", net.dir / "client.key")
    return httpx.get(net.url(target) + "/v1/peer/frontier", verify=context, timeout=5).status_code


def identity(net: Net, code: str) -> tuple[bytes, bytes]:
    """``code``'s TLS certificate and key as its home holds them now."""
    return (net.dir / code / "tls.crt").read_bytes(), (net.dir / code / "tls.key").read_bytes()


def held_revision(net: Net, at: str, member: str) -> int:
    path = net.dir / at / "member-updates.json"
    if not path.exists():
        return 0
    updates = json.loads(path.read_text())
    return int(updates[member]["update"]["revision"]) if member in updates else 0


def publish(net: Net, code: str, number: int) -> None:
    with net.api(code) as client:
        record = next(sample_dicts(code, 1, start=number))
        wait_for(
            lambda: client.post("/v1/aeo", json=record).status_code == 200,
            30,
            f"{code} to append record {number}",
        )


def test_renew_while_running_then_move_each_signed_by_the_member_alone(net: Net) -> None:
    """Points 3 and 4: BR renews its certificate twice and moves to another port, each with one
    command and its own signature; AR follows within gossip rounds and traffic flows across."""
    publish(net, "BR", 1)
    wait_for(lambda: net.health("AR")["logs"].get("BR", 0) >= 1, 30, "AR to replicate BR")
    original = (
        (net.dir / "BR" / "tls.crt").read_bytes(),
        (net.dir / "BR" / "tls.key").read_bytes(),
    )

    # 1. Renew while running: AR learns it, BR switches once AR holds it.
    said = mra("network", "renew", "--home", str(net.dir / "BR"))
    assert "BR revision 1" in said and "signed by BR" in said
    wait_for(lambda: held_revision(net, "AR", "BR") == 1, 30, "AR to hold BR's renewal")
    wait_for(lambda: not (net.dir / "BR" / "tls.next.crt").exists(), 30, "BR to switch")
    renewed = (net.dir / "BR" / "tls.crt").read_bytes()
    assert renewed != original[0]
    assert "presenting the renewed certificate" in net.log("BR")
    publish(net, "BR", 2)
    wait_for(lambda: net.health("AR")["logs"].get("BR", 0) >= 2, 30, "AR to replicate after")
    # The old certificate is still accepted (not expired, not superseded), the new one too.
    assert as_peer(net, "AR", *original) == 200
    assert as_peer(net, "AR", renewed, (net.dir / "BR" / "tls.key").read_bytes()) == 200
    health = net.health("AR")
    assert health["warnings"] == [] and health["certificates"]["BR"]["seconds_left"] > 800 * 86400
    with net.api("AR") as client:
        metrics = client.get("/metrics").text
    assert 'mra_tls_certificate_expiry_seconds{member="BR"}' in metrics

    # 2. A second renewal, short-lived: it supersedes the original (refused from then on), and
    # /v1/health warns that BR's certificate expires within 30 days.
    mra("network", "renew", "--days", "10", "--home", str(net.dir / "BR"))
    wait_for(lambda: not (net.dir / "BR" / "tls.next.crt").exists(), 30, "BR to switch again")
    wait_for(lambda: net.health("AR")["warnings"], 30, "AR to warn of BR's expiry")
    assert "BR's TLS certificate expires" in net.health("AR")["warnings"][0]
    with net.api("AR") as ui:
        ui.post("/ui/login", data={"api_key": net.keys["AR"]})
        assert "Certificates expiring" in ui.get("/ui/").text
    assert as_peer(net, "AR", *original) == 403

    # 3. Move: signed by BR while it runs at the old port; AR follows; BR restarts at the new
    # port and traffic flows to it there.
    new_port = free_ports(1)[0]
    said = mra(
        "network",
        "move",
        "--endpoint",
        f"https://127.0.0.1:{new_port}",
        "--home",
        str(net.dir / "BR"),
    )
    assert f"endpoint https://127.0.0.1:{new_port}" in said
    wait_for(lambda: held_revision(net, "AR", "BR") == 3, 30, "AR to hold BR's move")
    net.processes["BR"].send_signal(signal.SIGTERM)
    net.processes["BR"].wait(timeout=15)
    net.ports["BR"] = new_port
    net.start("BR")
    wait_for(lambda: net.health("BR"), 30, "BR to serve at its new port")
    publish(net, "BR", 3)
    wait_for(lambda: net.health("AR")["logs"].get("BR", 0) >= 3, 30, "AR to replicate BR moved")
    # AR reaches BR at its new port (after the backoff of its tries while BR restarted).
    wait_for(lambda: net.health("AR")["peers"]["BR"]["reachable"], 60, "AR to reach BR there")


def test_a_member_cannot_change_another_members_entry(net: Net) -> None:
    """Point 2: an update of AR's entry signed by BR is refused by AR's peers, with a reason
    logged, and changes nothing."""
    from network.governance import MemberUpdate, sign_update
    from network.membership import pem_sha256
    from node.host.home import load_signing_key

    membership = json.loads((net.dir / "membership.json").read_text())["document"]
    ar = next(m for m in membership["members"] if m["code"] == "AR")
    forged = MemberUpdate(
        network=membership["network"],
        code="AR",
        revision=1,
        endpoint="https://127.0.0.1:1",
        tls_cert=ar["tls_cert"],
        tls_cert_sha256=pem_sha256(ar["tls_cert"]),
        previous_tls_cert_sha256=ar["tls_cert_sha256"],
    )
    signed = sign_update(forged, load_signing_key(net.dir / "BR" / "signing.key"))
    context = ssl.create_default_context(cafile=str(net.dir / "AR" / "tls.crt"))
    context.load_cert_chain(net.dir / "BR" / "tls.crt", net.dir / "BR" / "tls.key")
    answer = httpx.post(
        net.url("AR") + "/v1/peer/member-update", json=signed.to_dict(), verify=context
    )
    assert answer.status_code == 409, answer.text
    assert "not signed by AR" in answer.json()["detail"]
    assert "member update from BR refused" in net.log("AR")
    assert held_revision(net, "AR", "AR") == 0


def test_a_network_with_a_ca_migrates_with_one_renew_per_member_while_running(
    ca_net: Net,
) -> None:
    """Point 1, migration: each member runs ``mra network renew`` once; traffic flows all along,
    and afterwards a certificate from the old CA admits no one (only pins do)."""
    net = ca_net
    publish(net, "BR", 1)
    wait_for(lambda: net.health("AR")["logs"].get("BR", 0) >= 1, 30, "AR to replicate BR")
    for number, code in enumerate(("BR", "AR"), start=2):
        mra("network", "renew", "--home", str(net.dir / code))
        wait_for(
            lambda c=code: not (net.dir / c / "tls.next.crt").exists(), 30, f"{code} to switch"
        )  # type: ignore[misc]
        publish(net, "BR", number)
        wait_for(
            lambda n=number: net.health("AR")["logs"].get("BR", 0) >= n,  # type: ignore[misc]
            30,
            f"AR to replicate BR after {code} renewed",
        )
    members = mra("network", "members", "--home", str(net.dir / "AR"))
    assert members.count("self-issued") == 2 and "network CA" not in members
    # The CA's key can still issue certificates, but none is pinned: refused (403).
    ca = CertificateAuthority.load(
        (net.dir / "ca.key").read_bytes(), (net.dir / "ca.crt").read_bytes()
    )
    forged = ca.issue("BR", ["127.0.0.1"], now=datetime.now(UTC))
    assert as_peer(net, "AR", forged.cert_pem, forged.key_pem) == 403


def test_the_network_keeps_working_past_the_expiry_of_a_renewed_certificate(net: Net) -> None:
    """Point 3: BR renews to a certificate valid for seconds, renews again before it expires,
    and traffic flows before and after that certificate's expiry, which peers then refuse."""
    from network.member_updates import renew

    publish(net, "BR", 1)
    wait_for(lambda: net.health("AR")["logs"].get("BR", 0) >= 1, 30, "AR to replicate BR")
    original = (
        (net.dir / "BR" / "tls.crt").read_bytes(),
        (net.dir / "BR" / "tls.key").read_bytes(),
    )
    home = NodeHome(path=net.dir / "BR")
    store = SqliteStore.open(home.db_path)
    try:
        renewed_at = datetime.now(UTC)
        # valid from five minutes before now (as every certificate) until 20 s from now
        renew(home, store, now=renewed_at, days=20 / 86400)
        wait_for(lambda: not (net.dir / "BR" / "tls.next.crt").exists(), 15, "BR to switch")
        short = (
            (net.dir / "BR" / "tls.crt").read_bytes(),
            (net.dir / "BR" / "tls.key").read_bytes(),
        )
        publish(net, "BR", 2)
        wait_for(lambda: net.health("AR")["logs"].get("BR", 0) >= 2, 15, "AR to replicate")
        renew(home, store, now=datetime.now(UTC))
        wait_for(lambda: not (net.dir / "BR" / "tls.next.crt").exists(), 15, "BR to switch again")
    finally:
        store.close()
    assert as_peer(net, "AR", *short) == 200  # superseded but not expired yet: still accepted
    assert as_peer(net, "AR", *original) == 403  # superseded twice
    time.sleep(max(0.0, 21 - (datetime.now(UTC) - renewed_at).total_seconds()))
    publish(net, "BR", 3)
    wait_for(lambda: net.health("AR")["logs"].get("BR", 0) >= 3, 30, "AR to replicate past expiry")
    with pytest.raises(httpx.HTTPError):  # expired: the handshake refuses it
        as_peer(net, "AR", *short)


def agreement(identifier: str, parties: list[str]) -> dict[str, Any]:
    """A bilateral mra-full agreement document between ``parties``, valid from yesterday."""
    today = datetime.now(UTC).date()
    return {
        "id": identifier,
        "kind": "bilateral",
        "parties": parties,
        "contract": "mra-full",
        "contract_version": 1,
        "contract_sha256": SOURCE_HASHES["mra-full@1"],
        "params": {
            "certificates": ["AEOC", "AEOS", "AEOF"],
            "fields": ["legal_name", "address", "certificate", "identifiers", "authorised"],
            "statuses": ["valid", "suspended", "revoked", "annulled"],
            "consent_required": False,
        },
        "valid_from": (today - timedelta(days=1)).isoformat(),
        "valid_until": (today + timedelta(days=365)).isoformat(),
        "title": f"{identifier} test",
        "legal_ref": "test",
    }


def in_force(net: Net, proposer: str, approver: str, identifier: str) -> None:
    """``proposer`` proposes a bilateral agreement, ``approver`` approves it once gossip brought
    the proposal."""
    with net.api(proposer) as client:
        answer = client.post("/v1/agreements", json=agreement(identifier, [proposer, approver]))
        assert answer.status_code == 201, answer.text
    with net.api(approver) as client:
        wait_for(
            lambda: client.post(f"/v1/agreements/{identifier}/approve").status_code == 200,
            30,
            f"{approver} to approve {identifier}",
        )


def held(net: Net, at: str, aeo_id: str) -> bool:
    with net.api(at) as client:
        return client.get(f"/v1/aeo/{aeo_id}").status_code == 200


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[Net]:
    yield from running(Net(tmp_path / "net", ("AR", "BR", "CL")))


def test_the_others_remove_cl_it_receives_nothing_and_its_history_still_verifies(
    trio: Net,
) -> None:
    """Point 4: BR proposes CL's removal, AR signs, BR installs: from then on every node refuses
    CL (403), nothing new reaches it, BR purges what it received only under the agreement with
    CL, and CL's log held at BR still verifies."""
    net = trio
    # BR shares with CL and with AR under two agreements; each publishes one record.
    in_force(net, "BR", "CL", "MRA-BR-CL")
    in_force(net, "BR", "AR", "MRA-AR-BR")
    publish(net, "BR", 1)
    publish(net, "CL", 1)
    wait_for(lambda: held(net, "CL", "BR000000001"), 30, "CL to receive BR's record")
    wait_for(lambda: held(net, "AR", "BR000000001"), 30, "AR to receive BR's record")
    wait_for(lambda: held(net, "BR", "CL000000001"), 30, "BR to receive CL's record")
    cl_size = net.health("CL")["logs"]["CL"]
    wait_for(lambda: net.health("BR")["logs"].get("CL", 0) == cl_size, 30, "BR to hold CL's log")
    assert as_peer(net, "BR", *identity(net, "CL")) == 200

    def with_evidence() -> str | None:
        with net.api("BR") as client:
            answer = client.get("/v1/aeo/CL000000001", params={"evidence": "true"})
        return answer.text if answer.status_code == 200 else None

    # evidence of CL's record issued at BR, once AR and BR cosigned a checkpoint of CL's log
    evidence = net.dir / "evidence.json"
    evidence.write_text(wait_for(with_evidence, 30, "BR to give evidence of CL's record"))

    # 1. The removal: proposed by BR, signed by AR (the rule: every remaining member), installed.
    proposal = str(net.dir / "remove-cl.json")
    said = mra("network", "remove", "CL", "--out", proposal, "--home", str(net.dir / "BR"))
    assert "membership v2" in said and "still to sign: AR" in said
    said = mra("network", "sign", proposal, "--home", str(net.dir / "AR"))
    assert "complete" in said
    assert "installed membership v2: AR, BR" in mra(
        "network", "install", proposal, "--home", str(net.dir / "BR")
    )
    assert as_peer(net, "BR", *identity(net, "CL")) == 403  # at once, from its install on

    # 2. BR takes it up, AR adopts it from BR: CL is refused by both (its certificate is still
    # trusted in the handshake until a restart, but pinned no more).
    for code in ("BR", "AR"):
        wait_for(
            lambda c=code: "CL" not in net.health(c)["peers"],  # type: ignore[misc]
            30,
            f"{code} to take up v2",
        )
        assert as_peer(net, code, *identity(net, "CL")) == 403
    assert "membership v2 adopted from BR" in net.log("AR")

    # 3. A new publication at BR reaches AR, never CL; CL's own appends reach no one.
    publish(net, "BR", 2)
    wait_for(lambda: held(net, "AR", "BR000000002"), 30, "AR to receive BR's new record")
    time.sleep(3)  # six gossip rounds
    assert not held(net, "CL", "BR000000002")
    assert net.health("CL")["logs"]["BR"] < net.health("BR")["logs"]["BR"]
    with net.api("CL") as client:  # (CL's appends wait for a peer to vouch: none answers it)
        client.post("/v1/aeo", json=next(sample_dicts("CL", 1, start=2)))
    time.sleep(1)
    assert net.health("BR")["logs"]["CL"] == cl_size

    # 4. The agreement naming CL has ended: BR purged CL's record (received only under it).
    wait_for(lambda: not held(net, "BR", "CL000000001"), 30, "BR to purge CL's record")
    with net.api("BR") as client:
        purges = client.get("/v1/aeo/CL000000001/trail").json()["purges"]
    assert [p["reason"] for p in purges] == ["agreement ended: MRA-BR-CL"]
    assert held(net, "AR", "BR000000001")  # (under MRA-AR-BR, untouched)

    # 5. CL's history held at BR verifies, with BR's whole ledger.
    net.stop()
    verified = mra("ledger", "verify", "--home", str(net.dir / "BR"))
    assert f"OK CL: {cl_size} entries" in verified and "OK BR" in verified
    # 6. CL's past evidence still checks against the version it was issued under (kept), and
    # not against the one without CL.
    checked = mra(
        "evidence",
        "verify",
        str(evidence),
        "--membership",
        str(net.dir / "BR" / "membership.v1.json"),
    )
    assert "VALID CL#" in checked
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "node",
            "evidence",
            "verify",
            str(evidence),
            "--membership",
            str(net.dir / "BR" / "membership.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1 and "CL is not a member" in refused.stdout + refused.stderr
