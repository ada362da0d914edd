"""``python -m node`` runs the ``mra`` command line."""

from node.cli import app

app()
