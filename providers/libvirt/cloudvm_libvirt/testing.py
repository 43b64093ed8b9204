"""Helpers for testing against libvirt: connection options from the
environment, and a check that nothing of a VM or snapshot is left."""

from __future__ import annotations

import os

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
        vols = conn.storagePoolLookupByName(pool)
        vols.refresh(0)
        found += [f"volume {v}" for v in vols.listVolumes() if v.startswith((f"{name}-", f"{name}."))]
        for each in conn.listAllStoragePools(0):  # the console log, in the pool over libvirt's log directory
            each.refresh(0)
            found += [f"console log {v}" for v in each.listVolumes() if v == f"cloudvm-{name}-console.log"]
        return found
    finally:
        conn.close()
