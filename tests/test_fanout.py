"""Spreading a batch over parallel provider calls: order kept, the provider's limits obeyed,
and after a failure nothing new starts and nothing made is left behind."""

import threading
import time
from collections.abc import Mapping, Sequence
from typing import ClassVar

import pytest
from cloudvm_testing import FakeProvider

import cloudvm
from cloudvm import errors
from cloudvm.fanout import chunks, fan_out
from cloudvm.provider import LaunchRequest
from cloudvm.retry import RetryPolicy


class Gauge:
    """How many calls were in flight at most."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_chunks_respect_the_limit_and_keep_order() -> None:
    assert chunks([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert chunks([1, 2, 3], None) == [[1, 2, 3]]


def test_calls_run_in_parallel_up_to_the_limit_and_results_keep_item_order() -> None:
    gauge = Gauge()

    def call(part: list[int]) -> list[int]:
        with gauge:
            time.sleep(0.05 * (3 - part[0] % 3))  # later chunks finish first
            return [i * 10 for i in part]

    assert fan_out(chunks(list(range(12)), 1), call, parallel=4) == [i * 10 for i in range(12)]
    assert gauge.most == 4


def test_after_a_failure_no_new_call_starts_and_running_ones_finish() -> None:
    started: list[int] = []
    finished: list[int] = []

    def call(part: list[int]) -> None:
        started.append(part[0])
        if part[0] == 0:
            raise errors.ProviderError("chunk 0 broke")
        time.sleep(0.2)
        finished.append(part[0])

    with pytest.raises(errors.ProviderError, match="chunk 0 broke"):
        fan_out(chunks(list(range(20)), 1), call, parallel=3)
    assert sorted(finished) == sorted(set(started) - {0})  # whatever started, finished
    assert len(started) < 20


class Spread(FakeProvider):
    batch_limits: ClassVar[Mapping[str, int]] = {"launch": 2}
    parallel_calls = {"launch": 3}  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__()
        self.gauge = Gauge()
        self.chunks: list[list[str]] = []

    def launch(self, requests: Sequence[LaunchRequest]) -> list[str]:
        with self.gauge:
            self.chunks.append([r.spec.name for r in requests])
            time.sleep(0.05)
            return super().launch(requests)


def spec(name: str) -> cloudvm.VMSpec:
    return cloudvm.VMSpec(name=name, size=cloudvm.Size(cpus=1, memory_gib=1), image="debian-12")


def test_create_many_spreads_the_batch_as_the_provider_asks() -> None:
    fake = Spread()
    cloud = cloudvm.Cloud(fake, retry=RetryPolicy(sleep=lambda _: None), poll_interval=0.01)
    vms = cloud.create_many([spec(f"web-{i}") for i in range(7)])
    assert [vm.name for vm in vms] == [f"web-{i}" for i in range(7)]
    assert sorted(len(c) for c in fake.chunks) == [1, 2, 2, 2] and fake.gauge.most == 3
    cloud.delete(vms)
    assert fake.vms == {}


def test_a_failed_chunk_removes_what_the_other_chunks_made() -> None:
    fake = Spread()
    cloud = cloudvm.Cloud(fake, retry=RetryPolicy(sleep=lambda _: None), poll_interval=0.01)
    fake.fail("launch", errors.QuotaExceeded("no more cores here"), times=1)
    with pytest.raises(errors.QuotaExceeded):
        cloud.create_many([spec(f"web-{i}") for i in range(7)])
    assert fake.vms == {}


class OneAtATime(FakeProvider):
    """An API that acts on one VM a call (Compute Engine, Resource Manager)."""

    batch_limits: ClassVar[Mapping[str, int]] = {"start": 1, "stop": 1, "reboot": 1, "terminate": 1}
    parallel_calls = dict.fromkeys(batch_limits, 4)

    def __init__(self) -> None:
        super().__init__()
        self.gauge = Gauge()
        self.sent: list[tuple[str, int]] = []

    def _one(self, what: str, ids: Sequence[str]) -> None:
        with self.gauge:
            self.sent.append((what, len(ids)))
            time.sleep(0.05)

    def start(self, ids: Sequence[str]) -> None:
        self._one("start", ids)
        super().start(ids)

    def stop(self, ids: Sequence[str], *, force: bool = False) -> None:
        self._one("stop", ids)
        super().stop(ids, force=force)

    def reboot(self, ids: Sequence[str]) -> None:
        self._one("reboot", ids)
        super().reboot(ids)


def test_start_stop_and_reboot_are_spread_like_launch() -> None:
    fake = OneAtATime()
    cloud = cloudvm.Cloud(fake, retry=RetryPolicy(sleep=lambda _: None), poll_interval=0.01)
    vms = cloud.create_many([spec(f"web-{i}") for i in range(8)])
    cloud.stop(vms)
    cloud.start(vms)
    cloud.reboot(vms, wait=False)
    assert sorted(set(fake.sent)) == [("reboot", 1), ("start", 1), ("stop", 1)] and len(fake.sent) == 24
    assert fake.gauge.most == 4  # side by side, as many as the provider allows
