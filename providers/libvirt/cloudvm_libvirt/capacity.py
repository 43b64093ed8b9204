"""What a host can still give. A batch that needs more vCPUs for one VM than the host has, more
memory than the host has available, or more disk (at the disks' full sizes: a pool is not
overcommitted) than its pool has free is refused before anything is made, with
``CapacityUnavailable`` as a cloud refuses a full zone, so a placement list moves on to its next
host."""

from __future__ import annotations

from collections.abc import Sequence

import libvirt

from cloudvm.errors import CapacityUnavailable
from cloudvm.provider import LaunchRequest

GIB = 2**30


def check(conn: libvirt.virConnect, pool: libvirt.virStoragePool, requests: Sequence[LaunchRequest],
          root_bytes: Sequence[int], where: str) -> None:
    """Refuse the batch unless ``where`` has room for all of it; ``root_bytes``: each VM's root disk.
    ``pool``: refreshed by the caller, as far as its jobs let it be."""
    cpus = conn.getInfo()[2]
    for request in requests:
        if request.size.cpus > cpus:
            raise CapacityUnavailable(f"{request.spec.name}: {where} has {cpus} CPUs, {request.size.cpus} asked",
                                      code="InsufficientCPU")
    stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)  # KiB; cache counts as available
    available = sum(stats.get(k, 0) for k in ("free", "buffers", "cached")) * 1024
    memory = sum(r.size.memory_gib for r in requests) * GIB
    if memory > available:
        raise CapacityUnavailable(f"{_names(requests)}: {where} has {available / GIB:.1f} GiB of memory available, "
                                  f"{memory / GIB:.1f} GiB asked", code="InsufficientMemory")
    free = pool.info()[3]
    disk = sum(root_bytes) + sum(d.size_gib * GIB for r in requests for d in r.spec.disks)
    if disk > free:
        raise CapacityUnavailable(f"{_names(requests)}: pool {pool.name()} on {where} has {free / GIB:.1f} GiB free, "
                                  f"the disks need {disk / GIB:.1f} GiB", code="InsufficientStorage")


def _names(requests: Sequence[LaunchRequest]) -> str:
    return ", ".join(r.spec.name for r in requests)
