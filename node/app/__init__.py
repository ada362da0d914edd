"""Interfaces and the one composition root: the HTTP API, the web UI and the CLI."""
