"""Long-running work as data: providers hand back operations, the core waits for a whole batch's
at once (one progress call a round for all of them), and an operation's failure reaches the caller
with everything the batch made removed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import pytest
from cloudvm_testing import FakeProvider

import cloudvm
from cloudvm import errors
from cloudvm.operations import Operation, Outcome, Started, first_error, settle
from cloudvm.provider import LaunchRequest
from cloudvm.retry import RetryPolicy


def test_settle_asks_only_about_what_is_pending_and_pauses_longer_each_round() -> None:
    ops = [Operation(str(i), "zone-a", f"create vm-{i}") for i in range(3)]
    asked: list[list[str]] = []
    pauses: list[float] = []

    def progress(pending: list[Operation]) -> dict[str, Outcome]:
        asked.append([op.id for op in pending])
        return {op.id: None for op in pending[:1]}  # one finishes each round

    assert settle(progress, ops, timeout=60, interval=1.0, sleep=pauses.append) == dict.fromkeys("012")
    assert asked == [["0", "1", "2"], ["1", "2"], ["2"]]
    assert pauses == [0.1, pytest.approx(0.15)]


def test_settle_names_what_is_still_running_when_time_is_up() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(errors.Timeout, match="not done after 5s: create b"):
        settle(lambda pending: {"a": None}, [Operation("a", "s", "create a"), Operation("b", "s", "create b")],
               timeout=5, interval=2.0, clock=lambda: now[0], sleep=sleep)


def test_first_error_goes_by_the_order_given() -> None:
    ops = [Operation(i, "s", i) for i in "abc"]
    failed = errors.CapacityUnavailable("b: no room")
    assert first_error(ops, {"a": None, "b": failed, "c": errors.ProviderError("c")}) is failed
    assert first_error(ops, dict.fromkeys("abc")) is None


class Operating(FakeProvider):
    """A cloud whose creates go on after the answer: each chunk's launch returns operations."""

    batch_limits: ClassVar[Mapping[str, int]] = {"launch": 2}

    def __init__(self, failing: set[str] | None = None) -> None:
        super().__init__()
        self.failing = failing or set()
        self.asked: list[list[str]] = []
        self.abandoned: list[str] = []

    def launch(self, requests: Sequence[LaunchRequest]) -> Started:
        ids = super().launch(requests)
        return Started(ids, [Operation(f"op-{r.spec.name}", "zone-a", f"create {r.spec.name}") for r in requests])

    def progress(self, operations: Sequence[Operation]) -> dict[str, Outcome]:
        self.asked.append([op.id for op in operations])
        return {op.id: errors.CapacityUnavailable(f"{op.what}: the zone is full")
                if op.id.removeprefix("op-") in self.failing else None for op in operations}

    def abandon(self, requests: Sequence[LaunchRequest]) -> None:
        self.abandoned += [r.spec.name for r in requests]


def spec(name: str) -> cloudvm.VMSpec:
    return cloudvm.VMSpec(name=name, size=cloudvm.Size(cpus=1, memory_gib=1), image="debian-12")


def test_a_batch_spread_over_calls_is_waited_for_in_one_round() -> None:
    fake = Operating()
    cloud = cloudvm.Cloud(fake, retry=RetryPolicy(sleep=lambda _: None), poll_interval=0.01)
    vms = cloud.create_many([spec(f"web-{i}") for i in range(5)])
    assert [vm.name for vm in vms] == [f"web-{i}" for i in range(5)]
    assert fake.asked == [[f"op-web-{i}" for i in range(5)]]  # three launch calls, one question


def test_a_failed_operation_reaches_the_caller_and_the_batch_goes() -> None:
    fake = Operating(failing={"web-3"})
    cloud = cloudvm.Cloud(fake, retry=RetryPolicy(sleep=lambda _: None), poll_interval=0.01)
    with pytest.raises(errors.CapacityUnavailable, match="create web-3: the zone is full"):
        cloud.create_many([spec(f"web-{i}") for i in range(5)])
    assert fake.vms == {}
    assert fake.abandoned == [f"web-{i}" for i in range(5)]


class Staged(Operating):
    """A cloud whose VMs need pieces made first, a stage at a time (Azure: network, then NICs)."""

    launch_stages: ClassVar[tuple[str, ...]] = ("network", "nic")

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[str, list[str]]] = []

    def stage(self, name: str, requests: Sequence[LaunchRequest]) -> list[Operation]:
        self.steps.append((name, [r.spec.name for r in requests]))
        return [Operation(f"{name}-{r.spec.name}", name, f"{name} of {r.spec.name}") for r in requests]

    def launch(self, requests: Sequence[LaunchRequest]) -> Started:
        self.steps.append(("launch", [r.spec.name for r in requests]))
        return super().launch(requests)


def test_the_core_advances_the_whole_batch_a_stage_at_a_time() -> None:
    fake = Staged()
    cloud = cloudvm.Cloud(fake, retry=RetryPolicy(sleep=lambda _: None), poll_interval=0.01)
    cloud.create_many([spec(f"web-{i}") for i in range(3)])
    assert [name for name, _ in fake.steps] == ["network", "network", "nic", "nic", "launch", "launch"]
    assert fake.asked == [["network-web-0", "network-web-1", "network-web-2"],
                          ["nic-web-0", "nic-web-1", "nic-web-2"], ["op-web-0", "op-web-1", "op-web-2"]]
