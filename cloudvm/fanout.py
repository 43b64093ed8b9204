"""One batch spread over several provider calls at once: the core's only threads.

Some APIs take a whole fleet in one call; others take one VM a call and are
slow one after another. The provider says which (``Provider.batch_limits``,
``Provider.parallel_calls``); this module does the spreading, so every
provider gets the same failure rule: after a call fails no new call starts,
the calls in flight finish, and only then is the first error raised — the
clean-up that follows sees everything the batch made.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def chunks(items: Sequence[T], size: int | None) -> list[list[T]]:
    """``items`` in runs of at most ``size`` (all together when ``size`` is None)."""
    if not size or len(items) <= size:
        return [list(items)]
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def fan_out(parts: Sequence[list[T]], call: Callable[[list[T]], Sequence[R] | None], *, parallel: int) -> list[R]:
    """``call`` over ``parts`` (see ``chunks``), ``parallel`` at a time; results in part order."""
    if parallel <= 1 or len(parts) == 1:
        return [r for part in parts for r in call(part) or []]
    pool = ThreadPoolExecutor(max_workers=min(parallel, len(parts)), thread_name_prefix="cloudvm")
    try:
        futures: list[Future[Sequence[R] | None]] = [pool.submit(call, part) for part in parts]
        wait(futures, return_when=FIRST_EXCEPTION)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on an error or Ctrl-C: start nothing new
    failed = next((f.exception() for f in futures if not f.cancelled() and f.exception()), None)
    if failed is not None:
        raise failed
    return [r for f in futures for r in f.result() or []]


def windows(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` ``size`` at a time: how a transfer bounds what it holds in memory."""
    it = iter(items)
    return iter(lambda: list(itertools.islice(it, size)), [])


def each(items: Sequence[T], call: Callable[[T], R], *, parallel: int) -> list[R]:
    """``call`` on every item, ``parallel`` at once (see ``fan_out``), results in item order."""
    return fan_out(chunks(items, math.ceil(len(items) / parallel)), lambda part: [call(i) for i in part],
                   parallel=parallel)
