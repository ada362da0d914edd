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


def test_as_names_who_acts_beside_the_os_account(tmp_path: Path) -> None:
    home = tmp_path / "br"
    assert mra(home, "init", "BR", "--name", "Receita").returncode == 0
    one, two = sample_dicts("BR", 2)
    (tmp_path / "one.json").write_text(json.dumps(one))
    (tmp_path / "two.json").write_text(json.dumps(two))
    published = mra(home, "aeo", "publish", str(tmp_path / "one.json"), "--as", " Ana Souza ")
    assert published.returncode == 0, published.stderr
    revoked = mra(
        home, "aeo", "status", str(one["aeo_id"]), "revoked", "--reason", "fraud",
        "--as", "Auditoria Fiscal nº 7",
    )  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    rows = _rows(home)
    assert [(r["actor"], r["action"]) for r in rows] == [
        (f"{ACTOR} as Ana Souza", "publish"),
        (f"{ACTOR} as Auditoria Fiscal nº 7", "status"),
    ]
    # The record's trail names who wrote each version.
    trail = mra(home, "audit", "trail", str(one["aeo_id"]))
    assert trail.returncode == 0, trail.stderr
    writers = [v["writer"] for v in json.loads(trail.stdout)["versions"]]
    assert writers == [f"{ACTOR} as Ana Souza", f"{ACTOR} as Auditoria Fiscal nº 7"]

    # A name that is empty, too long or holds a line break is refused, naming --as, and
    # nothing is written: no entry, no access row.
    for bad in ("", "   ", "x" * 65, "Ana\nSouza", "Ana\x1b[2J"):
        refused = mra(home, "aeo", "publish", str(tmp_path / "two.json"), "--as", bad)
        assert refused.returncode == 2, (bad, refused.stdout)
        assert "--as" in refused.stderr
    assert len(_rows(home)) == 2
    listed = mra(home, "aeo", "list")
    assert str(two["aeo_id"]) not in listed.stdout and str(one["aeo_id"]) in listed.stdout


def test_every_write_command_takes_as(tmp_path: Path) -> None:
    commands = [
        ("aeo", "publish"), ("aeo", "import"), ("aeo", "status"), ("aeo", "erase"),
        ("agreement", "propose"), ("agreement", "approve"), ("agreement", "withdraw"),
        ("key", "rotate"), ("retention", "run"), ("ledger", "accept-restore"),
    ]  # fmt: skip
    for command in commands:
        shown = mra(tmp_path, *command, "--help")
        assert shown.returncode == 0 and "--as" in shown.stdout, command
