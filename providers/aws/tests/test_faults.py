"""Exactly once and leak-free under the faults real EC2 shows, injected by a
proxy between boto3 and the moto server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import boto3
import pytest
from cloudvm_aws.testing import HARNESS, REGION, FaultProxy, leftovers

import cloudvm
from cloudvm import errors
from cloudvm.retry import RetryPolicy

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"
FAST = RetryPolicy(attempts=6, initial=0.05, maximum=0.2, deadline=20)


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_url) as p:
        yield p


def connect(proxy: FaultProxy, retry: RetryPolicy = FAST) -> cloudvm.Cloud:
    return cloudvm.connect("aws", region=REGION, endpoint_url=proxy.url, retry=retry, timeout=60, poll_interval=0.1)


def spec(name: str) -> cloudvm.VMSpec:
    return cloudvm.VMSpec(name=name, size=cloudvm.Size(cpus=2, memory_gib=1), image="ubuntu-24.04",
                          disks=[cloudvm.Disk(size_gib=1)], ssh=cloudvm.SSHAccess(user="ops", public_keys=[KEY]),
                          network=cloudvm.Network(ingress=[cloudvm.Ingress(port=22)]))


@pytest.mark.parametrize("kind", ["drop", "throttle", "error", "latency"])
@pytest.mark.parametrize("action", ["CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "RunInstances",
                                    "DescribeInstances"])
def test_one_instance_per_create_under_each_fault(proxy: FaultProxy, moto_url: str, kind: str, action: str) -> None:
    name = f"f-{kind}-{action.lower()}"[:40]
    proxy.inject(action, kind, delay=0.3)
    with connect(proxy) as cloud:
        vm = cloud.create(spec(name))
        assert proxy.faults[0].times == 0, "the fault was never hit"
        alive = [v for v in cloud.list() if v.name == name]
        assert [v.id for v in alive] == [vm.id]
        assert len(vm.disks) == 2
        cloud.delete(vm)
    assert leftovers(moto_url, name) == []


def test_a_lost_snapshot_response_makes_one_set(proxy: FaultProxy, moto_url: str) -> None:
    with connect(proxy) as cloud:
        vm = cloud.create(spec("f-snap"))
        proxy.inject("CreateSnapshots", "drop")
        snap = cloud.snapshot(vm, name="f-snap-1")
        assert proxy.count("CreateSnapshots") == 1
        assert [s.name for s in cloud.list_snapshots()] == ["f-snap-1"] and len(snap.disks) == 2
        cloud.delete(vm)
        cloud.delete_snapshot(snap)
        assert cloud.list_snapshots() == []
    assert leftovers(moto_url, "f-snap") == []


def test_throttling_backs_off_and_surfaces_only_at_the_deadline(proxy: FaultProxy, moto_url: str) -> None:
    proxy.inject("RunInstances", "throttle", times=10_000)
    policy = RetryPolicy(attempts=1000, initial=0.05, maximum=0.4, deadline=2.0)
    started = time.monotonic()
    with connect(proxy, policy) as cloud, pytest.raises(errors.Throttled) as err:
        cloud.create(spec("f-throttled"))
    elapsed = time.monotonic() - started
    tries = proxy.count("RunInstances")
    assert 1.5 <= elapsed < 30 and 3 <= tries < 60, (elapsed, tries)  # retried with pauses, not past the deadline
    assert err.value.code == "RequestLimitExceeded" and err.value.request_id
    assert leftovers(moto_url, "f-throttled") == []


def test_a_failed_launch_removes_its_security_group(proxy: FaultProxy, moto_url: str) -> None:
    proxy.inject("RunInstances", "error", code="InsufficientInstanceCapacity", status=500, times=100)
    with connect(proxy) as cloud, pytest.raises(errors.CapacityUnavailable):
        cloud.create(spec("f-nocapacity"))
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url, **HARNESS)
    zones = {o["Location"] for o in ec2.describe_instance_type_offerings(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": ["t3a.micro"]}])[
        "InstanceTypeOfferings"]}
    assert proxy.count("RunInstances") == len(zones) > 1  # each zone offering the type once; not retried
    assert leftovers(moto_url, "f-nocapacity") == []


def test_a_throttled_launch_finds_its_security_group_again_on_the_next_try(proxy: FaultProxy, moto_url: str) -> None:
    proxy.inject("RunInstances", "throttle", times=3)
    with connect(proxy) as cloud:
        cloud.delete(cloud.create(spec("f-paced")))
    assert proxy.count("RunInstances") == 4
    assert proxy.count("CreateSecurityGroup") == 1  # a later try looks for its group (its token on it) first
    assert proxy.count("DeleteSecurityGroup") == 1  # never dropped and made again: once, with the VM
    assert leftovers(moto_url, "f-paced") == []
