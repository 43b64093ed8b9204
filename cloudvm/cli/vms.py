"""VM commands: create, list, show, start, stop, reboot, delete, ssh, console."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

import cloudvm
from cloudvm.cli import output
from cloudvm.cli.app import AT, app, pairs, settings
from cloudvm.errors import InvalidSpec

Names = Annotated[list[str], typer.Argument(help="VM names or ids")]
DEFAULT_KEYS = ("~/.ssh/id_ed25519.pub", "~/.ssh/id_ecdsa.pub", "~/.ssh/id_rsa.pub")


def public_keys(key_files: list[Path] | None) -> list[str]:
    paths = key_files or [Path(p).expanduser() for p in DEFAULT_KEYS if Path(p).expanduser().exists()][:1]
    if not paths:
        raise InvalidSpec("--key", "no public key given and none found in ~/.ssh")
    return [p.expanduser().read_text().strip() for p in paths]


def _ingress(text: str) -> cloudvm.Ingress:
    """``22``, ``8000-8080/tcp@10.0.0.0/8``, ``53/udp`` as an Ingress rule."""
    match = re.fullmatch(r"(\d+)(?:-(\d+))?(?:/(tcp|udp))?(?:@(\S+))?", text)
    if not match:
        raise InvalidSpec("--ingress", f"{text!r} is not PORT[-TO][/tcp|udp][@CIDR]")
    port, to_port, protocol, cidr = match.groups()
    return cloudvm.Ingress(port=int(port), to_port=int(to_port) if to_port else None, protocol=protocol or "tcp",
                           cidr=cidr or "0.0.0.0/0")


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="VM name")],
    image: Annotated[str, typer.Option(help="image alias, id or path")] = "debian-12",
    cpus: Annotated[int | None, typer.Option(help="vCPUs (with --memory)")] = None,
    memory: Annotated[float | None, typer.Option(help="memory in GiB (with --cpus)")] = None,
    instance_type: Annotated[str | None, typer.Option("--type", help="provider's own size name")] = None,
    disk: Annotated[list[int] | None, typer.Option(help="data disk size in GiB (repeatable)")] = None,
    root_disk: Annotated[int | None, typer.Option(help="root disk size in GiB")] = None,
    user: Annotated[str, typer.Option(help="login user to create")] = "cloudvm",
    key: Annotated[list[Path] | None, typer.Option(help="public key file (repeatable)")] = None,
    user_data: Annotated[Path | None, typer.Option(help="cloud-init user-data file")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="key=value (repeatable)")] = None,
    ingress: Annotated[list[str] | None, typer.Option(
        help="a port or range to allow in: 22, 8000-8080, 53/udp, 443@10.0.0.0/8 (repeatable)")] = None,
    public_ip: Annotated[bool, typer.Option(help="give the VM a public address")] = False,
    network: Annotated[str | None, typer.Option(help="the provider's network to join")] = None,
    wait: Annotated[str, typer.Option(help="running, reachable or none")] = "running",
    dry_run: Annotated[bool, typer.Option(help="validate and resolve only")] = False,
    spot: Annotated[bool, typer.Option(help="run on spot (preemptible) capacity")] = False,
    max_price: Annotated[float | None, typer.Option(help="spot: the most to pay an hour, USD (default: the "
                                                         "on-demand price)")] = None,
) -> None:
    """Create a VM."""
    if wait not in ("running", "reachable", "none"):
        raise InvalidSpec("--wait", "must be running, reachable or none")
    size = cloudvm.Size(instance_type=instance_type) if instance_type else cloudvm.Size(
        cpus=cpus or 1, memory_gib=memory or 1.0)
    spec = cloudvm.VMSpec(
        name=name, size=size, image=image, root_disk_gib=root_disk,
        disks=[cloudvm.Disk(size_gib=g) for g in disk or []],
        ssh=cloudvm.SSHAccess(user=user, public_keys=public_keys(key)),
        user_data=user_data.read_text() if user_data else None, tags=pairs(tag, "--tag"),
        network=cloudvm.Network(name=network, public_ip=public_ip, ingress=[_ingress(i) for i in ingress or []]),
        spot=cloudvm.Spot(max_price=max_price) if spot or max_price is not None else None,
    )
    with settings.connect() as cloud:
        if dry_run:
            request = cloud.plan([spec])[0]
            shown: dict[str, object] = {"name": name, "size": output.plain(request.size), "image": request.image}
            if spec.spot:
                shown["spot"] = {"on_interruption": spec.spot.on_interruption, "max_price": spec.spot.max_price,
                                 "on_demand_price": cloud.on_demand_price(request.size)}
            output.out.print_json(data=shown)
            return
        with output.err.status(f"creating {name} on {cloud.provider.name}..."):
            vm = cloud.create(spec, wait=None if wait == "none" else wait)  # type: ignore[arg-type]
        output.vms([vm], settings.output)


@app.command("list")
def list_(tag: Annotated[list[str] | None, typer.Option(help="key=value filter (repeatable)")] = None,
          at: Annotated[list[str] | None, AT] = None) -> None:
    """List the VMs cloudvm manages (where each is: its zone, region or host)."""
    with settings.everywhere(at) as clouds:
        output.vms([vm for cloud in clouds for vm in cloud.list(tags=pairs(tag, "--tag"))], settings.output)


@app.command()
def show(name: Annotated[str, typer.Argument(help="VM name or id")]) -> None:
    """Show one VM."""
    with settings.connect() as cloud:
        vm = cloud.get(name)
        if settings.output == "json":
            output.vms([vm], "json")
        else:
            for key, value in output.plain(vm).items():
                output.out.print(f"[bold]{key}[/]: {escape(str(value))}", highlight=False)


def _lifecycle(verb: str, names: list[str]) -> None:
    with settings.connect() as cloud, output.err.status(f"{verb} {', '.join(names)}..."):
        vms = getattr(cloud, verb)(names)
    if vms is not None:
        output.vms(vms, settings.output)


@app.command()
def start(names: Names) -> None:
    """Start stopped VMs."""
    _lifecycle("start", names)


@app.command()
def stop(names: Names) -> None:
    """Shut VMs down (power off after a grace period)."""
    _lifecycle("stop", names)


@app.command()
def reboot(names: Names) -> None:
    """Reboot VMs."""
    _lifecycle("reboot", names)


@app.command()
def delete(names: Names) -> None:
    """Delete VMs and everything created for them."""
    _lifecycle("delete", names)
    output.err.print(f"deleted {', '.join(names)}")


@app.command()
def console(name: Annotated[str, typer.Argument(help="VM name or id")]) -> None:
    """Print the VM's serial console log."""
    with settings.connect() as cloud:
        output.out.out(cloud.console_output(name), highlight=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def ssh(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="VM name or id")],
    identity: Annotated[Path | None, typer.Option("-i", help="private key file")] = None,
    user: Annotated[str | None, typer.Option("-l", help="login user")] = None,
) -> None:
    """Log in with the system's ssh (extra arguments run as a command)."""
    with settings.connect() as cloud:
        argv = cloud.ssh_argv(name, ctx.args, user=user, key_file=str(identity) if identity else None)
    os.execvp(argv[0], argv)
