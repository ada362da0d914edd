"""A partition of the five-node devnet heals: real node processes, whose gossip connections go
through a proxy that refuses traffic between two groups (``tests/system/partition.py``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from network.devnet import MEMBERS, Devnet
from node.core.sample import sample_dicts
from tests.system.partition import Partitioner
from tests.system.test_devnet import _free_base, wait_for

pytestmark = pytest.mark.long  # 10 s: a five-node devnet cut in two and healed

CODES = [code for code, _ in MEMBERS]
WEST, EAST = ("BR", "UY"), ("AR", "PY", "CL")


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Devnet, Partitioner]]:
    base = _free_base()
    partitioner = Partitioner({code: base + i for i, code in enumerate(CODES)})
    env = partitioner.start()
    devnet = Devnet(
        tmp_path_factory.mktemp("partition") / "net",
        base_port=base,
        gossip_interval=0.5,
        node_env=env,
    )
    devnet.create()
    devnet.start()
    try:
        devnet.wait_healthy()
        yield devnet, partitioner
    finally:
        devnet.stop()
        partitioner.stop()


def logs(devnet: Devnet, code: str) -> dict[str, tuple[int, str]]:
    with devnet.client(code) as client:
        answer = client.get("/v1/logs")
    assert answer.status_code == 200, answer.text
    return {log["origin"]: (log["size"], log["root"]) for log in answer.json()}


def publish(devnet: Devnet, code: str, count: int, start: int) -> int:
    records = list(sample_dicts(code, count, seed=7, start=start))
    with devnet.client(code) as client:
        answer = client.post("/v1/aeo", json={"records": records})
    assert answer.status_code == 200, answer.text
    return len(answer.json()["appended"])


def converged(devnet: Devnet) -> dict[str, tuple[int, str]] | None:
    """The one view every node holds of every origin, when they all agree."""
    views = {code: logs(devnet, code) for code in CODES}
    first = views[CODES[0]]
    every_origin_at_its_own_head = set(first) == set(CODES) and all(
        first[code] == views[code][code] for code in CODES
    )
    agree = all(view == first for view in views.values())
    return first if every_origin_at_its_own_head and agree else None


def size_at(devnet: Devnet, code: str, origin: str) -> int:
    return logs(devnet, code).get(origin, (0, ""))[0]


def test_a_partition_heals_and_every_node_converges(cut: tuple[Devnet, Partitioner]) -> None:
    devnet, partitioner = cut
    for code in CODES:
        publish(devnet, code, 5, 0)
    before: Any = wait_for(lambda: converged(devnet), 30, "the network converged before the cut")

    partitioner.split(WEST, EAST)
    publish(devnet, "BR", 40, 100)
    publish(devnet, "AR", 30, 100)
    publish(devnet, "CL", 10, 100)
    br_size, ar_size = before["BR"][0] + 40, before["AR"][0] + 30

    # Inside each group gossip goes on ...
    wait_for(lambda: size_at(devnet, "UY", "BR") == br_size, 10, "UY has BR's new entries")
    wait_for(lambda: size_at(devnet, "PY", "AR") == ar_size, 10, "PY has AR's new entries")
    wait_for(lambda: size_at(devnet, "AR", "CL") == before["CL"][0] + 10, 10, "AR has CL's")
    # ... and nothing crosses the cut, however long it lasts.
    time.sleep(2.5)
    for east in EAST:
        assert size_at(devnet, east, "BR") == before["BR"][0]
    for west in WEST:
        assert size_at(devnet, west, "AR") == before["AR"][0]
        assert size_at(devnet, west, "CL") == before["CL"][0]
    assert partitioner.refused > 0

    partitioner.heal()
    healed = time.monotonic()
    after: Any = wait_for(lambda: converged(devnet), 45, "every node converged after the heal")
    took = time.monotonic() - healed
    assert after["BR"][0] == br_size and after["AR"][0] == ar_size
    assert after["CL"][0] == before["CL"][0] + 10
    print(f"converged {took:.1f} s after the partition healed")


def test_health_reports_the_unreachable_side_while_split(cut: tuple[Devnet, Partitioner]) -> None:
    devnet, partitioner = cut
    partitioner.split(WEST, EAST)
    try:

        def sees_cut() -> bool:
            with devnet.client("UY") as client:
                peers = client.get("/v1/health").json()["peers"]
            return all(not peers[e]["reachable"] for e in EAST) and peers["BR"]["reachable"]

        wait_for(sees_cut, 10, "UY reports AR, PY and CL unreachable and BR reachable")
    finally:
        partitioner.heal()
    publish(devnet, "PY", 3, 500)
    wait_for(lambda: converged(devnet), 45, "converged again after the second heal")
