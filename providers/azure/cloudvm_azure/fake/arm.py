"""The fake's resources and their behaviour, as Resource Manager shows them:
PUTs that answer at once and finish later (``provisioningState`` Creating ->
Succeeded), asynchronous operations to poll, dependents that refuse deletion
while in use, and VMs whose deletion takes their disks and NICs along when told.
Time-driven changes are applied lazily whenever a request arrives."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# name: (vCPUs, memory MiB, max data disks)
VM_SIZES = {
    "Standard_B1ls": (1, 512, 2), "Standard_B1s": (1, 1024, 2), "Standard_B1ms": (1, 2048, 2),
    "Standard_B2s": (2, 4096, 4), "Standard_B2ms": (2, 8192, 4), "Standard_B4ms": (4, 16384, 8),
    "Standard_D2s_v3": (2, 8192, 4), "Standard_D4s_v3": (4, 16384, 8), "Standard_D2as_v4": (2, 8192, 4),
    "Standard_F2s_v2": (2, 4096, 4), "Standard_D2_v2": (2, 7168, 8), "Standard_E2s_v3": (2, 16384, 4),
    "Standard_A1_v2": (1, 2048, 2),
}
# (publisher, offer, sku) of the marketplace images the fake knows; version -> OS disk GiB
IMAGES = {
    ("Canonical", "ubuntu-24_04-lts", "server"): {"24.04.202611010": 30},
    ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"): {"22.04.202611010": 30},
    ("Debian", "debian-12", "12"): {"0.20261105.1800": 30},
    ("Debian", "debian-13", "13"): {"0.20261105.1800": 30},
    ("MicrosoftWindowsServer", "WindowsServer", "2016-Datacenter"): {"14393.5786.230310": 127},
}
LOCATIONS = ("eastus", "eastus2", "westus", "westus2", "westeurope", "northeurope")


class ArmError(Exception):
    """An error answer in ARM's ``{"error": {"code", "message"}}`` shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def now_text() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def etag() -> str:
    return f'W/"{uuid.uuid4()}"'


@dataclass
class Timing:
    """How long things take, in seconds (Azure: tens of seconds to minutes)."""

    provision: float = 0.15
    boot: float = 0.3
    stop: float = 0.15
    delete: float = 0.15
    copy: float = 0.5
    retry_after: int = 0  # the Retry-After the fake's long-running operations suggest


@dataclass
class Operation:
    name: str
    namespace: str
    location: str
    done_at: float
    started: str = field(default_factory=now_text)
    error: dict[str, str] | None = None
    ended: str | None = None

    def status(self, disks: bool) -> dict[str, Any]:
        done = time.monotonic() >= self.done_at
        if done and self.ended is None:
            self.ended = now_text()
        body: dict[str, Any] = {"status": "InProgress"}
        if done:
            body["status"] = "Failed" if self.error else "Succeeded"
        if self.namespace == "Microsoft.Compute":
            body.update(name=self.name, startTime=self.started, **({"endTime": self.ended} if done else {}))
        if done and self.error:
            body["error"] = self.error
        return body


@dataclass
class Arm:
    """Every resource of every subscription the fake has seen, by lower-cased id."""

    timing: Timing = field(default_factory=Timing)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    power: dict[str, str] = field(default_factory=dict)  # VM id -> running, stopped, deallocated, ...
    pending: list[tuple[float, Callable[[], None]]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _addresses: itertools.count[int] = field(default_factory=lambda: itertools.count(4))

    def settle(self) -> None:
        clock = time.monotonic()
        due = sorted((p for p in self.pending if p[0] <= clock), key=lambda p: p[0])
        self.pending = [p for p in self.pending if p[0] > clock]
        for _, change in due:
            change()

    def later(self, delay: float, change: Callable[[], None]) -> None:
        self.pending.append((time.monotonic() + delay, change))

    def operation(self, namespace: str, location: str, delay: float, error: dict[str, str] | None = None
                  ) -> Operation:
        op = Operation(str(uuid.uuid4()), namespace, location, time.monotonic() + delay, error=error)
        self.operations[op.name] = op
        return op

    def find(self, rid: str) -> dict[str, Any] | None:
        return self.resources.get(rid.lower())

    def get(self, rid: str) -> dict[str, Any]:
        found = self.find(rid)
        if found is None:
            parts = rid.split("/")
            raise ArmError(404, "ResourceNotFound", f"The Resource '{'/'.join(parts[6:])}' under resource group "
                                                    f"'{parts[4]}' was not found.")
        return found

    def put(self, resource: dict[str, Any]) -> None:
        self.resources[resource["id"].lower()] = resource

    def remove(self, rid: str) -> None:
        self.resources.pop(rid.lower(), None)

    def children(self, prefix: str) -> list[dict[str, Any]]:
        """The resources directly under a collection id (``.../virtualNetworks``)."""
        depth = prefix.count("/") + 1
        low = prefix.lower() + "/"
        return sorted((r for k, r in self.resources.items() if k.startswith(low) and k.count("/") == depth),
                      key=lambda r: r["name"])

    def group(self, subscription: str, name: str) -> dict[str, Any]:
        found = self.groups.get(f"{subscription}/{name}".lower())
        if found is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return found

    def provisioned(self, resource: dict[str, Any], delay: float | None = None) -> None:
        """Creating/Updating now, Succeeded after ``delay``."""
        props = resource.setdefault("properties", {})
        props["provisioningState"] = "Updating" if props.get("provisioningState") == "Succeeded" else "Creating"
        self.later(self.timing.provision if delay is None else delay,
                   lambda: props.update(provisioningState="Succeeded") if props.get(
                       "provisioningState") in ("Creating", "Updating") else None)

    def address(self, prefix: str) -> str:
        base = prefix.split("/")[0].rsplit(".", 1)[0]
        return f"{base}.{next(self._addresses) % 250 + 4}"

    @staticmethod
    def unique() -> str:
        return secrets.token_hex(16)
