"""The one retry policy every provider call goes through.

Only errors that say ``retryable`` are retried (throttling, transient 5xx and
dropped connections, not-found right after a create); backoff is exponential
with full jitter, a provider's ``Retry-After`` wins over it, and an overall
deadline bounds the whole call. ``attempts`` counts failures; a throttle is
the API pacing a fleet's calls, not a failure, so it is waited out until the
deadline (``NO_RETRY`` does not). Every retry is logged with its reason.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity

from cloudvm.errors import CloudVMError, Throttled

log = logging.getLogger("cloudvm.retry")
T = TypeVar("T")
_ATTEMPT: contextvars.ContextVar[int] = contextvars.ContextVar("cloudvm_attempt", default=1)


def attempt() -> int:
    """Which try of the provider call running now this is (1: the first). A provider keeps nothing
    between tries; on a later one it may look for what an earlier one made before making it again."""
    return _ATTEMPT.get()


def is_retryable(exc: BaseException) -> bool:
    """Classification lives on the error class, set where the SDK error is mapped."""
    return isinstance(exc, CloudVMError) and exc.retryable


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one provider call; configurable per ``Cloud``."""

    attempts: int = 8
    initial: float = 0.5
    maximum: float = 30.0
    deadline: float = 180.0
    wait_out_throttling: bool = True
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = tenacity.wait_random_exponential(multiplier=self.initial, max=self.maximum)(state)
        hinted = getattr(exc, "retry_after", None)
        delay = max(float(hinted), 0.0) if hinted is not None else backoff
        remaining = self.deadline - (state.seconds_since_start or 0.0)
        return max(0.0, min(delay, remaining))

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        if (state.seconds_since_start or 0.0) >= self.deadline:
            return True
        exc = state.outcome.exception() if state.outcome else None
        return not self._paced(exc) and state.attempt_number >= self.attempts

    def _paced(self, exc: BaseException | None) -> bool:
        """A throttle, waited out until the deadline rather than counted against ``attempts``."""
        return self.wait_out_throttling and isinstance(exc, Throttled)

    def call(self, fn: Callable[[], T], *, what: str) -> T:
        """Run ``fn`` under the policy; the last error is re-raised unchanged."""

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            bound = f"{self.deadline:.0f}s deadline" if self._paced(exc) else f"of {self.attempts}"
            log.warning("retrying %s in %.1fs (attempt %d, %s): %s: %s",
                        what, state.upcoming_sleep, state.attempt_number, bound, type(exc).__name__, exc)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_retryable),
            stop=self._stop,
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        tries = iter(range(1, 1 << 30))

        def tried() -> T:
            reset = _ATTEMPT.set(next(tries))
            try:
                return fn()
            finally:
                _ATTEMPT.reset(reset)

        return retrying(tried)


NO_RETRY = RetryPolicy(attempts=1, wait_out_throttling=False)
