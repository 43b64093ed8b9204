"""Testing against Azure offline: the Resource Manager fake on a loopback
HTTPS port (a throwaway CA from trustme), a credential it accepts, fault
injection, and a check that nothing of a VM was left behind.

    with fake_resource_manager() as arm:
        cloud = cloudvm.connect("azure", **arm.connect_options(), guests=False)
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudvm_azure
import pytest
import trustme
from azure.core.credentials import AccessToken
from cloudvm_testing.limits import Limits
from cloudvm_testing.processes import free_port, serving

from cloudvm import tags as tagging
from cloudvm_azure_testing.fake import diskdata
from cloudvm_azure_testing.fake.arm import Timing
from cloudvm_azure_testing.fake.catalog import VM_SIZES
from cloudvm_azure_testing.fake.server import Fake, Fault, Server, serve

SUBSCRIPTION = "00000000-0000-0000-0000-0000000c10d0"
RESOURCE_GROUP = "cloudvm-test"
LOCATION = "eastus"
# The custom roles users give cloudvm (az role definition create); the fake holds the token
# FakeCredential presents (cloudvm's) to them. The harness and other clients present HARNESS.
ROLES = Path(cloudvm_azure.__file__).resolve().parent / "permissions"  # shipped with the provider
CLOUDVM_TOKEN, HARNESS = "cloudvm-fake-token", "fake"


def shipped_operations() -> frozenset[str]:
    """Every operation the shipped role definitions allow."""
    return frozenset(a for path in sorted(ROLES.glob("*.json")) for a in json.loads(path.read_text())["Actions"])


class FakeCredential:
    """A token credential the fake accepts (it checks no signature): cloudvm's identity, held to
    the shipped roles, unless another ``token`` is given."""

    def __init__(self, token: str = CLOUDVM_TOKEN) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self.token, int(time.time()) + 3600)


@dataclass
class FakeResourceManager:
    url: str
    ca_file: str
    fake: Fake
    server: Server
    thread: threading.Thread

    @property
    def timing(self) -> Timing:
        return self.fake.arm.timing

    @property
    def violations(self) -> list[str]:
        return [*self.fake.violations, *(f"the fake failed: {crash}" for crash in self.server.crashes)]

    def connect_options(self, **changes: Any) -> dict[str, Any]:
        """What ``cloudvm.connect("azure", ...)`` needs to use this fake."""
        return {"subscription_id": SUBSCRIPTION, "resource_group": RESOURCE_GROUP, "location": LOCATION,
                "base_url": self.url, "credential": FakeCredential(), "connection_verify": self.ca_file, **changes}

    def inject(self, method: str, kind: str, fault: str, *, times: int = 1, **details: Any) -> Fault:
        """Make the next ``times`` ``method`` requests on ``kind`` (e.g. ``PUT virtualMachines``) fail:
        ``throttle`` (429 with Retry-After), ``error`` (status/code given), ``drop`` (the work is done,
        the connection closes before the answer), ``allocation`` (the operation ends AllocationFailed) or
        ``spot`` (the same, for Spot VMs only)."""
        made = Fault(method, kind, fault, times, **details)
        self.fake.faults.append(made)
        return made

    def count(self, call: str) -> int:
        return self.fake.calls[call]

    def reset_faults(self) -> None:
        self.fake.faults.clear()

    def set_quota(self, name: str, cores: int, location: str = LOCATION, subscription: str = SUBSCRIPTION) -> None:
        """Change a vCPU quota of a location: ``cores`` (all VMs) or a VM family's (``standardBSFamily``, ...)."""
        families = {size[3] for size in VM_SIZES.values()}
        if name != "cores" and name not in families:
            raise ValueError(f"{name}: not a quota the fake counts (cores, {', '.join(sorted(families))})")
        with self.fake.arm.lock:
            self.fake.arm.quotas[f"{subscription}/{location}/{name}".lower()] = cores

    def restrict(self, size: str, location: str = LOCATION, reason: str = "NotAvailableForSubscription",
                 subscription: str = SUBSCRIPTION) -> None:
        """Make a VM size unavailable to the subscription in a location, as resource SKUs then report it."""
        with self.fake.arm.lock:
            self.fake.arm.restricted[f"{subscription}/{location}/{size}".lower()] = reason

    def reset_quotas(self) -> None:
        """Quotas back to their defaults, no size restricted."""
        with self.fake.arm.lock:
            self.fake.arm.quotas.clear()
            self.fake.arm.restricted.clear()

    @contextmanager
    def patch_clients(self) -> Iterator[None]:
        """Point the Azure management clients made inside the block at this fake, and make
        ``DefaultAzureCredential()`` a credential it accepts, so code written for the real service
        (as Azure's samples write it) runs unchanged."""
        import azure.identity
        from azure.mgmt.compute import ComputeManagementClient
        from azure.mgmt.network import NetworkManagementClient
        from azure.mgmt.resource.resources import ResourceManagementClient

        def pointed(init: Any) -> Any:
            def __init__(client: Any, *args: Any, **kwargs: Any) -> None:
                kwargs.setdefault("base_url", self.url)
                kwargs.setdefault("connection_verify", self.ca_file)
                init(client, *args, **kwargs)
            return __init__

        classes = (ComputeManagementClient, NetworkManagementClient, ResourceManagementClient)
        originals = {cls: cls.__init__ for cls in classes}
        credential = azure.identity.DefaultAzureCredential
        try:
            for cls, init in originals.items():
                cls.__init__ = pointed(init)  # type: ignore[method-assign]
            azure.identity.DefaultAzureCredential = functools.partial(  # type: ignore[misc, assignment]
                FakeCredential, HARNESS)
            yield
        finally:
            for cls, init in originals.items():
                cls.__init__ = init  # type: ignore[method-assign]
            azure.identity.DefaultAzureCredential = credential  # type: ignore[misc]

    @property
    def exercised(self) -> frozenset[str]:
        """The operations the calls of callers held to a role have needed so far."""
        return frozenset(self.fake.exercised)

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        """One plain HTTPS call (``path`` from ``/subscriptions/...``, with its query): status, headers, JSON."""
        data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
        call = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {HARNESS}", **(headers or {})})
        context = ssl.create_default_context(cafile=self.ca_file)
        try:
            with urllib.request.urlopen(call, context=context, timeout=30) as reply:
                answer = reply.read()
                return reply.status, dict(reply.headers), json.loads(answer) if answer else None
        except urllib.error.HTTPError as exc:
            answer = exc.read()
            return exc.code, dict(exc.headers), json.loads(answer) if answer else None

    def evict(self, name: str) -> None:
        """Take the Spot VM ``name`` back, through ARM's own ``simulateEviction``."""
        status, _, answer = self.request("POST", f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/"
                                                 f"providers/Microsoft.Compute/virtualMachines/{name}/simulateEviction"
                                                 "?api-version=2024-03-01")
        assert status == 204, answer

    def resources(self) -> list[dict[str, Any]]:
        with self.fake.arm.lock:
            self.fake.arm.settle()
            return list(self.fake.arm.resources.values())

    def leftovers(self, name: str) -> list[str]:
        """Resources of the VM or snapshot ``name``: named after it or tagged with it."""
        def belongs(r: dict[str, Any]) -> bool:
            if "/restorePointCollections/" in r["type"]:  # a collection's restore points go with it
                return False
            return bool(r["name"] == name or (r["name"].startswith(f"{name}-")
                        and (r.get("tags") or {}).get(tagging.NAME) in (None, name))
                        or (r.get("tags") or {}).get(tagging.NAME) == name)
        return sorted(f"{r['type'].rsplit('/', 1)[1]} {r['name']}" for r in self.resources() if belongs(r))

    def held(self) -> list[str]:
        """What the storage emulator still holds: a container per disk, snapshot or disk restore point
        whose bytes were asked for (``storage=True``)."""
        data = self.fake.arm.data
        return [] if data is None else [c.name for c in data.service.list_containers()]


