"""``mra network``: create a network, let a member join or leave (or remove one), and install
its membership."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from node.app.cli.common import DEFAULT_HOME, HomeOption, out, read_text, reported
from node.app.cli.context import home_of, opened
from node.host.home import write_atomic

__all__ = ["app"]

app = typer.Typer(help="Create and inspect the network of nodes.", no_args_is_help=True)

ProposalArgument = Annotated[Path, typer.Argument(help="A membership proposal file.")]
RequestArgument = Annotated[Path, typer.Argument(help="The new member's join-request.json.")]


@app.command("init")
def network_init(
    directory: Annotated[Path, typer.Argument(help="Where to write the network material.")],
    member: Annotated[
        list[str], typer.Option(help="CODE,Name,https://host:port (repeat for each member).")
    ],
    network: Annotated[str, typer.Option(help="The network's name.")] = "MRA Ledger network",
    self_issued: Annotated[
        bool,
        typer.Option(
            "--self-issued/--network-ca",
            help="Each member its own TLS trust root, no CA (the default); --network-ca:"
            " legacy, one network CA whose key admits anyone (for networks made that way).",
        ),
    ] = True,
) -> None:
    """Create a network: each member's keys, self-issued TLS certificate and node home, and
    the membership signed by all (legacy --network-ca: certificates from a CA made here)."""
    from datetime import UTC, datetime

    from network.bootstrap import MemberSpec, init_network

    with reported():
        specs = [MemberSpec.parse(text) for text in member]
        membership = init_network(
            directory, network, specs, now=datetime.now(UTC), network_ca=not self_issued
        )
    for m in membership.members:
        out.print(f"{m.code}: {directory / m.code}  {m.endpoint}  key {m.signing_key[:16]}...")
    signed = f"membership v{membership.version} signed by all {len(membership.members)} members"
    if self_issued:
        out.print(f"{signed}; no CA: each member's certificate is in {directory / 'members.pem'}")
    else:
        out.print(f"{signed}; keep {directory / 'ca.key'} offline")


@app.command("join")
def network_join(
    code: Annotated[str, typer.Option(help="The new member's ISO 3166-1 alpha-2 code.")],
    name: Annotated[str, typer.Option(help="The administration's name.")],
    endpoint: Annotated[str, typer.Option(help="Its node's URL, https://host:port.")],
    self_issued: Annotated[
        bool,
        typer.Option(
            "--self-issued/--network-ca",
            help="Sign this node's certificate itself (the default); --network-ca: legacy,"
            " ask the holder of the network CA (a network made with one).",
        ),
    ] = True,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """As a new member: create this node's keys and a join request for the network."""
    from datetime import UTC, datetime

    from network.onboarding import join

    with reported():
        now = datetime.now(UTC) if self_issued else None
        path = join(home_of(home), code.upper(), name, endpoint, self_issued=now)
    if self_issued:
        out.print(f"wrote {path}; send it to a member (mra network propose)")
    else:
        out.print(f"wrote {path}; send it to the holder of the network CA (mra network certify)")


@app.command("certify")
def network_certify(
    request: RequestArgument,
    ca_dir: Annotated[Path, typer.Option(help="Holds ca.key and ca.crt.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Where to write tls.crt and ca.crt.")
    ] = None,
) -> None:
    """As the CA holder: issue the new member's TLS certificate."""
    from datetime import UTC, datetime

    from network.onboarding import certify

    with reported():
        cert = certify(ca_dir, request, out_dir or request.parent, now=datetime.now(UTC))
    out.print(f"wrote {cert} and {cert.parent / 'ca.crt'}")


