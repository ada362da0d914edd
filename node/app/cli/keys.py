"""``mra key``: rotate this node's signing key, seal its private keys with a passphrase."""

from __future__ import annotations

import typer

from node.app.cli.common import DEFAULT_HOME, AsOption, HomeOption, out, reported
from node.app.cli.context import opened
from node.host import keyfiles

__all__ = ["app"]

app = typer.Typer(help="This node's signing key.", no_args_is_help=True)


@app.command("rotate")
def key_rotate(acting: AsOption = None, home: HomeOption = DEFAULT_HOME) -> None:
    """Rotate this node's signing key (stop the node first, or use POST /v1/keys/rotate)."""
    with opened(home, acting) as node:
        entry, key = node.home.rotate_key(node.ledger)
        node.audit("key.rotate", "mra key rotate")
    out.print(f"rotated at {entry.header.origin}#{entry.header.seq}")
    out.print(f"public key {key.public_key.hex()} signs from seq {entry.header.seq + 1}")


@app.command("encrypt")
def key_encrypt(home: HomeOption = DEFAULT_HOME) -> None:
    """Seal this node's private keys (signing, sealing, TLS) with a passphrase. It is read from
    MRA_KEY_PASSPHRASE or MRA_KEY_PASSPHRASE_FILE, or asked for; the node then needs one of
    those two set to start."""
    with reported():
        secret = keyfiles.passphrase()
        if secret is None:
            secret = typer.prompt("Passphrase", hide_input=True, confirmation_prompt=True).encode()
        changed = keyfiles.encrypt_home(home, secret)
    out.print(f"sealed: {', '.join(changed) or 'nothing (already sealed)'}")
    out.print(
        f"start the node with {keyfiles.PASSPHRASE_ENV} or {keyfiles.PASSPHRASE_FILE_ENV} set"
    )
