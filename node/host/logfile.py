"""The serving node's own log file, ``<home>/node.log``: where ``mra node run`` writes its log
lines whatever its standard streams are connected to.

The file takes the node's lines (``mra.*``) from INFO up and every library's warnings, with UTC
times; it is rotated by size (``node.log.1`` ... ``node.log.5``), so a long-running node keeps a
bounded history. Standard error keeps the warnings, as bare messages, for a terminal or a
service manager. Nothing here adds what is logged: the lines are those the node writes, which
never carry a key, an API key or a passphrase (``tests/test_secrets_in_logs.py`` searches every
log file the test suite's nodes wrote)."""

from __future__ import annotations

import logging
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

__all__ = ["BACKUPS", "LOG_NAME", "MAX_BYTES", "log_to_home"]

LOG_NAME = "node.log"
MAX_BYTES = 10 * 2**20  # per file; with the backups at most 60 MiB of log
BACKUPS = 5
_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s"


def log_to_home(
    home: Path, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS, name: str = LOG_NAME
) -> Path:
    """Send this process's log lines to ``home``/``name`` (rotated at ``max_bytes``, keeping
    ``backups`` old files) and its warnings to standard error; returns the file's path.
    Called once, by the process that serves the node (each reader worker of ``mra node run
    --workers`` has a file of its own: a rotation is not shared between processes)."""
    path = home / name
    to_file = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    formatter = logging.Formatter(_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    to_file.setFormatter(formatter)
    to_file.setLevel(logging.INFO)
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.setLevel(logging.WARNING)  # the libraries: warnings only (httpx logs every request)
    root.addHandler(to_file)
    root.addHandler(to_stderr)
    logging.getLogger("mra").setLevel(logging.INFO)
    return path
