"""The node's local HTTP API: one router per area (records, agreements, admin, audit, health),
with problem documents, authentication, middleware and the OpenAPI document in their own
modules; ``create_app`` builds it for a node's home (``node.app.api.app``)."""

from node.app.api.app import build_app, create_app
from node.app.api.middleware import MAX_BODY

__all__ = ["MAX_BODY", "build_app", "create_app"]
