"""Azure Resource Manager's throttling, for benchmarks: token buckets per
principal for writes and reads, answered with 429 and Retry-After when spent
(https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling)."""

from __future__ import annotations

from cloudvm_testing.limits import Limits, TokenBucket

BUCKETS = {"write": (200, 10), "read": (250, 25), "delete": (200, 10)}  # (burst, refill per second)
LATENCY = {"PUT": 0.3, "DELETE": 0.3, "POST": 0.3}  # seconds; GET DEFAULT_LATENCY
DEFAULT_LATENCY = 0.1
BOOT = 30.0


def group(call: str) -> str:
    """``call`` is "METHOD kind"."""
    method = call.split(" ", 1)[0]
    return "read" if method == "GET" else "delete" if method == "DELETE" else "write"


def resource_manager(scale: float = 1.0) -> Limits:
    return Limits({name: TokenBucket(burst, rate, scale) for name, (burst, rate) in BUCKETS.items()}, group,
                  lambda call: LATENCY.get(call.split(" ", 1)[0], DEFAULT_LATENCY), scale)
