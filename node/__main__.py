"""``python -m node`` runs the ``mra`` command line."""

from node.app.cli import app

app()
