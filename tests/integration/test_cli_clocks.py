"""``mra aeo show`` reads both clocks (issue 23, point 4): ``--in-force-on`` (legal time),
``--as-of`` (ledger time) and both, as the CLI user meets them: a subprocess."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from node.core.sample import sample_dicts
from tests.integration.test_cli import mra


def test_show_answers_for_a_date_an_instant_and_both(tmp_path: Path) -> None:
    home = tmp_path / "br"
    assert mra(home, "init", "BR", "--name", "Receita").returncode == 0
    record = next(sample_dicts("BR", 1, start=5))
    record["authorised"] = "2025-03-10"
    record["status"] = {"code": "valid", "reason": None, "effective": "2025-03-10"}
    (tmp_path / "one.json").write_text(json.dumps(record))
    assert mra(home, "aeo", "publish", str(tmp_path / "one.json")).returncode == 0
    time.sleep(0.01)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    aeo_id = str(record["aeo_id"])
    revoked = mra(
        home, "aeo", "status", aeo_id, "revoked", "--reason", "fraud", "--effective", "2026-11-01"
    )
    assert revoked.returncode == 0, revoked.stderr

    def show(*clocks: str) -> dict[str, object]:
        shown = mra(home, "aeo", "show", aeo_id, *clocks)
        assert shown.returncode == 0, shown.stderr
        found: dict[str, object] = json.loads(shown.stdout)
        return found

    def code(answer: dict[str, object]) -> object:
        return answer["record"]["status"]["code"]  # type: ignore[index]

    latest = show()
    assert set(latest) == {"seq", "record"} and code(latest) == "revoked"  # as before
    legal = show("--in-force-on", "2026-11-15")
    assert code(legal) == "revoked" and legal["in_force_on"] == "2026-11-15"
    assert code(show("--in-force-on", "2025-06-01")) == "valid"
    ledger = show("--as-of", between)
    assert code(ledger) == "valid" and str(ledger["as_of"]).endswith("Z")
    both = show("--in-force-on", "2026-11-15", "--as-of", between)
    assert code(both) == "valid" and both["in_force_on"] == "2026-11-15"

    early = mra(home, "aeo", "show", aeo_id, "--in-force-on", "2025-03-09")
    assert early.returncode == 2 and "in force on 2025-03-09" in early.stderr
    for option, bad in (("--in-force-on", "2026-11-31"), ("--as-of", "soon")):
        refused = mra(home, "aeo", "show", aeo_id, option, bad)
        assert refused.returncode == 2 and option in refused.stderr, refused.stderr
