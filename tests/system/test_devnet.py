"""The devnet as users run it: five ``mra node run`` processes on 127.0.0.1, real TLS, real
gossip. Only the test's own requests are made here; the nodes decide everything else.

The tests share one devnet (started once, ~20 s) and run in file order: the last one makes BR
equivocate, which freezes BR at every node.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from network.devnet import Devnet
from network.evidence import verify_bundle
from network.membership import SignedMembership
from node.core.checkpoint import Checkpoint, SignedNote, sign_checkpoint
from node.core.crypto import SigningKey
from node.core.entries import signing_message
from node.core.errors import MraError
from node.core.logs import log_name
from node.core.sample import sample_dicts
from node.host.home import load_signing_key
from tests.system import lone_node

ROOT = Path(__file__).resolve().parents[2]
CODES = ("AR", "BR", "CL", "PY", "UY")
STATUS_ONLY_FIELDS = {"aeo_id", "certificate", "status", "authorised", "expires"}


def _free_base() -> int:
    for _ in range(50):
        # Below Linux's ephemeral range (32768-60999): an outgoing connection made between this
        # check and a node's bind could otherwise take one of the five ports.
        base = random.randint(20000, 32700)
        try:
            for port in range(base, base + 5):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no five free ports")


class Net:
    def __init__(self, directory: Path, base: int) -> None:
        self.dir = directory
        self.base = base
        self.ports = dict(zip(("BR", "UY", "AR", "PY", "CL"), range(base, base + 5), strict=True))

    def url(self, code: str) -> str:
        return f"https://127.0.0.1:{self.ports[code]}"

    def api(self, code: str) -> httpx.Client:
        key = (self.dir / code / "admin.key").read_text().strip()
        return httpx.Client(
            base_url=self.url(code),
            verify=str(self.dir / "members.pem"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )

    def as_peer(self, code: str, *, home: Path | None = None) -> httpx.Client:
        """A client presenting ``code``'s TLS certificate (a peer's identity)."""
        context = ssl.create_default_context(cafile=str(self.dir / "members.pem"))
        where = home or self.dir / code
        context.load_cert_chain(where / "tls.crt", where / "tls.key")
        return httpx.Client(base_url="", verify=context, timeout=10)

    def pids(self) -> dict[str, int]:
        data: dict[str, int] = json.loads((self.dir / "pids.json").read_text())
        return data

    def sizes(self, code: str) -> dict[str, int]:
        with self.api(code) as client:
            logs: dict[str, int] = client.get("/v1/health").json()["logs"]
            return logs


def mra(*args: str, timeout: float = 180) -> str:
    """``lone_node.mra`` with time for a whole devnet's start and stop."""
    return lone_node.mra(*args, timeout=timeout)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    directory = tmp_path_factory.mktemp("devnet") / "net"
    base = _free_base()
    out = mra(
        "devnet",
        "up",
        "--dir",
        str(directory),
        "--base-port",
        str(base),
        "--records",
        "20",
        "--detach",
    )
    assert "MRA-BR-UY" in out
    yield Net(directory, base)
    mra("devnet", "down", "--dir", str(directory))


def publish(net: Net, code: str, record: dict[str, Any]) -> None:
    with net.api(code) as client:
        answer = client.post("/v1/aeo", json=record)
        assert answer.status_code == 200, answer.text


def view_at(net: Net, code: str, aeo_id: str) -> dict[str, Any] | None:
    with net.api(code) as client:
        answer = client.get(f"/v1/aeo/{aeo_id}")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def new_record(code: str, number: int, **changes: Any) -> dict[str, Any]:
    record = next(sample_dicts(code, 1, seed=99, start=number))
    record.update({"certificate": "AEOS", "consent": ["AR", "UY"], **changes})
    return record


def test_demo_data_and_agreements_reached_every_party(net: Net) -> None:
    with net.api("UY") as client:
        phases = {a["id"]: a["phase"] for a in client.get("/v1/agreements").json()}
    assert phases == {"MERCOSUR-AEO": "approved", "MRA-BR-UY": "approved"}
    # Every node converges to the same size for every origin (headers go to all members).
    wait_for(
        lambda: len({json.dumps(net.sizes(c), sort_keys=True) for c in CODES}) == 1,
        15,
        "identical sizes everywhere",
    )
    with net.api("CL") as client:
        health = client.get("/v1/health").json()
    assert set(health["peers"]) == {"AR", "BR", "PY", "UY"}
    assert all(peer["reachable"] for peer in health["peers"].values())
    assert all(behind == 0 for behind in health["lag"].values())


