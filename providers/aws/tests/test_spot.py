"""Spot VMs on EC2 (moto reflects the instance lifecycle; the proxy refuses spot capacity and
interrupts instances as EC2 does, which moto never does)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from cloudvm_aws.testing import HARNESS, REGION, FaultProxy, leftovers

import cloudvm
from cloudvm import errors

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"


def spec(name: str, **changes: Any) -> cloudvm.VMSpec:
    return cloudvm.VMSpec(**{"name": name, "size": cloudvm.Size(cpus=2, memory_gib=1), "image": "ubuntu-24.04",
                             "ssh": cloudvm.SSHAccess(user="ops", public_keys=[KEY]), **changes})


@pytest.fixture
def proxy(moto_url: str) -> Any:
    with FaultProxy(moto_url) as running:
        yield running


@pytest.fixture
def cloud(proxy: FaultProxy) -> Any:
    with cloudvm.connect("aws", region=REGION, endpoint_url=proxy.url, timeout=60, poll_interval=0.05) as c:
        yield c


def test_a_spot_vm_is_launched_and_seen_as_spot(cloud: cloudvm.Cloud, proxy: FaultProxy, moto_url: str) -> None:
    vm = cloud.create(spec("spot-1", spot=cloudvm.Spot(max_price=0.05)))
    try:
        assert vm.spot and vm.interrupted is None and vm.tags["cloudvm-spot"] == "delete"
        launch = next(params for action, params in proxy.requests if action == "RunInstances")
        assert launch["InstanceMarketOptions.MarketType"] == ["spot"]
        assert launch["InstanceMarketOptions.SpotOptions.MaxPrice"] == ["0.05"]
        assert launch["InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior"] == ["terminate"]
        assert not cloud.create(spec("ondemand-1")).spot
    finally:
        cloud.delete(cloud.list())
    assert leftovers(moto_url, "spot-1") == [] and leftovers(moto_url, "ondemand-1") == []


def test_an_interrupted_vm_is_told_as_such(cloud: cloudvm.Cloud, proxy: FaultProxy, moto_url: str) -> None:
    vm = cloud.create(spec("spot-taken", spot=cloudvm.Spot()))
    proxy.interrupt(boto3.client("ec2", region_name=REGION, endpoint_url=moto_url, **HARNESS), vm.id)
    taken = cloud.wait(vm, "terminated")
    assert [(v.state, v.interrupted) for v in taken] == [
        (cloudvm.VMState.TERMINATED, "Server.SpotInstanceTermination: Spot instance termination")]
    # listed until seen to: an ordinary terminated instance is not, nor this one once deleted
    assert [(v.name, v.interrupted is not None) for v in cloud.list()] == [("spot-taken", True)]
    cloud.delete(taken)
    assert cloud.list() == []
    assert leftovers(moto_url, "spot-taken") == []


def test_spot_capacity_refused_is_capacity_unavailable_and_leaves_nothing(cloud: cloudvm.Cloud, proxy: FaultProxy,
                                                                         moto_url: str) -> None:
    proxy.inject("RunInstances", "error", code="InsufficientInstanceCapacity", status=500, times=100, about="spot")
    with pytest.raises(errors.CapacityUnavailable):
        cloud.create(spec("spot-refused", spot=cloudvm.Spot()))
    assert leftovers(moto_url, "spot-refused") == []
    assert not cloud.create(spec("spot-refused")).spot  # on demand the same request goes through
    cloud.delete(cloud.list())


def test_stop_on_interruption_is_refused_before_anything_is_made(cloud: cloudvm.Cloud, proxy: FaultProxy) -> None:
    with pytest.raises(errors.InvalidSpec, match=r"spot\.on_interruption"):
        cloud.create(spec("spot-stop", spot=cloudvm.Spot(on_interruption="stop")))
    assert proxy.count("RunInstances") == 0
