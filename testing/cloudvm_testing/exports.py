"""Exports made up for the tests of every backend's import: a one-disk VM of any size holding
chosen bytes, written sparse, so a 10 GiB disk costs the test only its data."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cloudvm
from cloudvm import portable

MIB, GIB = 1 << 20, 1 << 30
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"


def sparse_export(directory: Path, size: int, data: dict[int, bytes], name: str = "moved") -> Path:
    """An export in ``directory/export`` of a one-disk VM of ``size`` bytes holding ``data``
    (offset -> bytes) and nothing else."""
    raw = directory / "source.raw"
    with raw.open("wb") as f:
        f.truncate(size)
        for offset, chunk in data.items():
            f.seek(offset)
            f.write(chunk)
    spec = cloudvm.VMSpec(name=name, size=cloudvm.Size(cpus=1, memory_gib=1), image="cloudvm-tiny",
                          ssh=cloudvm.SSHAccess(user="ops", public_keys=[KEY]))

    def fill(target: Path) -> None:
        subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(target)], check=True)
    out = portable.write(directory / "export", name=f"{name}-snap", source_vm=name, created="2026-01-01T00:00:00+00:00",
                         tags={"team": "dr"}, spec=spec, disks=[("root", size, fill)])
    raw.unlink()
    return out


def mostly_holes(directory: Path) -> Path:
    """The export of a 10 GiB disk holding 300 MiB and five bytes (its first MiB, 299 MiB from its
    third GiB, the last five bytes): what an import must not send 10 GiB for."""
    return sparse_export(directory, 10 * GIB, {0: os.urandom(MIB), 3 * GIB: os.urandom(299 * MIB),
                                               10 * GIB - 5: b"end!\n"})


def same_disks(one: Path, other: Path) -> str | None:
    """How the two exports' first disks differ (None: they hold the same bytes)."""
    compared = subprocess.run(["qemu-img", "compare", str(one / "disk-0.qcow2"), str(other / "disk-0.qcow2")],
                              capture_output=True, text=True)
    return None if compared.returncode == 0 else compared.stdout + compared.stderr
