"""The pure core does no I/O: importing it pulls in no database, network or event loop."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = [
    "node.records",
    "node.status",
    "node.canonical",
    "node.crypto",
    "node.entries",
    "node.chain",
    "node.merkle",
    "node.checkpoint",
    "node.bulk",
    "node.countries",
]
FORBIDDEN = ["sqlite3", "sqlite_utils", "asyncio", "httpx", "fastapi", "uvicorn", "socket"]


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io(module: str) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"{module} imports {result.stdout.strip()}"
