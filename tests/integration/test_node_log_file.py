"""The node's own log file (``node.host.logfile``): lines with UTC times in ``<home>/node.log``,
rotated by size so a node that runs for months keeps a bounded history."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.host.logfile import log_to_home


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root, mra = logging.getLogger(), logging.getLogger("mra")
    handlers, levels = list(root.handlers), (root.level, mra.level)
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(levels[0])
    mra.setLevel(levels[1])


def test_lines_go_to_node_log_and_old_ones_rotate_out(
    tmp_path: Path, restored_logging: None
) -> None:
    path = log_to_home(tmp_path, max_bytes=2_000, backups=2)
    assert path == tmp_path / "node.log"
    log = logging.getLogger("mra.test")
    log.info("first line")
    logging.getLogger("httpx").info("a library's chatter stays out")
    first = path.read_text()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO mra\.test: first line\n", first
    ), first
    for i in range(200):
        log.warning("line %03d of a long run", i)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["node.log", "node.log.1", "node.log.2"]  # the oldest dropped
    assert all((tmp_path / name).stat().st_size <= 2_000 for name in files)
    assert path.read_text().rstrip().endswith("line 199 of a long run")
    assert "first line" not in "".join((tmp_path / name).read_text() for name in files)
