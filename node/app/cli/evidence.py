"""``mra evidence``: check an evidence bundle offline, with only the network's public keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from node.app.cli.common import err, out, read_text, reported
from node.core.errors import InvalidInput, MraError

__all__ = ["app"]

app = typer.Typer(help="Check evidence bundles offline.", no_args_is_help=True)


@app.command("verify")
def evidence_verify(
    file: Annotated[
        Path,
        typer.Argument(help="A bundle, or one API answer about one AEO with its evidence."),
    ],
    membership: Annotated[
        Path, typer.Option(help="The network's membership.json (the members' public keys).")
    ] = Path("membership.json"),
) -> None:
    """Check an evidence bundle (docs/evidence.md) with only the network's public keys; given
    an API answer, also check that its origin, seq and record or view are what the bundle
    proves. Exits 1 if anything fails, 2 if a file cannot be read."""
    from network.evidence import verify_answer
    from network.evidence_input import read_strict_json
    from network.membership import SignedMembership

    with reported():
        signed = SignedMembership.from_json(read_text(membership))
        signed.verify()
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {file}: {exc}", field="file") from None
        try:
            document = read_strict_json(data)
            verified, agreements = verify_answer(document, signed)
        except MraError as exc:
            err.print(f"[bold red]INVALID[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(1) from None
    given = "a bare bundle" if agreements is None else "an API answer"
    what = f"the view for {verified.recipient}" if verified.recipient else "the full record"
    checked = "" if agreements is None else "; its origin, seq and record or view are the bundle's"
    out.print(f"input: {given}{checked}", markup=False, highlight=False)
    out.print(
        f"[green]VALID[/] {verified.origin}#{verified.seq}: {what} of "
        f"{verified.document.get('aeo_id', '?')}, in {verified.origin}'s log at checkpoint "
        f"{verified.checkpoint_size}; cosigned by {', '.join(verified.cosigners)} "
        f"({verified.quorum} needed)",
        highlight=False,
    )
    if agreements:
        out.print(
            f"not proven: agreements {', '.join(agreements)} (the answering node's statement)",
            markup=False,
            highlight=False,
        )
