"""The HTTPS face of the fake: ARM's paths, long-running operations announced
by ``Azure-AsyncOperation``/``Location`` headers, rate-limit headers, every
resource body checked against Azure's specs (problems kept in
``violations``), and faults on request."""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cloudvm.testing.http import JSONHandler, LoopbackServer
from cloudvm.testing.limits import Limits
from cloudvm_azure.fake import resources, swagger
from cloudvm_azure.fake.arm import IMAGES, LOCATIONS, VM_SIZES, Arm, ArmError, Timing

_RESOURCE = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/(?P<ns>[^/]+)/"
                       r"(?P<type>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<child>subnets)(?:/(?P<childname>[^/]+))?)?"
                       r"(?:/(?P<action>start|powerOff|deallocate|restart|instanceView))?)?$", re.I)
_GROUP = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)$", re.I)
_OPERATION = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/providers/(?P<ns>[^/]+)/locations/(?P<loc>[^/]+)/"
                        r"(?P<kind>operations|DiskOperations)/(?P<op>[^/]+)$", re.I)
_SIZES = re.compile(r"^/subscriptions/[^/]+/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)/vmSizes$", re.I)
_IMAGES = re.compile(r"^/subscriptions/[^/]+/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)/publishers/"
                     r"(?P<pub>[^/]+)/artifacttypes/vmimage/offers/(?P<offer>[^/]+)/skus/(?P<sku>[^/]+)/versions$",
                     re.I)
_DISKY = ("disks", "snapshots")


@dataclass
class Fault:
    """What to do to the next ``times`` requests of ``method`` on ``kind`` (a resource type)."""

    method: str
    kind: str
    fault: str  # throttle, error, drop, allocation
    times: int = 1
    status: int = 500
    code: str = "InternalServerError"
    retry_after: float = 1  # seconds (whole ones from ARM; scaled ones when time is simulated faster)


@dataclass
class Fake:
    arm: Arm
    faults: list[Fault] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    writes: int = 1199
    reads: int = 11999
    limits: Limits | None = None  # simulated throttling and latency (benchmarks)

    def take(self, method: str, kind: str) -> Fault | None:
        with self.arm.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.kind.lower() == kind.lower():
                    fault.times -= 1
                    return fault
        return None