def test_a_status_change_at_br_is_readable_at_uy_within_a_second(net: Net) -> None:
    record = new_record("BR", 900001)
    publish(net, "BR", record)
    wait_for(lambda: view_at(net, "UY", record["aeo_id"]), 1.0, "the record at UY")

    suspended = {"code": "suspended", "reason": "audit in progress", "effective": "2026-11-01"}
    with net.api("BR") as client:
        started = time.monotonic()
        answer = client.post(f"/v1/aeo/{record['aeo_id']}/status", json=suspended)
        assert answer.status_code == 200, answer.text

    def suspended_at_uy() -> bool:
        view = view_at(net, "UY", record["aeo_id"])
        return view is not None and view["view"]["status"]["code"] == "suspended"

    wait_for(suspended_at_uy, 1.0, "the suspension at UY")
    assert time.monotonic() - started < 1.0
    view = view_at(net, "UY", record["aeo_id"])
    assert view is not None
    # UY is party to the bilateral mra-full agreement: it sees the name and the reason.
    assert view["view"]["legal_name"] == record["legal_name"]
    assert view["view"]["status"]["reason"] == "audit in progress"
    assert "consent" not in view["view"]  # who else the trader consented to is not shared


def test_ar_receives_only_the_status_only_view(net: Net) -> None:
    record = new_record("BR", 900002)
    publish(net, "BR", record)
    view = wait_for(lambda: view_at(net, "AR", record["aeo_id"]), 5, "the record at AR")
    assert set(view["view"]) <= STATUS_ONLY_FIELDS
    assert set(view["view"]["status"]) == {"code", "effective"}
    assert view["agreements"] == ["MERCOSUR-AEO"]
    assert "legal_name" not in json.dumps(view)


def test_cl_never_receives_a_brazilian_record(net: Net) -> None:
    record = new_record("BR", 900003, consent=["AR", "CL", "PY", "UY"])
    publish(net, "BR", record)
    wait_for(lambda: view_at(net, "UY", record["aeo_id"]), 5, "the record at UY")
    br_size = net.sizes("BR")["BR"]
    wait_for(lambda: net.sizes("CL").get("BR") == br_size, 5, "BR's headers at CL")
    # Not through CL's own API ...
    assert view_at(net, "CL", record["aeo_id"]) is None
    # ... nor through BR's peer endpoints, asked with CL's certificate ...
    with net.as_peer("CL") as client:
        sealed = client.get(f"{net.url('BR')}/v1/peer/deliveries", params={"start": 0}).json()
        assert sealed["items"] == []
        assert sealed["next"] == br_size
    # ... and no byte of it is in any of CL's files.
    for path in (net.dir / "CL").iterdir():
        if path.name.startswith("ledger.db"):
            data = path.read_bytes()
            assert record["legal_name"].encode() not in data
            assert record["identifiers"][0]["value"].encode() not in data


def test_peer_endpoints_need_a_member_certificate(net: Net, tmp_path: Path) -> None:
    frontier = f"{net.url('BR')}/v1/peer/frontier"
    peer_paths = [
        ("GET", "/v1/peer/frontier"),
        ("GET", "/v1/peer/log/BR?start=0&size=1"),
        ("GET", "/v1/peer/deliveries?start=0"),
        ("POST", "/v1/peer/push"),
        ("POST", "/v1/peer/query"),
        ("GET", "/v1/peer/membership"),
        ("GET", "/v1/peer/forks"),
    ]
    for method, path in peer_paths:  # no client certificate
        answer = httpx.request(
            method, net.url("BR") + path, verify=str(net.dir / "members.pem"), timeout=10
        )
        assert answer.status_code == 401, path
        assert answer.headers["content-type"].startswith("application/problem+json")
    # an API key is not a peer identity, and a peer certificate is not an API key
    key = (net.dir / "BR" / "admin.key").read_text().strip()
    headers = {"Authorization": f"Bearer {key}"}
    trust = str(net.dir / "members.pem")
    assert httpx.get(frontier, verify=trust, headers=headers).status_code == 401
    with net.as_peer("UY") as client:
        assert client.get(f"{net.url('BR')}/v1/health").status_code == 401
        assert client.get(frontier).status_code == 200
        assert client.get(f"{net.url('BR')}/v1/peer/membership").json()["document"]["version"] == 1
        # a member may push only its own log
        pushed = client.post(f"{net.url('BR')}/v1/peer/push", json={"origin": "AR"})
        assert pushed.status_code == 403
    # a certificate that no member's entry carries does not get through the handshake
    mra(
        "network",
        "init",
        str(tmp_path / "other"),
        "--member",
        f"UY,Impostor,{net.url('UY')}",
        "--member",
        "AR,Other,https://127.0.0.1:1",
    )
    with (
        net.as_peer("UY", home=tmp_path / "other" / "UY") as client,
        pytest.raises(httpx.TransportError),
    ):
        client.get(frontier)


