"""The pure layers (and the pure modules of network/) do no I/O: importing any of their modules
pulls in no database, network or event loop. Every module under the pure packages is checked,
found by walking their folders, and each pure module of network/ (tests/layers.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.layers import IO_MODULES, PURE, PURE_NETWORK, modules

MODULES = [module for package in PURE for module in modules(package)] + list(PURE_NETWORK)


def test_the_walk_finds_the_core() -> None:
    assert {"node.core.records", "node.core.documents", "contracts.registry"} <= set(MODULES)
    assert all(module in modules("network") for module in PURE_NETWORK)


@pytest.mark.parametrize("module", MODULES)
def test_pure_module_imports_no_io(module: str) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {IO_MODULES!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"{module} imports {result.stdout.strip()}"
