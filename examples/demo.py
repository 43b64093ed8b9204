"""The README demo: boot a VM, log in, snapshot, restore, tear down,
saying what happens at each step."""

import os
import tempfile
import time
from pathlib import Path

import cloudvm
from cloudvm import ssh


def step(text: str) -> float:
    print(f"==> {text}", flush=True)
    return time.monotonic()


def done(started: float) -> None:
    print(f"    ({time.monotonic() - started:.1f}s)", flush=True)


with tempfile.TemporaryDirectory() as tmp, cloudvm.connect(os.environ.get("CLOUDVM_PROVIDER", "libvirt")) as cloud:
    key_file, public_key = ssh.generate_keypair(Path(tmp))
    login = dict(key_file=str(key_file))
    spec = cloudvm.VMSpec(
        name="demo-1",
        size=cloudvm.Size(cpus=1, memory_gib=0.5),
        image=os.environ.get("CLOUDVM_IMAGE", "cloudvm-tiny"),
        disks=[cloudvm.Disk(size_gib=1)],
        ssh=cloudvm.SSHAccess(user="ops", public_keys=[public_key]),
        user_data="#!/bin/sh\necho 'hello from user-data' > /tmp/hello\n",
        tags={"purpose": "demo"},
    )
    created = []
    snap = None
    try:
        t = step(f"creating {spec.name} from {spec.image} on {cloud.provider.name} and waiting for SSH")
        vm = cloud.create(spec, wait="reachable")
        created.append(vm)
        done(t)
        print(f"    {vm.name}: {vm.state.value}, {vm.size.type_name if vm.size else '?'}, address {vm.address}")
        t = step("logging in over SSH")
        print("    " + cloud.ssh(vm, "hostname; cat /tmp/hello; echo precious > ~/data; sync", **login).stdout
              .strip().replace("\n", "\n    "))
        done(t)
        t = step("taking a snapshot of every disk")
        snap = cloud.snapshot(vm, name="demo-1-snap")
        done(t)
        t = step("restoring the snapshot into a new VM")
        vm2 = cloud.restore(snap, name="demo-2", wait="reachable")
        created.append(vm2)
        done(t)
        print(f"    ~/data on {vm2.name}: {cloud.ssh(vm2, 'cat ~/data', **login).stdout.strip()}")
    finally:
        t = step("tearing down")
        if created:
            cloud.delete(created)
        if snap is not None:
            cloud.delete_snapshot(snap)
        done(t)
        print(f"    VMs left: {[v.name for v in cloud.list(tags={'purpose': 'demo'})]}")
