"""Snapshot commands: snapshot, snapshots, restore, delete-snapshot."""

from __future__ import annotations

from typing import Annotated

import typer

from cloudvm.cli import output
from cloudvm.cli.app import app, pairs, settings


@app.command()
def snapshot(
    vm: Annotated[str, typer.Argument(help="VM name or id")],
    name: Annotated[str | None, typer.Option(help="snapshot name (default: VM name and time)")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="key=value (repeatable)")] = None,
) -> None:
    """Snapshot every disk of a VM."""
    with settings.connect() as cloud, output.err.status(f"snapshotting {vm}..."):
        snap = cloud.snapshot(vm, name=name, tags=pairs(tag, "--tag"))
    output.snapshots([snap], settings.output)


@app.command("snapshots")
def list_snapshots(tag: Annotated[list[str] | None, typer.Option(help="key=value filter")] = None) -> None:
    """List snapshots cloudvm manages."""
    with settings.connect() as cloud:
        output.snapshots(cloud.list_snapshots(tags=pairs(tag, "--tag")), settings.output)


@app.command()
def restore(
    snapshot: Annotated[str, typer.Argument(help="snapshot name or id")],
    name: Annotated[str, typer.Option(help="name of the new VM")],
    wait: Annotated[str, typer.Option(help="running or reachable")] = "running",
) -> None:
    """Create a new VM from a snapshot."""
    with settings.connect() as cloud, output.err.status(f"restoring {snapshot} as {name}..."):
        vm = cloud.restore(snapshot, name=name, wait="reachable" if wait == "reachable" else "running")
    output.vms([vm], settings.output)


@app.command("delete-snapshot")
def delete_snapshot(snapshots: Annotated[list[str], typer.Argument(help="snapshot names or ids")]) -> None:
    """Delete snapshots and free their storage."""
    with settings.connect() as cloud:
        for snap in snapshots:
            cloud.delete_snapshot(snap)
    output.err.print(f"deleted {', '.join(snapshots)}")
