"""The HTTPS face of the fake: ARM's paths (read without regard to case),
bearer tokens required, request bodies read into the documented types as
ARM's deserializer reads them, long-running operations announced by
``Azure-AsyncOperation``/``Location`` headers, rate-limit headers, every
resource body sent checked against Azure's specs (problems kept in
``violations``), faults on request, and 501 naming any method not served."""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudvm_testing.http import JSONHandler, LoopbackServer
from cloudvm_testing.limits import Limits

from cloudvm_azure_testing.fake import (
    access,
    diagnostics,
    groups,
    machines,
    operations,
    quotas,
    rbac,
    resources,
    restorepoints,
    services,
    swagger,
)
from cloudvm_azure_testing.fake.arm import Arm, ArmError, Timing
from cloudvm_azure_testing.fake.catalog import LOCATIONS
from cloudvm_azure_testing.fake.operations import Answer, Call
from cloudvm_azure_testing.fake.routes import ACCESS, COMPUTE, Route, parse

_DISKY = ("disks", "snapshots")
_SYNC_PATCH = ("networkInterfaces", "publicIPAddresses", "networkSecurityGroups", "virtualNetworks")


@dataclass
class Fault:
    """What to do to the next ``times`` requests of ``method`` on ``kind`` (a resource type)."""

    method: str
    kind: str
    fault: str  # throttle, error, drop, reset, latency, allocation
    times: int = 1
    status: int = 500
    code: str = "InternalServerError"
    retry_after: float = 1  # seconds (whole ones from ARM; scaled ones when time is simulated faster)
    delay: float = 0.5  # seconds, for latency


@dataclass
class Fake:
    arm: Arm
    faults: list[Fault] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    writes: int = 1199
    reads: int = 11999
    limits: Limits | None = None  # simulated throttling and latency (benchmarks)
    # What callers may do, by bearer token (None, or a token not named: everything); ``exercised``:
    # the operations calls held to a role have needed so far.
    grants: dict[str, frozenset[str] | None] = field(default_factory=dict)
    exercised: set[str] = field(default_factory=set)

    def take(self, method: str, kind: str) -> Fault | None:
        with self.arm.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.kind.lower() == kind.lower():
                    fault.times -= 1
                    return fault
        return None


