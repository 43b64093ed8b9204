"""Spot VMs on Compute Engine: launched with the SPOT provisioning model, refused capacity as the
zone refuses it, preempted as Compute Engine preempts them (stopped or deleted, as asked)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cloudvm_gcp.testing import PROJECT, FakeComputeEngine

import cloudvm
from cloudvm import errors

MakeVM = Callable[..., cloudvm.VMSpec]


def raw(gce: FakeComputeEngine, name: str) -> dict[str, Any]:
    status, found = gce.request("GET", f"projects/{PROJECT}/zones/us-central1-a/instances/{name}")
    assert status == 200, found
    return found


def test_a_spot_vm_is_launched_and_seen_as_spot(cloud: cloudvm.Cloud, gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    vm = cloud.create(make_vm("spot-1", spot=cloudvm.Spot()))
    try:
        assert vm.spot and not vm.interrupted
        scheduling = raw(gce, "spot-1")["scheduling"]
        assert scheduling["provisioningModel"] == "SPOT" and scheduling["instanceTerminationAction"] == "DELETE"
        assert scheduling["automaticRestart"] is False and scheduling["onHostMaintenance"] == "TERMINATE"
    finally:
        cloud.delete(vm)
    assert gce.leftovers("spot-1") == []


def test_a_preempted_vm_that_stops_is_told_as_interrupted(cloud: cloudvm.Cloud, gce: FakeComputeEngine,
                                                           make_vm: MakeVM) -> None:
    vm = cloud.create(make_vm("spot-stops", spot=cloudvm.Spot(on_interruption="stop")))
    try:
        assert raw(gce, "spot-stops")["scheduling"]["instanceTerminationAction"] == "STOP"
        gce.preempt("spot-stops")
        stopped = cloud.wait(vm, "stopped")[0]
        assert stopped.spot and stopped.interrupted == "Instance was preempted."
        restarted = cloud.start(vm)[0]
        assert restarted.interrupted is None  # a preemption before the last start is history
    finally:
        cloud.delete(vm)
    assert gce.leftovers("spot-stops") == []


def test_a_preempted_vm_that_goes_leaves_nothing(cloud: cloudvm.Cloud, gce: FakeComputeEngine,
                                                 make_vm: MakeVM) -> None:
    vm = cloud.create(make_vm("spot-goes", spot=cloudvm.Spot(), disks=[cloudvm.Disk(size_gib=1)]))
    gce.preempt("spot-goes")
    cloud.wait(vm, "terminated")
    assert cloud.list(tags={"cloudvm-name": "spot-goes"}) == []
    cloud.delete([])  # nothing left to delete: the disks went with the VM
    assert gce.leftovers("spot-goes") == []


def test_spot_capacity_refused_is_capacity_unavailable(cloud: cloudvm.Cloud, gce: FakeComputeEngine,
                                                       make_vm: MakeVM) -> None:
    gce.inject("instances.insert", "operation", code="ZONE_RESOURCE_POOL_EXHAUSTED", target="SPOT", times=5)
    with pytest.raises(errors.CapacityUnavailable):
        cloud.create(make_vm("spot-refused", spot=cloudvm.Spot()))
    assert gce.leftovers("spot-refused") == []
    vm = cloud.create(make_vm("spot-refused"))  # on demand the zone has room
    assert not vm.spot
    cloud.delete(vm)


def test_a_price_is_refused_before_anything_is_made(cloud: cloudvm.Cloud, gce: FakeComputeEngine,
                                                    make_vm: MakeVM) -> None:
    inserts = gce.count("instances.insert")
    with pytest.raises(errors.InvalidSpec, match=r"spot\.max_price"):
        cloud.create(make_vm("spot-priced", spot=cloudvm.Spot(max_price=0.02)))
    assert gce.count("instances.insert") == inserts
