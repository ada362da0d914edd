"""Fixtures shared by the system tests."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.test_crash_campaign import Cluster


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Cluster]:
    """AR, BR and UY over real TLS (the crash campaign's homes), stopped at the end; a test
    may have stopped some with SIGSTOP, so each is sent SIGCONT first, or it would hang."""
    cluster = Cluster(tmp_path / "net")
    try:
        yield cluster
    finally:
        for process in cluster.processes.values():
            process.send_signal(signal.SIGCONT)
        cluster.stop()
