"""Lying and hostile peers against one real ``mra node run`` process (uvicorn, TLS, its home).

The network is BR (the node under test), UY (party with BR to MRA-BR-UY) and CL (party to no
agreement). Before BR starts, BR proposes the agreement and UY approves it, offline, with the
code the nodes run (entries and the deliveries each is entitled to copied as gossip copies
them); UY's first page then reaches BR through BR's push endpoint, sent by the test with UY's
client certificate. The test then acts as UY (or CL, or strangers) with their real certificates
and keys, and tampers with UY's next page in every way it can think of.

Each hostile request must be answered with a 4xx problem document, change nothing BR holds
(every table of its SQLite file, read-only, but the access log; and ``GET /v1/logs``), be
counted once in ``mra_peer_refusals_total{peer, reason}`` and be logged in BR's node.log
without any payload bytes. Tests run in file order: the last one pushes UY's next page as UY
built it, which is accepted (so what the hostile pushes changed is what made them refused).
"""

from __future__ import annotations

import base64
import os
import re
import socket
import sqlite3
import ssl
import string
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nacl.public
import pytest
import schemathesis
from prometheus_client.parser import text_string_to_metric_families

from contracts.agreement import Agreement
from contracts.registry import SOURCE_HASHES
from network.answers import log_page
from network.bootstrap import MemberSpec, init_network
from network.pki import CertificateAuthority, new_ca
from network.replicator import Replicator
from network.sealing import Delivery, seal_delivery, sign_view
from network.sharing import Sharing
from node.core.checkpoint import Checkpoint, SignedNote, sign_checkpoint, sign_note
from node.core.clock import system_clock
from node.core.crypto import SigningKey
from node.core.entries import EntryHeader, entry_hash, signing_message
from node.core.logs import log_name
from node.core.records import AeoRecord
from node.core.sample import sample_dicts
from node.host import apikeys, keyfiles
from node.host.home import NodeHome, load_signing_key
from node.ledger import agreements
from node.ledger.replica import accept
from node.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
AGREEMENT = "MRA-BR-UY"
MIB = 1024 * 1024
READ_SECONDS = 1.0  # MRA_PEER_READ_SECONDS of the node under test
HEAD_SECONDS = 2.0  # MRA_HEAD_SECONDS of the node under test


# -- the network and the node under test ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _agreement(today: date) -> Agreement:
    return Agreement.from_dict(
        {
            "id": AGREEMENT,
            "kind": "bilateral",
            "parties": ["BR", "UY"],
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
            "valid_until": (today + timedelta(days=5 * 365)).isoformat(),
            "title": "Hostile peers test MRA",
            "legal_ref": "test",
        }
    )


@dataclass
class Member:
    """A member's home, opened in the test process (the node under test runs BR's apart)."""

    code: str
    home: NodeHome
    store: SqliteStore
    key: SigningKey
    sealing: nacl.public.PrivateKey

    @classmethod
    def open(cls, directory: Path, code: str) -> Member:
        home = NodeHome(path=directory / code)
        return cls(
            code=code,
            home=home,
            store=SqliteStore.open(home.db_path),
            key=load_signing_key(home.key_path),
            sealing=_sealing_key(home.path),
        )

    def publish(self, count: int, start: int) -> int:
        records = [AeoRecord.from_dict(d) for d in sample_dicts(self.code, count, start=start)]
        self.home.open_ledger(self.store).publish(records)
        return self.size()

    def size(self) -> int:
        head = self.store.head(self.code)
        return head.size if head else 0

    def sealed_for(self, partner: Member, start: int, end: int) -> list[dict[str, Any]]:
        """What this member's node pushes to ``partner`` with its entries [start, end)."""
        sharing = Sharing(self.store, self.code, self.key, system_clock())
        found = sharing.sealed(
            self.store.entries(self.code, start, end),
            partner.code,
            bytes(partner.sealing.public_key),
        )
        return [{"seq": d.seq, "sealed": _b64(blob)} for d, blob in found]

    def push_body(self, partner: Member, start: int, size: int) -> dict[str, Any]:
        """The push this member's node sends ``partner``: entries [start, size), checkpoint,
        consistency proof and deliveries (``network.gossip`` builds the same)."""
        page = log_page(self.store, self.code, start, size)
        return {**page, "deliveries": self.sealed_for(partner, start, size)}


def _sealing_key(home: Path) -> nacl.public.PrivateKey:
    return nacl.public.PrivateKey(
        bytes.fromhex(keyfiles.read_private(home / "sealing.key").decode().strip())
    )


def _copy_log(source: Member, target: Member) -> None:
    """``source``'s entries into ``target``'s store, with the deliveries it is entitled to,
    verified by the receiving code of a node (as pull gossip does)."""
    held = target.store.head(source.code)
    start = held.size if held else 0
    headers = [
        replace(e, salt=None, payload=None) for e in source.store.entries(source.code, start)
    ]
    accept(target.store, source.code, headers)
    replicator = Replicator(target.store, target.code, target.key, target.sealing, system_clock)
    sealed = source.sealed_for(target, start, source.size())
    replicator.receive_deliveries(source.code, [(i["seq"], _unb64(i["sealed"])) for i in sealed])


