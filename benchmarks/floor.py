"""The physical floor: the least time any client could take for N VMs under
each backend's simulated limits, in simulated seconds. It assumes the best
possible client: as few calls as the API allows, sent in parallel, limited
only by latency, boot time and the documented buckets and windows."""

from __future__ import annotations

import math

from cloudvm_aws_testing import simulated as ec2
from cloudvm_azure_testing.fake import limits as arm
from cloudvm_gcp_testing.fake import limits as gce

RUN_BURST, RUN_RATE = ec2.RESOURCE_BUCKETS["RunInstances"]
TERM_BURST, TERM_RATE = ec2.RESOURCE_BUCKETS["TerminateInstances"]
WRITE_BURST, WRITE_RATE = arm.BUCKETS["write"]
DELETE_BURST, DELETE_RATE = arm.BUCKETS["delete"]

FORMULAS = {
    "aws": f"RunInstances {ec2.LATENCY['RunInstances']:g} s + boot {ec2.BOOT:g} s + DescribeInstances "
           f"{ec2.DEFAULT_LATENCY:g} s + TerminateInstances {ec2.LATENCY['TerminateInstances']:g} s + "
           f"DescribeInstances {ec2.DEFAULT_LATENCY:g} s + max(0, N - {RUN_BURST}) / {RUN_RATE} s (instances "
           f"bucket of RunInstances: one call can launch them all) + max(0, N - {TERM_BURST}) / {TERM_RATE} s",
    "gcp": f"insert {gce.LATENCY['insert']:g} s + boot {gce.BOOT:g} s + list {gce.DEFAULT_LATENCY:g} s + delete "
           f"{gce.LATENCY['delete']:g} s + list {gce.DEFAULT_LATENCY:g} s + 60 s for every further "
           f"{gce.PER_MINUTE} writes (N inserts, then N deletes, sent in parallel)",
    "azure": f"2 PUTs (NIC, VM) {2 * arm.LATENCY['PUT']:g} s + boot {arm.BOOT:g} s + GET {arm.DEFAULT_LATENCY:g} s "
             f"+ DELETE {arm.LATENCY['DELETE']:g} s + GET {arm.DEFAULT_LATENCY:g} s + max(0, 2N - {WRITE_BURST}) "
             f"/ {WRITE_RATE} s (write bucket) + max(0, N - {DELETE_BURST}) / {DELETE_RATE} s (delete bucket)",
}


def floor(backend: str, n: int) -> float:
    if backend == "aws":
        return (ec2.LATENCY["RunInstances"] + ec2.BOOT + ec2.DEFAULT_LATENCY + ec2.LATENCY["TerminateInstances"]
                + ec2.DEFAULT_LATENCY + max(0, n - RUN_BURST) / RUN_RATE + max(0, n - TERM_BURST) / TERM_RATE)
    if backend == "gcp":
        windows = math.ceil(2 * n / gce.PER_MINUTE) - 1
        return gce.LATENCY["insert"] + gce.BOOT + 2 * gce.DEFAULT_LATENCY + gce.LATENCY["delete"] + 60 * windows
    return (2 * arm.LATENCY["PUT"] + arm.BOOT + 2 * arm.DEFAULT_LATENCY + arm.LATENCY["DELETE"]
            + max(0, 2 * n - WRITE_BURST) / WRITE_RATE + max(0, n - DELETE_BURST) / DELETE_RATE)
