"""The libvirt provider under test: the local system daemon, the isolated
``cloudvm-test`` network (made by host-setup.sh), software emulation."""

from __future__ import annotations

import pytest
from cloudvm_libvirt.testing import leftovers, options
from cloudvm_testing.conformance import Target

import cloudvm


@pytest.fixture(scope="session")
def conformance_target() -> Target:
    return Target(provider="libvirt", options=options(), image="cloudvm-tiny",
                  size=cloudvm.Size(cpus=1, memory_gib=0.5), leftovers=leftovers, timeout=240)
