"""A liveness probe for container healthchecks: ``python -m node.app.probe --home DIR [--port N]``.

It connects to the node's own port on the loopback over TLS, verifies the server certificate
against the node's own self-issued ``tls.crt`` (a legacy network CA: the home's ``ca.crt``), and
sends ``GET /v1/health`` without an API key. The node alive answers 401 (every endpoint wants a key;
the probe holds none and needs none) or 200; anything else, a refused connection, a failed
handshake or a timeout is "not alive". Exit status 0 or 1, one line on stderr when not alive.

The standard library only, so that a healthcheck every few seconds on five nodes costs little:
importing the CLI (typer, rich, the node) would cost more than the check itself.
"""

from __future__ import annotations

import argparse
import http.client
import ssl
import sys
from pathlib import Path

__all__ = ["alive"]

ALIVE_STATUSES = frozenset({200, 401})


def alive(home: Path, port: int, *, timeout: float = 3.0) -> str | None:
    """None when the node at 127.0.0.1:``port`` answers; otherwise why it is not alive."""
    # A self-issued node is checked against its own certificate (issue 24: each member is its
    # own trust root); a node of a legacy network with a CA, against that CA too (until it
    # renews: then its certificate is its own).
    try:
        context = ssl.create_default_context(cafile=str(home / "tls.crt"))
        if (home / "ca.crt").exists():
            context.load_verify_locations(cafile=str(home / "ca.crt"))
    except (OSError, ssl.SSLError) as exc:
        return f"no certificate to verify with in {home} (its tls.crt, or a ca.crt): {exc}"
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
    try:
        connection.request("GET", "/v1/health")
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return f"127.0.0.1:{port}: {exc}"
    finally:
        connection.close()
    if status not in ALIVE_STATUSES:
        return f"127.0.0.1:{port}: GET /v1/health answered {status}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.app.probe", description=__doc__)
    parser.add_argument("--home", type=Path, required=True, help="the node's home (tls.crt)")
    parser.add_argument("--port", type=int, default=7441, help="the port the node listens on")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds")
    args = parser.parse_args(argv)
    problem = alive(args.home, args.port, timeout=args.timeout)
    if problem is not None:
        print(f"not alive: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
