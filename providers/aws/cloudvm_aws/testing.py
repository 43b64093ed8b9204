"""Testing against EC2 offline: a moto server on a loopback port, seeded
with AMIs that carry the owners and names the image aliases look for."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3

from cloudvm import tags as tagging
from cloudvm_aws import catalog

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


def seed_amis() -> list[dict[str, object]]:
    """One AMI per alias, named as its publisher names them (moto's own list is old)."""
    amis = []
    for i, (alias, (owner, pattern)) in enumerate(sorted(catalog.IMAGES.items())):
        name = pattern.replace("hvm-ssd*", "hvm-ssd-gp3").replace("*", "20260101")
        amis.append({
            "ami_id": f"ami-{i + 1:08x}c10d0000", "state": "available", "public": True, "owner_id": owner,
            "image_location": f"{owner}/{name}", "root_device_type": "ebs", "root_device_name": "/dev/sda1",
            "description": alias, "image_type": "machine", "platform": None, "architecture": "x86_64",
            "name": name, "virtualization_type": "hvm", "hypervisor": "xen", "sriov": "simple",
        })
    return amis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in its own process; yields its endpoint URL."""
    with tempfile.TemporaryDirectory() as tmp:
        amis = Path(tmp) / "amis.json"
        amis.write_text(json.dumps(seed_amis()))
        port = _free_port()
        env = {**os.environ, **CREDENTIALS, "MOTO_AMIS_PATH": str(amis)}
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("moto server did not start")
            yield url
        finally:
            proc.terminate()
            proc.wait(10)


def leftovers(endpoint_url: str, name: str) -> list[str]:
    """Instances, security groups and volumes still tied to the VM ``name``."""
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint_url,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    named = [{"Name": f"tag:{tagging.NAME}", "Values": [name]}]
    alive = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    found = [f"instance {i['InstanceId']}" for r in ec2.describe_instances(Filters=named + alive)["Reservations"]
             for i in r["Instances"]]
    found += [f"security group {g['GroupId']}" for g in ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"cloudvm-{name}"]}])["SecurityGroups"]]
    found += [f"volume {v['VolumeId']}" for v in ec2.describe_volumes(Filters=named)["Volumes"]]
    return found
