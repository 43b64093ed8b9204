"""The fake's state and behaviour: resources kept as the API's own JSON,
statuses that move on with time (PROVISIONING -> STAGING -> RUNNING, STOPPING
-> TERMINATED), long-running operations, ``requestId`` de-duplication and
Google's error shapes. No threads: time-driven changes are applied lazily
whenever a request arrives."""

from __future__ import annotations

import base64
import ipaddress
import itertools
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudvm_gcp_testing.fake import catalog

BASE = "https://www.googleapis.com/compute/v1/"
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_TERM = re.compile(r'^\(?\s*([\w.-]+)\s*(=|!=|eq|ne)\s*"?([^")]*?)"?\s*\)?$')


class ApiError(Exception):
    """An error answer: HTTP status, Google's ``reason`` and message."""

    def __init__(self, status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.headers = status, reason, message, headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.status, "message": self.message,
                          "errors": [{"message": self.message, "domain": "global", "reason": self.reason}]}}


def not_found(path: str) -> ApiError:
    return ApiError(404, "notFound", f"The resource '{path}' was not found")


@dataclass
class Timing:
    """How long things take, in seconds (real Compute Engine: tens of seconds)."""

    boot: float = 0.6
    stop: float = 0.3
    operation: float = 0.1
    snapshot: float = 0.2
    max_wait: float = 10.0  # operations.wait returns by then even if not done (Google: about 2 minutes)


@dataclass
class _Pending:
    """A change due at a time: a new status, or removal (``status=None``)."""

    at: float
    path: str
    status: str | None
    then: Callable[[], None] | None = None


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _fingerprint() -> str:
    return base64.b64encode(secrets.token_bytes(8)).decode()


def _id() -> str:
    return str(secrets.randbelow(9 * 10**18) + 10**18)


def parent(path: str) -> tuple[str, str]:
    collection, _, name = path.rpartition("/")
    return collection, name


def relative(link: str, project: str = "") -> str:
    """``projects/...`` from a full URL, a partial URL, or a path within ``project`` (``global/...``)."""
    link = link.split("/compute/v1/", 1)[-1].lstrip("/")
    return link if link.startswith("projects/") or not project else f"projects/{project}/{link}"


