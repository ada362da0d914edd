"""``mra init`` and ``mra node``: create this node's identity, serve its API."""

from __future__ import annotations

from typing import Annotated

import typer

from node.app.cli.common import DEFAULT_HOME, HomeOption, out, reported
from node.app.cli.context import home_of
from node.core.errors import InvalidInput
from node.host import keyfiles

SHUTDOWN_SECONDS = 5

__all__ = ["app", "init"]

app = typer.Typer(help="Run this node's service.", no_args_is_help=True)


def init(
    origin: Annotated[str, typer.Argument(help="ISO 3166-1 alpha-2 code of the administration.")],
    name: Annotated[str, typer.Option(help="The administration's name.")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Create this node's identity (Ed25519 key, mode 0600) and an empty ledger."""
    with reported():
        config = home_of(home).init(origin.upper(), name)
    out.print(f"Node {config.origin} ({config.name}) created in {home}")
    out.print(f"public key {config.public_key.hex()}")


@app.command("run")
def node_run(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7441,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Processes serving the API on the port: this one (the only writer) and"
            " WORKERS-1 readers, which answer reads and forward writes to it.",
        ),
    ] = 1,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Serve the node's API over TLS (tls.crt and tls.key from the home; always on). Prints
    its URL once it listens; logs to node.log in the home; SIGTERM stops it (and its readers)."""
    import uvicorn

    from network.tls import NodeTls
    from network.tls_scope import tls_scope_protocol
    from node.app import pool
    from node.app.api import build_app
    from node.app.compose import open_node
    from node.app.forward import FromReaders, Tagged
    from node.app.serve import NodeServer
    from node.host import logfile
    from node.host.guard import HomeLock
    from node.host.settings import Settings

    with reported():
        settings = Settings.from_environ()  # read once; a bad value stops here, named
        node_home = home_of(home)
        node_home.config()
        lock = HomeLock.take(home)  # one node process per home, until this one ends
        for path in (home / "tls.crt", home / "tls.key"):
            if not path.exists():
                raise InvalidInput(
                    f"{path} is missing: TLS is always on (see 'mra network init')", field="home"
                )
        keyfiles.check_home(home)
        keyfiles.tls_password(home / "tls.key", settings)  # a sealed one needs the passphrase
        readers = None
        if workers > 1:
            try:
                listener = pool.listen(host, port)
            except OSError as exc:
                raise InvalidInput(f"cannot listen on {host}:{port}: {exc}", field="port") from exc
            readers = pool.Readers(home, listener, workers - 1)
            channel = pool.listen_channel(home)  # where the readers forward to
        log_path = logfile.log_to_home(home)
        node = open_node(node_home, settings, serving=readers.alive if readers else lambda: 1)
        app_ = build_app(node)
        # The server trusts what the membership in force pins (network.tls), and follows it.
        service = node.peers
        tls = service.tls if service is not None and service.tls is not None else None
        if tls is None:
            tls = NodeTls.of_home(node_home, None, settings)
    server_context = tls.server
    config = uvicorn.Config(
        app_ if readers is None else Tagged(app_, 0),
        host=host,
        port=port,
        ssl_context_factory=lambda config, default: server_context,
        http=tls_scope_protocol(settings.head_seconds),
        # On SIGTERM an idle connection is cut at once (network.tls_scope) and a request in
        # flight is answered; one still running after this long is cut: a peer holding a
        # connection open must not keep the node from stopping (its lifespan then closes it).
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
        log_config=None,  # uvicorn's lines go to the node's log (node.host.logfile)
        log_level="warning",
        access_log=False,  # who asked what is in the access log, in the ledger
    )
    if readers is None:
        NodeServer(config, log_path).run()
    else:
        forwarded = uvicorn.Config(
            FromReaders(Tagged(app_, 0), tls),
            lifespan="off",  # the node's lifespan is the public server's
            proxy_headers=False,
            server_header=False,  # the reader that relays the answer adds its own
            date_header=False,
            # Longer than the readers' pools keep an idle connection (httpx: 5 s), so a reader
            # never sends a request on a connection the primary is closing.
            timeout_keep_alive=300,
            timeout_graceful_shutdown=SHUTDOWN_SECONDS,
            log_config=None,
            log_level="warning",
            access_log=False,
        )
        server = pool.PrimaryServer(
            config, log_path, readers=readers, forwarded=forwarded, channel=channel
        )
        server.run(sockets=[readers.listener])
    lock.release()
