"""``mra devnet``: a local 5-node network (BR, UY, AR, PY, CL) on 127.0.0.1 (network.devnet)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from node.app.cli.common import out, reported
from node.core.errors import InvalidInput

if TYPE_CHECKING:
    from network.devnet import Devnet

__all__ = ["app"]

app = typer.Typer(
    help="A local 5-node network (BR, UY, AR, PY, CL) on 127.0.0.1.", no_args_is_help=True
)


def _unbroken(line: str) -> None:
    out.print(line, soft_wrap=True, markup=False, highlight=False)


def invoked_as() -> str:
    """``mra`` as the user can type it again here: ``mra`` when that is the one on PATH,
    else its path (``.venv/bin/mra`` after ``scripts/run``), or ``python -m node``."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "__main__.py":
        return f"{_shown(Path(sys.executable))} -m node"
    on_path = shutil.which(argv0.name)
    if on_path is not None and Path(on_path).resolve() == argv0.resolve():
        return argv0.name
    return _shown(argv0)


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


DevnetDir = Annotated[Path, typer.Option("--dir", help="Where the devnet lives.")]
DEFAULT_DEVNET = Path(".devnet")
BASE_PORT = 7441


@app.command("up")
def devnet_up(
    directory: DevnetDir = DEFAULT_DEVNET,
    base_port: Annotated[
        int | None,
        typer.Option(
            help="BR listens here, the others next (default 7441). Only when the devnet is"
            " created: its ports are in its signed membership.",
            show_default=False,
        ),
    ] = None,
    records: Annotated[int, typer.Option(help="Demo AEO records per node (first start).")] = 200,
    detach: Annotated[bool, typer.Option(help="Leave the nodes running and return.")] = False,
) -> None:
    """Start the devnet: five nodes with TLS, two agreements, demo data. Ctrl-C stops it."""
    import signal
    import time
    from datetime import UTC, datetime

    from network.bootstrap import client_trust
    from network.devnet import Devnet

    devnet = Devnet(directory, base_port=base_port or BASE_PORT)
    with reported():
        _refuse_a_move(devnet, base_port)
        created = devnet.create()
        devnet.start()
        try:
            devnet.wait_healthy()
            if created:
                out.print("recording the agreements MRA-BR-UY and MERCOSUR-AEO ...")
                devnet.setup_agreements(datetime.now(UTC).date())
                loaded = devnet.load_demo(records)
                out.print(f"loaded demo records: {loaded}")
        except BaseException:
            devnet.stop()
            raise
    # One line per node, never folded (a terminal of 80 columns, or a pipe): a key is copied
    # whole or not at all.
    out.print("node  URL  admin API key")
    for node in devnet.nodes():
        _unbroken(f"{node.code}    {node.url}  {node.api_key}")
    _unbroken(f"TLS trust: {client_trust(directory)}  logs: {directory}/<CODE>/node.log")
    if detach:
        _unbroken(
            f"running in the background; stop with: {invoked_as()} devnet down --dir {directory}"
        )
        return
    out.print("running; press Ctrl-C to stop")
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    try:
        while not stopping and devnet.running():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    out.print(f"stopped: {', '.join(devnet.stop())}")


def _refuse_a_move(devnet: Devnet, base_port: int | None) -> None:
    """An existing devnet keeps its ports: each member's URL is signed into the membership by
    every member. Raises InvalidInput naming --base-port, and what to run instead."""
    ports = devnet.ports()
    if base_port is None or ports is None or ports[0] == base_port:
        return
    here, mra = devnet.dir, invoked_as()
    span = f"{min(ports)}-{max(ports)}" if min(ports) != max(ports) else str(ports[0])
    raise InvalidInput(
        f"the devnet in {here} listens on {span} and cannot move to"
        f" {base_port}: its members' URLs are signed into its membership. Start it where it"
        f" is with '{mra} devnet up --dir {here}', or create a new one on {base_port} with"
        f" another --dir (or stop and remove this one: '{mra} devnet down --dir {here}',"
        f" then delete {here})",
        field="--base-port",
    )


@app.command("create")
def devnet_create(
    directory: DevnetDir = DEFAULT_DEVNET,
    endpoint: Annotated[
        str, typer.Option(help="Each node's URL; {code} is its lower-case code.")
    ] = "https://{code}:7441",
) -> None:
    """Only create the devnet's network material (for containers: see docker-compose.yml)."""
    from network.devnet import Devnet

    with reported():
        created = Devnet(directory).create(endpoint)
    out.print(f"{'created' if created else 'kept the existing'} network in {directory}")


@app.command("setup")
def devnet_setup(
    directory: DevnetDir = DEFAULT_DEVNET,
    records: Annotated[int, typer.Option(help="Demo AEO records per node.")] = 200,
) -> None:
    """Record the agreements and load demo data into running nodes (once per network)."""
    from datetime import UTC, datetime

    from network.devnet import Devnet

    devnet = Devnet(directory)
    marker = directory / "setup.done"
    with reported():
        devnet.wait_healthy(timeout=120)
        if marker.exists():
            out.print("agreements and demo data were set up before")
            return
        devnet.setup_agreements(datetime.now(UTC).date())
        loaded = devnet.load_demo(records)
        marker.write_text("done\n")
    out.print(f"agreements in force; demo records loaded: {loaded}")


@app.command("down")
def devnet_down(directory: DevnetDir = DEFAULT_DEVNET) -> None:
    """Stop the devnet's nodes (their data stays; 'up' starts them again)."""
    from network.devnet import Devnet

    stopped = Devnet(directory).stop()
    out.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
