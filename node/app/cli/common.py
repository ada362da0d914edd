"""What every ``mra`` command shares: the two consoles, the ``--home`` option, the one place
that turns our errors into a line and an exit code, file reading that names the file, and the
progress bar.

Errors print one line naming the field (or file line) at fault and exit 2 for bad input, 1 for
damage found by verification, 3 for storage failures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from node.core.errors import IntegrityError, InvalidInput, MraError, StorageFailed

__all__ = [
    "DEFAULT_HOME",
    "AsOption",
    "HomeOption",
    "err",
    "out",
    "progress",
    "read_text",
    "reported",
]

out = Console()
err = Console(stderr=True, soft_wrap=True)  # errors name paths: never break them

# The node home of every command that works on one: --home, else MRA_HOME (read by Typer).
HomeOption = Annotated[Path, typer.Option("--home", envvar="MRA_HOME", help="Node home directory.")]
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Who acts, for the access log: the write is recorded as"
        " 'cli:<os user>@<host> as NAME' (1 to 64 printable characters).",
    ),
]
DEFAULT_HOME = Path(".mra")


@contextmanager
def reported() -> Iterator[None]:
    """Turn our errors into one clear line and an exit code."""
    try:
        yield
    except IntegrityError as exc:
        err.print(f"[bold red]DAMAGED[/] {exc}")
        raise typer.Exit(1) from None
    except StorageFailed as exc:
        err.print(f"[red]storage error:[/] {exc}")
        raise typer.Exit(3) from None
    except MraError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path``; raises InvalidInput naming the file when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path}", field="file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", field="file") from None


def progress() -> Progress:
    """A progress bar on stderr, shown only on a terminal and gone when done."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
