"""Long-running operations as ARM announces and reports them: the
``Azure-AsyncOperation`` status document, the ``Location`` monitor that
answers 202 until done, and the resource group deletions ARM tracks under
``/subscriptions/S/operationresults``."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from typing import Any

from cloudvm_azure_testing.fake.arm import Arm, ArmError
from cloudvm_azure_testing.fake.routes import Route

Answer = tuple[int, Any, dict[str, str]]
_DISKY = ("disks", "snapshots")


@dataclass
class Call:
    """One request, as the handlers see it."""

    method: str
    path: str  # as requested, with its query
    route: Route
    query: dict[str, str]
    body: Any
    headers: Message

    @property
    def base(self) -> str:
        return f"https://{self.headers.get('Host')}"

    @property
    def version(self) -> str:
        return self.query.get("api-version", "")


def begin(arm: Arm, call: Call, namespace: str, location: str, delay: float, short: str, *,
          error: dict[str, str] | None = None, poll_location: bool = False,
          output: dict[str, Any] | None = None) -> dict[str, str]:
    """``Azure-AsyncOperation`` (and ``Location``) headers for a new operation (``output``: what it
    answers with once done)."""
    op = arm.operation(namespace, location, delay, error, output)
    kind = "DiskOperations" if short in _DISKY else "operations"
    url = f"{call.base}/subscriptions/{call.route.subscription}/providers/{namespace}/locations/{location}/{kind}/" \
          f"{op.name}"
    headers = {"Azure-AsyncOperation": f"{url}?api-version={call.version}"}
    if poll_location:
        headers["Location"] = f"{url}?monitor=true&api-version={call.version}"
    return {**headers, **pause(arm)}


def pause(arm: Arm) -> dict[str, str]:
    """How long a client should wait before it polls, if the fake's timing says: ``Retry-After`` in whole
    seconds as ARM sends it (the SDKs read it as an integer), or ``retry-after-ms`` below a second (which
    azure-core honours too), since the fake's operations finish far sooner than Azure's."""
    wait = arm.timing.retry_after
    if not wait:
        return {}
    return {"Retry-After": str(round(wait))} if wait >= 1 else {"retry-after-ms": str(round(wait * 1000))}


def status(arm: Arm, call: Call) -> Answer:
    """GET of an operation: its status document, or with ``monitor=true`` 202 until done, then 200
    (or the operation's error)."""
    op = arm.operations.get(call.route.name)
    if op is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{call.route.name}' was not found.")
    document = op.status()
    running = document["status"] == "InProgress"
    if call.query.get("monitor") != "true":
        return 200, document, pause(arm) if running else {}
    if running:
        return 202, None, {"Location": f"{call.base}{call.path}", **pause(arm)}
    if op.error:
        raise ArmError(409 if op.error["code"] == "AllocationFailed" else 400, op.error["code"], op.error["message"])
    return 200, op.output, {}


def group_result(arm: Arm, call: Call) -> Answer:
    """The Location a resource group deletion answered with: 202 while it runs, 200 once it is gone."""
    op = arm.operations.get(call.route.name)
    if op is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{call.route.name}' was not found.")
    if op.status()["status"] == "InProgress":
        return 202, None, {"Location": f"{call.base}{call.path}", **pause(arm)}
    return 200, None, {}
