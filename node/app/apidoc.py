"""Where ``node.app.peer`` still imports ``operation`` and ``ref`` from: they are in
``node.app.api.openapi`` now (the schemas in ``node.app.api.schemas``). Remove this module once
the peer routes import them from there."""

from __future__ import annotations

from node.app.api.openapi import operation, ref

__all__ = ["operation", "ref"]
