"""No private key, API key or passphrase appears in any log line produced by the test suite:
the lines logged in this process and every ``*.log`` file written by the nodes the tests ran
(devnets, crash tests, keys at rest), rotated ones included. Runs after every other test (see
``tests/conftest.py``)."""

from __future__ import annotations

import re

import pytest

from tests import leaks

_LOG_FILE = re.compile(r".+\.log(\.\d+)?")  # node.log and its rotated node.log.1 ...


@pytest.mark.suite_end
def test_no_secret_in_any_log_line(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.getbasetemp()
    secrets = leaks.SECRETS | leaks.key_file_secrets(root)
    assert secrets  # the suite made keys; a check over none would prove nothing
    texts = [("logging", "\n".join(leaks.LINES).encode())]
    logs = [p for p in root.rglob("*.log*") if _LOG_FILE.fullmatch(p.name) and p.is_file()]
    texts += [(str(p), p.read_bytes()) for p in logs]
    assert leaks.find(secrets, texts) == []


def test_the_search_finds_each_kind_of_secret() -> None:
    seed, pem, api_key = "ab" * 32, "Q" * 64, "mra_0123456789ab_" + "s" * 43
    lines = f"signing with {seed}\nkey line\n{pem}\nAuthorization: Bearer {api_key}\n"
    found = leaks.find({seed, pem, api_key, "passphrase 7"}, [("log", lines.encode())])
    assert sorted(s for _, s in found) == sorted(
        [seed[:8] + "...", pem[:8] + "...", api_key[:8] + "..."]
    )
