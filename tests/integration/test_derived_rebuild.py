"""The derived tables a rebuild computes from the log (``mra ledger rebuild``, and verification's
step 7 into a scratch file) are the tables the writes kept, row for row, whatever the order of
versions, their statuses and their identifiers: the rebuild files them in key order at the end,
the writes one batch after another."""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.ledger.verification import verify_node
from node.store.sqlite import DERIVED_KEYS
from tests.factories import open_ledger, record

# (record number, status code, which of four identifiers it shows)
_VERSION = st.tuples(
    st.integers(1, 4),
    st.sampled_from(["valid", "suspended"]),
    st.sets(st.integers(0, 3), min_size=1, max_size=3),
)


def _identifiers(number: int, shown: set[int]) -> list[dict[str, str]]:
    # Identifier 0 is shared by every record: one (scheme, value) filed under several AEOs.
    return [
        {"scheme": "EORI", "value": "BR0" if i == 0 else f"BR{number}{i}"} for i in sorted(shown)
    ]


def _tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(path)) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()
            for table, key in DERIVED_KEYS.items()
        }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_VERSION, min_size=1, max_size=4), min_size=1, max_size=5))
def test_a_rebuild_gives_the_rows_the_writes_kept(
    batches: list[list[tuple[int, str, set[int]]]],
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "ledger.db"
        store, ledger = open_ledger(path)
        latest: dict[str, tuple[str, list[tuple[str, str]]]] = {}
        try:
            for batch in batches:
                records = [
                    record(
                        "BR",
                        number,
                        status={
                            "code": code,
                            "reason": None if code == "valid" else "audit",
                            "effective": "2024-07-22",
                        },
                        identifiers=_identifiers(number, shown),
                    )
                    for number, code, shown in batch
                ]
                refused = {i for i, _ in ledger.publish(records, skip_invalid=True).rejected}
                for i, kept in enumerate(records):
                    if i not in refused:
                        ids = [(x.scheme.value, x.value) for x in kept.identifiers]
                        latest[kept.aeo_id] = (kept.status.code.value, sorted(ids))
            written = _tables(path)
            assert verify_node(store, own="BR").damages == []
            assert store.rebuild_derived("BR") > 0
            # The rebuild drops and builds again trader_ids' index on the live file: the
            # schema (and everything else) still verifies.
            assert verify_node(store, own="BR").damages == []
        finally:
            store.close()
        rebuilt = _tables(path)
    assert latest  # the first record published is new, and a new record of either status is kept
    assert rebuilt == written
    # What the writes kept is what the versions say, not merely what a rebuild says.
    assert {row[0]: row[4] for row in written["aeo_current"]} == {
        aeo_id: code for aeo_id, (code, _) in latest.items()
    }
    assert sorted(
        (scheme, value, aeo_id) for scheme, value, aeo_id in written["trader_ids"]
    ) == sorted(
        (scheme, value, aeo_id) for aeo_id, (_, ids) in latest.items() for scheme, value in ids
    )
