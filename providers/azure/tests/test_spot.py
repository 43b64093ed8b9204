"""Azure Spot VMs: launched with priority Spot, refused capacity as ARM refuses it, evicted through
ARM's own simulateEviction (deallocated or deleted, as asked)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cloudvm_azure.testing import RESOURCE_GROUP, SUBSCRIPTION, FakeResourceManager

import cloudvm
from cloudvm import errors

MakeVM = Callable[..., cloudvm.VMSpec]


def raw(arm: FakeResourceManager, name: str) -> dict[str, Any]:
    status, _, found = arm.request("GET", f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
                                          f"Microsoft.Compute/virtualMachines/{name}?api-version=2024-03-01")
    assert status == 200, found
    return dict(found)


def test_a_spot_vm_is_launched_and_seen_as_spot(cloud: cloudvm.Cloud, arm: FakeResourceManager,
                                                make_vm: MakeVM) -> None:
    vm = cloud.create(make_vm("spot-1", spot=cloudvm.Spot(max_price=0.05)))
    try:
        assert vm.spot and not vm.interrupted
        props = raw(arm, "spot-1")["properties"]
        assert (props["priority"], props["evictionPolicy"], props["billingProfile"]) == (
            "Spot", "Delete", {"maxPrice": 0.05})
    finally:
        cloud.delete(vm)
    assert arm.leftovers("spot-1") == []


def test_an_evicted_vm_is_deallocated_or_gone_as_asked(cloud: cloudvm.Cloud, arm: FakeResourceManager,
                                                       make_vm: MakeVM) -> None:
    kept, gone = cloud.create_many([make_vm("spot-kept", spot=cloudvm.Spot(on_interruption="stop")),
                                    make_vm("spot-gone", spot=cloudvm.Spot())])
    assert raw(arm, "spot-kept")["properties"]["billingProfile"] == {"maxPrice": -1}  # evicted for capacity only
    arm.evict("spot-kept")
    arm.evict("spot-gone")
    assert cloud.wait(kept, "stopped")[0].spot
    cloud.wait(gone, "terminated")
    cloud.delete(kept)
    assert arm.leftovers("spot-kept") == [] and arm.leftovers("spot-gone") == []


def test_spot_capacity_refused_is_capacity_unavailable(cloud: cloudvm.Cloud, arm: FakeResourceManager,
                                                       make_vm: MakeVM) -> None:
    arm.inject("PUT", "virtualMachines", "spot", times=3)
    with pytest.raises(errors.CapacityUnavailable):
        cloud.create(make_vm("spot-refused", spot=cloudvm.Spot()))
    assert arm.leftovers("spot-refused") == []
    arm.reset_faults()


def test_only_a_spot_vm_can_be_evicted(cloud: cloudvm.Cloud, arm: FakeResourceManager, make_vm: MakeVM) -> None:
    vm = cloud.create(make_vm("regular-1"))
    try:
        assert not vm.spot and "priority" not in raw(arm, "regular-1")["properties"]
        path = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Compute/"
                "virtualMachines/regular-1/simulateEviction?api-version=2024-03-01")
        status, _, answer = arm.request("POST", path)
        assert status == 409 and answer["error"]["code"] == "OperationNotAllowed"
    finally:
        cloud.delete(vm)