@dataclass
class Node:
    """BR's node process and what the test knows of the network around it."""

    dir: Path
    port: int
    api_key: str
    process: subprocess.Popen[bytes]
    uy: Member
    cl_key: SigningKey
    br_sealing: bytes
    s1: int  # UY's entries BR holds
    s2: int  # UY's entries after its next page (the page every hostile push tampers with)
    page2: dict[str, Any]
    first_push: dict[str, Any]
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.dir / "BR" / "node.log"

    def api(self) -> httpx.Client:
        """BR's local API with its admin key (one client, kept open)."""
        if "api" not in self.clients:
            self.clients["api"] = httpx.Client(
                base_url=self.url,
                verify=ssl.create_default_context(cafile=str(self.dir / "ca.crt")),
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=10,
            )
        return self.clients["api"]

    def connect(self, who: str | Path | None) -> httpx.Client:
        """A new client presenting ``who``'s certificate: a member code, a directory holding
        tls.crt and tls.key, or None for no certificate."""
        context = ssl.create_default_context(cafile=str(self.dir / "ca.crt"))
        if who is not None:
            where = self.dir / who if isinstance(who, str) else who
            context.load_cert_chain(where / "tls.crt", where / "tls.key")
        return httpx.Client(base_url=self.url, verify=context, timeout=10)

    def peer(self, who: str | Path | None) -> httpx.Client:
        """The client of ``who`` (see ``connect``), kept open across requests."""
        if str(who) not in self.clients:
            self.clients[str(who)] = self.connect(who)
        return self.clients[str(who)]

    def push(self, body: object, who: str = "UY") -> httpx.Response:
        return self.peer(who).post("/v1/peer/push", json=body)

    def post(self, path: str, content: bytes, who: str = "UY") -> httpx.Response:
        return self.peer(who).post(
            path, content=content, headers={"content-type": "application/json"}
        )

    def get(self, path: str, who: str | Path | None = "UY", **params: Any) -> httpx.Response:
        return self.peer(who).get(path, params=params)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    directory = tmp_path_factory.mktemp("hostile") / "net"
    port = _free_port()
    init_network(
        directory,
        "hostile peers test",
        [
            MemberSpec(code="BR", name="Receita", endpoint=f"https://127.0.0.1:{port}"),
            MemberSpec(code="UY", name="Aduanas UY", endpoint="https://127.0.0.1:1"),
            MemberSpec(code="CL", name="Aduanas CL", endpoint="https://127.0.0.1:1"),
        ],
        now=datetime.now(UTC),
        network_ca=True,  # legacy: the cases below forge certificates with the CA's key
    )
    br, uy = Member.open(directory, "BR"), Member.open(directory, "UY")
    api_key = apikeys.create_key(br.store, "admin", "hostile peers test", system_clock())
    agreements.propose(br.home.open_ledger(br.store), br.store, _agreement(date.today()))
    br.publish(3, start=1)
    _copy_log(br, uy)
    agreements.approve(uy.home.open_ledger(uy.store), uy.store, AGREEMENT)
    s1 = uy.publish(3, start=1)
    s2 = uy.publish(3, start=4)
    first_push = uy.push_body(br, 0, s1)
    page2 = uy.push_body(br, s1, s2)
    br_sealing = bytes(br.sealing.public_key)
    br.store.close()

    command = ["node", "run", "--home", str(directory / "BR"), "--port", str(port)]
    with open(directory / "BR" / "console.log", "ab") as log:  # the node logs to node.log
        process = subprocess.Popen(
            [sys.executable, "-m", "node", *command],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "MRA_GOSSIP_INTERVAL": "1",
                "MRA_PEER_READ_SECONDS": str(READ_SECONDS),
                "MRA_HEAD_SECONDS": str(HEAD_SECONDS),
            },
        )
    net = Node(
        dir=directory,
        port=port,
        api_key=api_key,
        process=process,
        uy=uy,
        cl_key=load_signing_key(directory / "CL" / "signing.key"),
        br_sealing=br_sealing,
        s1=s1,
        s2=s2,
        page2=page2,
        first_push=first_push,
    )
    try:
        _wait_healthy(net)
        # UY's first page, as UY's node would push it: accepted, cosigned, and the agreement
        # is in force at BR from then on.
        pushed = net.push(first_push)
        assert pushed.status_code == 200, pushed.text
        assert pushed.json()["size"] == s1 and pushed.json()["cosignature"]
        phases = {a["id"]: a["phase"] for a in net.api().get("/v1/agreements").json()}
        assert phases == {AGREEMENT: "approved"}
        yield net
    finally:
        net.close()
        process.terminate()
        process.wait(timeout=15)
        uy.store.close()


