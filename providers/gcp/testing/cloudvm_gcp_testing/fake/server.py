"""The HTTP face of the fake: routes built from the discovery document's own
paths, request bodies checked like Google checks them, every response body
checked against the API's schema (problems are kept in ``violations``), and
faults injected on request."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cloudvm_testing.http import JSONHandler, LoopbackServer
from cloudvm_testing.limits import Limits

from cloudvm_gcp_testing.fake import discovery, permissions
from cloudvm_gcp_testing.fake.compute import ApiError, Compute, Timing, relative
from cloudvm_gcp_testing.fake.instances import ComputeApi

PREFIX = "/compute/v1/"
# What the fake serves, by discovery method id; every other method of the API answers 501 naming itself.
SERVED = {
    "projects": "get",
    "regions": "get list",
    "zones": "get list",
    "machineTypes": "get list aggregatedList",
    "diskTypes": "get list aggregatedList",
    "images": "get list getFromFamily insert delete",
    "networks": "get list",
    "subnetworks": "get list aggregatedList",
    "firewalls": "insert get list delete patch update",
    "instances": "insert get list aggregatedList delete start stop reset attachDisk detachDisk setLabels "
                 "setMetadata setTags getSerialPortOutput getGuestAttributes",
    "disks": "insert get list aggregatedList delete createSnapshot setLabels",
    "snapshots": "insert get list delete setLabels",
    "machineImages": "insert get list delete setLabels",
    "zoneOperations": "get list wait",
    "regionOperations": "get list wait",
    "globalOperations": "get list wait",
}
METHODS = tuple(f"{resource}.{method}" for resource, methods in SERVED.items() for method in methods.split())
# Operation errors as Compute Engine reports them in ``error.errors[]``.
OPERATION_ERRORS = {
    "ZONE_RESOURCE_POOL_EXHAUSTED": "The zone '{zone}' does not have enough resources available to fulfill "
                                    "the request. Try a different zone, or try again later.",
    "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS": "The zone '{zone}' does not have enough resources available "
                                                 "to fulfill the request. '(resource type:compute)'.",
    "QUOTA_EXCEEDED": "Quota 'CPUS' exceeded.  Limit: 8.0 in region {region}.",
    "RESOURCE_NOT_READY": "The resource is not ready",
}


@dataclass
class Fault:
    """What to do to the next ``times`` calls of ``method`` (a discovery id)."""

    method: str
    kind: str  # throttle, rate403, unavailable, error, operation, drop, reset, latency
    times: int = 1
    status: int = 0
    reason: str = ""
    code: str = ""
    retry_after: float | None = None
    target: str = ""  # only calls about this resource name (in the path or the body's "name")
    delay: float = 0.5  # seconds, for latency


@dataclass
class Route:
    method_id: str
    http_method: str
    pattern: re.Pattern[str]
    request: str | None
    response: str | None


@dataclass
class Fake:
    """The server's shared state: the API, its routes, faults, counters, violations."""

    compute: Compute
    api: ComputeApi
    routes: list[Route]
    faults: list[Fault] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    fault_lock: threading.Lock = field(default_factory=threading.Lock)
    limits: Limits | None = None  # simulated rate quotas and latency (benchmarks)
    # What callers may do: those without a token hold ``anonymous``, a bearer token its entry in
    # ``grants``; None is every permission. ``exercised``: the permissions calls needed so far.
    anonymous: frozenset[str] | None = None
    grants: dict[str, frozenset[str] | None] = field(default_factory=dict)
    exercised: set[str] = field(default_factory=set)

    @classmethod
    def create(cls, timing: Timing | None = None) -> Fake:
        compute = Compute(timing or Timing())
        served = [_route(m) for m in METHODS]  # first: a served method wins over one it resembles
        others = [_route(m) for m in discovery.method_ids() if m not in METHODS]
        return cls(compute, ComputeApi(compute), served + others)

    def route(self, http_method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.http_method == http_method:
                return route, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
        return None

    def take_fault(self, method_id: str, names: set[str]) -> Fault | None:
        with self.fault_lock:
            for fault in self.faults:
                if fault.method == method_id and fault.times > 0 and (not fault.target or fault.target in names):
                    fault.times -= 1
                    return fault
        return None


def _name(body: Any) -> list[str]:
    return [body["name"]] if isinstance(body, dict) and isinstance(body.get("name"), str) else []


def _targets(body: Any) -> list[str]:
    """What a fault's ``target`` may name in a request body besides the path: the resource's name, or
    its provisioning model (``SPOT``: only Spot VMs' inserts)."""
    model = (body.get("scheduling") or {}).get("provisioningModel") if isinstance(body, dict) else None
    return [*_name(body), *([model] if isinstance(model, str) else [])]


def _route(method_id: str) -> Route:
    info = discovery.method(method_id)
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", info["path"])
    return Route(method_id, info["httpMethod"], re.compile(f"^{re.escape(PREFIX)}{pattern}$"),
                 (info.get("request") or {}).get("$ref"), (info.get("response") or {}).get("$ref"))


class Handler(JSONHandler):
    server: Server

    def serve(self) -> None:
        fake = self.server.fake
        path, query, raw = self.split()
        found = fake.route(self.command, path)
        if found is None:
            return self.reply(404, {"error": {"code": 404, "message": f"Not Found: {path}",
                                               "errors": [{"message": "Not Found", "domain": "global",
                                                           "reason": "notFound"}]}})
        route, params = found
        fake.calls[route.method_id] += 1
        if route.method_id not in METHODS:
            message = f"Method compute.{route.method_id} is not implemented by this fake (cloudvm_gcp_testing)."
            return self.reply(501, {"error": {"code": 501, "message": message, "status": "UNIMPLEMENTED", "errors": [
                {"message": message, "domain": "global", "reason": "notImplemented"}]}})
        try:
            body = self._body(route, raw)
            self._authorize(route, path, body)
            fault = fake.take_fault(route.method_id, {*params.values(), *_targets(body)})
            if fake.limits is not None and not fake.limits.admit(route.method_id):
                fault = Fault(route.method_id, "rate403")  # the project's per-minute quota is spent
            elif fake.limits is not None:
                time.sleep(fake.limits.delay(route.method_id))
            if fault and fault.kind == "reset":  # the connection breaks before the work is done
                return self.drop()
            if fault and fault.kind == "latency":
                time.sleep(fault.delay)
            elif fault and fault.kind != "drop":
                self._before(fault, params)
            status, answer = 200, self._call(route, params, query, body, fault)
        except ApiError as exc:
            status, answer = exc.status, exc.body()
            self.reply(status, answer, exc.headers)
            return
        if fault and fault.kind == "drop":  # the work is done; the answer never arrives
            return self.drop()
        if route.response:
            fake.violations += [f"{route.method_id}: {p}" for p in discovery.validate(answer, route.response)]
        self.reply(status, answer)

    def _body(self, route: Route, raw: bytes) -> Any:
        if not route.request:
            return None
        try:
            body, problems = discovery.parse(json.loads(raw or b"{}"), route.request)
        except ValueError:
            raise ApiError(400, "parseError", "Parse Error") from None
        if problems:
            raise ApiError(400, "invalid", f"Invalid JSON payload received. {problems[0]}")
        return body

    def _authorize(self, route: Route, path: str, body: Any) -> None:
        fake = self.server.fake
        token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        granted = fake.grants.get(token) if token else fake.anonymous
        resource = path.removeprefix(PREFIX) + (f"/{_name(body)[0]}" if route.http_method == "POST" and _name(body)
                                                 else "")
        permissions.check(granted, route.method_id, body, resource)
        if granted is not None:
            fake.exercised.update(permissions.required(route.method_id, body))

    def _before(self, fault: Fault, params: dict[str, str]) -> None:
        """Faults that answer instead of the API (``operation`` faults fail the call's operation: ``_call``)."""
        if fault.kind == "operation":
            return
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        if fault.kind == "throttle":
            raise ApiError(429, "rateLimitExceeded", "Rate Limit Exceeded", headers)
        if fault.kind == "rate403":
            raise ApiError(403, "rateLimitExceeded", "Rate Limit Exceeded", headers)
        if fault.kind == "unavailable":
            raise ApiError(503, "backendError", "The service is currently unavailable.", headers)
        raise ApiError(fault.status or 500, fault.reason or "backendError", fault.code or "Internal Error", headers)

    def _call(self, route: Route, params: dict[str, str], query: dict[str, str], body: Any,
              fault: Fault | None) -> dict[str, Any]:
        fake = self.server.fake
        handler = fake.api.handler(route.method_id)
        assert handler is not None, route.method_id
        if route.method_id.endswith("Operations.wait"):  # blocks; takes the lock itself
            return handler(params, query, body)
        with fake.compute.lock:
            fake.compute.settle()
            request_id = query.get("requestId")
            if request_id:
                earlier = fake.compute.replay(params["project"], request_id)
                if earlier is not None:
                    return earlier
            # armed under the lock, so the operation of this very call fails, not another's in flight
            fake.api.fail_next = _operation_error(fault, params) if fault and fault.kind == "operation" else None
            try:
                answer = handler(params, query, body)
            finally:
                fake.api.fail_next = None
            if request_id and answer.get("kind") == "compute#operation":
                fake.compute.remember(params["project"], request_id, answer)
            return answer

def _operation_error(fault: Fault, params: dict[str, str]) -> dict[str, str]:
    zone = params.get("zone", "us-central1-a")
    code = fault.code or "ZONE_RESOURCE_POOL_EXHAUSTED"
    return {"code": code, "message": OPERATION_ERRORS.get(code, code).format(zone=zone, region=zone.rsplit("-", 1)[0])}


class Server(LoopbackServer):
    def __init__(self, fake: Fake, port: int = 0) -> None:
        super().__init__(Handler, port)
        self.fake = fake


def serve(fake: Fake, port: int = 0) -> tuple[Server, threading.Thread]:
    server = Server(fake, port)
    return server, server.start()


__all__ = ["Fake", "Fault", "Server", "serve", "relative"]
