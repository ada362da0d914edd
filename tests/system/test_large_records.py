"""Large records cannot block delivery (issue 19, point 7): real BR and UY node processes.

UY is down while BR publishes a backlog of records near the size limit (their views alone are
some 20 MB, past what one page could carry before pages were bounded by bytes) and then small
records; UY comes back and receives every one of them. A record over the limit is refused with
a 422 that names the field and the limit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from network.devnet import Devnet, agreements_for
from node.core.records import MAX_RECORD_BYTES
from node.core.sample import sample_dicts
from tests.system.test_devnet import _free_base

pytestmark = pytest.mark.long  # 10 s: a devnet and a partner that was down

LARGE = 260  # records of about 60 KB
SMALL = 5  # published after them
IDS_PER_RECORD = 900  # 900 identifiers of 35 characters: about 60 KB of canonical JSON


def _wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.2)


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 400, response.text[:500]
    return response.json()


def _stop(pid: int) -> None:
    """SIGTERM the node (a child of this process: reaped here, or it would linger as a zombie
    that a signal 0 still finds), SIGKILL after 15 s."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _reachable(client: httpx.Client) -> bool:
    try:
        return client.get("/v1/health").status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def br_uy(tmp_path: Path) -> Iterator[tuple[Devnet, dict[str, int]]]:
    """BR and UY of a devnet (the others never start), with MRA-BR-UY in force."""
    devnet = Devnet(tmp_path / "net", base_port=_free_base(), gossip_interval=0.5)
    devnet.create()
    pids = {code: devnet.start_node(code) for code in ("BR", "UY")}
    try:
        for code in pids:
            with devnet.client(code) as client:
                _wait(lambda c=client: _reachable(c), 30, f"{code} serving")
        [doc] = [d for d in agreements_for(datetime.now(UTC).date()) if d["id"] == "MRA-BR-UY"]
        with devnet.client("BR") as br, devnet.client("UY") as uy:
            _ok(br.post("/v1/agreements", json=doc))
            _wait(lambda: any(a["id"] == doc["id"] for a in _ok(uy.get("/v1/agreements"))), 30,
                  "the proposal at UY")  # fmt: skip
            _ok(uy.post(f"/v1/agreements/{doc['id']}/approve"))
            for client in (br, uy):
                _wait(lambda c=client: any(a["phase"] == "approved"
                                           for a in _ok(c.get("/v1/agreements"))), 30,
                      "MRA-BR-UY in force")  # fmt: skip
        yield devnet, pids
    finally:
        for pid in pids.values():
            with contextlib.suppress(OSError):
                _stop(pid)


def _large(number: int) -> dict[str, Any]:
    [record] = sample_dicts("BR", 1, start=number)
    record["consent"] = ["UY"]
    record["identifiers"] = [
        {"scheme": "OTHER", "value": f"{number:06d}-{i:05d}" + "X" * 23}
        for i in range(IDS_PER_RECORD)
    ]
    return record


def test_a_backlog_of_large_records_reaches_a_partner_that_was_down(
    br_uy: tuple[Devnet, dict[str, int]],
) -> None:
    devnet, pids = br_uy
    _stop(pids["UY"])
    large = [_large(10_000 + n) for n in range(LARGE)]
    small = [dict(r, consent=["UY"]) for r in sample_dicts("BR", SMALL, start=20_000)]
    with devnet.client("BR") as br:
        # One record over the limit is refused, naming the field and the limit.
        too_large = _large(30_000)
        too_large["identifiers"] += [
            {"scheme": "TIN", "value": f"{i:035d}"} for i in range(IDS_PER_RECORD)
        ]
        refused = br.post("/v1/aeo", json=too_large)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "records[0].identifiers"
        assert str(MAX_RECORD_BYTES) in refused.json()["detail"]
        for start in range(0, LARGE, 100):  # 100 of them: about 6 MB, under the 8 MiB body
            _ok(br.post("/v1/aeo", json={"records": large[start : start + 100]}))
        _ok(br.post("/v1/aeo", json={"records": small}))
        # Let BR's pushes to the stopped UY fail for a while (its backoff grows).
        time.sleep(1.0)
    pids["UY"] = devnet.start_node("UY")
    wanted = [r["aeo_id"] for r in large + small]
    with devnet.client("UY") as uy:
        _wait(lambda: _reachable(uy), 30, "UY serving again")

        def received() -> bool:
            answer = uy.post("/v1/aeo/query", json={"ids": wanted})
            return answer.status_code == 200 and not answer.json()["unknown"]

        _wait(received, 120, "every record of the backlog, and those after it, at UY")
        found = _ok(uy.post("/v1/aeo/query", json={"ids": wanted[:1] + wanted[-1:]}))["found"]
    assert len(found[wanted[0]]["view"]["identifiers"]) == IDS_PER_RECORD
    assert found[wanted[-1]]["view"]["legal_name"] == small[-1]["legal_name"]
    log = (devnet.dir / "BR" / "node.log").read_text() + (
        devnet.dir / "UY" / "node.log"
    ).read_text()
    assert "sent more than" not in log
    assert "limited to" not in log
