"""The fault campaign's AWS (``cloudvm_testing.chaos``): moto behind the fault proxy, which holds
it to EC2's rules and injects EC2's faults; what the account holds read past the proxy, as the
harness, in both regions the campaign uses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from cloudvm_aws.groups import tag_dict
from cloudvm_aws.provider import identity
from cloudvm_testing.chaos import Fault

import cloudvm
from cloudvm import tags as tagging
from cloudvm.retry import RetryPolicy
from cloudvm_aws_testing import CREDENTIALS, HARNESS, REGION, FaultProxy, moto_proxy

ELSEWHERE = "us-west-2"
CALLS = ("RunInstances", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "DescribeInstances",
         "DescribeSecurityGroups", "CreateTags", "TerminateInstances", "DeleteSecurityGroup", "StopInstances",
         "StartInstances", "RebootInstances", "CreateSnapshots", "DescribeSnapshots", "DeleteSnapshot", "CopySnapshot",
         "DescribeVolumes", "DescribeImages", "DescribeInstanceTypes", "*")
# moto makes a snapshot for each image registered, and keeps it after; EC2 makes none for an image
# whose block device mappings name snapshots (cloudvm's), so they are not the caller's.
MOTO_AMI_SNAPSHOT = "Auto-created snapshot for AMI"
ALIVE = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped", "shutting-down"]}]


class Aws:
    name, image, region, elsewhere = "aws", "ubuntu-24.04", REGION, ELSEWHERE
    kinds = ("drop", "reset", "error", "throttle", "latency")
    calls = CALLS

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.options: dict[str, Any] | None = {"region": REGION, "endpoint_url": proxy.url}  # credentials: the env
        upstream = f"http://{proxy.upstream.netloc}"
        key, secret = proxy.identities[HARNESS["aws_access_key_id"]]  # moto's own user behind the harness's key
        self.ec2 = {region: boto3.client("ec2", region_name=region, endpoint_url=upstream, aws_access_key_id=key,
                                         aws_secret_access_key=secret) for region in (REGION, ELSEWHERE)}

    def connect(self, retry: RetryPolicy) -> cloudvm.Cloud:
        return cloudvm.connect("aws", region=REGION, endpoint_url=self.proxy.url, retry=retry, timeout=60,
                               poll_interval=0.05, guests=False)

    def inject(self, fault: Fault) -> None:
        self.proxy.inject(fault.call, fault.kind, times=fault.times, delay=0.5)

    def unstruck(self) -> int:
        return sum(f.times for f in self.proxy.faults)

    def clear(self) -> None:
        self.proxy.faults.clear()

    def held(self) -> set[str]:
        found: set[str] = set()
        for region, ec2 in self.ec2.items():
            found |= {f"{region} instance {i['InstanceId']}"
                      for page in _pages(ec2, "describe_instances", Filters=ALIVE)
                      for r in page["Reservations"] for i in r["Instances"]}
            found |= {f"{region} volume {v['VolumeId']}" for page in _pages(ec2, "describe_volumes")
                      for v in page["Volumes"]}
            found |= {f"{region} snapshot {s['SnapshotId']}" for page in _pages(ec2, "describe_snapshots",
                                                                                  OwnerIds=["self"])
                      for s in page["Snapshots"] if not s.get("Description", "").startswith(MOTO_AMI_SNAPSHOT)}
            found |= {f"{region} image {i['ImageId']}" for i in ec2.describe_images(Owners=["self"])["Images"]}
            found |= {f"{region} security group {g['GroupId']}" for page in _pages(ec2, "describe_security_groups")
                      for g in page["SecurityGroups"] if g["GroupName"] != "default"}
            found |= {f"{region} address {a['AllocationId']}" for a in ec2.describe_addresses()["Addresses"]}
        return found

    def vm_names(self) -> list[str]:
        """A counted fleet's instances carry its name and their place in it, not a name each."""
        return [identity(i)[0] for page in _pages(self.ec2[REGION], "describe_instances", Filters=ALIVE)
                for r in page["Reservations"] for i in r["Instances"] if tag_dict(i.get("Tags")).get(tagging.MANAGED)]


def _pages(ec2: Any, method: str, **arguments: Any) -> Iterator[dict[str, Any]]:
    yield from ec2.get_paginator(method).paginate(**arguments)


@contextmanager
def backend() -> Iterator[Aws]:
    os.environ.update(CREDENTIALS)
    with moto_proxy() as proxy:
        yield Aws(proxy)