def _wait_healthy(net: Node) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if net.api().get("/v1/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert net.process.poll() is None, net.log_path.read_text()
        time.sleep(0.1)
    pytest.fail(f"BR did not start: {net.log_path.read_text()}")


# -- what the node holds, counts and logs -----------------------------------------------------


def held(net: Node) -> dict[str, Any]:
    """Everything BR holds but its access log (reads are logged by design, in a file of its
    own): every table of its SQLite file (read-only), and ``GET /v1/logs``."""
    db = net.dir / "BR" / "ledger.db"
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        names = [
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        tables = {
            name: sorted(map(repr, conn.execute(f'SELECT * FROM "{name}"'))) for name in names
        }
    return {"tables": tables, "logs": net.api().get("/v1/logs").json()}


def counters(net: Node, metric: str = "mra_peer_refusals") -> Counter[tuple[str, ...]]:
    text = net.api().get("/metrics").text
    found: Counter[tuple[str, ...]] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name == metric:
            for sample in family.samples:
                if sample.name == f"{metric}_total":
                    found[tuple(v for _, v in sorted(sample.labels.items()))] += int(sample.value)
    return found


def logged_since(net: Node, mark: int) -> str:
    with open(net.log_path, "rb") as log:
        log.seek(mark)
        return log.read().decode(errors="replace")


@dataclass
class Observed:
    """What a request changed at the node."""

    state_changed: bool
    refusals: dict[tuple[str, ...], int]
    log: str


def observe(net: Node, send: Callable[[], Any]) -> tuple[Any, Observed]:
    before, counted, mark = held(net), counters(net), net.log_path.stat().st_size
    answer = send()
    after = held(net)
    grown = counters(net)
    delta = {k: v - counted[k] for k, v in grown.items() if v != counted[k]}
    return answer, Observed(after != before, delta, logged_since(net, mark))


# -- building hostile requests --------------------------------------------------------------

Send = Callable[[Node], httpx.Response]
HUGE = 2**64 - 1  # beyond any seq, and beyond SQLite's integers
DEEP = b"[" * 5000 + b"]" * 5000


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _flip(text: str, index: int = 0) -> str:
    """``text`` (base64) with one bit of byte ``index`` flipped."""
    data = bytearray(_unb64(text))
    data[index] ^= 0x01
    return _b64(bytes(data))


def _pad_bits(text: str) -> str:
    """Base64 ``text`` (ending in "==") with non-zero pad bits: the same bytes, another text."""
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
    return text[:-3] + alphabet[alphabet.index(text[-3]) ^ 1] + "=="


def _signed(body: bytes, key: SigningKey) -> dict[str, str]:
    return {"body": _b64(body), "signature": _b64(key.sign(signing_message(body)))}


def _entries(n: Node) -> list[dict[str, str]]:
    return list(n.page2["entries"])


def _page(**changes: Any) -> Send:
    """Push UY's next page with ``changes`` (a function is called with the node)."""

    def send(n: Node) -> httpx.Response:
        return n.push({**n.page2, **{k: v(n) if callable(v) else v for k, v in changes.items()}})

    return send


def _first(entry: Callable[[Node], dict[str, str]]) -> Send:
    """Push UY's next page with its first entry replaced."""
    return _page(entries=lambda n: [entry(n), *_entries(n)[1:]])


def _changed(**fields: Callable[[str], str]) -> Callable[[Node], dict[str, str]]:
    """The page's first entry with ``fields`` (body, signature...) changed."""
    return lambda n: {**_entries(n)[0], **{k: f(_entries(n)[0][k]) for k, f in fields.items()}}


def _resigned(index: int, **header: Any) -> Callable[[Node], dict[str, str]]:
    """Entry ``index`` of the page with header fields changed, signed with UY's own key."""

    def entry(n: Node) -> dict[str, str]:
        original = EntryHeader.from_bytes(_unb64(_entries(n)[index]["body"]))
        return _signed(replace(original, **header).to_bytes(), n.uy.key)

    return entry


def _signed_by_cl(n: Node) -> dict[str, str]:
    return _signed(_unb64(_entries(n)[0]["body"]), n.cl_key)


def _in_clear(n: Node) -> dict[str, str]:
    """The first new entry with its record's salt and payload in clear."""
    entry = next(n.uy.store.entries("UY", n.s1, n.s1 + 1))
    assert entry.salt is not None and entry.payload is not None
    return {**_entries(n)[0], "salt": _b64(entry.salt), "payload": _b64(entry.payload)}


def _br_entries(n: Node) -> list[dict[str, str]]:
    return list(n.get("/v1/peer/log/BR", start=0, size=1).json()["entries"])


def _overlap_forged(n: Node) -> httpx.Response:
    """UY's first page again, its first (held) entry's signature made by CL."""
    first = _unb64(n.first_push["entries"][0]["body"])
    return n.push({**n.first_push, "entries": [_signed(first, n.cl_key)]})


def _note(text: str, key: SigningKey) -> str:
    """A note with any text, signed by ``key`` under UY's log name."""
    signature = sign_note(text.encode(), log_name("UY"), key)
    return SignedNote(text=text.encode(), signatures=(signature,)).format().decode()


def _checkpoint(size: int | None = None, signer: str = "uy") -> Callable[[Node], str]:
    """UY's checkpoint of ``size`` (default: the page's) over a made-up root, signed by UY's
    key or CL's."""

    def note(n: Node) -> str:
        checkpoint = Checkpoint(
            origin=log_name("UY"), size=n.s2 if size is None else size, root=os.urandom(32)
        )
        key = n.uy.key if signer == "uy" else n.cl_key
        return sign_checkpoint(checkpoint, log_name("UY"), key).decode()

    return note


def _sized(size_line: str) -> Callable[[Node], str]:
    return lambda n: _note(f"{log_name('UY')}\n{size_line}\n{_b64(bytes(32))}\n", n.uy.key)


def _flipped_note(n: Node) -> str:
    text, _, line = str(n.page2["checkpoint"]).rstrip("\n").rpartition("\n")
    dash, name, signature = line.split(" ")
    return f"{text}\n{dash} {name} {_flip(signature, 10)}\n"


def _br_checkpoint(n: Node) -> str:
    return str(n.get("/v1/peer/frontier").json()["origins"]["BR"]["checkpoint"])


def _deliver(*items: Callable[[Node], dict[str, Any]]) -> Send:
    """A push of no new entries (the checkpoint BR holds) with deliveries ``items``."""
    return lambda n: n.push(_held(n, [item(n) for item in items]))


def _held(n: Node, deliveries: object) -> dict[str, Any]:
    note = n.first_push["checkpoint"]
    return {"origin": "UY", "start": n.s1, "entries": [], "checkpoint": note, "proof": []} | {
        "deliveries": deliveries
    }


def _sealed_to_cl(n: Node) -> dict[str, Any]:
    held_entry = next(n.uy.store.entries("UY", n.s1 - 1, n.s1))
    sharing = Sharing(n.uy.store, "UY", n.uy.key, system_clock())
    [(_, blob)] = sharing.sealed([held_entry], "BR", bytes(_sealing_key(n.dir / "CL").public_key))
    return {"seq": n.s1 - 1, "sealed": _b64(blob)}


def _view(signer: str = "uy", aeo_id: str = "UY000000001", sent_as: int = 0) -> Any:
    """A view of UY's last held entry sealed to BR, signed by ``signer``, for ``aeo_id``,
    sent under that seq ``sent_as`` off."""

    def item(n: Node) -> dict[str, Any]:
        seq = n.s1 - 1
        body = next(n.uy.store.entries("UY", seq, seq + 1)).body
        view = f'{{"aeo_id":"{aeo_id}","status":{{"code":"valid"}}}}'.encode()
        key = n.uy.key if signer == "uy" else n.cl_key
        signature = sign_view(key, entry_hash(body), "BR", view)
        delivery = Delivery(seq=seq, view=view, signature=signature, agreements=(AGREEMENT,))
        return {"seq": seq + sent_as, "sealed": _b64(seal_delivery(delivery, n.br_sealing))}

    return item


def _raw(path: str, content: bytes) -> Send:
    return lambda n: n.post(path, content)


def _get(path: str, **params: Any) -> Send:
    return lambda n: n.get(path, **params)


def _frontier_as(who: Callable[[Node], str | Path | None]) -> Send:
    return lambda n: n.get("/v1/peer/frontier", who=who(n))


def _issued(name: str, code: str) -> Callable[[Node], Path]:
    """A certificate for ``code`` from the network's own CA, with a key of its own."""

    def where(n: Node) -> Path:
        ca = CertificateAuthority.load(
            (n.dir / "ca.key").read_bytes(), (n.dir / "ca.crt").read_bytes()
        )
        return _certificate(n.dir.parent / name, ca, code)

    return where


def _certificate(directory: Path, ca: CertificateAuthority, code: str) -> Path:
    issued = ca.issue(code, ["127.0.0.1"], now=datetime.now(UTC))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tls.crt").write_bytes(issued.cert_pem)
    keyfiles.write_private(directory / "tls.key", issued.key_pem)
    return directory


def _chunked(size: int) -> Send:
    """A push of ``size`` bytes sent chunked: it declares no length."""

    def body() -> Iterator[bytes]:
        yield b'{"origin": "UY", "padding": "'
        for _ in range(size // MIB):
            yield b"x" * MIB
        yield b'"}'

    json_type = {"content-type": "application/json"}
    return lambda n: n.peer("UY").post("/v1/peer/push", content=body(), headers=json_type)


# -- the hostile requests -------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """One hostile request: how it is sent, the status it must get, and the peer and reason
    its refusal is counted under."""

    name: str
    send: Send
    status: int
    reason: str
    peer: str = "UY"


HOSTILE = [
    # forged signatures
    Hostile("entry-signed-by-another-member", _first(_signed_by_cl), 400, "bad-signature"),
    Hostile("entry-signature-bit-flipped", _first(_changed(signature=_flip)), 400, "bad-signature"),
    Hostile("entry-body-bit-flipped", _first(_changed(body=_flip)), 400, "malformed-entry"),
    Hostile("held-entry-with-a-forged-signature", _overlap_forged, 400, "unverified"),
    # wrong origin
    Hostile("push-of-another-origins-log", _page(origin="CL"), 403, "wrong-origin"),
    Hostile("push-of-the-receivers-own-log", _page(origin="BR"), 403, "wrong-origin"),
    Hostile("entries-of-another-origin", _page(entries=_br_entries), 400, "wrong-position"),
    # replayed entries (an exact replay is answered and stores nothing: see below)
    Hostile(
        "held-entry-sent-at-a-new-seq",
        _page(entries=lambda n: n.first_push["entries"][:1]),
        400,
        "wrong-position",
    ),
    Hostile(
        "entry-sent-twice", _page(entries=lambda n: _entries(n)[:1] * 2), 400, "wrong-position"
    ),
    # gaps and reordering
    Hostile(
        "gap", _page(start=lambda n: n.s1 + 1, entries=lambda n: _entries(n)[1:]), 409, "conflict"
    ),
    Hostile("gap-beyond-any-seq", _page(start=HUGE), 422, "malformed"),
    Hostile("entries-reversed", _page(entries=lambda n: _entries(n)[::-1]), 400, "wrong-position"),
    Hostile(
        "entries-swapped",
        _page(entries=lambda n: [_entries(n)[1], _entries(n)[0], *_entries(n)[2:]]),
        400,
        "wrong-position",
    ),
    # a member lying with its own key
    Hostile("own-entry-going-back-in-time", _first(_resigned(0, ts=0)), 400, "time-regressed"),
    Hostile(
        "own-entry-off-the-chain",
        _first(_resigned(0, prev=entry_hash(b"elsewhere"))),
        400,
        "broken-chain",
    ),
    Hostile(
        "own-entry-the-checkpoint-does-not-cover",
        _page(entries=lambda n: [*_entries(n)[:-1], _resigned(-1, commitment=bytes(32))(n)]),
        400,
        "unverified",
    ),
    Hostile(
        "own-checkpoint-with-a-made-up-root", _page(checkpoint=_checkpoint()), 400, "unverified"
    ),
    Hostile("payload-in-clear", _first(_in_clear), 400, "unverified"),
    # bad checkpoints and proofs
    Hostile(
        "checkpoint-signed-by-another-member",
        _page(checkpoint=_checkpoint(signer="cl")),
        400,
        "checkpoint-signature",
    ),
    Hostile(
        "checkpoint-signature-bit-flipped",
        _page(checkpoint=_flipped_note),
        400,
        "checkpoint-signature",
    ),
    Hostile(
        "checkpoint-of-another-log", _page(checkpoint=_br_checkpoint), 400, "checkpoint-signature"
    ),
    Hostile("checkpoint-not-a-note", _page(checkpoint="not a checkpoint"), 400, "unverified"),
    Hostile("checkpoint-an-object", _page(checkpoint={"size": 1}), 400, "unverified"),
    Hostile("checkpoint-of-an-empty-log", _page(checkpoint=_checkpoint(0)), 400, "unverified"),
    Hostile(
        "checkpoint-smaller-than-the-entries",
        _page(checkpoint=lambda n: n.first_push["checkpoint"]),
        400,
        "unverified",
    ),
    Hostile("checkpoint-beyond-any-seq", _page(checkpoint=_checkpoint(2**70)), 400, "unverified"),
    Hostile("checkpoint-size-5000-digits", _page(checkpoint=_sized("9" * 5000)), 400, "unverified"),
    Hostile("checkpoint-size-superscript", _page(checkpoint=_sized("\u00b2")), 400, "unverified"),
    Hostile(
        "proof-of-random-hashes",
        _page(proof=lambda n: [os.urandom(32).hex() for _ in n.page2["proof"]]),
        400,
        "unverified",
    ),
    Hostile("proof-missing", _page(proof=[]), 400, "unverified"),
    Hostile("proof-not-hex", _page(proof=["zz"]), 422, "malformed"),
    Hostile("proof-too-long", _page(proof=["00" * 32] * 65), 422, "malformed"),
    # bad deliveries
    Hostile(
        "delivery-garbage",
        _deliver(lambda n: {"seq": n.s1 - 1, "sealed": _b64(os.urandom(120))}),
        400,
        "unverified",
    ),
    Hostile("delivery-sealed-to-another-member", _deliver(_sealed_to_cl), 400, "unverified"),
    Hostile("delivery-sent-as-another-seq", _deliver(_view(sent_as=-1)), 400, "unverified"),
    Hostile("view-signed-by-another-member", _deliver(_view("cl")), 400, "unverified"),
    Hostile(
        "view-of-another-origins-record", _deliver(_view(aeo_id="BR000000001")), 400, "unverified"
    ),
    Hostile(
        "delivery-seq-beyond-any-seq",
        _deliver(lambda n: {"seq": HUGE, "sealed": _b64(b"x")}),
        422,
        "malformed",
    ),
    Hostile("deliveries-not-a-list", lambda n: n.push(_held(n, {"seq": 1})), 422, "malformed"),
    # malformed JSON, wrong types, huge numbers
    Hostile("push-not-json", _raw("/v1/peer/push", b'{"origin": "UY"'), 422, "malformed"),
    Hostile("push-not-utf8", _raw("/v1/peer/push", b'{"origin": "\xff\xfe"}'), 422, "malformed"),
    Hostile("push-nested-5000-deep", _raw("/v1/peer/push", DEEP), 422, "malformed"),
    Hostile("push-a-list", _raw("/v1/peer/push", b"[]"), 422, "malformed"),
    Hostile(
        "push-number-beyond-doubles", _raw("/v1/peer/push", b'{"start": 1e999}'), 422, "malformed"
    ),
    Hostile("push-start-as-text", _page(start=lambda n: str(n.s1)), 422, "malformed"),
    Hostile("push-start-as-boolean", _page(start=True), 422, "malformed"),
    Hostile("push-start-negative", _page(start=-1), 422, "malformed"),
    Hostile("push-start-fractional", _page(start=lambda n: n.s1 + 0.5), 422, "malformed"),
    Hostile(
        "push-entries-an-object", _page(entries=lambda n: {"0": _entries(n)[0]}), 422, "malformed"
    ),
    Hostile("push-501-entries", _page(entries=lambda n: _entries(n)[:1] * 501), 422, "malformed"),
    Hostile("push-entry-a-string", _page(entries=["entry"]), 422, "malformed"),
    Hostile("push-body-not-base64", _first(_changed(body=lambda _: "%%%")), 422, "malformed"),
    Hostile("push-base64-pad-bits", _first(_changed(signature=_pad_bits)), 422, "malformed"),
    Hostile("member-update-a-list", _raw("/v1/peer/member-update", b"[]"), 422, "malformed"),
    Hostile(
        "member-update-endpoint-a-number",
        _raw("/v1/peer/member-update", b'{"update": {"endpoint": 1}, "signature": ""}'),
        422,
        "malformed",
    ),
    Hostile("query-not-json", _raw("/v1/peer/query", b"{"), 422, "malformed"),
    Hostile(
        "query-ids-a-string", _raw("/v1/peer/query", b'{"ids": "BR000000001"}'), 422, "malformed"
    ),
    Hostile(
        "query-id-a-number",
        _raw("/v1/peer/query", b'{"ids": [18446744073709551615]}'),
        422,
        "malformed",
    ),
    Hostile(
        "query-10001-ids",
        _raw("/v1/peer/query", b'{"ids": [' + b",".join([b'"BR000000001"'] * 10_001) + b"]}"),
        422,
        "malformed",
    ),
    Hostile("lookup-a-list", _raw("/v1/peer/lookup", b'["EORI", "BR1"]'), 422, "malformed"),
    Hostile(
        "lookup-scheme-unknown",
        _raw("/v1/peer/lookup", b'{"scheme": "VAT", "value": "BR1"}'),
        422,
        "malformed",
    ),
    Hostile("log-start-negative", _get("/v1/peer/log/UY", start=-1, size=1), 422, "malformed"),
    Hostile("log-start-a-word", _get("/v1/peer/log/UY", start="one", size=1), 422, "malformed"),
    Hostile(
        "log-size-beyond-any-seq", _get("/v1/peer/log/UY", start=0, size=2**70), 422, "malformed"
    ),
    Hostile("log-start-past-size", _get("/v1/peer/log/UY", start=2, size=2), 422, "malformed"),
    Hostile("log-of-no-member", _get("/v1/peer/log/ZZ", start=0, size=1), 404, "not-found"),
    Hostile(
        "log-beyond-what-is-held", _get("/v1/peer/log/BR", start=0, size=1000), 404, "not-found"
    ),
    Hostile("deliveries-start-negative", _get("/v1/peer/deliveries", start=-1), 422, "malformed"),
    Hostile(
        "deliveries-beyond-any-seq", _get("/v1/peer/deliveries", start=2**70), 422, "malformed"
    ),
    # bodies over the limit that declare no length (chunked), unlike those the API refuses
    Hostile("push-chunked-over-the-limit", _chunked(9 * MIB), 413, "too-large"),
    # identities
    Hostile("no-certificate", _frontier_as(lambda n: None), 401, "no-certificate", "unknown"),
    Hostile(
        "certificate-of-no-member",
        _frontier_as(_issued("zz", "ZZ")),
        403,
        "not-a-member",
        "unknown",
    ),
    Hostile(
        "member-certificate-with-another-key",
        _frontier_as(_issued("uy-again", "UY")),
        403,
        "not-a-member",
        "unknown",
    ),
    Hostile(
        "the-nodes-own-certificate",
        _frontier_as(lambda n: "BR"),
        403,
        "own-certificate",
        "unknown",
    ),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[case.name for case in HOSTILE])
def test_a_hostile_request_is_refused_counted_logged_and_changes_nothing(
    node: Node, case: Hostile
) -> None:
    answer, seen = observe(node, lambda: case.send(node))
    assert answer.status_code == case.status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == case.status
    assert not seen.state_changed
    assert seen.refusals == {(case.peer, case.reason): 1}
    lines = [line for line in seen.log.splitlines() if "refused" in line]
    assert len(lines) == 1, seen.log
    assert f"from {case.peer} ({case.reason})" in lines[0]
    _assert_no_payload_in(seen.log)


def _assert_no_payload_in(log: str) -> None:
    """No record content and no long base64 (entries, signatures, sealed boxes) in the log."""
    for record in sample_dicts("UY", 6, start=1):
        assert str(record["legal_name"]) not in log
    assert not re.search(r"[A-Za-z0-9+/=]{44,}", log), log


# -- refusals outside the table ---------------------------------------------------------------


def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(node: Node) -> None:
    """The API's own check (``node.app.api``): refused on its Content-Length, before the peer
    endpoint or the client certificate is looked at; counted among the API's refusals."""
    before = counters(node, "mra_refusals")
    answer, seen = observe(node, lambda: node.post("/v1/peer/push", b"x" * (9 * MIB)))
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert not seen.state_changed
    assert counters(node, "mra_refusals")[("too-large",)] == before[("too-large",)] + 1


def test_a_client_that_trickles_its_body_is_timed_out(node: Node) -> None:
    def trickle() -> bytes:
        with _tls(node, "UY") as sock:
            sock.sendall(
                b"POST /v1/peer/push HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
            sock.settimeout(0.2)
            answer, deadline = b"", time.monotonic() + 10 * READ_SECONDS
            while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
                try:
                    sock.sendall(b" ")  # one byte now and then: slow, not gone
                    answer += sock.recv(4096)
                except TimeoutError:
                    continue
            return answer

    answer, seen = observe(node, trickle)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"application/problem+json" in answer
    assert not seen.state_changed
    assert seen.refusals == {("UY", "slow"): 1}
    assert "from UY (slow)" in seen.log
    _assert_no_payload_in(seen.log)


def test_clients_that_trickle_their_headers_are_timed_out_and_others_served_meanwhile(
    node: Node,
) -> None:
    """Slowloris: many connections (no certificate needed to open one) that send a request
    line and headers a byte at a time, and some that send nothing. Others are served
    meanwhile; once MRA_HEAD_SECONDS have passed each slow one is answered 408 and closed,
    each silent one closed, all counted in full and logged in a few lines."""
    opened = time.monotonic()
    slow = [_tls(node, None) for _ in range(40)]
    silent = [_tls(node, None) for _ in range(10)]
    request = b"GET /v1/peer/frontier HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
    stop = threading.Event()

    def trickle() -> None:
        for byte in request:
            for sock in slow:
                with suppress(OSError):
                    sock.sendall(bytes([byte]))
            if stop.wait(0.02):
                return

    before, refused, mark = held(node), counters(node, "mra_refusals"), node.log_path.stat().st_size
    began = time.monotonic()
    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        for _ in range(5):  # each on a new connection
            with node.connect("CL") as client:
                assert client.get("/v1/peer/frontier").status_code == 200
        answers = [_read_to_close(sock, deadline=began + 5 * HEAD_SECONDS) for sock in slow]
        unanswered = [_read_to_close(s, deadline=began + 5 * HEAD_SECONDS) for s in silent]
        closed = time.monotonic()
    finally:
        stop.set()
        sender.join()
        for sock in slow + silent:
            sock.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers
    assert all(b"application/problem+json" in a for a in answers)
    assert unanswered == [b""] * len(silent)  # closed: no request was begun to answer
    assert closed - opened >= HEAD_SECONDS and closed - began < 4 * HEAD_SECONDS
    assert held(node) == before
    grown = counters(node, "mra_refusals")
    assert grown[("slow-head",)] - refused[("slow-head",)] == 40
    assert grown[("idle",)] - refused[("idle",)] >= 10
    lines = [line for line in logged_since(node, mark).splitlines() if "too slow" in line]
    assert 1 <= len(lines) <= 10


def test_a_connection_that_sends_a_bare_line_break_after_a_request_is_closed(
    node: Node,
) -> None:
    """A lone CRLF after a request begins no message (the parser skips it) but cancels the
    server's keep-alive timer: without a deadline of its own the connection would stay open."""
    with _tls(node, "UY") as sock:
        sock.sendall(b"GET /v1/peer/frontier HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first:
            first += sock.recv(65536)
        length = int(re.search(rb"content-length: (\d+)", first.lower()).group(1))  # type: ignore[union-attr]
        while len(first.split(b"\r\n\r\n", 1)[1]) < length:
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        began = time.monotonic()
        sock.sendall(b"\r\n")
        answer = _read_to_close(sock, deadline=began + 5 * HEAD_SECONDS)
        closed = time.monotonic() - began
    assert answer == b""  # closed, with nothing written that could pass for an answer
    assert HEAD_SECONDS * 0.9 <= closed < 4 * HEAD_SECONDS


def _read_to_close(sock: ssl.SSLSocket, *, deadline: float) -> bytes:
    """Everything the node sends on ``sock`` until it closes it (or ``deadline`` passes)."""
    answer = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except (TimeoutError, ssl.SSLError, OSError):
            break
        if not chunk:
            break
        answer += chunk
    return answer


def _tls(net: Node, who: str | None) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(net.dir / "ca.crt"))
    if who is not None:
        context.load_cert_chain(net.dir / who / "tls.crt", net.dir / who / "tls.key")
    raw = socket.create_connection(("127.0.0.1", net.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_a_certificate_from_another_ca_does_not_get_through_the_handshake(node: Node) -> None:
    other = new_ca("another network", now=datetime.now(UTC))
    impostor = _certificate(node.dir.parent / "other-ca-uy", other, "UY")

    def attempt() -> None:
        with pytest.raises(httpx.TransportError):
            node.get("/v1/peer/frontier", who=impostor)

    _, seen = observe(node, attempt)
    assert not seen.state_changed
    assert node.get("/v1/peer/frontier", who="CL").status_code == 200  # others still served


def test_a_member_gets_nothing_of_an_agreement_it_is_not_party_to(node: Node) -> None:
    ids = {"ids": [f"BR{n:09d}" for n in (1, 2, 3)], "evidence": True}

    def ask(who: str) -> tuple[dict[str, Any], dict[str, Any]]:
        query = node.peer(who).post("/v1/peer/query", json=ids)
        # parameters naming another partner are not a way in: the certificate decides
        delivered = node.get("/v1/peer/deliveries", who=who, start=0, partner="UY")
        assert query.status_code == delivered.status_code == 200
        return query.json(), delivered.json()

    # UY, a party, receives BR's records (the views MRA-BR-UY grants) ...
    (found, delivered), _ = observe(node, lambda: ask("UY"))
    assert sorted(found["found"]) == ids["ids"]
    assert {d["seq"] for d in delivered["items"]} >= {1, 2, 3}
    # ... CL, party to nothing, gets the answer for unknown ids and no delivery.
    (found, delivered), seen = observe(node, lambda: ask("CL"))
    assert found == {"found": {}, "unknown": ids["ids"]}
    assert delivered["items"] == []
    assert not seen.state_changed and seen.refusals == {}


def test_a_replayed_push_stores_nothing_and_is_answered_with_the_size_held(node: Node) -> None:
    """A replay cannot be told from a push that crossed a pull (the pusher then resumes from
    the size in the answer), so it is answered, not refused; it changes nothing."""
    answer, seen = observe(node, lambda: node.push(node.first_push))
    assert answer.status_code == 200
    assert answer.json() == {"size": node.s1, "cosignature": None}
    assert not seen.state_changed and seen.refusals == {}


def test_the_untampered_page_is_accepted(node: Node) -> None:
    """The page every hostile push above tampered with verifies as sent: BR stores it."""
    answer, seen = observe(node, lambda: node.push(node.page2))
    assert answer.status_code == 200, answer.text
    assert answer.json()["size"] == node.s2 and answer.json()["cosignature"]
    assert seen.state_changed and seen.refusals == {}
    sizes = {log["origin"]: log["size"] for log in node.api().get("/v1/logs").json()}
    views = node.api().get(f"/v1/aeo/UY{6:09d}")
    assert sizes["UY"] == node.s2
    assert views.status_code == 200 and views.json()["origin"] == "UY"
    # and sent again, it changes nothing
    again, seen = observe(node, lambda: node.push(node.page2))
    assert again.json() == {"size": node.s2, "cosignature": None}
    assert not seen.state_changed and seen.refusals == {}


def test_every_peer_answer_matches_the_openapi_document(node: Node) -> None:
    """The document states the peer endpoints' bodies and answers: real answers, read over
    mutual TLS, are checked against it (status, media type and body)."""
    schema = schemathesis.openapi.from_dict(node.api().get("/v1/openapi.json").json())
    frontier = node.get("/v1/peer/frontier")
    uy = frontier.json()["origins"]["UY"]
    identifier = next(sample_dicts("BR", 1, start=1))["identifiers"][0]
    answers = {
        ("GET", "/v1/peer/frontier"): frontier,
        ("GET", "/v1/peer/log/{origin}"): node.get(
            "/v1/peer/log/UY", start=0, size=uy["checkpoint_size"]
        ),
        ("GET", "/v1/peer/deliveries"): node.get("/v1/peer/deliveries", start=0),
        ("POST", "/v1/peer/push"): node.push(node.first_push),
        ("POST", "/v1/peer/query"): node.peer("UY").post(
            "/v1/peer/query", json={"ids": ["BR000000001", "BR999999999"], "evidence": True}
        ),
        ("POST", "/v1/peer/lookup"): node.peer("UY").post(
            "/v1/peer/lookup", json={"scheme": identifier["scheme"], "value": identifier["value"]}
        ),
        ("GET", "/v1/peer/membership"): node.get("/v1/peer/membership"),
        ("GET", "/v1/peer/forks"): node.get("/v1/peer/forks"),
        ("GET", "/v1/peer/held/{origin}"): node.get("/v1/peer/held/UY", start=0),
    }
    for (method, path), answer in answers.items():
        assert answer.status_code == 200, (path, answer.text)
        schema[path][method].validate_response(answer)
    assert answers["GET", "/v1/peer/log/{origin}"].json()["entries"]
    # and a refusal is a problem document the document names
    refused = node.get("/v1/peer/log/ZZ", start=0, size=1)
    assert refused.status_code == 404
    schema["/v1/peer/log/{origin}"]["GET"].validate_response(refused)
    assert answers["GET", "/v1/peer/held/{origin}"].json()["items"]
    # what a peer holds of another member's log is for that member only
    other = node.get("/v1/peer/held/BR", start=0)
    assert other.status_code == 403, other.text
    schema["/v1/peer/held/{origin}"]["GET"].validate_response(other)


def test_a_flood_without_a_certificate_is_counted_in_full_and_logged_in_few_lines(
    node: Node,
) -> None:
    """Anyone who can reach the port can send these: every one is counted, and the log takes
    at most ten lines a minute of them (last in the module: it spends that allowance)."""

    def flood() -> list[int]:
        return [node.get("/v1/peer/frontier", who=None).status_code for _ in range(40)]

    answers, seen = observe(node, flood)
    assert answers == [401] * 40
    assert seen.refusals == {("unknown", "no-certificate"): 40}
    lines = [line for line in seen.log.splitlines() if "(no-certificate)" in line]
    assert 1 <= len(lines) <= 10, seen.log
