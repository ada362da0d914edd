"""The OpenAPI document as a newcomer reads it (issue 23, point 6): its examples are accepted by
the node, and the limits it states are the ones the node applies."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from node.core.sample import EXAMPLE_RECORD
from tests.integration.test_problems import http

__all__ = ["http"]  # the fixture, shared with test_problems


def test_the_examples_are_accepted_and_the_limits_are_the_nodes(http: TestClient) -> None:
    document = http.get("/v1/openapi.json").json()
    schemas: dict[str, Any] = document["components"]["schemas"]
    [record] = schemas["Record"]["examples"]
    assert record == EXAMPLE_RECORD
    assert http.post("/v1/aeo", json=record).status_code == 200
    [status] = schemas["Status"]["examples"]
    answer = http.post(f"/v1/aeo/{record['aeo_id']}/status", json=status)
    assert answer.status_code == 200, answer.text
    assert schemas["Query"]["examples"] and schemas["EraseRequest"]["examples"]

    address = schemas["Record"]["properties"]["address"]
    city = address["properties"]["city"]["description"]
    postcode = address["properties"]["postcode"]["anyOf"][0]["description"]
    assert city.startswith("1 to 128 characters") and postcode.startswith("1 to 16 characters")
    for field, limit in (("city", 128), ("postcode", 16)):
        for length, accepted in ((limit, True), (limit + 1, False)):
            changed = {
                **record,
                "aeo_id": f"BR{field.upper()}{length}",  # a new record each time
                "address": {**record["address"], field: "7" * length},
            }
            answer = http.post("/v1/aeo", json=changed)
            assert (answer.status_code == 200) is accepted, (field, length, answer.text)
            if not accepted:
                assert answer.json()["field"] == f"records[0].address.{field}"
