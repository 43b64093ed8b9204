"""The Azure provider under test: the official management clients against the fake over HTTPS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudvm_azure.testing import FakeResourceManager, arm_fake
from cloudvm_testing.conformance import Target

import cloudvm

__all__ = ["arm_fake"]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"


@pytest.fixture(scope="session")
def conformance_target(arm_fake: FakeResourceManager) -> Target:
    return Target(provider="azure", options={**arm_fake.connect_options(), "guests": False}, image="ubuntu-24.04",
                  size=cloudvm.Size(cpus=2, memory_gib=1), leftovers=arm_fake.leftovers, timeout=60)


@pytest.fixture
def arm(arm_fake: FakeResourceManager) -> Iterator[FakeResourceManager]:
    """The session's fake, with no faults or changed quotas left after the test."""
    yield arm_fake
    arm_fake.reset_faults()
    arm_fake.reset_quotas()


@pytest.fixture
def cloud(arm: FakeResourceManager, tmp_path: Path) -> Iterator[cloudvm.Cloud]:
    with cloudvm.connect("azure", **arm.connect_options(), timeout=60, poll_interval=0.1,
                         known_hosts=tmp_path / "known_hosts") as c:
        yield c


@pytest.fixture
def make_vm() -> Callable[..., cloudvm.VMSpec]:
    """A small VM spec with the test login user; keyword arguments change it."""
    def make(name: str, **changes: Any) -> cloudvm.VMSpec:
        fields: dict[str, Any] = {"name": name, "size": cloudvm.Size(cpus=2, memory_gib=1), "image": "ubuntu-24.04",
                                  "ssh": cloudvm.SSHAccess(user="ops", public_keys=[KEY])}
        return cloudvm.VMSpec(**{**fields, **changes})
    return make
