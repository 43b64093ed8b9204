"""Helpers for testing against libvirt: connection options from the
environment, a check that nothing of a VM or snapshot is left, and the second
host, reached over SSH."""

from __future__ import annotations

import os
import time
from pathlib import Path

import libvirt


def options() -> dict[str, str]:
    """Provider options for tests: the isolated test network, software emulation."""
    return {
        "uri": os.environ.get("CLOUDVM_LIBVIRT_URI", "qemu:///system"),
        "network": os.environ.get("CLOUDVM_LIBVIRT_NETWORK", "cloudvm-test"),
        "domain_type": os.environ.get("CLOUDVM_LIBVIRT_DOMAIN_TYPE", "qemu"),
    }


def leftovers(name: str, uri: str | None = None, pool: str = "cloudvm") -> list[str]:
    """Every domain or pool volume still named after the VM or snapshot ``name``."""
    conn = libvirt.open(uri or options()["uri"])
    try:
        found = [f"domain {d.name()}" for d in conn.listAllDomains(0) if d.name() == name]
        vols = _refreshed(conn.storagePoolLookupByName(pool))
        found += [f"volume {v}" for v in vols.listVolumes() if v.startswith((f"{name}-", f"{name}."))]
        for each in conn.listAllStoragePools(0):  # the console log, in the pool over libvirt's log directory
            found += [f"console log {v}" for v in _refreshed(each).listVolumes()
                      if v == f"cloudvm-{name}-console.log"]
        return found
    finally:
        conn.close()


def _refreshed(pool: libvirt.virStoragePool) -> libvirt.virStoragePool:
    """The pool rescanned for files changed outside libvirt. libvirt refuses while a volume
    stream into it is open; its volume list is current for what went through libvirt, so then
    that list is read as it is, after a short wait."""
    for _ in range(20):
        try:
            pool.refresh(0)
            break
        except libvirt.libvirtError as exc:
            if "asynchronous jobs" not in str(exc):
                raise
            time.sleep(0.25)
    return pool


def second_host() -> str:
    """The URI of the second libvirt host host-setup.sh starts (second-host.sh): reached over SSH
    at its own address, sharing no files with this one, its pool small enough to fill."""
    found = Path("/run/cloudvm-hv2/uri")
    if not found.exists():
        raise RuntimeError("no second libvirt host: run providers/libvirt/host-setup.sh (as the tests' command does)")
    return found.read_text().strip()