class Handler(JSONHandler):
    server: Server
    expand = ""  # the request's $expand, lower-cased

    def serve(self) -> None:
        fake = self.server.fake
        path, query, raw = self.split()
        self.expand = query.get("$expand", "").lower()
        if path.startswith(diagnostics.PREFIX) and self.command == "GET":  # a blob, read with its SAS
            with fake.arm.lock:
                status, data, content_type = diagnostics.blob(fake.arm, path, query)
            return self.reply_bytes(status, data, content_type)
        route = parse(path)
        if route.what == "token":
            status, token = services.token(Call(self.command, self.path, route, query, None, self.headers), raw)
            return self.reply(status, token)
        kind = route.short if route.kind else path.rsplit("/", 2)[-2]
        fake.calls[f"{self.command} {kind}"] += 1
        fault = fake.take(self.command, kind) if route.kind else None
        if fake.limits is not None and not fake.limits.admit(f"{self.command} {kind}"):  # the principal's bucket
            fault = Fault(self.command, kind, "throttle", retry_after=round(fake.limits.scale, 3))
        elif fake.limits is not None:
            time.sleep(fake.limits.delay(f"{self.command} {kind}"))
        if fault and fault.fault == "reset":  # the connection breaks before the work is done
            return self.drop()
        if fault and fault.fault == "latency":
            time.sleep(fault.delay)
        try:
            self._refuse(fault)
            call = Call(self.command, self.path, route, query, self._json(raw), self.headers)
            granted = fake.grants.get(self.headers.get("Authorization", "").removeprefix("Bearer ").strip())
            fake.exercised.update(rbac.check(granted, self.command, route, call.body))
            with fake.arm.lock:
                fake.arm.settle()
                status, answer, headers = self._route(call, fault)
        except ArmError as exc:
            status, answer, headers = exc.status, exc.body(), exc.headers
        if fault and fault.fault == "drop":  # the work is done; the answer never arrives
            return self.drop()
        self._check(route, status, answer)
        self._reply(status, answer, headers)

    def _refuse(self, fault: Fault | None) -> None:
        """What ARM answers before it looks at the request: no token, or an injected throttle or error."""
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is "
                                                        "missing.")
        if fault and fault.fault in ("throttle", "error"):
            status = 429 if fault.fault == "throttle" else fault.status
            code = "TooManyRequests" if fault.fault == "throttle" else fault.code
            raise ArmError(status, code, "The request is being throttled." if status == 429 else "Internal error",
                           {"Retry-After": str(fault.retry_after)})

    @staticmethod
    def _json(raw: bytes) -> Any:
        try:
            return json.loads(raw or b"{}")
        except ValueError as exc:
            raise ArmError(400, "InvalidRequestContent", f"The request content was invalid and could not be "
                                                         f"deserialized: '{exc}'.") from None

    def _route(self, call: Call, fault: Fault | None) -> Answer:
        arm, route = self.server.fake.arm, call.route
        reads = {"locations": lambda: services.locations(call), "groups": lambda: groups.listed(arm, call),
                 "provider": lambda: services.provider(call),
                 "group-result": lambda: operations.group_result(arm, call),
                 "operation": lambda: operations.status(arm, call), "sizes": lambda: services.sizes(call),
                 "usages": lambda: services.usages(arm, call), "images": lambda: services.images(call),
                 "skus": lambda: services.skus(arm, call),
                 "list-all": lambda: self._listed(self._everywhere(route)),
                 "collection": lambda: self._listed(self._children(call))}
        where = call.path.split("?")[0]
        if route.what == "unserved":
            raise ArmError(501, "NotImplemented", f"{call.method} {where} is not served by this fake "
                                                  "(cloudvm_azure_testing).")
        if route.what == "not-arm":
            raise ArmError(404, "NotFound", f"{where} is not a Resource Manager path.")
        if route.what == "group":
            return groups.serve(arm, call)
        if route.what == "resource":
            return self._resource(call, fault)
        wanted = "GET" if route.what in reads or route.action == "instanceView" else "POST"
        if call.method != wanted:
            raise ArmError(405, "MethodNotAllowed", f"{call.method} is not supported on {where}.")
        return reads[route.what]() if route.what in reads else self._action(call)

    # -- reading -------------------------------------------------------------------------------------

    def _listed(self, found: list[dict[str, Any]]) -> Answer:
        return 200, {"value": [self._view(r) for r in found]}, {}

    def _everywhere(self, route: Route) -> list[dict[str, Any]]:
        prefix = f"/subscriptions/{route.subscription}/resourcegroups/".lower()
        arm = self.server.fake.arm
        return sorted((r for k, r in arm.resources.items() if k.startswith(prefix) and r["type"] == route.kind),
                      key=lambda r: r["id"].lower())

    def _children(self, call: Call) -> list[dict[str, Any]]:
        arm, route = self.server.fake.arm, call.route
        arm.group(route.subscription, route.group)
        if route.kind.count("/") == 2:  # subnets of a network, extensions of a VM
            resources.parent(arm, route.rid, collection=True)
        return arm.children(route.rid)

    def _view(self, resource: dict[str, Any]) -> dict[str, Any]:
        """A resource as GET shows it (a VM's instance view on ``$expand=instanceView`` and its
        extensions; a network's subnets)."""
        arm = self.server.fake.arm
        if resource["type"].startswith(restorepoints.COLLECTIONS):
            return restorepoints.view(arm, resource, self.expand)
        view: dict[str, Any] = json.loads(json.dumps(resource))
        if resource["type"].endswith("/virtualNetworks"):
            view["properties"]["subnets"] = [json.loads(json.dumps(s)) for s in arm.children(
                f"{resource['id']}/subnets")]
        if resource["type"].endswith("/virtualMachines"):
            extensions = arm.children(f"{resource['id']}/extensions")
            if extensions:
                view["resources"] = json.loads(json.dumps(extensions))
            if self.expand == "instanceview":
                view["properties"]["instanceView"] = machines.instance_view(arm, resource)
        return view

    # -- writing -------------------------------------------------------------------------------------

    def _resource(self, call: Call, fault: Fault | None) -> Answer:
        arm, route = self.server.fake.arm, call.route
        arm.group(route.subscription, route.group)
        if call.method == "GET":
            return 200, self._view(arm.get(route.rid)), {}
        if route.short == "diskRestorePoints":  # made by their restore point, never by a request
            raise ArmError(405, "MethodNotAllowed", f"{call.method} is not supported on {route.kind}.")
        if call.method == "PUT":
            return self._put(call, fault)
        if call.method == "PATCH" and route.short not in ("subnets", "restorePoints"):
            return self._patch(call)
        if call.method == "DELETE":
            return self._delete(call)
        raise ArmError(405, "MethodNotAllowed", f"{call.method} is not supported on {route.kind}.")

    @staticmethod
    def _body(call: Call, definitions: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
        """The request body in the documented types, or ARM's 400 for what cannot be converted."""
        short = call.route.short
        if not isinstance(call.body, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                                                         "deserialized: a JSON object is expected.")
        if short not in definitions:
            return call.body
        spec, definition = definitions[short][0], definitions[short][1]
        body, problems = swagger.coerce(call.body, definition, spec)
        if problems:
            raise ArmError(400, "InvalidRequestContent", f"The request content was invalid and could not be "
                                                         f"deserialized: '{problems[0]}'")
        return body  # type: ignore[no-any-return]

    def _put(self, call: Call, fault: Fault | None) -> Answer:
        arm, route = self.server.fake.arm, call.route
        groups.writable(arm, call)
        body = self._body(call, swagger.DEFINITIONS)
        existed = arm.find(route.rid) is not None
        if existed and self.headers.get("If-None-Match") == "*":
            raise ArmError(412, "PreconditionFailed", f"The resource '{route.rid.rsplit('/', 1)[1]}' already exists.")
        child = route.kind.count("/") == 2
        location = body.get("location") or (arm.find(route.rid) or {}).get("location")
        if child:
            location = resources.parent(arm, route.rid).get("location")
        elif str(location).lower() not in LOCATIONS:
            raise ArmError(400, "LocationNotAvailableForResourceType",
                           f"The provided location '{location}' is not available for resource type '{route.kind}'.")
        resource = resources.put(arm, route.rid, route.kind, body)
        arm.failures.pop(route.rid.lower(), None)
        error = None
        spot = (body.get("properties") or {}).get("priority") == "Spot"
        if fault and (fault.fault == "allocation" or (fault.fault == "spot" and spot)):
            error = {"code": "AllocationFailed", "message": "Allocation failed. We do not have sufficient capacity "
                                                            "for the requested VM size in this region."}
            arm.pending.append((0, lambda: resource["properties"].update(provisioningState="Failed")))
            arm.failures[route.rid.lower()] = error
        if route.short == "virtualMachines" and not existed and not error:
            self._power(route.rid, "starting", "running", arm.timing.boot)
        delay = arm.timing.boot if route.short == "virtualMachines" else arm.timing.provision
        headers = operations.begin(arm, call, route.kind.split("/")[0], location or "eastus", delay, route.short,
                                   error=error, poll_location=route.short in _DISKY)
        answer = self._view(resource)
        if route.short in _DISKY:
            answer.pop("sku", None)
            return 202, answer, headers
        return (200 if existed else 201), answer, headers

    def _patch(self, call: Call) -> Answer:
        arm, route = self.server.fake.arm, call.route
        resource = arm.get(route.rid)
        body = self._body(call, swagger.UPDATES)
        resources.patch(arm, resource, body)
        if route.short in _SYNC_PATCH:  # UpdateTags answers at once
            return 200, self._view(resource), {}
        headers = operations.begin(arm, call, route.kind.split("/")[0], resource.get("location", "eastus"),
                                   arm.timing.provision, route.short, poll_location=route.short in _DISKY)
        return (202 if route.short in _DISKY else 200), self._view(resource), headers

    def _delete(self, call: Call) -> Answer:
        arm, route = self.server.fake.arm, call.route
        gone = arm.find(route.rid)
        if gone is None:
            return 204, None, {}
        resources.delete(arm, gone)
        if route.short == "virtualMachines":
            arm.power[route.rid.lower()] = "stopping"
        return 202, None, operations.begin(arm, call, route.kind.split("/")[0], gone.get("location", "eastus"),
                                           arm.timing.delete, route.short, poll_location=True)

    def _action(self, call: Call) -> Answer:
        arm, route = self.server.fake.arm, call.route
        if route.action in ACCESS:
            target = arm.get(route.rid)
            return (access.grant if route.action == "beginGetAccess" else access.revoke)(arm, call, target)
        vm = arm.get(route.rid)
        if route.action == "instanceView":
            return 200, machines.instance_view(arm, vm), {}
        if route.action == "retrieveBootDiagnosticsData":
            return 200, diagnostics.uris(arm, vm, self.headers.get("Host", "127.0.0.1")), {}
        key = route.rid.lower()
        if route.action == "simulateEviction":
            return self._evict(vm)
        if route.action == "start" and arm.power.get(key) == "deallocated":  # its cores come back into use
            quotas.check(arm, route.subscription, vm["location"], vm["properties"]["hardwareProfile"]["vmSize"],
                         but=vm["id"])
        moves = {"start": ("starting", "running", arm.timing.boot),
                 "powerOff": ("stopping", "stopped", arm.timing.stop),
                 "deallocate": ("deallocating", "deallocated", arm.timing.stop),
                 "restart": ("running", "running", arm.timing.boot / 2)}
        now, then, delay = moves[route.action]
        self._power(key, now, then, delay)
        return 202, None, operations.begin(arm, call, COMPUTE, vm["location"], delay, "virtualMachines",
                                           poll_location=True)

    def _evict(self, vm: dict[str, Any]) -> Answer:
        """A Spot VM taken back as its eviction policy says: deallocated, or deleted with what goes with it
        (https://learn.microsoft.com/azure/virtual-machines/spot-vms#eviction-policy)."""
        arm = self.server.fake.arm
        if vm["properties"].get("priority") != "Spot":
            raise ArmError(409, "OperationNotAllowed", "Eviction can only be simulated for Spot virtual machines.")
        if vm["properties"].get("evictionPolicy") == "Delete":
            resources.delete(arm, vm)
            arm.power[vm["id"].lower()] = "stopping"
        else:
            self._power(vm["id"], "deallocating", "deallocated", arm.timing.stop)
        return 204, None, {}

    def _power(self, rid: str, now: str, then: str, delay: float) -> None:
        arm, key = self.server.fake.arm, rid.lower()
        arm.power[key] = now
        arm.later(delay, lambda: arm.power.update({key: then}) if arm.power.get(key) == now else None)

    # -- answering -----------------------------------------------------------------------------------

    def _check(self, route: Route, status: int, answer: Any) -> None:
        short = route.short if route.kind else ""
        if short not in swagger.DEFINITIONS or not isinstance(answer, dict) or status >= 300 or "error" in answer:
            return
        if route.what == "action":
            return
        path, one, many = swagger.DEFINITIONS[short]
        problems = swagger.validate(answer, many if "value" in answer else one, path)
        self.server.fake.violations += [f"{self.command} {short}: {p}" for p in problems]

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

