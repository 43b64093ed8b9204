"""Backup and DR commands: `backup run|list|restore|delete`, `dr drill`, and
`export`/`import` of VMs as files (the provider comes from -p/-O, as for every
VM command)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

import cloudvm
from cloudvm import portable
from cloudvm.cli import output
from cloudvm.cli.app import app, group, settings
from cloudvm.cli.vms import public_keys

backup_app = group("Backups under a policy: take, copy to DR regions, prune, restore.")
dr_app = group("Disaster recovery drills.")
app.add_typer(backup_app, name="backup")
app.add_typer(dr_app, name="dr")
PolicyFile = Annotated[Path, typer.Argument(help="backup policy file (YAML or JSON)")]
Ref = Annotated[str, typer.Argument(help="backup name or id")]


def _report(report: object) -> None:
    if settings.output == "json":
        output.out.print_json(json.dumps(output.plain(report)))
        return
    for key, value in output.plain(report).items():
        output.out.print(f"{key}: {', '.join(value) if isinstance(value, list) else value}", highlight=False)


@backup_app.command("run")
def run(policy: PolicyFile,
        dry_run: Annotated[bool, typer.Option(help="show what would be taken, copied and deleted")] = False) -> None:
    """Take the backups due now, copy them to the DR regions, prune what the policy no longer keeps."""
    from cloudvm import backup

    rules = backup.Policy.load(policy)
    with settings.connect() as cloud, output.err.status(f"running backup policy {rules.name}"):
        _report(backup.run(cloud, rules, dry_run=dry_run))


@backup_app.command("list")
def list_backups(vm: Annotated[str | None, typer.Option(help="only this VM's backups")] = None,
                 policy: Annotated[str | None, typer.Option(help="only this policy's backups")] = None) -> None:
    """Backups here, newest first."""
    from cloudvm import backup

    with settings.connect() as cloud:
        output.snapshots(backup.backups(cloud, policy, vm), settings.output)


@backup_app.command("restore")
def restore(ref: Ref, name: Annotated[str | None, typer.Option(help="the new VM's name")] = None,
            region: Annotated[str | None, typer.Option(help="restore the backup's copy in this region")] = None,
            wait: Annotated[str, typer.Option(help="running or reachable")] = "running") -> None:
    """A new VM from a backup, with the spec the backup recorded."""
    from cloudvm import backup

    with settings.connect() as cloud, output.err.status(f"restoring {ref}"):
        vm = backup.restore(cloud, ref, name=name, region=region,
                            wait="reachable" if wait == "reachable" else "running")
    output.vms([vm], settings.output)


@backup_app.command("delete")
def delete(refs: Annotated[list[str], typer.Argument(help="backup names or ids")]) -> None:
    """Delete backups (the policy's pruning does this on its own)."""
    from cloudvm import backup

    with settings.connect() as cloud:
        for ref in refs:
            backup.delete(cloud, ref)
    output.err.print(f"deleted {', '.join(refs)}", highlight=False, markup=False)


@dr_app.command("drill")
def drill(source: Annotated[str, typer.Argument(help="policy file, or a backup's name")],
          region: Annotated[str | None, typer.Option(help="restore there: a DR region, or a copy_to target "
                                                          "(aws:us-east-1, libvirt)")] = None,
          check: Annotated[str | None, typer.Option(help="command to run over SSH on the restored VM")] = None,
          key: Annotated[str | None, typer.Option(help="SSH private key for --check")] = None,
          user: Annotated[str | None, typer.Option(help="login user for --check (default: the backup's)")] = None,
          ) -> None:
    """Restore the newest backup, time it, check it, remove it: RPO and RTO measured."""
    from cloudvm import backup

    target = backup.Policy.load(source) if Path(source).is_file() else source
    with settings.connect() as cloud, output.err.status("drilling"):
        report = backup.drill(cloud, target, region=region, check=check, key_file=key, user=user)
    _report({**output.plain(report), "passed": report.passed})
    if not report.passed:
        raise typer.Exit(1)


@app.command("export")
def export_vm(vm: Annotated[str, typer.Argument(help="VM name or id")],
              directory: Annotated[Path, typer.Argument(help="where to write its disks and manifest")]) -> None:
    """Write a self-contained copy of a VM: standalone disk images and a manifest."""
    with settings.connect() as cloud, output.err.status(f"exporting {vm}"):
        cloud.export(vm, directory)
    output.err.print(f"exported {vm} to {directory}", highlight=False, markup=False)


@app.command("import")
def import_vm(directory: Annotated[Path, typer.Argument(help="a directory `cloudvm export` wrote")],
              name: Annotated[str | None, typer.Option(help="the VM's name here (default: its old one)")] = None,
              wait: Annotated[str, typer.Option(help="running or reachable")] = "running",
              user: Annotated[str | None, typer.Option(help="login user, with --key (the export's own by "
                                                             "default)")] = None,
              key: Annotated[list[Path] | None, typer.Option(help="public key file (repeatable): give the "
                                                                  "login again")] = None) -> None:
    """Recreate an exported VM on this provider, whichever backend exported it (-p aws ..., -O uri=...
    for another libvirt host, pool=... for another pool)."""
    moved = portable.Moved()
    login = {} if not (user or key) else {"ssh": cloudvm.SSHAccess(
        user=user or portable.read(directory, check=False).login() or "cloudvm", public_keys=public_keys(key))}
    with settings.connect() as cloud, output.err.status(f"importing {directory}"):
        vm = cloud.import_vm(directory, name=name, wait="reachable" if wait == "reachable" else "running",
                             moved=moved, **login)
    output.err.print(f"sent {moved.data / 2**20:.1f} MiB for {moved.of / 2**30:.1f} GiB of disks", highlight=False,
                     markup=False)
    output.vms([vm], settings.output)
