"""Neutral names onto EC2: image aliases as owner + name pattern, and the
cheapest current-generation x86_64 type for a shape, priced from the offline
table apache-libcloud ships."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from typing import Any

# How EBS names a KMS key: key id, key ARN, alias name or alias ARN
# (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EbsBlockDevice.html, KmsKeyId).
KMS_KEY = re.compile(r"^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/)?(?:[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}"
                     r"|mrk-[0-9a-f]{32})$|^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:)?alias/[A-Za-z0-9/_-]{1,250}$")

# (owner account, AMI name pattern); the newest match wins.
IMAGES: dict[str, tuple[str, str]] = {
    "ubuntu-24.04": ("099720109477", "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-amd64-server-*"),
    "ubuntu-22.04": ("099720109477", "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*"),
    "debian-12": ("136693071363", "debian-12-amd64-*"),
    "debian-13": ("136693071363", "debian-13-amd64-*"),
    "amazon-linux-2023": ("137112412989", "al2023-ami-2023.*-x86_64"),
}


@cache
def prices() -> dict[str, dict[str, float]]:
    """Hourly Linux on-demand price per type and region."""
    data = json.loads((files("libcloud") / "data" / "pricing.json").read_text())
    table: dict[str, dict[str, float]] = data["compute"]["ec2_linux"]
    return table


def cheapest(types: list[dict[str, Any]], region: str, cpus: int, memory_gib: float) -> dict[str, Any] | None:
    """The cheapest type with at least ``cpus`` and ``memory_gib``; unpriced
    types rank after priced ones, then by size."""
    def fits(t: dict[str, Any]) -> bool:
        return bool(t["VCpuInfo"]["DefaultVCpus"] >= cpus and t["MemoryInfo"]["SizeInMiB"] >= memory_gib * 1024)

    def rank(t: dict[str, Any]) -> tuple[float, int, int, str]:
        price = prices().get(t["InstanceType"], {}).get(region) or float("inf")
        return price, t["VCpuInfo"]["DefaultVCpus"], t["MemoryInfo"]["SizeInMiB"], t["InstanceType"]

    return min(filter(fits, types), key=rank, default=None)
