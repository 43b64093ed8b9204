"""What a trial keeps of its run: the promises it saw broken, and the typed errors the caller got."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from cloudvm.errors import CloudVMError, InvalidSpec, NotFound, Timeout, TransientError, Unsupported
from cloudvm.retry import RetryPolicy
from cloudvm_testing.chaos.plan import Trial

# Quick to give up, so a trial takes seconds; bursts of faults longer than this reach the caller.
RETRY = RetryPolicy(attempts=8, initial=0.05, maximum=0.5, deadline=30)
# Errors cloudvm raises itself, or for a call that got no answer: no request id to carry.
WITHOUT_ANSWER = (InvalidSpec, NotFound, Timeout, TransientError, Unsupported)


@dataclass
class Outcome:
    trial: Trial
    duplicates: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    untyped: list[str] = field(default_factory=list)
    not_converged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # typed errors the caller saw (allowed)
    struck: int = 0  # faults that met a call
    killed: bool = False  # a client was killed mid-way and the workflow run again

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.leaked or self.untyped or self.not_converged)


def guarded(outcome: Outcome, work: Callable[[], object]) -> bool:
    """Run ``work``; what it raises is noted: a typed error is the caller's to handle, anything
    else (or a provider's answer without its request id) breaks a promise."""
    try:
        work()
        return True
    except CloudVMError as exc:
        outcome.failed.append(f"{type(exc).__name__}: {exc}")
        if exc.request_id is None and not isinstance(exc, WITHOUT_ANSWER):
            outcome.untyped.append(f"{type(exc).__name__} without the provider's request id: {exc}")
        return False
    except Exception as exc:
        outcome.untyped.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-6)}")
        return False
