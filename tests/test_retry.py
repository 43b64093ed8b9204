"""The retry policy: what is retried, how long it waits, when it gives up."""

import logging

import pytest

from cloudvm import errors
from cloudvm.retry import RetryPolicy


class Flaky:
    """Raises the given errors in turn, then returns "ok"."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def policy(**kw: float) -> tuple[RetryPolicy, list[float]]:
    slept: list[float] = []
    return RetryPolicy(sleep=slept.append, **kw), slept  # type: ignore[arg-type]


@pytest.mark.parametrize("error", [
    errors.Throttled("slow down"), errors.TransientError("502"), errors.NotFoundYet("not visible yet"),
])
def test_retryable_errors_are_retried(error: errors.CloudVMError) -> None:
    retry, slept = policy()
    call = Flaky(error, error)
    assert retry.call(call, what="op") == "ok"
    assert call.calls == 3 and len(slept) == 2


@pytest.mark.parametrize("error", [
    errors.QuotaExceeded("quota"), errors.NotFound("gone"), errors.InvalidSpec("x", "bad"),
    errors.AuthenticationError("who?"), errors.ProviderError("boom"), ValueError("a bug"),
])
def test_other_errors_are_raised_at_once(error: Exception) -> None:
    retry, slept = policy()
    call = Flaky(error)
    with pytest.raises(type(error)):
        retry.call(call, what="op")
    assert call.calls == 1 and slept == []


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    retry, slept = policy(attempts=8, initial=1.0, maximum=10.0, deadline=1e9)
    with pytest.raises(errors.TransientError):
        retry.call(Flaky(*[errors.TransientError("x")] * 8), what="op")
    assert len(slept) == 7
    for n, delay in enumerate(slept, start=1):
        assert 0 <= delay <= min(10.0, 2 ** (n - 1) * 1.0) + 1e-9


def test_retry_after_wins_over_backoff() -> None:
    retry, slept = policy(initial=100.0, maximum=100.0)
    retry.call(Flaky(errors.Throttled("x", retry_after=3.5)), what="op")
    assert slept == [3.5]


def test_attempts_bound_the_calls_and_the_last_error_surfaces() -> None:
    retry, _ = policy(attempts=3)
    call = Flaky(errors.TransientError("1"), errors.TransientError("2"), errors.TransientError("3"))
    with pytest.raises(errors.TransientError, match="3"):
        retry.call(call, what="op")
    assert call.calls == 3


def test_throttling_is_waited_out_until_the_deadline_not_counted_as_attempts() -> None:
    retry, slept = policy(attempts=3, initial=0.1, maximum=0.1)
    call = Flaky(*[errors.Throttled("slow down", retry_after=0.5)] * 20)
    assert retry.call(call, what="op") == "ok"  # a fleet's calls contend for one bucket
    assert call.calls == 21 and slept == [0.5] * 20


def test_deadline_bounds_the_total_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    retry = RetryPolicy(attempts=100, initial=1.0, maximum=1.0, deadline=10.0,
                        sleep=lambda s: now.__setitem__(0, now[0] + s))
    call = Flaky(*[errors.Throttled("x", retry_after=4.0)] * 100)
    with pytest.raises(errors.Throttled):
        retry.call(call, what="op")
    assert now[0] <= 10.0 and call.calls <= 4


def test_every_retry_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    retry, _ = policy()
    with caplog.at_level(logging.WARNING, logger="cloudvm.retry"):
        retry.call(Flaky(errors.Throttled("Rate exceeded", code="RequestLimitExceeded")), what="aws.launch")
    assert "retrying aws.launch" in caplog.text and "Throttled" in caplog.text and "Rate exceeded" in caplog.text


def test_a_call_knows_which_try_it_is() -> None:
    from cloudvm import retry

    seen: list[int] = []

    def flaky() -> str:
        seen.append(retry.attempt())
        if len(seen) < 3:
            raise errors.TransientError("again")
        return "done"

    assert RetryPolicy(initial=0, sleep=lambda _: None).call(flaky, what="flaky") == "done"
    assert seen == [1, 2, 3] and retry.attempt() == 1  # and back to a first try outside