class Handler(JSONHandler):
    server: Server

    def serve(self) -> None:
        fake = self.server.fake
        path, self.query, raw = self.split()
        self.body = json.loads(raw or b"{}")
        found = _RESOURCE.match(path)
        kind = (found.group("child") or found.group("type")) if found else ""
        fake.calls[f"{self.command} {kind or path.rsplit('/', 2)[-2]}"] += 1
        fault = fake.take(self.command, kind) if kind else None
        call = f"{self.command} {kind}"
        if fake.limits is not None and not fake.limits.admit(call):  # the principal's bucket is empty
            fault = Fault(self.command, kind, "throttle", retry_after=round(fake.limits.scale, 3))
        elif fake.limits is not None:
            time.sleep(fake.limits.delay(call))
        try:
            if fault and fault.fault in ("throttle", "error"):
                status = 429 if fault.fault == "throttle" else fault.status
                code = "TooManyRequests" if fault.fault == "throttle" else fault.code
                raise ArmError(status, code, "The request is being throttled." if status == 429 else "Internal error",
                               {"Retry-After": str(fault.retry_after)})
            with fake.arm.lock:
                fake.arm.settle()
                status, answer, headers = self._route(path, fault)
        except ArmError as exc:
            status, answer, headers = exc.status, exc.body(), exc.headers
        if fault and fault.fault == "drop":  # the work is done; the answer never arrives
            return self.drop()
        self._check(kind, found, status, answer)
        self._reply(status, answer, headers)

    def _route(self, path: str, fault: Fault | None) -> tuple[int, Any, dict[str, str]]:
        arm = self.server.fake.arm
        if found := _OPERATION.match(path):
            return self._operation(found.group("op"), found.group("kind"))
        if found := _SIZES.match(path):
            return 200, {"value": [{"name": n, "numberOfCores": c, "memoryInMB": m, "maxDataDiskCount": d,
                                    "osDiskSizeInMB": 1047552, "resourceDiskSizeInMB": 0}
                                   for n, (c, m, d) in VM_SIZES.items()]}, {}
        if found := _IMAGES.match(path):
            versions = IMAGES.get((found.group("pub"), found.group("offer"), found.group("sku")), {})
            if not versions:
                raise ArmError(404, "NotFound", f"Artifact: VMImage was not found ({found.group('offer')}).")
            return 200, [{"location": found.group("loc"), "name": v, "id": f"{path}/{v}"} for v in versions], {}
        if found := _GROUP.match(path):
            return self._group(found.group("sub"), found.group("rg"))
        found = _RESOURCE.match(path)
        if not found:
            raise ArmError(404, "InvalidResourceType", f"The resource path '{path}' is not served by this fake.")
        arm.group(found.group("sub"), found.group("rg"))
        rid = f"/subscriptions/{found.group('sub')}/resourceGroups/{found.group('rg')}/providers/" \
              f"{found.group('ns')}/{found.group('type')}"
        kind = f"{found.group('ns')}/{found.group('type')}"
        if found.group("name"):
            rid += f"/{found.group('name')}"
            if found.group("child"):
                rid += f"/{found.group('child')}"
                kind += f"/{found.group('child')}"
                if found.group("childname"):
                    rid += f"/{found.group('childname')}"
        collection = not (found.group("childname") if found.group("child") else found.group("name"))
        if collection:
            return 200, {"value": [self._view(r) for r in arm.children(rid)]}, {}
        return self._resource(rid, kind, found.group("action"), fault)

    def _resource(self, rid: str, kind: str, action: str | None, fault: Fault | None) -> tuple[int, Any,
                                                                                              dict[str, str]]:
        arm = self.server.fake.arm
        namespace, short = kind.split("/")[0], kind.rsplit("/", 1)[1]
        if self.command == "GET":
            resource = arm.get(rid)
            if action == "instanceView":
                return 200, resources.instance_view(arm, resource), {}
            return 200, self._view(resource), {}
        if self.command == "PUT":
            return self._put(rid, kind, fault)
        if self.command == "DELETE":
            gone = arm.find(rid)
            if gone is None:
                return 204, None, {}
            resources.delete(arm, gone)
            if short == "virtualMachines":
                arm.power[rid.lower()] = "stopping"
            return 202, None, self._async(namespace, gone.get("location", "eastus"), arm.timing.delete, short,
                                          poll_location=True)
        if self.command == "POST" and action:
            return self._action(rid, action)
        raise ArmError(405, "MethodNotAllowed", f"{self.command} is not supported here")

    def _put(self, rid: str, kind: str, fault: Fault | None) -> tuple[int, Any, dict[str, str]]:
        arm = self.server.fake.arm
        short = kind.rsplit("/", 1)[1]
        existed = arm.find(rid) is not None
        if existed and self.headers.get("If-None-Match") == "*":
            raise ArmError(412, "PreconditionFailed", f"The resource '{rid.rsplit('/', 1)[1]}' already exists.")
        location = self.body.get("location") or (arm.find(rid.rsplit("/subnets/", 1)[0]) or {}).get("location")
        if short != "subnets" and location not in LOCATIONS:
            raise ArmError(400, "LocationNotAvailableForResourceType",
                           f"The provided location '{location}' is not available for resource type '{kind}'.")
        resource = resources.put(arm, rid, kind, self.body)
        error = None
        if fault and fault.fault == "allocation":
            error = {"code": "AllocationFailed", "message": "Allocation failed. We do not have sufficient capacity "
                                                            "for the requested VM size in this region."}
            arm.pending.append((0, lambda: resource["properties"].update(provisioningState="Failed")))
        if short == "virtualMachines" and not existed and not error:
            arm.power[rid.lower()] = "starting"
            arm.later(arm.timing.boot, lambda: arm.power.update({rid.lower(): "running"})
                      if arm.power.get(rid.lower()) == "starting" else None)
        delay = arm.timing.boot if short == "virtualMachines" else arm.timing.provision
        headers = self._async(kind.split("/")[0], location or "eastus", delay, short, error=error,
                              poll_location=short in _DISKY)
        body = self._view(resource)
        if short in _DISKY:
            body.pop("sku", None)
            return 202, body, headers
        return (200 if existed else 201), body, headers

    def _action(self, rid: str, action: str) -> tuple[int, Any, dict[str, str]]:
        arm = self.server.fake.arm
        vm = arm.get(rid)
        key = rid.lower()
        moves = {"start": ("starting", "running", arm.timing.boot),
                 "powerOff": ("stopping", "stopped", arm.timing.stop),
                 "deallocate": ("deallocating", "deallocated", arm.timing.stop),
                 "restart": ("running", "running", arm.timing.boot / 2)}
        now, then, delay = moves[action]
        arm.power[key] = now
        arm.later(delay, lambda: arm.power.update({key: then}) if arm.power.get(key) == now else None)
        return 202, None, self._async("Microsoft.Compute", vm["location"], delay, "virtualMachines",
                                          poll_location=True)

    def _async(self, namespace: str, location: str, delay: float, short: str, *,
               error: dict[str, str] | None = None, poll_location: bool = False) -> dict[str, str]:
        """``Azure-AsyncOperation`` (and ``Location``) headers for a new operation."""
        arm = self.server.fake.arm
        op = arm.operation(namespace, location, delay, error)
        kind = "DiskOperations" if short in _DISKY else "operations"
        base = f"https://{self.headers.get('Host')}/subscriptions/{self._subscription()}/providers/{namespace}/" \
               f"locations/{location}/{kind}/{op.name}"
        version = self.query.get("api-version", "")
        headers = {"Azure-AsyncOperation": f"{base}?api-version={version}"}
        if poll_location:
            headers["Location"] = f"{base}?monitor=true&api-version={version}"
        if arm.timing.retry_after:
            headers["Retry-After"] = str(arm.timing.retry_after)
        return headers

    def _subscription(self) -> str:
        return self.path.split("/")[2]

    def _operation(self, name: str, kind: str) -> tuple[int, Any, dict[str, str]]:
        arm = self.server.fake.arm
        op = arm.operations.get(name)
        if op is None:
            raise ArmError(404, "OperationNotFound", f"The operation '{name}' was not found.")
        status = op.status(kind == "DiskOperations")
        if self.query.get("monitor") == "true":
            if status["status"] == "InProgress":
                return 202, None, {"Location": f"https://{self.headers.get('Host')}{self.path}"}
            if op.error:
                raise ArmError(400 if op.error["code"] != "AllocationFailed" else 409, op.error["code"],
                               op.error["message"])
            return 200, None, {}
        return 200, status, {}

    def _group(self, sub: str, name: str) -> tuple[int, Any, dict[str, str]]:
        arm = self.server.fake.arm
        key = f"{sub}/{name}".lower()
        if self.command == "PUT":
            existed = key in arm.groups
            arm.groups[key] = {"id": f"/subscriptions/{sub}/resourceGroups/{name}", "name": name,
                               "type": "Microsoft.Resources/resourceGroups", "location": self.body.get("location"),
                               "tags": self.body.get("tags") or {}, "properties": {"provisioningState": "Succeeded"}}
            return (200 if existed else 201), arm.groups[key], {}
        if self.command == "HEAD":
            return (204 if key in arm.groups else 404), None, {}
        return 200, arm.group(sub, name), {}

    def _view(self, resource: dict[str, Any]) -> dict[str, Any]:
        """A resource as GET shows it (a VM's instance view on ``$expand=instanceView``, a VNet's subnets)."""
        arm = self.server.fake.arm
        view: dict[str, Any] = json.loads(json.dumps(resource))
        if resource["type"].endswith("/virtualNetworks"):
            view["properties"]["subnets"] = [json.loads(json.dumps(s)) for s in arm.children(f"{resource['id']}/"
                                                                                               "subnets")]
        if resource["type"].endswith("/virtualMachines") and self.query.get("$expand", "").lower() == "instanceview":
            view["properties"]["instanceView"] = resources.instance_view(arm, resource)
        return view

    def _check(self, kind: str, found: re.Match[str] | None, status: int, answer: Any) -> None:
        if kind not in swagger.DEFINITIONS or not isinstance(answer, dict) or status >= 300 or "error" in answer:
            return
        path, one, many = swagger.DEFINITIONS[kind]
        if found and found.group("action"):
            return
        problems = swagger.validate(answer, many if "value" in answer else one, path)
        self.server.fake.violations += [f"{self.command} {kind}: {p}" for p in problems]

    def _reply(self, status: int, body: Any, headers: dict[str, str]) -> None:
        """With ARM's request ids and remaining-request counters."""
        fake = self.server.fake
        writing = self.command in ("PUT", "DELETE", "POST", "PATCH")
        if writing:
            fake.writes = max(fake.writes - 1, 0)
        else:
            fake.reads = max(fake.reads - 1, 0)
        kind, left = ("writes", fake.writes) if writing else ("reads", fake.reads)
        self.reply(status, body, {"x-ms-request-id": str(uuid.uuid4()),
                                  "x-ms-correlation-request-id": str(uuid.uuid4()),
                                  f"x-ms-ratelimit-remaining-subscription-{kind}": str(left), **headers})


class Server(LoopbackServer):
    def __init__(self, fake: Fake, context: ssl.SSLContext, port: int = 0) -> None:
        super().__init__(Handler, port, context)
        self.fake = fake


def serve(context: ssl.SSLContext, timing: Timing | None = None, port: int = 0
          ) -> tuple[Fake, Server, threading.Thread]:
    fake = Fake(Arm(timing or Timing()))
    server = Server(fake, context, port)
    return fake, server, server.start()
