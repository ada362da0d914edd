"""The ``mra`` command line opens a node in one place: ``node/app/cli/context.py``. No other
module of the CLI names the store, the home's opening methods or the access-log writer, so
pointing the CLI at another composition root is a change to that one module."""

from __future__ import annotations

import ast

import pytest

from tests.layers import ROOT, modules

OPENERS = {"NodeHome", "SqliteStore", "AccessLog", "open_store", "open_ledger", "confirm_own_log"}
CLI = [m for m in modules("node.app.cli") if m != "node.app.cli.context"]


def _names(module: str) -> set[str]:
    path = ROOT / module.replace(".", "/")
    file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.asname or node.name.rpartition(".")[2])
    return found


def test_the_cli_has_its_modules() -> None:
    assert "node.app.cli.aeo" in CLI and "node.app.cli.common" in CLI


@pytest.mark.parametrize("module", CLI)
def test_only_the_context_opens_a_node(module: str) -> None:
    assert not _names(module) & OPENERS, f"{module} opens a node itself: use context.opened"
