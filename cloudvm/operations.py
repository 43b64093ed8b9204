"""Long-running work as data. A provider starts work and hands back what is still running
(``Operation``); the core waits for all of it at once: each round asks the provider how far the
pending operations are (``Provider.progress``: one call per scope, e.g. a zone's operations list).

A launch that leaves work running returns ``Started``; the core waits for every part of a batch
together, so a fleet spread over many calls is still polled in a few calls a round."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cloudvm.errors import CloudVMError, Timeout


@dataclass(frozen=True)
class Operation:
    """One piece of work the cloud is still doing: ``id`` is the provider's handle, ``scope`` what one
    progress call covers (operations of one scope are asked about together), ``what`` names it in errors."""

    id: str
    scope: str
    what: str


@dataclass(frozen=True)
class Started:
    """What a ``launch`` began: the VMs' ids in request order and the operations that make them."""

    ids: list[str]
    operations: list[Operation] = field(default_factory=list)


Outcome = CloudVMError | None  # how a finished operation ended: its error, or None for success
Progress = Callable[[list[Operation]], dict[str, Outcome]]


def started(result: Sequence[str] | str | Started) -> Started:
    """A launch's (or a restore's) answer as ``Started``: a provider with nothing left running
    returns the ids alone."""
    if isinstance(result, Started):
        return result
    return Started([result] if isinstance(result, str) else list(result))


def settle(progress: Progress, operations: Sequence[Operation], *, timeout: float, interval: float = 1.0,
           clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> dict[str, Outcome]:
    """Every operation's outcome once all are done. ``progress`` tells which of the pending ones
    finished; between rounds the pause starts at a tenth of ``interval`` and grows to it (most
    operations end within seconds; a long one is not asked about more than once an ``interval``).
    ``Timeout`` names what is still running after ``timeout``."""
    deadline = clock() + timeout
    pending = list({op.id: op for op in operations}.values())
    outcomes: dict[str, Outcome] = {}
    pause = interval / 10
    while pending:
        done = progress(pending)
        outcomes.update((op.id, done[op.id]) for op in pending if op.id in done)
        pending = [op for op in pending if op.id not in done]
        if pending and clock() >= deadline:
            raise Timeout(f"not done after {timeout:.0f}s: {', '.join(op.what for op in pending)}")
        if pending:
            sleep(pause)
            pause = min(pause * 1.5, interval)
    return outcomes


def first_error(operations: Sequence[Operation], outcomes: dict[str, Outcome]) -> CloudVMError | None:
    """The error of the first operation (in the order given) that failed."""
    return next((error for op in operations if (error := outcomes.get(op.id)) is not None), None)
