"""The fault campaign's Azure (``cloudvm_testing.chaos``): the Resource Manager fake, with its own
fault injection; what the resource group holds read from the fake's store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cloudvm_testing.chaos import Fault

import cloudvm
from cloudvm.retry import RetryPolicy
from cloudvm_azure_testing import FakeResourceManager, fake_resource_manager

KINDS = ("virtualMachines", "networkInterfaces", "publicIPAddresses", "networkSecurityGroups", "disks",
         "snapshots", "restorePointCollections", "restorePoints", "virtualNetworks")
CALLS = (*(f"{method} {kind}" for kind in KINDS for method in ("PUT", "GET", "DELETE")), "POST virtualMachines")
SHARED = ("/virtualNetworks/",)  # a location's network, kept for every VM there


class Azure:
    name, image, region, elsewhere = "azure", "ubuntu-24.04", "eastus", "westus2"
    kinds = ("drop", "reset", "error", "throttle", "latency")
    calls = CALLS

    def __init__(self, arm: FakeResourceManager) -> None:
        self.arm = arm
        # a client in a process of its own (one killed mid-way) names the fake's credential by its class
        self.options = arm.connect_options(credential="cloudvm_azure.testing:FakeCredential")

    def connect(self, retry: RetryPolicy) -> cloudvm.Cloud:
        return cloudvm.connect("azure", **self.arm.connect_options(), retry=retry, timeout=60, poll_interval=0.05,
                               guests=False)

    def inject(self, fault: Fault) -> None:
        method, kind = fault.call.split(" ", 1)
        # ARM's throttles name a wait (Retry-After), short here so trials stay quick
        self.arm.inject(method, kind, fault.kind, times=fault.times, retry_after=0.2, delay=0.5, status=500,
                        code="InternalServerError")

    def unstruck(self) -> int:
        return sum(f.times for f in self.arm.fake.faults)

    def clear(self) -> None:
        self.arm.reset_faults()

    def held(self) -> set[str]:
        return {r["id"] for r in self.arm.resources() if not any(s in r["id"] for s in SHARED)}

    def vm_names(self) -> list[str]:
        return [r["name"] for r in self.arm.resources() if r["type"] == "Microsoft.Compute/virtualMachines"]


@contextmanager
def backend() -> Iterator[Azure]:
    with fake_resource_manager() as arm:
        yield Azure(arm)
        assert arm.violations == [], arm.violations