@dataclass
class Compute:
    """Everything one fake Compute Engine holds, for any number of projects."""

    timing: Timing = field(default_factory=Timing)
    store: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # collection -> name -> resource
    pending: list[_Pending] = field(default_factory=list)
    requests: dict[str, str] = field(default_factory=dict)  # project/requestId -> operation path
    op_errors: dict[str, dict[str, Any]] = field(default_factory=dict)  # operation path -> error when done
    quota_limits: dict[str, float] = field(default_factory=dict)  # "project/region/METRIC" -> limit ("" = global)
    lock: threading.RLock = field(default_factory=threading.RLock)
    storage_url: str | None = None  # the Cloud Storage emulator images are made from
    _addresses: itertools.count[int] = field(default_factory=lambda: itertools.count(2))

    def __post_init__(self) -> None:
        for project, images in catalog.IMAGES.items():
            for name, family, size, deprecated in images:
                self._put(f"projects/{project}/global/images/{name}", {
                    "kind": "compute#image", "id": _id(), "creationTimestamp": now_text(), "name": name,
                    "description": f"{family}, built {name[-8:]}", "sourceType": "RAW",
                    "rawDisk": {"source": "", "containerType": "TAR"}, "status": "READY",
                    "archiveSizeBytes": str(size * 40_000_000), "diskSizeGb": str(size), "family": family,
                    "licenses": [f"{BASE}projects/{project}/global/licenses/{family}"],
                    "guestOsFeatures": [{"type": "VIRTIO_SCSI_MULTIQUEUE"},
                                        *([] if name in catalog.BIOS_ONLY else [{"type": "UEFI_COMPATIBLE"}])],
                    "labelFingerprint": "42WmSpB8rSM=", "architecture": catalog.architecture(name),
                    "storageLocations": ["us"],
                    **({"deprecated": {"state": "DEPRECATED",
                                       "replacement": f"{BASE}projects/{project}/global/images/{name}"}}
                       if deprecated else {}),
                })

    # -- storage ----------------------------------------------------------------

    def _put(self, path: str, resource: dict[str, Any]) -> dict[str, Any]:
        collection, name = parent(path)
        resource.setdefault("selfLink", BASE + path)
        self.store.setdefault(collection, {})[name] = resource
        return resource

    def find(self, path: str) -> dict[str, Any] | None:
        collection, name = parent(path)
        return self.store.get(collection, {}).get(name)

    def get(self, path: str) -> dict[str, Any]:
        self.project(path.split("/")[1])
        found = self.find(path)
        if found is None:
            raise not_found(path)
        return found

    def items(self, collection: str) -> list[dict[str, Any]]:
        self.project(collection.split("/")[1])
        return [self.store[collection][n] for n in sorted(self.store.get(collection, {}))]

    def remove(self, path: str) -> None:
        collection, name = parent(path)
        self.store.get(collection, {}).pop(name, None)

    def project(self, project: str) -> None:
        """A project seen for the first time gets the default network, as new projects do."""
        if f"projects/{project}/global/networks" in self.store:
            return
        self.add_network(project, "default", dict(catalog.SUBNETS))

    def add_network(self, project: str, name: str, subnets: dict[str, str]) -> None:
        """A VPC network with one subnetwork per region (``{region: cidr}``), named like the network."""
        net = f"projects/{project}/global/networks/{name}"
        links = [f"{BASE}projects/{project}/regions/{r}/subnetworks/{name}" for r in subnets]
        self._put(net, {"kind": "compute#network", "id": _id(), "creationTimestamp": now_text(), "name": name,
                        "description": f"{name} network", "autoCreateSubnetworks": name == "default",
                        "subnetworks": links, "routingConfig": {"routingMode": "REGIONAL"},
                        "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL"})
        for region, cidr in subnets.items():
            gateway = str(ipaddress.ip_network(cidr)[1])
            self._put(f"projects/{project}/regions/{region}/subnetworks/{name}", {
                "kind": "compute#subnetwork", "id": _id(), "creationTimestamp": now_text(), "name": name,
                "network": BASE + net, "ipCidrRange": cidr, "gatewayAddress": gateway,
                "region": f"{BASE}projects/{project}/regions/{region}", "privateIpGoogleAccess": False,
                "fingerprint": _fingerprint(), "stackType": "IPV4_ONLY", "purpose": "PRIVATE"})

    # -- time -------------------------------------------------------------------------

    def settle(self) -> None:
        """Apply every change whose time has come."""
        clock = time.monotonic()
        due = [p for p in self.pending if p.at <= clock]
        self.pending = [p for p in self.pending if p.at > clock]
        for change in sorted(due, key=lambda p: p.at):
            resource = self.find(change.path)
            if resource is None:
                continue
            if change.status is None:
                self.remove(change.path)
            else:
                resource["status"] = change.status
            if change.then:
                change.then()

    def later(self, delay: float, path: str, status: str | None, then: Callable[[], None] | None = None) -> None:
        self.pending.append(_Pending(time.monotonic() + delay, path, status, then))

    def cancel(self, path: str) -> None:
        self.pending = [p for p in self.pending if p.path != path]

    # -- operations -------------------------------------------------------------------

    def operation(self, scope: str, kind: str, target: str, target_id: str,
                  error: dict[str, Any] | None = None, lasting: float = 0.0) -> dict[str, Any]:
        """A new operation on ``target`` in ``scope`` (``projects/p/zones/z``, ``.../regions/r``, ``.../global``);
        one whose effect takes ``lasting`` seconds (an instance stopping) is DONE just after it, as Google's are."""
        name = f"operation-{int(time.time() * 1000)}-{secrets.token_hex(6)}"
        path = f"{scope}/operations/{name}"
        where = scope.split("/")
        op = {"kind": "compute#operation", "id": _id(), "name": name, "operationType": kind,
              "targetLink": BASE + target, "targetId": target_id, "status": "PENDING", "user": "fake@cloudvm.test",
              "progress": 0, "insertTime": now_text()}
        if len(where) == 4:
            op["zone" if where[2] == "zones" else "region"] = BASE + scope
        self._put(path, op)
        self.later(self.timing.operation / 2, path, "RUNNING", lambda: op.update(startTime=now_text(), progress=50))
        if error:
            self.op_errors[path] = error
        done = max(self.timing.operation, lasting + 0.001 if lasting and not error else 0.0)
        self.later(done, path, "DONE", lambda: self._finish(path))
        return op

    def _finish(self, path: str) -> None:
        op = self.find(path)
        assert op is not None
        op.update(progress=100, endTime=now_text())
        op.setdefault("startTime", op["endTime"])
        error = self.op_errors.pop(path, None)
        if error:
            op.update(error={"errors": [error]}, httpErrorStatusCode=error.pop("http", 400),
                      httpErrorMessage=error.pop("status", "BAD REQUEST"))

    def wait(self, path: str) -> dict[str, Any]:
        """``operations.wait``: block (without the lock) until done or ``max_wait``."""
        deadline = time.monotonic() + self.timing.max_wait
        while True:
            with self.lock:
                self.settle()
                op = self.get(path)
                if op["status"] == "DONE" or time.monotonic() >= deadline:
                    return op
            time.sleep(0.01)

    def replay(self, project: str, request_id: str) -> dict[str, Any] | None:
        """The operation a request with this ``requestId`` already started, if any."""
        try:
            if uuid.UUID(request_id).int == 0:
                raise ValueError
        except ValueError:
            raise ApiError(400, "invalid", f"Invalid value for field 'requestId': '{request_id}'. "
                                           "Must be a valid UUID with the exception that zero UUID is not "
                                           "supported.") from None
        path = self.requests.get(f"{project}/{request_id}")
        return self.find(path) if path else None

    def remember(self, project: str, request_id: str, op: dict[str, Any]) -> None:
        self.requests[f"{project}/{request_id}"] = relative(op["selfLink"])
        op["clientOperationId"] = request_id

    # -- shared checks -------------------------------------------------------------

    def check_new(self, path: str, name: Any) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.name': '{name}'. Must be a match "
                                           f"of regex '(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'")
        if self.find(path) is not None:
            raise ApiError(409, "alreadyExists", f"The resource '{path}' already exists")

    @staticmethod
    def check_labels(labels: dict[str, str], where: str = "resource.labels") -> None:
        for key, value in labels.items():
            if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise ApiError(400, "invalid", f"Invalid value for field '{where}': '{key}'. Label keys and "
                                               "values may contain only lowercase letters, digits, _ and -")

    def next_address(self, subnet: dict[str, Any]) -> str:
        network = ipaddress.ip_network(subnet["ipCidrRange"])
        return str(network[next(self._addresses) % (network.num_addresses - 2) + 1])


def matches(resource: dict[str, Any], expression: str) -> bool:
    """The filters the list methods accept: ``(a = "x") AND (b != "y")`` or
    terms joined by OR (mixing both without nesting is refused, as Google does)."""
    if not expression.strip():
        return True
    joins = set(re.findall(r"\)\s+(AND|OR)\s+\(", expression))
    if len(joins) > 1:
        raise ApiError(400, "invalid", "Invalid list filter expression: mixed AND and OR need parentheses")
    terms = re.split(r"\)\s+(?:AND|OR)\s+\(", expression.strip()) if joins else [expression.strip()]
    results = []
    for term in terms:
        found = _TERM.match(term.strip())
        if not found:
            raise ApiError(400, "invalid", f"Invalid list filter expression '{expression}'")
        key, op, wanted = found.groups()
        value: Any = resource
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values = [str(v) for v in value] if isinstance(value, list) else [] if value is None else [str(value)]
        # eq/ne: an RE2 full match, as Google's older filter syntax has it
        hit = any(re.fullmatch(wanted, v) for v in values) if op in ("eq", "ne") else wanted in values
        results.append(hit if op in ("=", "eq") else not hit)
    return any(results) if joins == {"OR"} else all(results)
