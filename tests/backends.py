"""The cloud test backends, each as an environment file's ``provider`` block, a
way to list what is left of the VMs whose names start with a prefix, and the
spot market's two moves (capacity refused, a VM taken back): one shape for moto
and both fakes, so core features run against all of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

CLOUDS = ("gcp", "aws", "azure")
DR_REGION = {"gcp": "us-east1", "aws": "us-west-2", "azure": "westus"}  # where DR copies go


@dataclass
class Backend:
    name: str
    provider: dict[str, Any]  # `provider:` of an environment file, connect() options included
    leftovers: Callable[[str], list[str]]  # what still exists of VMs named PREFIX...
    location: str  # where `provider` places VMs
    refusing_spot: Callable[[], AbstractContextManager[None]]  # no spot capacity anywhere while entered
    interrupt: Callable[[str], None]  # the spot VM NAME taken back, as its cloud does
    environ: dict[str, str] = field(default_factory=dict)  # credentials a subprocess needs
    server: Any = None


@contextmanager
def _refusing(fault: Any) -> Iterator[None]:
    """While entered, ``fault`` (injected with a count no test reaches) stays armed."""
    try:
        yield
    finally:
        fault.times = 0


@contextmanager
def _gcp() -> Iterator[Backend]:
    from cloudvm_gcp.testing import fake_compute_engine

    with fake_compute_engine() as fake:
        def leftovers(prefix: str) -> list[str]:
            return sorted(f"{r['kind'].split('#')[1]} {r['name']}" for r in fake.resources("envs")
                          if r["name"].startswith(prefix) or r.get("description", "").startswith(f"cloudvm: {prefix}"))

        def refusing() -> AbstractContextManager[None]:
            return _refusing(fake.inject("instances.insert", "operation", times=10**6,
                                         code="ZONE_RESOURCE_POOL_EXHAUSTED", target="SPOT"))
        yield Backend("gcp", {"name": "gcp", "project": "envs", "zone": "us-central1-a", "api_endpoint": fake.url,
                              "guests": False},
                      leftovers, "us-central1-a", refusing, lambda name: fake.preempt(name, project="envs"),
                      server=fake)


@contextmanager
def _aws() -> Iterator[Backend]:
    import boto3
    from cloudvm_aws.testing import CREDENTIALS, REGION, moto_proxy

    with moto_proxy() as proxy:
        url = proxy.url
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                           aws_secret_access_key="testing")

        def leftovers(prefix: str) -> list[str]:
            def name(item: dict[str, Any]) -> str:
                return next((t["Value"] for t in item.get("Tags", []) if t["Key"] == "cloudvm-name"), "")
            alive = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
            found = [f"instance {name(i)}" for r in ec2.describe_instances(Filters=alive)["Reservations"]
                     for i in r["Instances"] if name(i).startswith(prefix)]
            found += [f"security group {g['GroupName']}" for g in ec2.describe_security_groups()["SecurityGroups"]
                      if g["GroupName"].startswith(f"cloudvm-{prefix}")]
            return sorted(found + [f"volume {name(v)}" for v in ec2.describe_volumes()["Volumes"]
                                   if name(v).startswith(prefix)])

        def refusing() -> AbstractContextManager[None]:
            return _refusing(proxy.inject("RunInstances", "error", code="InsufficientInstanceCapacity", status=500,
                                          times=10**6, about="spot"))

        def interrupt(vm: str) -> None:
            found = ec2.describe_instances(Filters=[{"Name": "tag:cloudvm-name", "Values": [vm]}])["Reservations"]
            proxy.interrupt(ec2, found[0]["Instances"][0]["InstanceId"])
        # claim_lease: a killed run's claim lapses soon
        provider = {"name": "aws", "region": REGION, "endpoint_url": url, "claim_lease": 5, "guests": False}
        with pytest.MonkeyPatch.context() as patch:
            for key, value in CREDENTIALS.items():
                patch.setenv(key, value)
            yield Backend("aws", provider, leftovers, REGION, refusing, interrupt, dict(CREDENTIALS))


@contextmanager
def _azure() -> Iterator[Backend]:
    from cloudvm_azure.testing import LOCATION, fake_resource_manager

    with fake_resource_manager() as fake:

        def leftovers(prefix: str) -> list[str]:
            return sorted(f"{r['type'].rsplit('/', 1)[1]} {r['name']}" for r in fake.resources()
                          if r["name"].startswith(prefix))

        def refusing() -> AbstractContextManager[None]:
            return _refusing(fake.inject("PUT", "virtualMachines", "spot", times=10**6))
        options = fake.connect_options(credential="cloudvm_azure.testing:FakeCredential")
        yield Backend("azure", {"name": "azure", **options, "guests": False}, leftovers, LOCATION, refusing,
                      fake.evict, server=fake)
        assert fake.violations == []


BACKENDS: dict[str, Callable[[], Any]] = {"gcp": _gcp, "aws": _aws, "azure": _azure}


def start(name: str) -> Any:
    """The backend's context manager, or a skip when its provider is not installed."""
    pytest.importorskip(f"cloudvm_{name}.testing")
    return BACKENDS[name]()