@app.command("propose")
def network_propose(
    request: RequestArgument,
    cert: Annotated[
        Path | None,
        typer.Option(help="The new member's certificate (certify); none when self-issued."),
    ] = None,
    out_file: Annotated[Path, typer.Option("--out", help="The proposal to write.")] = Path(
        "membership-proposal.json"
    ),
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """As a member: propose the next membership version with the new member, signed by you."""
    from network.onboarding import propose_member

    with opened(home) as node:
        proposal = propose_member(node.home, node.store, request, cert)
        write_atomic(out_file, proposal.to_json())
    _print_signatures(out_file, proposal)


@app.command("sign")
def network_sign(proposal_file: ProposalArgument, home: HomeOption = DEFAULT_HOME) -> None:
    """As a member (the new one included): add your signature to a proposal, in place."""
    from network.membership import SignedMembership
    from network.onboarding import sign

    with reported():
        unsigned = SignedMembership.from_json(read_text(proposal_file))
    with opened(home) as node:
        proposal = sign(node.home, node.store, unsigned)
        write_atomic(proposal_file, proposal.to_json())
    _print_signatures(proposal_file, proposal)


@app.command("install")
def network_install(proposal_file: ProposalArgument, home: HomeOption = DEFAULT_HOME) -> None:
    """Make a proposal signed by every member this node's membership. A running node takes it
    up in its next gossip round and passes it on to its peers."""
    from network.membership import SignedMembership
    from network.onboarding import install

    with reported():
        signed = SignedMembership.from_json(read_text(proposal_file))
        with opened(home) as node:
            membership = install(node.home, node.store, signed)
    codes = ", ".join(m.code for m in membership.members)
    out.print(f"installed membership v{membership.version}: {codes}")


@app.command("remove")
def network_remove(
    code: Annotated[str, typer.Argument(help="The member to remove (ISO 3166-1 alpha-2).")],
    out_file: Annotated[Path, typer.Option("--out", help="The proposal to write.")] = Path(
        "membership-proposal.json"
    ),
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """As a member: propose the next membership version without CODE, signed by you. Every
    remaining member signs it (mra network sign), then it is installed (mra network install)."""
    from network.removal import propose_removal

    with opened(home) as node:
        proposal = propose_removal(node.home, node.store, code.upper())
        write_atomic(out_file, proposal.to_json())
    _print_signatures(out_file, proposal)


@app.command("leave")
def network_leave(
    out_file: Annotated[Path, typer.Option("--out", help="The proposal to write.")] = Path(
        "membership-proposal.json"
    ),
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """As the member leaving: propose the next membership version without this node, signed by
    it as its statement. Send it to the others: every remaining member signs it (mra network
    sign) and one installs it (mra network install); from then on this node receives nothing."""
    from network.removal import propose_removal

    with opened(home) as node:
        proposal = propose_removal(node.home, node.store, node.home.config().origin)
        write_atomic(out_file, proposal.to_json())
    _print_signatures(out_file, proposal)


@app.command("renew")
def network_renew(
    days: Annotated[int, typer.Option(min=1, help="Days the new certificate is valid.")] = 825,
    compromised: Annotated[
        bool,
        typer.Option(
            "--compromised",
            help="The TLS key leaked: peers stop accepting the old certificate at once.",
        ),
    ] = False,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Renew this node's TLS key and certificate (self-issued), signed by this member alone.
    Run it while the node runs: peers learn it within a gossip round, and the node presents
    the new certificate once every peer holds it (the old one is accepted until then; with
    --compromised, not at all, and the node presents the new one at once)."""
    from datetime import UTC, datetime

    from network.member_updates import renew

    with opened(home) as node:
        signed = renew(
            node.home, node.store, now=datetime.now(UTC), days=days, compromised=compromised
        )
    update = signed.update
    out.print(
        f"{update.code} revision {update.revision}: certificate {update.tls_cert_sha256[:16]}"
        f"... (replaces {update.previous_tls_cert_sha256[:16]}...), signed by {update.code}"
    )
    if compromised:
        out.print("compromised: peers refuse the old certificate as soon as they hold this")


@app.command("move")
def network_move(
    endpoint: Annotated[str, typer.Option(help="The node's new URL, https://host:port.")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Move this node to ``--endpoint``, signed by this member alone. Run it while the node
    runs at the old endpoint, then restart it at the new one: peers follow within a round."""
    from datetime import UTC, datetime

    from network.member_updates import move

    with opened(home) as node:
        signed = move(node.home, node.store, endpoint, now=datetime.now(UTC))
    update = signed.update
    out.print(f"{update.code} revision {update.revision}: endpoint {update.endpoint}")


@app.command("members")
def network_members(home: HomeOption = DEFAULT_HOME) -> None:
    """The membership in force at this node: the version installed, with the members' own
    updates (revision, endpoint, certificate) applied."""
    from network.member_updates import in_force

    with opened(home) as node:
        membership, _ = in_force(node.home, node.store)
    title = f"{membership.network} v{membership.version}"
    table = Table("code", "name", "endpoint", "revision", "certificate", title=title)
    for m in membership.members:
        kind = "self-issued" if m.tls_cert else "network CA"
        table.add_row(
            m.code, m.name, m.endpoint, str(m.revision), f"{m.tls_cert_sha256[:16]} {kind}"
        )
    out.print(table)


def _print_signatures(path: Path, proposal: Any) -> None:
    members = [m.code for m in proposal.membership.members]
    missing = [code for code in members if code not in proposal.signatures]
    leaving = sorted(set(proposal.signatures) - set(members))
    removes = f" (removes {', '.join(leaving)}, who signed it: it leaves)" if leaving else ""
    out.print(
        f"{path}: membership v{proposal.membership.version}{removes}; signed by "
        f"{', '.join(sorted(proposal.signatures)) or 'nobody'}; "
        + (f"still to sign: {', '.join(missing)}" if missing else "complete: mra network install")
    )
