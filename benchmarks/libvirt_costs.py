"""On libvirt: what a VM's disks cost as its base image grows (a copy-on-write
overlay: it should not grow), and N VMs created as one batch or one by one."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

MIB = 1 << 20


def _base(directory: Path, data_mib: int) -> Path:
    """A qcow2 image holding ``data_mib`` MiB of written data."""
    path = directory / f"bench-base-{data_mib}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "4G"], check=True)
    subprocess.run(["qemu-io", "-c", f"write -P 0x5a 0 {data_mib}M", str(path)], check=True, capture_output=True)
    return path


def disk_costs(sizes_mib: tuple[int, ...] = (16, 256, 1024)) -> list[tuple[int, float]]:
    from cloudvm_libvirt import images
    from cloudvm_libvirt.provider import LibvirtProvider
    from cloudvm_libvirt.testing import options

    provider = LibvirtProvider(**options())
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes_mib:
            base = images.import_file(provider.storage, _base(Path(tmp), size))
            started = time.perf_counter()
            provider.storage.create("bench-overlay.qcow2", 4 << 30, backing=(base, "qcow2"))
            found.append((size, time.perf_counter() - started))
            provider.storage.delete("bench-overlay.qcow2")
            provider.storage.delete(base.rsplit("/", 1)[-1])
    provider.close()
    return found


def batch_or_loop(n: int = 4) -> tuple[float, float]:
    from cloudvm_libvirt.testing import options

    import cloudvm

    def spec(name: str) -> cloudvm.VMSpec:
        return cloudvm.VMSpec(name=name, size=cloudvm.Size(cpus=1, memory_gib=0.5), image="cloudvm-tiny")

    with cloudvm.connect("libvirt", **options()) as cloud:
        cloud.delete(cloud.create(spec("bench-warm")))  # the base image imported once, outside the timing
        started = time.perf_counter()
        vms = cloud.create_many([spec(f"bench-batch-{i}") for i in range(n)])
        batch = time.perf_counter() - started
        cloud.delete(vms)
        started = time.perf_counter()
        vms = [cloud.create(spec(f"bench-loop-{i}")) for i in range(n)]
        loop = time.perf_counter() - started
        cloud.delete(vms)
    return batch, loop


def libvirt_costs(quick: bool = False) -> str:
    sizes, n = ((16, 64), 2) if quick else ((16, 256, 1024), 4)
    lines = ["## libvirt", "", "| base image data | creating a VM's root disk |", "|---|---|"]
    lines += [f"| {size} MiB | {seconds * 1000:.1f} ms |" for size, seconds in disk_costs(sizes)]
    batch, loop = batch_or_loop(n)
    lines += ["", f"{n} VMs until running (QEMU TCG, 2 cores): one `create_many` {batch:.1f} s, "
                  f"`create` one after the other {loop:.1f} s."]
    return "\n".join(lines) + "\n"
