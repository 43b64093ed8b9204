"""Environment commands: plan, up, status, outputs, down (the file says which provider)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cloudvm.cli import output
from cloudvm.cli.app import AT, app, settings
from cloudvm.environment import Environment

File = Annotated[Path, typer.Argument(help="environment file (YAML or JSON)")]
Prune = Annotated[bool, typer.Option(help="delete the environment's VMs the file no longer declares")]
Replace = Annotated[bool, typer.Option(help="replace VMs whose declaration changed")]


@app.command()
def plan(file: File, replace: Replace = False, prune: Prune = False) -> None:
    """Show what `up` would do."""
    with Environment.load(file) as env:
        output.actions(env.plan(replace=replace, prune=prune), settings.output)


@app.command()
def up(file: File, replace: Replace = False, prune: Prune = False,
       wait: Annotated[str, typer.Option(help="running, reachable or none")] = "running") -> None:
    """Create, start or replace VMs until the provider holds what the file declares."""
    if wait not in ("running", "reachable", "none"):
        raise typer.BadParameter("must be running, reachable or none", param_hint="--wait")
    with Environment.load(file) as env, output.Steps(f"bringing up {env.name}") as steps:
        vms = env.up(replace=replace, prune=prune, wait=None if wait == "none" else wait,  # type: ignore[arg-type]
                     progress=steps)
    output.vms(vms, settings.output)


@app.command()
def status(file: File) -> None:
    """The environment's VMs as the provider holds them now."""
    with Environment.load(file) as env:
        output.vms(env.status(), settings.output)


@app.command()
def outputs(file: File) -> None:
    """Each VM's address (and state, user) as JSON, for the next step of a pipeline."""
    with Environment.load(file) as env:
        output.out.print_json(json.dumps(env.outputs()))


@app.command()
def down(file: File) -> None:
    """Delete every VM of the environment (safe to run again)."""
    with Environment.load(file) as env, output.Steps(f"tearing down {env.name}") as steps:
        gone = env.down(progress=steps)
    output.out.print(f"{env.name}: {len(gone)} VM{'s' if len(gone) != 1 else ''} deleted")


@app.command()
def gc(dry_run: Annotated[bool, typer.Option(help="only show what would be deleted")] = False,
       at: Annotated[list[str] | None, AT] = None) -> None:
    """Delete environments past their ttl on the provider (-p/-O, or each --at), and list orphaned resources."""
    from cloudvm.gc import Sweep, sweep

    found = Sweep()
    with settings.everywhere(at) as clouds:
        for cloud in clouds:
            there = sweep(cloud, dry_run=dry_run)
            for env, vms in there.expired.items():
                found.expired.setdefault(env, []).extend(vms)
            found.orphans += there.orphans
    verb = "would delete" if dry_run else "deleted"
    if settings.output == "json":
        output.out.print_json(json.dumps({"expired": {e: [vm.name for vm in vms] for e, vms in found.expired.items()},
                                          "orphans": found.orphans, "dry_run": dry_run}))
        return
    for env, vms in sorted(found.expired.items()):
        output.out.print(f"{verb} environment {env}: {', '.join(vm.name for vm in vms)}")
    for orphan in found.orphans:
        output.out.print(f"orphan: {orphan}")
    if not found.expired and not found.orphans:
        output.out.print("nothing expired, no orphans")
