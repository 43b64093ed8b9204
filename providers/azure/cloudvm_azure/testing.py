"""Testing against Azure offline: the Resource Manager fake on a loopback
HTTPS port (a throwaway CA from trustme), a credential it accepts, fault
injection, and a check that nothing of a VM was left behind.

    with fake_resource_manager() as arm:
        cloud = cloudvm.connect("azure", **arm.connect_options())
"""

from __future__ import annotations

import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from azure.core.credentials import AccessToken

from cloudvm import tags as tagging
from cloudvm.testing.limits import Limits
from cloudvm_azure.fake.arm import Timing
from cloudvm_azure.fake.server import Fake, Fault, Server, serve

SUBSCRIPTION = "00000000-0000-0000-0000-0000000c10d0"
RESOURCE_GROUP = "cloudvm-test"
LOCATION = "eastus"


class FakeCredential:
    """A token credential the fake accepts (it checks no signature)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("cloudvm-fake-token", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo("cloudvm-fake-token", int(time.time()) + 3600)


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
        the connection closes before the answer) or ``allocation`` (the operation ends AllocationFailed)."""
        made = Fault(method, kind, fault, times, **details)
        self.fake.faults.append(made)
        return made

    def count(self, call: str) -> int:
        return self.fake.calls[call]

    def reset_faults(self) -> None:
        self.fake.faults.clear()

    def resources(self) -> list[dict[str, Any]]:
        with self.fake.arm.lock:
            self.fake.arm.settle()
            return list(self.fake.arm.resources.values())

    def leftovers(self, name: str) -> list[str]:
        """Resources of the VM or snapshot ``name``: named after it or tagged with it."""
        def belongs(r: dict[str, Any]) -> bool:
            return bool(r["name"] == name or (r["name"].startswith(f"{name}-")
                        and (r.get("tags") or {}).get(tagging.NAME) in (None, name))
                        or (r.get("tags") or {}).get(tagging.NAME) == name)
        return sorted(f"{r['type'].rsplit('/', 1)[1]} {r['name']}" for r in self.resources() if belongs(r))


@contextmanager
def fake_resource_manager(timing: Timing | None = None, port: int = 0,
                          limits: Limits | None = None) -> Iterator[FakeResourceManager]:
    """The fake on https://127.0.0.1 (a free port unless given), with a CA made for this run;
    ``limits`` (``cloudvm_azure.fake.limits.resource_manager()``) adds throttling and latency."""
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    with tempfile.TemporaryDirectory() as tmp:
        ca_file = str(Path(tmp) / "ca.pem")
        ca.cert_pem.write_to_path(ca_file)
        fake, server, thread = serve(context, timing, port)
        fake.limits = limits
        try:
            yield FakeResourceManager(f"https://127.0.0.1:{server.server_address[1]}", ca_file, fake, server, thread)
        finally:
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="session")
def arm_fake() -> Iterator[FakeResourceManager]:
    """One fake for the session; fails the run if any answer departed from Azure's specs."""
    with fake_resource_manager() as arm:
        yield arm
        assert arm.violations == [], "the fake sent bodies Azure's specs do not define:\n" + "\n".join(
            arm.violations)
