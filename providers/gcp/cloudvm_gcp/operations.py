"""Waiting on Compute Engine operations: server-side ``wait`` calls (each
returns when the operation is done or after about two minutes), in a loop
bounded by a deadline, and the operation's error mapped."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cloudvm.errors import CloudVMError, Timeout
from cloudvm_gcp import _sdk
from cloudvm_gcp._errors import mapped, operation_error


class Operations:
    def __init__(self, client: Callable[[str], Any], project: Callable[[], str], timeout: float) -> None:
        self._client = client
        self._project = project
        self.timeout = timeout

    def wait(self, op: dict[str, Any], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while op.get("status") != "DONE":
            if time.monotonic() > deadline:
                raise Timeout(f"{what}: operation {op.get('name')} not done after {self.timeout:.0f}s")
            op = self._wait_once(op, what)
        return op

    def _wait_once(self, op: dict[str, Any], what: str) -> dict[str, Any]:
        request: dict[str, Any] = {"project": self._project(), "operation": op["name"]}
        if op.get("zone"):
            service, request["zone"] = "zone_operations", op["zone"].rsplit("/", 1)[-1]
        elif op.get("region"):
            service, request["region"] = "region_operations", op["region"].rsplit("/", 1)[-1]
        else:
            service = "global_operations"
        with mapped(f"{what}: wait for {op['name']}"):
            reply = self._client(service).wait(request=request, retry=None, timeout=180.0)
        return _sdk.as_dict(reply)

    def error(self, op: dict[str, Any] | None, what: str) -> CloudVMError | None:
        """The error ``op`` ended with, once it is done; None for success (or no operation)."""
        return operation_error(self.wait(op, what), what) if op else None

    def check(self, op: dict[str, Any] | None, what: str) -> None:
        error = self.error(op, what)
        if error:
            raise error
