"""Secrets the test suite creates, and a search for them in log lines.

``tests/conftest.py`` records every signing seed and API key created in the test process and
every log line written through ``logging``; tests that make secrets elsewhere (passphrases, keys
created by ``mra`` subprocesses) ``remember`` them. ``test_no_secret_in_any_log_line`` runs
last and searches the recorded lines and every ``*.log`` file the suite wrote."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["LINES", "find", "key_file_secrets", "remember"]

SECRETS: set[str] = set()
LINES: list[str] = []
_HEX64 = re.compile(rb"[0-9a-f]{64}")
_PEM_LINE = re.compile(rb"[A-Za-z0-9+/]{64}")


def remember(*values: str) -> None:
    SECRETS.update(v for v in values if v)


def key_file_secrets(root: Path) -> set[str]:
    """The secrets in the unsealed private key and API key files under ``root``: seeds (hex),
    PEM key lines and API keys."""
    found: set[str] = set()
    for path in root.rglob("*.key*"):
        if not path.is_file() or path.stat().st_size > 10_000:
            continue
        data = path.read_bytes()
        if data.startswith(b"mra-ledger sealed key"):
            continue
        if b"PRIVATE KEY-----" in data:
            found.update(m.decode() for m in _PEM_LINE.findall(data))
        elif data.startswith(b"mra_"):
            found.add(data.decode().strip())
        else:
            found.update(m.decode() for m in _HEX64.findall(data))
    return found


def find(secrets: set[str], texts: Iterable[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """(where, secret prefix) for each secret found in a text."""
    hexes = {s for s in secrets if re.fullmatch(r"[0-9a-f]{64}", s)}
    pem_lines = {s for s in secrets if re.fullmatch(r"[A-Za-z0-9+/]{64}", s)} - hexes
    others = [s.encode() for s in secrets - hexes - pem_lines]
    leaks = []
    for where, text in texts:
        tokens = {m.decode() for m in _HEX64.findall(text)} | {
            m.decode() for m in _PEM_LINE.findall(text)
        }
        for secret in (hexes | pem_lines) & tokens:
            leaks.append((where, secret[:8] + "..."))
        for raw in others:
            if raw in text:
                leaks.append((where, raw[:8].decode(errors="replace") + "..."))
    return leaks
