"""Exactly once and leak-free under the faults Azure shows, injected by the
fake: lost answers, 429 with Retry-After, 5xx, failed allocations."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from cloudvm_azure.testing import FakeResourceManager

import cloudvm
from cloudvm import errors
from cloudvm.retry import RetryPolicy

FAST = RetryPolicy(attempts=6, initial=0.05, maximum=0.2, deadline=20)
MakeVM = Callable[..., cloudvm.VMSpec]


def connect(arm: FakeResourceManager, retry: RetryPolicy = FAST) -> cloudvm.Cloud:
    return cloudvm.connect("azure", **arm.connect_options(), retry=retry, timeout=60, poll_interval=0.1)


def spec(make_vm: MakeVM, name: str) -> cloudvm.VMSpec:
    return make_vm(name, disks=[cloudvm.Disk(size_gib=1)],
                   network=cloudvm.Network(public_ip=True, ingress=[cloudvm.Ingress(port=22)]))


@pytest.mark.parametrize("fault", ["drop", "throttle", "error"])
@pytest.mark.parametrize(("method", "kind"), [("PUT", "networkSecurityGroups"), ("PUT", "networkInterfaces"),
                                              ("PUT", "virtualMachines"), ("GET", "virtualMachines")])
def test_one_vm_per_create_under_each_fault(arm: FakeResourceManager, make_vm: MakeVM, fault: str, method: str,
                                            kind: str) -> None:
    name = f"f-{fault}-{method}-{kind}".lower()[:40]
    injected = arm.inject(method, kind, fault, retry_after=0)
    with connect(arm) as cloud:
        vm = cloud.create(spec(make_vm, name))
        assert injected.times == 0, "the fault was never hit"
        assert [v.id for v in cloud.list() if v.name == name] == [vm.id]
        assert len(vm.disks) == 2
        cloud.delete(vm)
    assert arm.leftovers(name) == []


def test_a_lost_vm_put_answer_leaves_one_vm(arm: FakeResourceManager, make_vm: MakeVM) -> None:
    puts = arm.count("PUT virtualMachines")
    arm.inject("PUT", "virtualMachines", "drop")
    with connect(arm) as cloud:
        vm = cloud.create(spec(make_vm, "f-lost"))
        assert arm.count("PUT virtualMachines") - puts == 1  # the next try found the VM the lost answer made
        vms = [r for r in arm.resources() if r["type"].endswith("/virtualMachines") and r["name"] == "f-lost"]
        assert [r["tags"]["cloudvm-token"] for r in vms] == [vm.tags["cloudvm-token"]]
        cloud.delete(vm)
    assert arm.leftovers("f-lost") == []


def test_a_failed_allocation_leaves_nothing(arm: FakeResourceManager, make_vm: MakeVM) -> None:
    arm.inject("PUT", "virtualMachines", "allocation")
    with connect(arm) as cloud, pytest.raises(errors.CapacityUnavailable, match="sufficient capacity"):
        cloud.create(spec(make_vm, "f-nocapacity"))
    assert arm.leftovers("f-nocapacity") == []  # no NIC, public IP, security group or disk


def test_a_failed_vm_in_a_batch_removes_the_whole_batch(arm: FakeResourceManager, make_vm: MakeVM) -> None:
    names = [f"f-batch-{i}" for i in range(3)]
    arm.inject("PUT", "networkInterfaces", "error", status=409, code="QuotaExceeded")
    with connect(arm) as cloud, pytest.raises(errors.QuotaExceeded):
        cloud.create_many([spec(make_vm, n) for n in names])
    assert [n for n in names if arm.leftovers(n)] == []


def test_429_waits_as_told(arm: FakeResourceManager, make_vm: MakeVM) -> None:
    arm.inject("PUT", "virtualMachines", "throttle", retry_after=1)
    started, deletes = time.monotonic(), arm.count("DELETE networkInterfaces")
    with connect(arm) as cloud:  # backoff alone would wait at most 0.2 s
        vm = cloud.create(make_vm("f-retry-after"))
        assert arm.count("DELETE networkInterfaces") == deletes  # the next try took up the NIC the first made
        cloud.delete(vm)
    assert time.monotonic() - started >= 1.0
    assert arm.leftovers("f-retry-after") == []


def test_a_create_throttled_past_its_deadline_leaves_nothing(arm: FakeResourceManager, make_vm: MakeVM) -> None:
    fault = arm.inject("PUT", "virtualMachines", "throttle", retry_after=0.2, times=1000)
    with connect(arm, RetryPolicy(initial=0.05, maximum=0.2, deadline=1.5)) as cloud, \
            pytest.raises(errors.Throttled):
        cloud.create(spec(make_vm, "f-paced-out"))
    arm.reset_faults()
    assert fault.times < 1000 and arm.leftovers("f-paced-out") == []  # the kept NIC went with the create


def test_an_interrupted_delete_finishes_when_run_again(arm: FakeResourceManager, make_vm: MakeVM) -> None:
    with connect(arm) as cloud:
        vm = cloud.create(spec(make_vm, "f-half"))
        arm.inject("DELETE", "networkSecurityGroups", "error", status=500, times=100)
        with pytest.raises(errors.TransientError):
            cloud.delete(vm)
        assert arm.leftovers("f-half") == ["networkSecurityGroups f-half-nsg"]
        arm.reset_faults()
        cloud.provider.release([vm])  # what `cloudvm delete` runs again for a VM already gone
    assert arm.leftovers("f-half") == []
