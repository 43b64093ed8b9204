"""Compute Engine's rate quotas, for benchmarks: per-project groups counted
in synchronized one-minute windows, answered with 403 rateLimitExceeded when
spent (https://cloud.google.com/compute/api-quota: 1,500 a minute each)."""

from __future__ import annotations

from cloudvm_testing.limits import Limits, Window

PER_MINUTE = 1500
LATENCY = {"insert": 0.6, "delete": 0.4}  # seconds; reads and others DEFAULT_LATENCY
DEFAULT_LATENCY = 0.1
BOOT = 20.0


def group(method_id: str) -> str:
    """The quota group a method counts against."""
    verb = method_id.rsplit(".", 1)[-1]
    if "Operations." in method_id:
        return "operation_read_requests"
    if verb == "get":
        return "read_requests"
    if verb in ("list", "aggregatedList"):
        return "list_requests"
    return "default"


def compute_engine(scale: float = 1.0) -> Limits:
    names = ("default", "read_requests", "list_requests", "operation_read_requests")
    return Limits({name: Window(PER_MINUTE, 60.0, scale) for name in names}, group,
                  lambda method_id: LATENCY.get(method_id.rsplit(".", 1)[-1], DEFAULT_LATENCY), scale)
