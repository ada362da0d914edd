"""Every write made with the ``mra`` CLI names its operator in the access log, as an API write
names its key: ``cli:<os user>@<host>`` (issue 23, point 1)."""

from __future__ import annotations

import getpass
import json
import socket
from pathlib import Path

from node.core.sample import sample_dicts
from node.store.sqlite import SqliteStore
from tests.integration.test_cli import mra

ACTOR = f"cli:{getpass.getuser()}@{socket.gethostname()}"


def _rows(home: Path) -> list[dict[str, object]]:
    store = SqliteStore.open_read_only(home / "ledger.db")
    try:
        return list(store.access_rows())
    finally:
        store.close()


def test_publish_import_and_status_change_name_the_operator(tmp_path: Path) -> None:
    home = tmp_path / "br"
    assert mra(home, "init", "BR", "--name", "Receita").returncode == 0
    one, two, three = sample_dicts("BR", 3)
    (tmp_path / "one.json").write_text(json.dumps(one))
    (tmp_path / "rest.jsonl").write_text(f"{json.dumps(two)}\n{json.dumps(three)}\n")

    assert mra(home, "aeo", "publish", str(tmp_path / "one.json")).returncode == 0
    assert mra(home, "aeo", "import", str(tmp_path / "rest.jsonl")).returncode == 0
    suspended = mra(
        home, "aeo", "status", str(one["aeo_id"]), "suspended", "--reason", "audit finding"
    )
    assert suspended.returncode == 0, suspended.stderr
    # Publishing again what is held appends nothing, and so records no write.
    assert mra(home, "aeo", "import", str(tmp_path / "rest.jsonl")).returncode == 0

    writes = [(r["actor"], r["action"], r["channel"], r["aeo_id"]) for r in _rows(home)]
    assert writes == [
        (ACTOR, "publish", "mra aeo publish", one["aeo_id"]),
        (ACTOR, "publish", "mra aeo import", two["aeo_id"]),
        (ACTOR, "publish", "mra aeo import", three["aeo_id"]),
        (ACTOR, "status", "mra aeo status", one["aeo_id"]),
    ]
    # Who suspended the trader is one row away, in the audit export too.
    exported = mra(home, "audit", "export", str(tmp_path / "audit.json"), "--action", "status")
    assert exported.returncode == 0, exported.stderr
    rows = json.loads((tmp_path / "audit.json").read_text())
    assert [(r["actor"], r["aeo_id"]) for r in rows] == [(ACTOR, one["aeo_id"])]