def _push(net: Net, body: dict[str, Any]) -> httpx.Response:
    with net.as_peer("BR") as client:
        return client.post(f"{net.url('UY')}/v1/peer/push", json=body)


def _br_page(net: Net, back: int = 3) -> dict[str, Any]:
    """BR's last ``back`` entries, as a peer fetches them."""
    size = net.sizes("BR")["BR"]
    with net.as_peer("UY") as client:
        page: dict[str, Any] = client.get(
            f"{net.url('BR')}/v1/peer/log/BR", params={"start": size - back, "size": size}
        ).json()
    return page


def test_forged_reordered_replayed_or_oversized_batches_change_nothing(net: Net) -> None:
    page = _br_page(net)
    entries = page["entries"]
    # UY already holds these: replaying them stores nothing.
    before = net.sizes("UY")
    replay = _push(net, {**page, "origin": "BR", "deliveries": []})
    assert replay.status_code == 200 and replay.json()["size"] == before["BR"]

    # Appear to be BR's next entries: take a held entry and sign its bytes with another key.
    impostor = SigningKey.generate()
    body = base64.b64decode(entries[-1]["body"])
    forged = [
        {
            "body": entries[-1]["body"],
            "signature": base64.b64encode(impostor.sign(signing_message(body))).decode(),
        }
    ]
    held = before["BR"]
    for bad in (
        {"start": held, "entries": forged},  # forged signature, wrong seq for the position
        {"start": held, "entries": list(reversed(entries))},  # reordered
        {"start": held, "entries": entries, "checkpoint": "not a checkpoint"},  # malformed
    ):
        answer = _push(net, {**page, "origin": "BR", "deliveries": [], **bad})
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    oversized = _push(net, {"origin": "BR", "padding": "x" * (9 * 1024 * 1024)})
    assert oversized.status_code == 413
    assert net.sizes("UY") == before
    with net.api("UY") as client:
        assert client.get("/v1/forks").json() == []  # nothing above proves a fork


def test_a_node_stopped_for_a_while_catches_up(net: Net) -> None:
    pid = net.pids()["PY"]
    os.kill(pid, signal.SIGKILL)
    record = new_record("BR", 900004)
    publish(net, "BR", record)
    wait_for(lambda: view_at(net, "AR", record["aeo_id"]), 5, "the record at AR")
    _restart(net, "PY")
    view = wait_for(lambda: view_at(net, "PY", record["aeo_id"]), 10, "the record at PY")
    assert set(view["view"]) <= STATUS_ONLY_FIELDS
    assert net.sizes("PY")["BR"] == net.sizes("BR")["BR"]


def test_a_key_rotation_reaches_every_node_and_a_late_node_catches_up_across_it(
    net: Net,
) -> None:
    os.kill(net.pids()["PY"], signal.SIGKILL)
    with net.api("BR") as client:
        answer = client.post("/v1/keys/rotate")
    assert answer.status_code == 200, answer.text
    rotation = answer.json()
    record = new_record("BR", 900005)
    publish(net, "BR", record)  # signed with the new key, and so is UY's view of it
    wait_for(lambda: view_at(net, "UY", record["aeo_id"]), 1.0, "the record at UY")

    def knows_new_key(code: str) -> bool:
        with net.api(code) as client:
            keys = client.get("/v1/keys", params={"origin": "BR"}).json()["BR"]
        return keys[-1] == {"since": rotation["since"], "public_key": rotation["public_key"]}

    for code in ("UY", "AR", "CL"):
        wait_for(lambda c=code: knows_new_key(c), 5, f"{code} knows BR's new key")
    _restart(net, "PY")  # it missed the rotation: pages stop at it, then go on with the new key
    view = wait_for(lambda: view_at(net, "PY", record["aeo_id"]), 10, "the record at PY")
    assert set(view["view"]) <= STATUS_ONLY_FIELDS
    assert knows_new_key("PY")
    wait_for(lambda: _log(net, "PY", "BR") == _log(net, "BR", "BR"), 10, "PY holds BR's log as BR")
    verified = mra("ledger", "verify", "--home", str(net.dir / "PY"))
    assert "BR" in verified


