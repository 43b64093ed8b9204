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


class ArmError(Exception):
    """An error answer in ARM's ``{"error": {"code", "message"[, "target"]}}`` shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 target: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.target = status, code, message, headers or {}, target

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **({"target": self.target} if self.target
                                                                         else {})}}


def now_text() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def etag() -> str:
    return f'W/"{uuid.uuid4()}"'


HOLDERS = ("/disks", "/snapshots", "/diskRestorePoints")  # the resource types that hold a disk's bytes


@dataclass
class Timing:
    """How long things take, in seconds (Azure: tens of seconds to minutes)."""

    provision: float = 0.15
    boot: float = 0.3
    stop: float = 0.15
    delete: float = 0.15
    copy: float = 0.5
    retry_after: float = 0.1  # the Retry-After its long-running operations suggest (ARM's: 2 to 10 s); 0: none


@dataclass
class Operation:
    name: str
    namespace: str
    location: str
    done_at: float
    started: str = field(default_factory=now_text)
    error: dict[str, str] | None = None
    ended: str | None = None
    output: dict[str, Any] | None = None  # what a finished action answers with (a grantAccess's SAS URI)

    def status(self) -> dict[str, Any]:
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
        if done and self.output is not None:
            body["properties"] = {"output": self.output}
        return body


@dataclass
class Arm:
    """Every resource of every subscription the fake has seen, by lower-cased id."""

    timing: Timing = field(default_factory=Timing)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    power: dict[str, str] = field(default_factory=dict)  # VM id -> running, stopped, deallocated, ...
    signatures: dict[str, str] = field(default_factory=dict)  # SAS signature -> the VM whose logs it reads
    quotas: dict[str, int] = field(default_factory=dict)  # "subscription/location/family" -> cores ("cores": all)
    restricted: dict[str, str] = field(default_factory=dict)  # "subscription/location/size" -> reason code
    failures: dict[str, dict[str, str]] = field(default_factory=dict)  # VM id -> why its provisioning failed
    data: Any = None  # the resources' bytes (fake.diskdata.DiskData), when a storage emulator runs
    access: dict[str, str] = field(default_factory=dict)  # id -> the access a SAS out to it grants
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

    def operation(self, namespace: str, location: str, delay: float, error: dict[str, str] | None = None,
                  output: dict[str, Any] | None = None) -> Operation:
        op = Operation(str(uuid.uuid4()), namespace, location, time.monotonic() + delay, error=error, output=output)
        self.operations[op.name] = op
        return op

    def find(self, rid: str) -> dict[str, Any] | None:
        """A resource by id, compared as ARM compares ids: without case, the leading slash optional."""
        return self.resources.get("/" + rid.lower().lstrip("/"))

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
        """Gone, and with it the bytes it held."""
        gone = self.resources.pop(rid.lower(), None)
        if gone is not None and self.data is not None and gone["type"].endswith(HOLDERS):
            self.data.drop(gone["id"])

    def children(self, prefix: str) -> list[dict[str, Any]]:
        """The resources directly under a collection id (``.../virtualNetworks``)."""
        depth = prefix.count("/") + 1
        low = prefix.lower() + "/"
        return sorted((r for k, r in self.resources.items() if k.startswith(low) and k.count("/") == depth),
                      key=lambda r: r["name"])

    def descendants(self, rid: str) -> list[dict[str, Any]]:
        """Every resource nested under ``rid`` (a network's subnets, a VM's extensions)."""
        low = rid.lower() + "/"
        return [r for k, r in self.resources.items() if k.startswith(low)]

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