def azurite_command() -> str:
    """Azurite's blob service: ``CLOUDVM_AZURITE``, else ``azurite-blob`` on the PATH."""
    found = os.environ.get("CLOUDVM_AZURITE") or shutil.which("azurite-blob")
    if not found:
        raise RuntimeError("Azurite is not installed: npm install azurite, then put azurite-blob on the PATH or "
                           "name it in CLOUDVM_AZURITE")
    return found


@contextmanager
def azurite(certificate: trustme.LeafCert, ca_file: str, workdir: Path) -> Iterator[str]:
    """Azurite's blob service over HTTPS (``certificate``) on a free loopback port, keeping its data
    in ``workdir``; yields its URL."""
    cert, key = workdir / "azurite.pem", workdir / "azurite-key.pem"
    certificate.cert_chain_pems[0].write_to_path(str(cert))
    certificate.private_key_pem.write_to_path(str(key))
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    with serving([azurite_command(), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
                  str(workdir / "azurite"), "--cert", str(cert), "--key", str(key), "--skipApiVersionCheck",
                  "--disableTelemetry", "--silent"], f"{url}/{diskdata.ACCOUNT}?comp=list", "Azurite",
                 context=ssl.create_default_context(cafile=ca_file)):
        yield url


@contextmanager
def fake_resource_manager(timing: Timing | None = None, port: int = 0, limits: Limits | None = None,
                          enforce: bool = True, storage: bool = False) -> Iterator[FakeResourceManager]:
    """The fake on https://127.0.0.1 (a free port unless given), with a CA made for this run;
    ``limits`` (``cloudvm_azure_testing.fake.limits.resource_manager()``) adds throttling and latency.
    ``FakeCredential()`` (cloudvm) holds the shipped roles only, unless ``enforce`` is False.
    ``storage`` keeps what disks hold in Azurite, so their access URIs upload and download."""
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        ca_file = str(Path(tmp) / "ca.pem")
        ca.cert_pem.write_to_path(ca_file)
        fake, server, thread = serve(context, timing, port)
        stack.callback(server.server_close)
        stack.callback(server.shutdown)
        if storage:
            fake.arm.data = diskdata.DiskData(stack.enter_context(azurite(certificate, ca_file, Path(tmp))), ca_file)
        fake.limits = limits
        if enforce:
            fake.grants[CLOUDVM_TOKEN] = shipped_operations()
        yield FakeResourceManager(f"https://127.0.0.1:{server.server_address[1]}", ca_file, fake, server, thread)


@pytest.fixture(scope="session")
def arm_fake() -> Iterator[FakeResourceManager]:
    """One fake for the session; fails the run if any answer departed from Azure's specs."""
    with fake_resource_manager() as arm:
        yield arm
        assert arm.violations == [], "the fake sent bodies Azure's specs do not define:\n" + "\n".join(
            arm.violations)
