"""The fault campaign's GCP (``cloudvm_testing.chaos``): the Compute Engine fake, with its own
fault injection; what the project holds read from the fake's store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cloudvm_testing.chaos import Fault

import cloudvm
from cloudvm.retry import RetryPolicy
from cloudvm_gcp_testing import PROJECT, ZONE, FakeComputeEngine, fake_compute_engine

CALLS = ("instances.insert", "instances.list", "instances.aggregatedList", "instances.delete", "instances.stop",
         "instances.start", "instances.reset", "zoneOperations.list", "globalOperations.list", "firewalls.insert",
         "firewalls.list", "firewalls.delete", "disks.insert", "disks.list", "disks.delete", "snapshots.list",
         "machineImages.insert", "machineImages.list", "machineImages.delete", "images.getFromFamily",
         "machineTypes.list", "networks.get")
# Google's answers to a throttle carry no Retry-After; an unavailable service's may.
KINDS = ("drop", "reset", "unavailable", "throttle", "rate403", "latency")


class Gcp:
    name, image, region, elsewhere = "gcp", "debian-12", ZONE[:-2], "us-east1"
    kinds, calls = KINDS, CALLS

    def __init__(self, gce: FakeComputeEngine) -> None:
        self.gce = gce
        self.options: dict[str, Any] | None = {"project": PROJECT, "zone": ZONE, "api_endpoint": gce.url}

    def connect(self, retry: RetryPolicy) -> cloudvm.Cloud:
        return cloudvm.connect("gcp", project=PROJECT, zone=ZONE, api_endpoint=self.gce.url, retry=retry, timeout=60,
                               poll_interval=0.05, guests=False)

    def inject(self, fault: Fault) -> None:
        self.gce.inject(fault.call, fault.kind, times=fault.times, delay=0.5)

    def unstruck(self) -> int:
        return sum(f.times for f in self.gce.fake.faults)

    def clear(self) -> None:
        self.gce.reset_faults()

    def held(self) -> set[str]:
        return {str(r.get("selfLink") or f"{r['kind']} {r['name']}") for r in self.gce.resources()}

    def vm_names(self) -> list[str]:
        return [r["name"] for r in self.gce.resources() if r["kind"] == "compute#instance"]


@contextmanager
def backend() -> Iterator[Gcp]:
    with fake_compute_engine() as gce:
        yield Gcp(gce)
        assert gce.violations == [], gce.violations
