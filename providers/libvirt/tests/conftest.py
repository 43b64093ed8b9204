"""The libvirt provider under test: the local system daemon, the isolated
``cloudvm-test`` network (made by host-setup.sh), software emulation."""

from __future__ import annotations

import os

import libvirt
import pytest

import cloudvm
from cloudvm.testing.conformance import Target

URI = os.environ.get("CLOUDVM_LIBVIRT_URI", "qemu:///system")
OPTIONS = {
    "uri": URI,
    "network": os.environ.get("CLOUDVM_LIBVIRT_NETWORK", "cloudvm-test"),
    "domain_type": os.environ.get("CLOUDVM_LIBVIRT_DOMAIN_TYPE", "qemu"),
}


def leftovers(name: str) -> list[str]:
    """Every domain or pool volume still named after ``name``."""
    conn = libvirt.open(URI)
    try:
        found = [f"domain {d.name()}" for d in conn.listAllDomains(0) if d.name() == name]
        pool = conn.storagePoolLookupByName("cloudvm")
        pool.refresh(0)
        found += [f"volume {v}" for v in pool.listVolumes() if v.startswith((f"{name}-", f"{name}."))]
        return found
    finally:
        conn.close()


@pytest.fixture(scope="session")
def conformance_target() -> Target:
    return Target(provider="libvirt", options=OPTIONS, image="cloudvm-tiny",
                  size=cloudvm.Size(cpus=1, memory_gib=0.5), leftovers=leftovers, timeout=240)
