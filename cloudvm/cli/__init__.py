"""The ``cloudvm`` command: the SDK's calls from a shell."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.markup import escape

from cloudvm.cli import backups, envs, snapshots, vms
from cloudvm.cli.app import app
from cloudvm.cli.output import err
from cloudvm.errors import CloudVMError

__all__ = ["app", "backups", "commands", "envs", "main", "snapshots", "vms"]


def main() -> None:
    """Run the CLI: one clear line and exit 1 on failure; ``--debug`` shows the traceback."""
    debug = "--debug" in sys.argv or bool(os.environ.get("CLOUDVM_DEBUG"))
    try:
        app(prog_name="cloudvm")  # as installed, and under python -m cloudvm too
    except CloudVMError as exc:
        if debug:
            raise
        err.print(f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)


def commands(command: Any = None, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group of ``cloudvm``, as the words that name it (shell completion scripts,
    help pages and their tests walk the same tree)."""
    if command is None:
        import typer.main

        command = typer.main.get_command(app)
    found = [path]
    for name, sub in sorted(getattr(command, "commands", {}).items()):  # a group's
        found += commands(sub, (*path, name))
    return found
