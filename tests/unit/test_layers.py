"""Imports go downward only: every module of every layer in ``tests/layers.py`` imports the
standard library, its layer's libraries and modules of its own or a lower layer, and no two
modules import each other in a circle (checked on the source, so function-level imports count)."""

from __future__ import annotations

import graphlib

import pytest

from tests.layers import LAYERS, allowed, imports, layer_of, modules

MODULES = [module for package, _ in LAYERS for module in modules(package)]


def test_every_layer_has_modules() -> None:
    for package, _ in LAYERS:
        assert len(modules(package)) > 1, f"no modules found under {package}"


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_only_its_layer_and_below(module: str) -> None:
    wrong = [f"line {line}: {name}" for line, name in imports(module) if not allowed(module, name)]
    assert not wrong, f"{module} imports above or outside its layer: {wrong}"


def test_no_import_cycles() -> None:
    graph = {
        module: {name for _, name in imports(module) if layer_of(name) is not None}
        for module in MODULES
    }
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize(
    ("importer", "imported", "expected"),
    [
        ("node.core.records", "node.core.errors", True),
        ("node.core.records", "collections.abc", True),
        ("node.core.crypto", "nacl.bindings", True),
        ("node.core.records", "node.ledger.writer", False),  # above the core
        ("node.core.records", "contracts.base", False),  # a higher layer
        ("node.core.records", "network.wire", False),
        ("node.core.records", "httpx", False),  # a library the layer does not allow
        ("contracts.base", "node.core.records", True),
        ("contracts.base", "node.store.sqlite", False),
        ("contracts.base", "orjson", False),
        ("sim.nodes", "node.app.compose", True),  # the simulation opens nodes as the app does
        ("node.app.compose", "sim.nodes", False),
        ("network.gossip", "sim.scheduler", False),
    ],
)
def test_rule(importer: str, imported: str, expected: bool) -> None:
    assert allowed(importer, imported) is expected
