"""The ``cloudvm`` command: the SDK's calls from a shell."""

from __future__ import annotations

import os
import sys

from rich.markup import escape

from cloudvm.cli import backups, envs, snapshots, vms
from cloudvm.cli.app import app
from cloudvm.cli.output import err
from cloudvm.errors import CloudVMError

__all__ = ["app", "backups", "envs", "main", "snapshots", "vms"]


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