def _log(net: Net, code: str, origin: str) -> tuple[int, str]:
    with net.api(code) as client:
        found = [g for g in client.get("/v1/logs").json() if g["origin"] == origin]
    return (found[0]["size"], found[0]["root"]) if found else (0, "")


def _restart(net: Net, code: str) -> None:
    pids = net.pids()
    pids[code] = Devnet(net.dir).start_node(code)
    (net.dir / "pids.json").write_text(json.dumps(pids))
    wait_for(lambda: _healthy(net, code), 20, f"{code} restarted")


def _healthy(net: Net, code: str) -> bool:
    try:
        with net.api(code) as client:
            return client.get("/v1/health").status_code == 200
    except httpx.TransportError:
        return False


def test_an_evidence_bundle_verifies_offline_and_any_changed_byte_is_refused(
    net: Net, tmp_path: Path
) -> None:
    record = new_record("BR", 900777)
    publish(net, "BR", record)
    path = f"/v1/aeo/{record['aeo_id']}?evidence=true"

    def answer_at(code: str) -> dict[str, Any] | None:
        with net.api(code) as client:
            answer = client.get(path)
        return answer.json() if answer.status_code == 200 else None

    at_uy = wait_for(lambda: answer_at("UY"), 5, "UY's answer with evidence")
    membership = ("--membership", str(net.dir / "membership.json"))
    for code, answer in (("UY", at_uy), ("BR", answer_at("BR"))):
        assert answer is not None
        saved = tmp_path / f"{code}.json"
        saved.write_text(json.dumps(answer))
        verified = mra("evidence", "verify", str(saved), *membership)
        assert f"VALID BR#{answer['seq']}" in verified
        assert ("the view for UY" if code == "UY" else "the full record") in verified
    # The same answer with its view edited around the valid bundle is refused (exit 1).
    edited = json.loads(json.dumps(at_uy))
    edited["view"]["status"]["code"] = "revoked"
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    refused_cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "node",
            "evidence",
            "verify",
            str(tmp_path / "edited.json"),
            *membership,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert refused_cli.returncode == 1 and "INVALID" in refused_cli.stderr, refused_cli.stderr
    # CL is in no agreement with BR: its answer is the one for an unknown id.
    with net.api("CL") as client:
        refused = client.get(path)
        unknown = client.get("/v1/aeo/BR999999999?evidence=true")
    assert refused.status_code == unknown.status_code == 404
    assert refused.json()["title"] == unknown.json()["title"]

    members = SignedMembership.from_json((net.dir / "membership.json").read_text()).membership
    # Asked directly at the issuing node (peer API), each partner gets what it is entitled to.
    ids = {"ids": [record["aeo_id"], "BR999999999"], "evidence": True}
    with net.as_peer("UY") as uy:
        direct = uy.post(f"{net.url('BR')}/v1/peer/query", json=ids).json()
    assert direct["unknown"] == ["BR999999999"]
    assert direct["found"][record["aeo_id"]]["view"] == at_uy["view"]
    proven = verify_bundle(direct["found"][record["aeo_id"]]["evidence"], members)
    assert proven.recipient == "UY" and proven.document == at_uy["view"]
    with net.as_peer("CL") as cl:
        assert cl.post(f"{net.url('BR')}/v1/peer/query", json=ids).json() == {
            "found": {},
            "unknown": [record["aeo_id"], "BR999999999"],
        }

    raw = json.dumps(at_uy["evidence"]).encode()
    verify_bundle(json.loads(raw), members)
    for i in range(len(raw)):
        changed = raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1 :]
        try:
            verify_bundle(json.loads(changed), members)
        except (MraError, ValueError):
            continue
        pytest.fail(f"byte {i} changed, still accepted: {raw[max(0, i - 80) : i + 40]!r}")


class EventReader:
    """Reads ``code``'s server-sent event stream on a thread, as a national system would."""

    def __init__(self, net: Net, code: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self._client = net.api(code)
        self._client.timeout = httpx.Timeout(10, read=None)
        self._ready = threading.Event()
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the stream did not open"

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "/v1/events/stream") as response:
                self._response = response
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                self._ready.set()
                for line in response.iter_lines():
                    if line.startswith("id: "):
                        self.ids.append(line[4:])
                    elif line.startswith("data: "):
                        self.events.append(json.loads(line[6:]))
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by the test

    def close(self) -> None:
        # Shut the socket down so the reading thread returns, and only then close it: a socket
        # closed under a thread still reading would free its descriptor for the next
        # connection, whose bytes that thread would then consume.
        if self._response is not None:
            stream = self._response.extensions["network_stream"]
            stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        self._client.close()


