"""What is measured: N VMs created until all run, then deleted, written the
way each contender's users write it. ``scale`` shrinks every client-side
sleep (poll intervals, waiter delays) as the simulated limits shrink the
server's, so the comparison holds in simulated time."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

REGION = "us-east-1"
TYPE = "t3.micro"


def cloudvm_batch(url: str, n: int, ami: str, scale: float) -> None:
    """cloudvm: one create_many for the counted fleet (waits for all at once), one delete."""
    import cloudvm

    with cloudvm.connect("aws", region=REGION, endpoint_url=url, poll_interval=1.0 * scale, timeout=3600) as cloud:
        spec = cloudvm.VMSpec(name="bench-cv", size=cloudvm.Size(instance_type=TYPE), image=ami)
        cloud.delete(cloud.create_many(spec, count=n))


def cloudvm_named(url: str, n: int, ami: str, scale: float) -> None:
    """cloudvm with a name of the user's choosing for each VM: one create_many, one delete."""
    import cloudvm

    with cloudvm.connect("aws", region=REGION, endpoint_url=url, poll_interval=1.0 * scale, timeout=3600) as cloud:
        specs = [cloudvm.VMSpec(name=f"bench-{name}", size=cloudvm.Size(instance_type=TYPE), image=ami)
                 for name in _names(n)]
        cloud.delete(cloud.create_many(specs))


def _names(n: int) -> list[str]:
    """Names that are not a numbered run (which cloudvm would launch as a counted fleet)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [f"{letters[i % 26]}{letters[i // 26 % 26]}{letters[i // 676]}" for i in range(n)]


def boto3_loop(url: str, n: int, ami: str, scale: float) -> None:
    """The script people write: run_instances, a waiter and terminate_instances per VM."""
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url)
    ids = []
    for i in range(n):
        reply = ec2.run_instances(ImageId=ami, InstanceType=TYPE, MinCount=1, MaxCount=1, TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": f"bench-b3-{i}"}]}])
        ids.append(reply["Instances"][0]["InstanceId"])
    waiter = ec2.get_waiter("instance_running")
    for instance in ids:
        waiter.wait(InstanceIds=[instance], WaiterConfig={"Delay": 15 * scale, "MaxAttempts": 400})
    for instance in ids:
        ec2.terminate_instances(InstanceIds=[instance])
    gone = ec2.get_waiter("instance_terminated")
    for instance in ids:
        gone.wait(InstanceIds=[instance], WaiterConfig={"Delay": 15 * scale, "MaxAttempts": 400})


def libcloud_ec2(url: str, n: int, ami: str, scale: float) -> None:
    """Apache Libcloud's EC2 driver: create_node per VM, wait_until_running, destroy_node per VM."""
    from libcloud.compute.base import NodeImage, NodeSize
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider

    parts = urllib.parse.urlsplit(url)
    driver = get_driver(Provider.EC2)("testing", "testing", region=REGION, host=parts.hostname, port=parts.port,
                                      secure=False, signature_version="4")
    image = NodeImage(id=ami, name=None, driver=driver)
    size = NodeSize(id=TYPE, name=TYPE, ram=1024, disk=8, bandwidth=None, price=None, driver=driver)
    nodes = [driver.create_node(name=f"bench-lc-{i}", image=image, size=size) for i in range(n)]
    driver.wait_until_running(nodes, wait_period=max(3 * scale, 0.01), timeout=3600, ssh_interface="private_ips")
    for node in nodes:
        driver.destroy_node(node)


def cloudvm_elsewhere(provider: str, options: dict[str, object], n: int, scale: float) -> None:
    """cloudvm on the GCP and Azure fakes: the same two calls as on AWS."""
    import cloudvm

    with cloudvm.connect(provider, poll_interval=1.0 * scale, timeout=3600, **options) as cloud:
        spec = cloudvm.VMSpec(name="bench-cv", size=cloudvm.Size(cpus=2, memory_gib=4), image="debian-12")
        cloud.delete(cloud.create_many(spec, count=n))


CONTENDERS: dict[str, Callable[[str, int, str, float], None]] = {
    "cloudvm": cloudvm_batch, "cloudvm named": cloudvm_named, "boto3 loop": boto3_loop, "libcloud": libcloud_ec2}
