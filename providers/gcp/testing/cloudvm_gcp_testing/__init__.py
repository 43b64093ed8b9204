"""Testing against Compute Engine offline: the fake on a loopback port, as a
context manager or a pytest fixture, with fault injection and a check that
nothing named after a VM was left behind.

    with fake_compute_engine() as gce:
        cloud = cloudvm.connect("gcp", project="demo", api_endpoint=gce.url, guests=False)
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudvm_gcp
import pytest
import yaml
from cloudvm_testing.limits import Limits
from cloudvm_testing.processes import free_port, serving

from cloudvm import tags as tagging
from cloudvm_gcp_testing.fake import catalog
from cloudvm_gcp_testing.fake.compute import Timing
from cloudvm_gcp_testing.fake.server import Fake, Fault, Server, serve

PROJECT = "cloudvm-test"
ZONE = "us-central1-a"
# The custom roles users give cloudvm (gcloud iam roles create --file=...); the fake holds callers
# without a token (cloudvm against the fake) to them. The harness and other clients sign with HARNESS.
ROLES = Path(cloudvm_gcp.__file__).resolve().parent / "permissions"  # shipped with the provider
HARNESS = "harness"


def shipped_permissions() -> frozenset[str]:
    """Every permission the shipped roles include."""
    return frozenset(p for path in sorted(ROLES.glob("*.yaml"))
                     for p in yaml.safe_load(path.read_text())["includedPermissions"])
_NOT_OWNED = ("operations", "images", "networks", "subnetworks")


@dataclass
class FakeComputeEngine:
    """A running fake: its URL, its state, and the knobs tests turn."""

    url: str
    fake: Fake
    server: Server
    thread: threading.Thread

    @property
    def timing(self) -> Timing:
        return self.fake.compute.timing

    @property
    def violations(self) -> list[str]:
        """Response bodies that departed from the discovery document's schemas, and requests the fake failed on."""
        return [*self.fake.violations, *(f"the fake failed: {crash}" for crash in self.server.crashes)]

    def inject(self, method: str, kind: str, *, times: int = 1, **details: Any) -> Fault:
        """Make the next ``times`` calls of ``method`` (e.g. ``instances.insert``) fail:
        ``throttle`` (429), ``rate403``, ``unavailable`` (503), ``error`` (status/reason given),
        ``operation`` (the operation ends with error ``code``) or ``drop`` (the work is done,
        the connection closes before the answer). ``target="NAME"``: only calls about that resource."""
        fault = Fault(method, kind, times, **details)
        self.fake.faults.append(fault)
        return fault

    def preempt(self, name: str, zone: str = "us-central1-a", project: str = PROJECT) -> None:
        """Take the Spot VM ``name`` back, as Compute Engine does when it needs the capacity."""
        with self.fake.compute.lock:
            self.fake.compute.settle()
            self.fake.api.preempt(f"projects/{project}/zones/{zone}/instances/{name}")

    def count(self, method: str) -> int:
        return self.fake.calls[method]

    @property
    def exercised(self) -> frozenset[str]:
        """The permissions the calls of callers held to a role have needed so far."""
        return frozenset(self.fake.exercised)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """One plain REST call (``path`` below ``/compute/v1/``): the status and the JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {HARNESS}"}
        call = urllib.request.Request(f"{self.url}/compute/v1/{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(call, timeout=30) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def reset_faults(self) -> None:
        self.fake.faults.clear()

    def set_quota(self, metric: str, limit: float, region: str = "", project: str = PROJECT) -> None:
        """Change a quota: per region (``CPUS``, ``INSTANCES``, ``DISKS_TOTAL_GB``, ``SSD_TOTAL_GB``,
        ``IN_USE_ADDRESSES``) or, without ``region``, per project (``FIREWALLS``, ``SNAPSHOTS``, ...)."""
        known = catalog.REGION_QUOTAS if region else catalog.PROJECT_QUOTAS
        if metric not in known:
            raise ValueError(f"{metric}: not a {'regional' if region else 'project'} quota the fake counts "
                             f"({', '.join(known)})")
        with self.fake.compute.lock:
            self.fake.compute.quota_limits[f"{project}/{region}/{metric}"] = float(limit)

    def reset_quotas(self) -> None:
        with self.fake.compute.lock:
            self.fake.compute.quota_limits.clear()

    @contextmanager
    def patch_clients(self) -> Iterator[None]:
        """Point every ``google.cloud.compute_v1`` client made inside the block at this fake, with
        the harness's token (not held to cloudvm's roles), so code written for the real service
        (``InstancesClient()`` with no arguments, as Google's samples write it) runs unchanged."""
        from google.cloud import compute_v1
        from google.oauth2.credentials import Credentials

        def pointed(init: Any) -> Any:
            def __init__(client: Any, *args: Any, **kwargs: Any) -> None:
                kwargs.setdefault("credentials", Credentials(token=HARNESS))  # type: ignore[no-untyped-call]
                kwargs.setdefault("client_options", {"api_endpoint": self.url})
                init(client, *args, **kwargs)
            return __init__

        classes = [getattr(compute_v1, name) for name in compute_v1.__all__ if name.endswith("Client")]
        originals = {cls: cls.__init__ for cls in classes}
        try:
            for cls, init in originals.items():
                cls.__init__ = pointed(init)
            yield
        finally:
            for cls, init in originals.items():
                cls.__init__ = init

    def add_network(self, name: str, subnets: dict[str, str], project: str = PROJECT) -> None:
        with self.fake.compute.lock:
            self.fake.compute.project(project)
            self.fake.compute.add_network(project, name, subnets)

    def resources(self, project: str = PROJECT) -> list[dict[str, Any]]:
        """Everything users could have made in ``project`` (not images, networks or operations)."""
        compute = self.fake.compute
        with compute.lock:
            compute.settle()
            return [r for collection, items in compute.store.items()
                    if collection.startswith(f"projects/{project}/") and collection.rsplit("/", 1)[1] not in _NOT_OWNED
                    for r in items.values()]

    def leftovers(self, name: str, project: str = PROJECT) -> list[str]:
        """Resources still there for the VM or snapshot ``name`` (named so, labelled so), and firewall rules
        no instance of the project needs any more (the rules VMs share outlive none of them)."""
        found = self.resources(project)
        held = {t for r in found if r["kind"] == "compute#instance" for t in r["tags"].get("items") or []}

        def belongs(r: dict[str, Any]) -> bool:
            unheld = r["kind"] == "compute#firewall" and not set(r.get("targetTags") or []) & held
            return bool(r["name"] == name or (r.get("labels") or {}).get(tagging.NAME) == name or unheld)
        return sorted(f"{r['kind'].split('#')[1]} {r['name']}" for r in found if belongs(r))


@contextmanager
def fake_compute_engine(timing: Timing | None = None, port: int = 0, limits: Limits | None = None,
                        enforce: bool = True, storage: str | None = None) -> Iterator[FakeComputeEngine]:
    """A fake Compute Engine on 127.0.0.1 (a free port unless given), stopped on exit;
    ``limits`` (``cloudvm_gcp_testing.fake.limits.compute_engine()``) adds quotas and latency. Callers without
    a token (cloudvm) hold the shipped roles' permissions only, unless ``enforce`` is False. Images
    are made from archives in the Cloud Storage emulator at ``storage`` (``cloud_storage()``)."""
    fake = Fake.create(timing)
    fake.compute.storage_url = storage
    fake.limits = limits
    fake.anonymous = shipped_permissions() if enforce else None
    server, thread = serve(fake, port)
    try:
        yield FakeComputeEngine(f"http://127.0.0.1:{server.server_address[1]}", fake, server, thread)
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def cloud_storage(bucket: str = "cloudvm-staging") -> Iterator[str]:
    """The Cloud Storage emulator (gcp-storage-emulator) on a free loopback port, in memory, with
    ``bucket`` made; yields its URL (``connect("gcp", storage_endpoint=URL, staging_bucket=bucket)``)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving([sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port", str(port),
                  "--in-memory", "--default-bucket", bucket, "--quiet"], f"{url}/storage/v1/b/{bucket}",
                 "the Cloud Storage emulator"):
        yield url


@pytest.fixture(scope="session")
def gce_fake() -> Iterator[FakeComputeEngine]:
    """One fake for the session; fails the run if any answer departed from the API's schema."""
    with fake_compute_engine() as gce:
        yield gce
        assert gce.violations == [], "the fake sent bodies the API does not define:\n" + "\n".join(gce.violations)