def test_partners_get_events_and_each_node_keeps_the_trail(net: Net) -> None:
    reader = EventReader(net, "UY")
    record = new_record("BR", 900888)
    aeo_id = record["aeo_id"]
    try:
        publish(net, "BR", record)
        wait_for(lambda: view_at(net, "UY", aeo_id), 5, "the record at UY")
        revoked = {"code": "revoked", "reason": "fraud", "effective": "2026-11-20"}
        with net.api("BR") as client:
            assert client.post(f"/v1/aeo/{aeo_id}/status", json=revoked).status_code == 200
        wait_for(
            lambda: (
                [e["status"] for e in reader.events if e["aeo_id"] == aeo_id]
                == ["valid", "revoked"]
            ),
            5,
            "both status events on UY's stream",
        )
    finally:
        reader.close()
    mine = [e for e in reader.events if e["aeo_id"] == aeo_id]
    assert [(e["origin"], e["previous"]) for e in mine] == [("BR", None), ("BR", "valid")]
    assert reader.ids[-1] == str(mine[-1]["id"])
    with net.api("UY") as client:  # resuming after an id gives what came after it
        resumed = client.get("/v1/events", params={"after": mine[0]["id"]}).json()
    assert mine[1] in resumed

    with net.as_peer("UY") as uy:
        uy.post(f"{net.url('BR')}/v1/peer/query", json={"ids": [aeo_id]})

    def trail(code: str) -> dict[str, Any]:
        with net.api(code) as client:
            answer = client.get(f"/v1/aeo/{aeo_id}/trail")
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    # At BR: both versions, a delivery of each to UY and to AR (under their agreements), none
    # to CL, and UY's direct query.
    at_br = wait_for(
        lambda: (t := trail("BR")) and len({d["actor"] for d in t["deliveries"]}) >= 3 and t,
        5,
        "deliveries to UY, AR and PY in BR's trail",
    )
    assert [v["status"] for v in at_br["versions"]] == ["valid", "revoked"]
    delivered = {(d["actor"], tuple(sorted(d["agreements"]))) for d in at_br["deliveries"]}
    # UY under both agreements (full view), AR and PY under MERCOSUR-AEO only, CL never.
    assert delivered == {
        ("peer:UY", ("MERCOSUR-AEO", "MRA-BR-UY")),
        ("peer:AR", ("MERCOSUR-AEO",)),
        ("peer:PY", ("MERCOSUR-AEO",)),
    }
    assert ("peer:UY", "POST /v1/peer/query") in {
        (q["actor"], q["channel"]) for q in at_br["queries"]
    }
    # At UY: the views received, when, under which agreement, and what changed.
    at_uy = trail("UY")
    assert [v["status"] for v in at_uy["versions"]] == ["valid", "revoked"]
    assert all("MRA-BR-UY" in v["agreements"] and v["received"] for v in at_uy["versions"])
    # "Did UY receive the revocation?" is one row at BR, naming the entry and the view's hash,
    # the hash of the view UY holds.
    revocation = at_br["versions"][1]["seq"]
    with net.api("BR") as client:
        answer = client.get(
            "/v1/audit",
            params={
                "partner": "UY",
                "aeo_id": aeo_id,
                "action": "deliver",
                "entry_seq": revocation,
                "repeats": "false",
            },
        )
    [row] = answer.json()["rows"]
    assert (row["entry_origin"], row["entry_seq"]) == ("BR", revocation)
    assert row["view_hash"] == at_uy["versions"][1]["view_hash"]
    assert row["actor_label"].startswith("peer:UY (")
    exported = net.dir / "br-deliveries-to-uy.json"
    mra(
        *("audit", "export", str(exported), "--partner", "UY", "--aeo", aeo_id),
        *("--action", "deliver", "--no-repeats", "--home", str(net.dir / "BR")),
    )
    from_cli = json.loads(exported.read_text())
    assert [r["entry_seq"] for r in from_cli] == [v["seq"] for v in at_br["versions"]]
    assert {r["actor_label"] for r in from_cli} == {row["actor_label"]}
    assert {"field": "status.code", "from": "valid", "to": "revoked"} in at_uy["versions"][1][
        "changes"
    ]
    assert "access log:" in mra("ledger", "verify", "--home", str(net.dir / "BR"))


