"""The GCP provider under test: the official client against the fake over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudvm_gcp.testing import PROJECT, ZONE, FakeComputeEngine, gce_fake
from cloudvm_testing.conformance import Target

import cloudvm

__all__ = ["gce_fake"]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"


@pytest.fixture(scope="session")
def conformance_target(gce_fake: FakeComputeEngine) -> Target:
    return Target(provider="gcp", options={"project": PROJECT, "zone": ZONE, "api_endpoint": gce_fake.url,
                                                   "guests": False},
                  image="debian-12", size=cloudvm.Size(cpus=2, memory_gib=1), leftovers=gce_fake.leftovers,
                  timeout=60)


@pytest.fixture
def gce(gce_fake: FakeComputeEngine) -> Iterator[FakeComputeEngine]:
    """The session's fake, with no faults or changed quotas left after the test."""
    yield gce_fake
    gce_fake.reset_faults()
    gce_fake.reset_quotas()


@pytest.fixture
def cloud(gce: FakeComputeEngine, tmp_path: Path) -> Iterator[cloudvm.Cloud]:
    with cloudvm.connect("gcp", project=PROJECT, zone=ZONE, api_endpoint=gce.url, timeout=60,
                         poll_interval=0.1, known_hosts=tmp_path / "known_hosts") as c:
        yield c


@pytest.fixture
def make_vm() -> Callable[..., cloudvm.VMSpec]:
    """A small VM spec with the test login user; keyword arguments change it."""
    def make(name: str, **changes: Any) -> cloudvm.VMSpec:
        fields: dict[str, Any] = {"name": name, "size": cloudvm.Size(cpus=2, memory_gib=1), "image": "debian-12",
                                  "ssh": cloudvm.SSHAccess(user="ops", public_keys=[KEY])}
        return cloudvm.VMSpec(**{**fields, **changes})
    return make
