"""Exactly once and leak-free under the faults Compute Engine shows,
injected by the fake: lost answers, throttling, outages, failed operations."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from cloudvm_gcp.testing import PROJECT, ZONE, FakeComputeEngine

import cloudvm
from cloudvm import errors
from cloudvm.retry import RetryPolicy

FAST = RetryPolicy(attempts=6, initial=0.05, maximum=0.2, deadline=20)
MakeVM = Callable[..., cloudvm.VMSpec]


def connect(gce: FakeComputeEngine, retry: RetryPolicy = FAST) -> cloudvm.Cloud:
    return cloudvm.connect("gcp", project=PROJECT, zone=ZONE, api_endpoint=gce.url, retry=retry, timeout=60,
                           poll_interval=0.1)


def spec(make_vm: MakeVM, name: str) -> cloudvm.VMSpec:
    return make_vm(name, disks=[cloudvm.Disk(size_gib=1)], network=cloudvm.Network(ingress=[cloudvm.Ingress(port=22)]))


@pytest.mark.parametrize("kind", ["drop", "throttle", "rate403", "unavailable"])
@pytest.mark.parametrize("method", ["firewalls.insert", "instances.insert", "zoneOperations.list", "instances.list"])
def test_one_instance_per_create_under_each_fault(gce: FakeComputeEngine, make_vm: MakeVM, kind: str,
                                                  method: str) -> None:
    name = f"f-{kind}-{method.replace('.', '-').lower()}"
    fault = gce.inject(method, kind)
    with connect(gce) as cloud:
        vm = cloud.create(spec(make_vm, name))
        assert fault.times == 0, "the fault was never hit"
        assert [v.id for v in cloud.list() if v.name == name] == [vm.id]
        assert len(vm.disks) == 2
        cloud.delete(vm)
    assert gce.leftovers(name) == []


def test_a_lost_insert_answer_is_retried_with_the_same_request_id(gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    inserts, operations = gce.count("instances.insert"), len(gce.fake.compute.requests)
    gce.inject("instances.insert", "drop")
    with connect(gce) as cloud:
        vm = cloud.create(make_vm("f-lost"))
        assert gce.count("instances.insert") - inserts == 2  # sent twice ...
        assert len(gce.fake.compute.requests) - operations == 1  # ... one operation: the same requestId
        cloud.delete(vm)
    assert gce.leftovers("f-lost") == []


def test_no_capacity_fails_at_once_and_leaves_nothing(gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    inserts = gce.count("instances.insert")
    gce.inject("instances.insert", "operation", code="ZONE_RESOURCE_POOL_EXHAUSTED")
    with connect(gce) as cloud, pytest.raises(errors.CapacityUnavailable, match="does not have enough resources"):
        cloud.create(spec(make_vm, "f-nocapacity"))
    assert gce.count("instances.insert") - inserts == 1  # not a retryable error
    assert gce.leftovers("f-nocapacity") == []  # neither firewall nor disks


def test_a_failed_vm_in_a_batch_removes_the_whole_batch(gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    names = [f"f-batch-{i}" for i in range(3)]
    gce.inject("instances.insert", "operation", code="QUOTA_EXCEEDED")
    with connect(gce) as cloud, pytest.raises(errors.QuotaExceeded):
        cloud.create_many([spec(make_vm, n) for n in names])
    assert [n for n in names if gce.leftovers(n)] == []


def test_throttling_backs_off_and_surfaces_only_at_the_deadline(gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    inserts = gce.count("instances.insert")
    gce.inject("instances.insert", "throttle", times=10_000)
    policy = RetryPolicy(attempts=1000, initial=0.05, maximum=0.4, deadline=2.0)
    started = time.monotonic()
    with connect(gce, policy) as cloud, pytest.raises(errors.Throttled) as err:
        cloud.create(spec(make_vm, "f-throttled"))
    elapsed, tries = time.monotonic() - started, gce.count("instances.insert") - inserts
    assert 1.5 <= elapsed < 10 and 3 <= tries < 60, (elapsed, tries)
    assert err.value.code == "rateLimitExceeded"
    assert gce.leftovers("f-throttled") == []


def test_retry_after_is_honoured(gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    gce.inject("instances.insert", "throttle", retry_after=1.0)
    started = time.monotonic()
    with connect(gce) as cloud:  # backoff alone would wait at most 0.2 s
        cloud.delete(cloud.create(make_vm("f-retry-after")))
    assert time.monotonic() - started >= 1.0


def test_a_lost_snapshot_answer_makes_one_set(gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    with connect(gce) as cloud:
        vm = cloud.create(spec(make_vm, "f-snap"))
        gce.inject("disks.createSnapshot", "drop")
        snap = cloud.snapshot(vm, name="f-snap-1")
        assert [s.name for s in cloud.list_snapshots()] == ["f-snap-1"] and len(snap.disks) == 2
        cloud.delete(vm)
        cloud.delete_snapshot(snap)
        assert cloud.list_snapshots() == []
    assert gce.leftovers("f-snap") == [] and gce.leftovers("f-snap-1") == []


def test_a_copy_tried_again_removes_the_disks_the_first_try_left(gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    """Found by the fault campaign: a copy whose temporary disk could not be deleted was tried
    again, found its member copied, and reported success with the disk left behind."""
    with connect(gce) as cloud:
        vm = cloud.create(spec(make_vm, "f-copy"))
        snap = cloud.snapshot(vm, name="f-copy-1")
        gce.inject("disks.delete", "rate403", times=2)
        copy = cloud.copy_snapshot(snap, region="us-east1")
        assert gce.count("disks.delete") >= 2 and len(copy.disks) == len(snap.disks)
        assert [r["name"] for r in gce.resources() if r["name"].endswith("-us-east1-copy")] == []
        cloud.delete(vm)
        cloud.delete_snapshot(copy)
        cloud.delete_snapshot(snap)


def test_a_snapshot_and_a_backup_in_one_second_are_both_made(gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    """Found by the fault campaign: a backup taken in the second a snapshot of the VM was took its
    name (machine image names are the project's), and the run failed with AlreadyExists."""
    from cloudvm import backup

    with connect(gce) as cloud:
        vm = cloud.create(spec(make_vm, "f-twice").replace(tags={"plan": "f-twice"}))
        first, second = cloud.snapshot(vm), cloud.snapshot(vm)
        policy = backup.Policy(name="f-twice", select=backup.Select(tags={"plan": "f-twice"}))
        report = backup.run(cloud, policy)
        assert len(report.taken) == 1 and len({first.name, second.name, *report.taken}) == 3
        cloud.delete(vm)
        for snap in cloud.list_snapshots():
            cloud.delete_snapshot(snap)
