"""Neutral names onto Azure: image aliases as marketplace URNs, disk tiers as
managed disk SKUs, and VM sizes' prices, from the offline table apache-libcloud ships."""

from __future__ import annotations

import json
import math
import re
from functools import cache
from importlib.resources import files
from typing import Any

IMAGES = {
    "ubuntu-24.04": "Canonical:ubuntu-24_04-lts:server:latest",
    "ubuntu-22.04": "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest",
    "debian-12": "Debian:debian-12:12-gen2:latest",  # generation 2 (UEFI): Trusted Launch
    "debian-13": "Debian:debian-13:13-gen2:latest",
    "rocky-9": "resf:rockylinux-x86_64:9-base:latest",  # sold under a plan (free), named in the VM
}
OS_DISK_SKU = "StandardSSD_LRS"
# User names Azure refuses for a VM's administrator
# (https://learn.microsoft.com/azure/virtual-machines/linux/faq#what-are-the-username-requirements-when-creating-a-vm-).
RESERVED_USERS = frozenset({
    "administrator", "admin", "user", "user1", "test", "user2", "test1", "user3", "admin1", "1", "123", "a",
    "actuser", "adm", "admin2", "aspnet", "backup", "console", "david", "guest", "john", "owner", "root", "server",
    "sql", "support", "support_388945a0", "sys", "test2", "test3", "user4", "user5"})
# Trusted Launch (Secure Boot, a virtual TPM) for every image of the second generation:
# https://learn.microsoft.com/azure/virtual-machines/trusted-launch
TRUSTED_LAUNCH = {"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}
# Customer-managed keys reach managed disks through a disk encryption set
# (https://learn.microsoft.com/azure/virtual-machines/disk-encryption).
ENCRYPTION_SET = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/"
                            r"diskEncryptionSets/[^/]+$", re.IGNORECASE)
CUSTOM_DATA_CHARACTERS = 87380  # 64 KiB once decoded, as osProfile.customData takes it
DISK_SKUS = {"standard": "StandardSSD_LRS", "ssd": "Premium_LRS"}


@cache
def prices() -> dict[str, dict[str, float]]:
    """Hourly Linux price per size (``standardb2s``) and location."""
    table: dict[str, Any] = json.loads((files("libcloud") / "data" / "pricing.json").read_text())
    return dict(table["compute"]["azure_linux"])


def price(size: str, location: str) -> float:
    """Linux pay-as-you-go dollars an hour; ``inf`` where the table has none."""
    return prices().get(size.lower().replace("_", ""), {}).get(location) or math.inf
