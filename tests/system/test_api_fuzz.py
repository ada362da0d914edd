"""The node's API fuzzed with schemathesis against its own OpenAPI document (``/v1/openapi.json``).

Every operation of the document, the peer endpoints included, is fuzzed in process (ASGI)
against a node that holds data: BR's own records, one with a status history, UY's records
received as views under the approved agreement MRA-BR-UY, checkpoints, events, a webhook.
Each operation gets Hypothesis inputs that fit the document (positive) and inputs that break it
(negative), then schemathesis's coverage cases (each boundary value, each way to break each
part, the methods the path does not list). Three positive inputs in four name what the node
holds and send bodies it accepts, so lookups and writes meet real data. An operation that may
write gets a fresh copy of the node; the reads share one.

As admin, every answer must: not be a 5xx; have a status, a media type, headers and a body the
document gives for that operation (errors: RFC 9457 problem documents); refuse input that breaks
the document with a 4xx; fail with 401 when the key is left out or wrong; and a 405 must name the
allowed methods. Not checked: that every input fitting the document is accepted, since the
document cannot state every rule of a record (a status cannot take effect before the
authorisation), which the server answers with 422. Without a key or with an unknown one, every
operation answers 401; with a viewer key, every operation that needs a higher role answers 403;
the peer endpoints answer 401 without a client certificate. Then the bugs found, each as a
named regression case.

Deterministic: Hypothesis is derandomised, with no example database, and the coverage cases are
a fixed list. ``MRA_FUZZ_EXAMPLES=200`` (default 6) raises the Hypothesis examples per operation
and mode for a long manual run; ``pytest -s`` prints the operations, cases and answers.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.public
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.python import asgi

from network.bootstrap import MemberSpec, init_network
from network.replicator import Replicator
from network.sharing import Sharing
from node.app.api import create_app
from node.app.api.problems import PROBLEM
from node.core.checkpoint import Checkpoint, SignedNote
from node.core.clock import system_clock
from node.core.records import Status
from node.core.sample import sample_dicts
from node.host import keyfiles
from node.host.apikeys import create_key
from node.host.guard import accept_restore
from node.host.home import NodeHome, load_signing_key
from node.host.webhooks import add_webhook
from node.ledger import agreements
from node.ledger.replica import accept
from node.ledger.writer import Ledger
from node.store.protocols import StoredEntry
from tests.factories import record
from tests.unit.test_contracts import agreement

EXAMPLES = int(os.environ.get("MRA_FUZZ_EXAMPLES", "6"))
REFUSAL_EXAMPLES = max(EXAMPLES // 2, 3)
COVERAGE_CAP = 50 * EXAMPLES
STREAM_SECONDS = 0.1  # an event stream never ends: each answer is what came in this time
CLOSED = "https://127.0.0.1:9"  # the discard port: the nodes' gossip fails at once
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
)
ASKS_A_PEER = {"GET /v1/lookup"}
CONFORMANCE = [name for name in CHECKS if name.endswith("_conformance") or name.startswith("not_")]
ROLES = ("viewer", "auditor", "publisher", "admin")


# -- the node the fuzzer talks to -----------------------------------------------------------


class Member:
    """One member's home with its ledger open, and gossip done by hand with the pieces the
    network service uses (``accept`` for entries, ``Sharing`` and ``Replicator`` for views and
    cosignatures)."""

    def __init__(self, home: NodeHome) -> None:
        self.home = home
        self.store = home.open_store()
        self.ledger: Ledger = home.open_ledger(self.store)
        sealing = keyfiles.read_private(home.path / "sealing.key").decode().strip()
        self.sealing = nacl.public.PrivateKey(bytes.fromhex(sealing))

    @property
    def code(self) -> str:
        return self.ledger.origin

    def send_to(self, other: Member) -> None:
        origin = self.code
        held = other.store.head(origin)
        new = [
            StoredEntry(
                origin=origin,
                seq=e.seq,
                body=e.body,
                signature=e.signature,
                salt=None,
                payload=None,
            )
            for e in self.store.entries(origin, held.size if held else 0)
        ]
        note = self.store.latest_checkpoint(origin)
        assert note is not None
        checkpoint = Checkpoint.parse(SignedNote.parse(note).text)
        if new:
            accept(other.store, origin, new, (checkpoint.size, checkpoint.root, note))
        key = load_signing_key(self.home.key_path)
        sharing = Sharing(self.store, origin, key, system_clock())
        sealed = sharing.sealed(
            self.store.entries(origin, other.store.delivery_cursor(origin)),
            other.code,
            bytes(other.sealing.public_key),
        )
        replicator = Replicator(
            other.store,
            other.code,
            load_signing_key(other.home.key_path),
            other.sealing,
            system_clock,
        )
        replicator.receive_deliveries(origin, [(d.seq, blob) for d, blob in sealed])
        other.store.set_delivery_cursor(origin, checkpoint.size)
        # A push's answer carries the receiver's cosignature of the checkpoint, and both keep
        # it: evidence bundles need the quorum's (docs/evidence.md).
        line = replicator.cosign(origin, note)
        self.store.add_cosignature(origin, checkpoint.size, other.code, line)


@dataclass(frozen=True)
class Network:
    br: Path  # BR's home, the node under test
    keys: dict[str, str]  # role -> API key at BR
    known: dict[str, list[str]]  # parameter name -> values BR holds
    bodies: dict[str, list[Any]]  # operation -> request bodies BR accepts


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    directory = tmp_path_factory.mktemp("fuzz") / "net"
    specs = [MemberSpec(code=c, name=f"Customs {c}", endpoint=CLOSED) for c in ("BR", "UY")]
    init_network(directory, "Fuzz network", specs, now=datetime.now(UTC))
    br, uy = (Member(NodeHome(path=directory / code)) for code in ("BR", "UY"))
    doc = agreement(valid_from="2025-01-01")
    agreements.propose(br.ledger, br.store, doc, frozenset({"BR", "UY"}))
    br.ledger.publish([record("BR", n, consent=["UY"], certificate="AEOS") for n in (1, 2, 3)])
    uy.ledger.publish([record("UY", n, consent=["BR"], certificate="AEOS") for n in (1, 2)])
    br.send_to(uy)
    agreements.approve(uy.ledger, uy.store, doc.id)
    suspended = Status.from_dict(
        {"code": "suspended", "reason": "audit", "effective": "2026-02-01"}
    )
    br.ledger.publish([record("BR", 1, consent=["UY"], certificate="AEOS").with_status(suspended)])
    uy.send_to(br)
    br.send_to(uy)
    hook = add_webhook(br.store, "http://127.0.0.1:9/hook", system_clock())
    keys = {role: create_key(br.store, role, f"fuzz {role}", 0) for role in ROLES}
    assert br.store.view_of("UY000000001") is not None  # a partner's record is held as a view
    identifier = record("BR", 2).identifiers[0]
    # UY never answers (offline): without the operator's acceptance, BR's copies would refuse
    # every append until a peer vouched for the log (node.host.guard).
    accept_restore(br.home, br.store, "fuzz test", datetime.now(UTC))
    for member in (br, uy):
        member.store.close()
    new = list(sample_dicts("BR", 2, start=7))
    return Network(
        br=directory / "BR",
        keys=keys,
        known={
            "aeo_id": ["BR000000001", "BR000000002", "br000000003", "UY000000001", "UY000000002"],
            "agreement_id": [doc.id],
            "origin": ["BR", "UY"],
            "hook_id": [hook["id"]],
            "scheme": [identifier.scheme.value],
            "value": [identifier.value],
        },
        bodies={
            "POST /v1/aeo": [new[0], {"records": new}],
            "POST /v1/aeo/{aeo_id}/status": [
                {"code": "suspended", "reason": "audit", "effective": "2030-01-01"},
                {"code": "valid", "effective": "2030-01-01"},
            ],
            "POST /v1/aeo/{aeo_id}/erase": [{"reason": "GDPR Art. 17"}],
            "POST /v1/webhooks": [{"url": "http://127.0.0.1:9/hook"}],
        },
    )


class Nodes:
    """Copies of BR's home, each with its app and an in-process client (schemathesis's ASGI
    transport): one shared by the operations that only read, a fresh one for each operation
    that may write."""

    def __init__(self, template: Path, where: Path, started: ExitStack) -> None:
        self.template = template
        self.where = where
        self.started = started
        self.clients: dict[str, asgi.ASGIClient] = {}
        self.reads = self._client("reads")

    def client_for(self, operation: schemathesis.APIOperation) -> asgi.ASGIClient:
        return self.reads if operation.method.upper() == "GET" else self._client(operation.label)

    def _client(self, name: str) -> asgi.ASGIClient:
        if name not in self.clients:
            copy = self.where / f"node{len(self.clients)}"
            shutil.copytree(self.template.parent, copy)
            app = create_app(NodeHome(path=copy / self.template.name))
            client = self.started.enter_context(asgi.get_client(app))  # starts its lifespan
            client.trust_env = False  # no proxy settings to look up for each request
            self.clients[name] = client
        return self.clients[name]


def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing the nodes send leaves the machine: gossip waits, and webhook deliveries (to
    whatever URLs the fuzzer subscribed) go to a proxy on a closed port."""
    monkeypatch.setenv("MRA_GOSSIP_INTERVAL", "3600")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, CLOSED.replace("https", "http"))
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


