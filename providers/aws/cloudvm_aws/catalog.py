"""Neutral names onto EC2: image aliases as owner + name pattern, and the
prices of instance types, from the offline table apache-libcloud ships."""

from __future__ import annotations

import json
import math
import re
from functools import cache
from importlib.resources import files

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


def price(instance_type: str, region: str) -> float:
    """On-demand Linux dollars an hour; ``inf`` where the table has none."""
    return prices().get(instance_type, {}).get(region) or math.inf
