"""The layers of the code, lowest first, and the modules of each, found by walking the folders
(ARCHITECTURE.md). ``tests/unit/test_layers.py`` checks the imports of every module against
this table; ``tests/unit/test_pure_core.py`` checks that the pure layers load no I/O library.

A new layer is one more row: its package and the third-party libraries it may import.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module may import the standard library, the libraries of its own row, and
# the modules of its own layer and of the layers before it: nothing above.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("node.core", frozenset({"nacl", "orjson"})),
    ("contracts", frozenset()),
    ("node.store", frozenset({"orjson", "psycopg", "sqlite_utils"})),
    ("node.ledger", frozenset()),
    ("node.host", frozenset({"cryptography", "httpx", "nacl"})),
    (
        "network",
        frozenset(
            {
                "cryptography",
                "fastapi",
                "httptools",  # uvicorn's request parser, which network.tls_scope extends
                "httpx",
                "nacl",
                "prometheus_client",
                "starlette",
                "uvicorn",
            }
        ),
    ),
    (
        "node.app",
        frozenset(
            {
                "fastapi",
                "httpx",  # a reader worker forwards to its primary (node.app.forward)
                "jinja2",
                "orjson",
                "prometheus_client",
                "pydantic",
                "rich",
                "starlette",
                "typer",
                "uvicorn",
            }
        ),
    ),
    # The simulation opens whole nodes through the composition root (node.app.compose); it draws
    # the TLS keys of renewals from its seed (cryptography), so that a seed replays.
    ("sim", frozenset({"cryptography"})),
)
PURE = ("node.core", "contracts")  # import no database, network or event loop, even indirectly
# The pure modules of the network layer: the wire format, membership, sealing, fork evidence and
# the evidence rules, checked like the pure packages.
PURE_NETWORK = (
    "network.evidence_input",
    "network.evidence_keys",
    "network.forks",
    "network.governance",
    "network.membership",
    "network.ratelimit",
    "network.sealing",
    "network.wire",
)
PACKAGES = frozenset(package.partition(".")[0] for package, _ in LAYERS)  # ours, not libraries
IO_MODULES = (
    "sqlite3",
    "sqlite_utils",
    "psycopg",
    "asyncio",
    "httpx",
    "fastapi",
    "uvicorn",
    "socket",
)


def modules(package: str) -> list[str]:
    """Every module of ``package`` and its sub-packages, the package itself included."""
    names = []
    for file in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
        parts = file.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _is_module(name: str) -> bool:
    path = ROOT / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(module: str) -> Iterator[tuple[int, str]]:
    """(line, module imported) for every import in ``module``, at any depth (function-level and
    ``TYPE_CHECKING`` imports count too). ``from a import b`` names ``a.b`` when that is a
    module of this repository, else ``a``."""
    path = ROOT / module.replace(".", "/")
    file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    package = module if path.is_dir() else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            for alias in node.names:
                name = f"{base}.{alias.name}"
                yield node.lineno, name if _is_module(name) else base


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the layer that holds ``module``; None outside every layer."""
    found = [
        (len(package), index)
        for index, (package, _) in enumerate(LAYERS)
        if module == package or module.startswith(package + ".")
    ]
    return max(found)[1] if found else None  # the longest package name that holds it


def allowed(importer: str, imported: str) -> bool:
    """May ``importer`` (a module of a layer) import ``imported``?"""
    index = layer_of(importer)
    assert index is not None, f"{importer} is in no layer"
    top = imported.partition(".")[0]
    if top in PACKAGES:
        target = layer_of(imported)
        return target is not None and target <= index
    return top in sys.stdlib_module_names or top in LAYERS[index][1]