def test_an_erasure_at_br_is_carried_out_and_confirmed_by_every_partner(net: Net) -> None:
    record = new_record("BR", 900999, legal_name="Erasable Comercio Exterior Ltda")
    aeo_id = record["aeo_id"]
    secrets = [record["legal_name"].encode()] + [i["value"].encode() for i in record["identifiers"]]
    publish(net, "BR", record)
    wait_for(lambda: view_at(net, "UY", aeo_id), 5, "the full view at UY")
    wait_for(lambda: view_at(net, "AR", aeo_id), 5, "the status-only view at AR")

    def files(code: str) -> bytes:
        return b"".join(p.read_bytes() for p in (net.dir / code).rglob("*") if p.is_file())

    assert record["legal_name"].encode() in files("UY")
    with net.api("BR") as client:
        answer = client.post(f"/v1/aeo/{aeo_id}/erase", json={"reason": "LGPD Art. 18 request"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["partners"] == ["AR", "PY", "UY"]

    def trail(code: str) -> dict[str, Any]:
        with net.api(code) as client:
            found: dict[str, Any] = client.get(f"/v1/aeo/{aeo_id}/trail").json()
        return found

    confirmed = wait_for(
        lambda: (t := trail("BR")) and not t["erasures"][0]["outstanding"] and t,
        10,
        "AR, PY and UY confirming the erasure at BR",
    )
    [done] = confirmed["erasures"]
    assert {c["by"] for c in done["confirmed"]} == {"AR", "PY", "UY"}
    assert done["reason"] == "LGPD Art. 18 request" and done["basis"] == "request"
    assert all(v["erased"] for v in confirmed["versions"])
    assert confirmed["erase_requests"][0]["actor"].startswith("key:")
    assert {d["actor"] for d in confirmed["deliveries"]} >= {"peer:UY", "peer:AR"}
    for code in ("UY", "AR"):
        assert view_at(net, code, aeo_id) is None
        purged = trail(code)["purges"]
        assert [(p["by"], p["erasure"]) for p in purged] == [(code, done["seq"])]

    # No byte of the trader's name or identifiers in any file of any node holding it (database,
    # WAL, shared memory, node.log); every node's ledger still verifies.
    def traces() -> list[tuple[str, bytes]]:
        return [(c, s) for c in ("BR", "UY", "AR", "PY") for s in secrets if s in files(c)]

    wait_for(lambda: not traces(), 12, "no trace of the erased record in any file")
    for code in ("BR", "UY", "AR"):
        assert "hash chain intact" in mra("ledger", "verify", "--home", str(net.dir / code))


def test_an_origin_that_signs_two_checkpoints_of_one_size_is_caught_everywhere(net: Net) -> None:
    """Run last: it freezes BR at every node."""
    br_key = load_signing_key(net.dir / "BR" / "signing.key")  # rotated above: the new key
    page = _br_page(net, back=1)
    honest = Checkpoint.parse(SignedNote.parse(page["checkpoint"].encode()).text)
    lie = sign_checkpoint(
        Checkpoint(origin=log_name("BR"), size=honest.size, root=os.urandom(32)),
        log_name("BR"),
        br_key,
    )
    size = net.sizes("UY")["BR"]
    answer = _push(
        net,
        {
            "origin": "BR",
            "start": size,
            "entries": [],
            "checkpoint": lie.decode(),
            "proof": [],
            "deliveries": [],
        },
    )
    assert answer.status_code == 200, answer.text
    started = time.monotonic()

    def frozen_everywhere() -> bool:
        for code in ("UY", "AR", "PY", "CL"):
            with net.api(code) as client:
                if "BR" not in client.get("/v1/health").json()["frozen"]:
                    return False
        return True

    wait_for(frozen_everywhere, 10, "fork evidence against BR at every honest node")
    # two gossip rounds of the devnet's 1 s interval (jittered up to 1.25 s), plus a request
    assert time.monotonic() - started < 3.5
    with net.api("CL") as client:
        [fork] = client.get("/v1/forks").json()
    assert fork["origin"] == "BR" and fork["evidence"]["kind"] == "checkpoints"
    assert {fork["evidence"]["small"], fork["evidence"]["big"]} == {
        page["checkpoint"],
        lie.decode(),
    }