@pytest.fixture
def nodes(network: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Nodes]:
    offline(monkeypatch)
    with ExitStack() as started:
        yield Nodes(network.br, tmp_path, started)
    asgi.shutdown_lifespans()  # the clients started them; they end with the test


def load_schema(nodes: Nodes, network: Network) -> schemathesis.BaseSchema:
    """The document as the node serves it (behind a key), with fuzzing made reproducible."""
    config = schemathesis.Config.from_dict(
        {
            "seed": 20261123,
            # The credentials are the test's to send (or leave out), never generated.
            "generation": {
                "deterministic": True,
                "database": "none",
                "with-security-parameters": False,
            },
        }
    )
    # Each case is sent with the client of its operation (Nodes.client_for); the schema's own
    # app is what schemathesis's checks would fall back on.
    return schemathesis.openapi.from_asgi(
        "/v1/openapi.json", nodes.reads.app, headers=bearer(network.keys["viewer"]), config=config
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# -- fuzzing --------------------------------------------------------------------------------


@dataclass
class Campaign:
    """Runs each operation's Hypothesis test and keeps every failure (not just the first)."""

    examples: int
    cap: int | None = None  # coverage cases per operation (None: all)
    cases: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    unbreakable: list[str] = field(default_factory=list)  # no input can break its document
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)

    def run(
        self,
        operation: schemathesis.APIOperation,
        mode: GenerationMode,
        send: Callable[[schemathesis.Case, st.DataObject | None], int],
    ) -> None:
        label = f"{operation.label} ({mode.value})"
        self.cases[label] = 0

        @settings(
            max_examples=self.examples,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        def fuzz(case: schemathesis.Case, data: st.DataObject) -> None:
            self.cases[label] += 1
            self.statuses[operation.label, send(case, data)] += 1

        try:
            fuzz()
        except Unsatisfiable:
            if mode is GenerationMode.NEGATIVE:  # e.g. a free-form path parameter
                self.unbreakable.append(operation.label)
                del self.cases[label]
            else:
                self.failures.append(f"{label}: no input can be generated")
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis's FailureGroup
            self.failures.append(f"{label}:\n{explain(exc)}")

    def cover(
        self,
        schema: schemathesis.BaseSchema,
        operation: schemathesis.APIOperation,
        send: Callable[[schemathesis.Case, st.DataObject | None], int],
    ) -> None:
        """schemathesis's coverage cases: each boundary value and each way to break the
        document, once (a fixed list), and the methods it does not list. Past ``cap`` cases,
        an even spread of them (the record's many fields make over a thousand)."""
        label = f"{operation.label} (coverage)"
        self.cases[label] = 0
        cases = list(
            schema.iter_coverage_cases(
                operation,
                generation_modes=list(GenerationMode),
                generation_config=schema.config.generation_for(operation=operation),
            )
        )
        failed: list[str] = []
        step = 1 if self.cap is None else -(-len(cases) // self.cap)  # ceil
        for case in cases[::step]:
            self.cases[label] += 1
            try:
                self.statuses[operation.label, send(case, None)] += 1
            except (Exception, BaseExceptionGroup) as exc:
                failed.append(explain(exc))
        if failed:  # each distinct failure once
            self.failures.append(f"{label}:\n" + "\n".join(dict.fromkeys(failed)))

    def report(self) -> str:
        return "\n\n".join(self.failures)

    def summary(self) -> str:
        """The operations, cases and answers (shown with ``pytest -s``)."""
        operations = {label.rsplit(" (", 1)[0] for label in self.cases}
        lines = [
            f"{len(operations)} operations, {sum(self.cases.values())} cases:",
            *(f"  {label}: {count}" for label, count in self.cases.items()),
            f"no input breaks the document of: {', '.join(self.unbreakable) or 'none'}",
            "answers:",
            *(f"  {op}: {status} x{n}" for (op, status), n in sorted(self.statuses.items())),
        ]
        return "\n".join(lines)


def explain(exc: BaseException) -> str:
    """The error, with what Hypothesis or schemathesis grouped under it."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, BaseExceptionGroup):
        text += "".join("\n  " + explain(sub).replace("\n", "\n  ") for sub in exc.exceptions)
    return text


def operations(schema: schemathesis.BaseSchema) -> list[schemathesis.APIOperation]:
    found = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in found}
    # The document names every endpoint, the peer endpoints included.
    assert {"GET /v1/health", "POST /v1/aeo", "GET /v1/peer/frontier", "POST /v1/peer/push"} <= (
        labels
    )
    return found


def modes(operation: schemathesis.APIOperation) -> list[GenerationMode]:
    """Positive always; negative when the operation has something to break."""
    takes_input = any(True for _ in operation.iter_parameters()) or bool(operation.body)
    return list(GenerationMode) if takes_input else [GenerationMode.POSITIVE]


def aim(case: schemathesis.Case, data: st.DataObject | None, network: Network) -> None:
    """Mostly, name what the node holds instead of a random value, and send a body it accepts
    instead of a random one (positive inputs only: a negative one must stay broken)."""
    if data is None or (case.meta is not None and case.meta.generation.mode.is_negative):
        return
    often = st.integers(0, 3).map(bool)  # 3 times in 4
    accepted = network.bodies.get(case.operation.label)
    if accepted:
        # A write has few positive examples: aimed always, so that one meets real data (the
        # negative and coverage modes still send it everything else).
        often = st.just(True)
    for place in (case.path_parameters or {}, case.query or {}):
        for name in [name for name in place if name in network.known]:
            if data.draw(often, label=f"aim {name}"):
                place[name] = data.draw(st.sampled_from(network.known[name]), label=name)
    ids = case.body.get("ids") if isinstance(case.body, dict) else None
    if isinstance(ids, list) and data.draw(often, label="aim ids"):
        case.body["ids"] = data.draw(st.lists(st.sampled_from(network.known["aeo_id"])))
    if accepted and data.draw(often, label="aim body"):
        case.body = data.draw(st.sampled_from(accepted), label="body")


def call_kwargs(operation: schemathesis.APIOperation) -> dict[str, Any]:
    return {"timeout": STREAM_SECONDS} if operation.path.endswith("/stream") else {}


@pytest.mark.long  # 15 s of generated requests
def test_every_operation_as_admin(nodes: Nodes, network: Network) -> None:
    schema = load_schema(nodes, network)
    checks = [getattr(schemathesis.checks, name) for name in CHECKS]
    campaign = Campaign(EXAMPLES, cap=COVERAGE_CAP)
    admin = bearer(network.keys["admin"])
    for operation in operations(schema):
        # The other members are offline here (CLOSED): asking one, the lookup at the origin
        # answers 503 naming PeerUnavailable, the one server error it may give.
        asks_a_peer = operation.label in ASKS_A_PEER
        used = [c for c in checks if not (asks_a_peer and c.__name__ == "not_a_server_error")]

        def send(
            case: schemathesis.Case,
            data: st.DataObject | None,
            operation: schemathesis.APIOperation = operation,
            used: list[Any] = used,
        ) -> int:
            aim(case, data, network)
            response = case.call_and_validate(
                headers=admin,
                checks=used,
                session=nodes.client_for(operation),
                **call_kwargs(operation),
            )
            if response.status_code >= 500:
                assert response.status_code == 503, response.text
                assert response.json()["title"] == "PeerUnavailable", response.text
            return response.status_code

        for mode in modes(operation):
            campaign.run(operation, mode, send)
        campaign.cover(schema, operation, send)
    print(campaign.summary())
    assert not campaign.failures, campaign.report()
    # The lookups and writes met real data: each of these answered 2xx at least once.
    succeeded = {label for (label, status), _ in campaign.statuses.items() if status < 300}
    assert succeeded >= set(network.bodies) | {
        "GET /v1/aeo/{aeo_id}",
        "GET /v1/aeo",
        "POST /v1/aeo/query",
        "GET /v1/aeo/{aeo_id}/trail",
        "POST /v1/agreements/{agreement_id}/withdraw",
        "DELETE /v1/webhooks/{hook_id}",
    }, sorted(succeeded)


def test_every_operation_refuses_callers_without_the_role(nodes: Nodes, network: Network) -> None:
    schema = load_schema(nodes, network)
    checks = [getattr(schemathesis.checks, name) for name in CONFORMANCE]
    callers = {
        "no key": {},
        "unknown key": bearer("mra_000000000000_" + "x" * 43),
        "viewer": bearer(network.keys["viewer"]),
    }
    campaign = Campaign(REFUSAL_EXAMPLES)
    for operation in operations(schema):
        role = needed_role(operation)

        def send(
            case: schemathesis.Case,
            data: st.DataObject | None,
            operation: schemathesis.APIOperation = operation,
            role: str | None = role,
        ) -> int:
            for who, headers in callers.items():
                response = case.call(
                    headers=headers, session=nodes.client_for(operation), **call_kwargs(operation)
                )
                case.validate_response(response, checks=checks)
                if who != "viewer" or role is None:  # no key, or a peer endpoint: no certificate
                    expected: int | None = 401
                else:
                    expected = None if role == "viewer" else 403
                if expected is not None:
                    assert response.status_code == expected, (who, case.as_curl_command())
                    assert response.headers["content-type"] == [PROBLEM], who
            return response.status_code

        # Credentials are checked before any input is read: inputs that fit will do.
        campaign.run(operation, GenerationMode.POSITIVE, send)
    print(campaign.summary())
    assert not campaign.failures, campaign.report()


def needed_role(operation: schemathesis.APIOperation) -> str | None:
    """The API key role the document asks for (None: a member certificate)."""
    security = operation.definition.raw.get("security", [])
    roles = {role for requirement in security for role in requirement.get("bearer", [])}
    assert len(roles) <= 1, security
    return roles.pop() if roles else None


# -- what the fuzzer found, and what was found while writing the document ------------------


@pytest.fixture
def client(
    network: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    offline(monkeypatch)
    copy = tmp_path / "net"
    shutil.copytree(network.br.parent, copy)
    with TestClient(create_app(NodeHome(path=copy / network.br.name))) as test_client:
        test_client.headers.update(bearer(network.keys["admin"]))
        yield test_client


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("DELETE", "/v1/aeo", "GET, POST", id="two routes on one path"),
        pytest.param("PUT", "/v1/webhooks", "GET, POST", id="webhooks"),
        pytest.param("PATCH", "/v1/agreements", "GET, POST", id="agreements"),
        pytest.param("PUT", "/v1/aeo/query", "POST", id="a concrete path before a template"),
        pytest.param("POST", "/v1/health", "GET", id="one route"),
    ],
)
def test_a_405_names_all_methods_of_its_path(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    """A 405 had no Allow header (RFC 9110 §15.5.6 requires one); then, found by the fuzzer, it
    named only the methods of the first route of the path."""
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == PROBLEM


BAD = {"id": "MRA-BR-UY-2", "kind": "bilateral", "parties": ["BR", "UY"], "contract": "mra-full"}
BAD |= {"contract_version": 1, "contract_sha256": "0" * 64, "valid_from": "2026-01-01"}
BAD |= {"title": "Amendment", "legal_ref": "Decision 2/2026"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        # Found by the fuzzer: 500s.
        pytest.param(
            "POST",
            "/v1/agreements",
            {"json": {**BAD, "params": "ab"}},
            "params",
            id="agreement params a string (500)",
        ),
        pytest.param(
            "POST",
            "/v1/agreements",
            {"json": {**BAD, "params": [1]}},
            "params",
            id="agreement params a list (500)",
        ),
        pytest.param(
            "POST",
            "/v1/agreements",
            {"json": {**BAD, "params": [["a", 1]]}},
            "params",
            id="agreement params a list of pairs (taken as an object)",
        ),
        pytest.param(
            "GET",
            "/v1/events",
            {"params": {"after": 2**63}},
            "after",
            id="event cursor beyond SQLite integers (500)",
        ),
        pytest.param(
            "GET",
            "/v1/audit",
            {"params": {"after": 2**63}},
            "after",
            id="audit cursor beyond SQLite integers (500)",
        ),
        pytest.param(
            "GET",
            "/v1/events/stream",
            {"params": {"after": 2**63}},
            "after",
            id="stream cursor beyond SQLite integers",
        ),
        # Found while writing the document.
        pytest.param(
            "POST",
            "/v1/agreements/MRA-BR-UY/approve",
            {"params": {"version": 2**63}},
            "version",
            id="agreement version beyond SQLite integers (was a 404)",
        ),
        pytest.param(
            "POST",
            "/v1/webhooks",
            {"json": {"url": "http://["}},
            "url",
            id="webhook URL that urlsplit refuses (500)",
        ),
        pytest.param(
            "GET",
            "/v1/aeo/\u0131t000000001",
            {},
            "aeo_id",
            id="an id that upper() folds to ASCII (was read as IT000000001)",
        ),
        pytest.param(
            "POST",
            "/v1/aeo/\u0131t000000001/status",
            {"json": {}},
            "aeo_id",
            id="status of an id that upper() folds to ASCII",
        ),
        pytest.param(
            "GET",
            "/v1/aeo",
            {"params": {"scheme": "\u00df\u00df", "value": "1"}},
            "scheme",
            id="a scheme that upper() folds to ASCII (was SSSS)",
        ),
        pytest.param(
            "POST",
            "/v1/aeo/br-1/status",
            {"json": {}},
            "aeo_id",
            id="status of a malformed id (was 404)",
        ),
        # Refused as before, by the checks the document states now.
        pytest.param(
            "GET",
            "/v1/events/stream",
            {"headers": {"Last-Event-ID": "1e3"}},
            "Last-Event-ID",
            id="Last-Event-ID not a number",
        ),
        pytest.param(
            "GET",
            "/v1/audit",
            {"params": {"format": "xml"}},
            "format",
            id="format neither json nor csv",
        ),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], field: str
) -> None:
    before = state(client)
    response = client.request(method, path, **kwargs)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == field
    assert state(client) == before


def state(client: TestClient) -> tuple[object, ...]:
    """What a refused request must leave as it was: the logs, the agreements, the webhooks,
    and the access log's rows of writes (a refused webhook was logged as added)."""
    writes = [
        row["action"]
        for row in client.get("/v1/audit").json()["rows"]
        if row["action"] not in ("query", "audit")
    ]
    return (
        client.get("/v1/logs").json(),
        client.get("/v1/agreements").json(),
        client.get("/v1/webhooks").json(),
        writes,
    )


def test_a_refused_webhook_leaves_no_access_row(client: TestClient) -> None:
    """Found while writing the document: the row was written before the URL was checked."""
    before = state(client)
    refused = client.post("/v1/webhooks", json={"url": "ftp://example.org/hook"})
    assert refused.status_code == 422 and refused.json()["field"] == "url"
    assert state(client) == before
    added = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/other"})
    assert added.status_code == 201
    assert state(client)[3] == [*before[3], "webhook.add"]


def test_the_document_states_credentials_and_problem_documents(client: TestClient) -> None:
    """Found by the fuzzer: the document named no credentials, no 401, 403, 404 or 409, gave
    422 as FastAPI's JSON (the API sends problem documents) and no request body."""
    document = client.get("/v1/openapi.json").json()
    assert set(document["components"]["securitySchemes"]) == {
        "bearer",
        "apiKey",
        "memberCertificate",
    }
    bodies = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            label = f"{method.upper()} {path}"
            assert op["security"], label
            assert "401" in op["responses"], label
            for status, answer in op["responses"].items():
                if int(status) >= 400:
                    assert list(answer["content"]) == [PROBLEM], (label, status)
            if "requestBody" in op:
                bodies.append(label)
    assert {
        "POST /v1/aeo",
        "POST /v1/aeo/query",
        "POST /v1/aeo/{aeo_id}/status",
        "POST /v1/aeo/{aeo_id}/erase",
        "POST /v1/agreements",
        "POST /v1/forks/{origin}/resolve",
        "POST /v1/webhooks",
    } <= set(bodies)
