"""Simulated API limits for the offline backends: the token buckets EC2
and Resource Manager document, and per-minute windows as Compute Engine
counts them, on a clock that may run faster than real time (``scale``)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class TokenBucket:
    """``capacity`` tokens at first, refilled at ``rate`` per simulated second."""

    capacity: float
    rate: float
    scale: float = 1.0  # real seconds per simulated second
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity
        self.stamp = self.clock()
        self._lock = threading.Lock()

    def take(self, count: float = 1.0) -> bool:
        """Spend ``count`` tokens if there are that many; False (and nothing spent) if not."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) / self.scale * self.rate)
            self.stamp = now
            if self.tokens < count:
                return False
            self.tokens -= count
            return True


@dataclass
class Window:
    """At most ``limit`` requests per ``seconds``-long window (simulated), counted from its start."""

    limit: int
    seconds: float = 60.0
    scale: float = 1.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self.start = self._interval(self.clock())
        self.used = 0
        self._lock = threading.Lock()

    def _interval(self, now: float) -> float:
        """Windows are synchronized (10:00:00, 10:01:00, ...), not counted from the first call."""
        length = self.seconds * self.scale
        return now - now % length

    def take(self, count: float = 1.0) -> bool:
        with self._lock:
            now = self.clock()
            if now - self.start >= self.seconds * self.scale:
                self.start, self.used = self._interval(now), 0
            if self.used + count > self.limit:
                return False
            self.used += int(count)
            return True


class Limit(Protocol):
    def take(self, count: float = 1.0) -> bool: ...


@dataclass
class Limits:
    """A service's rate limits: each call falls in a group (or none) with its own bucket or
    window, and takes ``latency`` simulated seconds; refusals are counted per call."""

    groups: dict[str, Limit]
    classify: Callable[[str], str | None]
    latency: Callable[[str], float]
    scale: float = 1.0
    throttled: Counter[str] = field(default_factory=Counter)

    def admit(self, call: str, count: float = 1.0) -> bool:
        group = self.classify(call)
        if group is None or self.groups[group].take(count):
            return True
        self.throttled[call] += 1
        return False

    def delay(self, call: str) -> float:
        """Real seconds the call should take."""
        return self.latency(call) * self.scale
