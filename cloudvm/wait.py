"""Batched waiting: one ``describe`` per round for every VM still pending."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from cloudvm import operations
from cloudvm.errors import ProviderError, Timeout
from cloudvm.model import VM, Snapshot, SnapshotState, VMState
from cloudvm.operations import Operation, Outcome
from cloudvm.provider import Provider
from cloudvm.retry import RetryPolicy

log = logging.getLogger("cloudvm.wait")
Target = Literal["running", "reachable", "stopped", "terminated"]


class _Stateful(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> VMState | SnapshotState: ...


R = TypeVar("R", bound=_Stateful)
SSH_PORT = 22


def tcp_open(address: str, port: int = SSH_PORT, timeout: float = 1.0) -> bool:
    """True when something accepts a TCP connection at ``address:port``."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class _Seen:
    """A VM as a light poll sees it: its state only."""

    id: str
    state: VMState

    @property
    def name(self) -> str:
        return self.id

    address = None


def _reached(vm: VM | _Seen | None, target: Target, probe: Callable[[str], bool]) -> bool:
    if target == "terminated":
        return vm is None or vm.state is VMState.TERMINATED
    if vm is None:
        return False
    if target == "stopped":
        return vm.state is VMState.STOPPED
    if vm.state is not VMState.RUNNING:
        return False
    return target == "running" or (vm.address is not None and probe(vm.address))


def _failed(vm: VM | _Seen | None, target: Target) -> bool:
    if vm is None:
        return False
    if vm.state is VMState.ERROR:
        return True
    return target in ("running", "reachable") and vm.state is VMState.TERMINATED


@dataclass
class Waiter:
    """Polls the provider until every VM reaches the target or time runs out."""

    provider: Provider
    retry: RetryPolicy
    interval: float = 1.0
    probe: Callable[[str], bool] = tcp_open
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def until(self, ids: Sequence[str], target: Target, timeout: float,
              on_done: Callable[[str, VM | None], None] | None = None) -> list[VM]:
        """The VMs once all reached ``target``, in the order of ``ids``: polled by state alone where the
        provider tells it for less (then described once), by ``describe`` where it does not or where the
        caller hears of each VM as it gets there."""
        if on_done is None and target != "reachable" and type(self.provider).states is not Provider.states:
            self.poll(ids, lambda pending: [_Seen(i, s) for i, s in (self.provider.states(pending) or {}).items()],
                      target, reached=lambda seen: _reached(seen, target, self.probe),
                      failed=lambda seen: _failed(seen, target), timeout=timeout)
            if target == "terminated":
                return []
            found = {vm.id: vm for vm in self.retry.call(lambda: self.provider.describe(ids), what="describe")}
            return [found[i] for i in ids if i in found]
        return self.poll(
            ids, lambda pending: self.provider.describe(pending), target,
            reached=lambda vm: _reached(vm, target, self.probe), failed=lambda vm: _failed(vm, target),
            timeout=timeout, on_done=on_done,
        )

    def settle(self, started: Sequence[Operation], timeout: float) -> dict[str, Outcome]:
        """Every operation's outcome, asking the provider about all pending ones each round."""
        return operations.settle(
            lambda pending: self.retry.call(lambda: self.provider.progress(pending), what="operations"), started,
            timeout=timeout, interval=self.provider.operation_interval or self.interval, clock=self.clock,
            sleep=self.sleep)

    def snapshots_ready(self, ids: Sequence[str], timeout: float) -> list[Snapshot]:
        return self.poll(
            ids, lambda pending: self.provider.describe_snapshots(pending), "ready",
            reached=lambda s: s is not None and s.state is SnapshotState.READY,
            failed=lambda s: s is not None and s.state is SnapshotState.ERROR, timeout=timeout,
        )

    def poll(self, ids: Sequence[str], describe: Callable[[list[str]], Sequence[R]], target: str,
             reached: Callable[[R | None], bool], failed: Callable[[R | None], bool], timeout: float,
             on_done: Callable[[str, R | None], None] | None = None) -> list[R]:
        """Describe everything still pending in one call per round until each is ``reached``
        (``on_done(id, item)`` hears of each as it is; ``item`` is None once it is gone)."""
        deadline = self.clock() + timeout
        pending = list(dict.fromkeys(ids))
        done: dict[str, R | None] = {}
        last: dict[str, R] = {}
        while pending:
            found = self.retry.call(lambda: describe(pending), what="describe")
            seen = {item.id: item for item in found}
            last.update(seen)
            for item_id in list(pending):
                item = seen.get(item_id)
                if item is not None and failed(item):
                    raise ProviderError(f"{item.name} went to {item.state.value} while waiting for {target}")
                if reached(item):
                    done[item_id] = item
                    pending.remove(item_id)
                    if on_done:
                        on_done(item_id, item)
            if not pending:
                break
            if self.clock() >= deadline:
                states = ", ".join(f"{last[i].name}: {last[i].state.value}" if i in last else f"{i}: not found"
                                   for i in pending)
                raise Timeout(f"gave up after {timeout:.0f}s waiting for {target} ({states})")
            log.debug("waiting for %s: %d pending", target, len(pending))
            self.sleep(self.interval)
        return [item for item in (done[i] for i in ids) if item is not None]
