"""Neutral names onto Compute Engine: image aliases as public image
families, disk tiers as disk types, and which machine types cloudvm can use at
what price, from the offline table apache-libcloud ships."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from typing import Any

# A customer-managed key: a Cloud KMS key's resource name
# (https://cloud.google.com/compute/docs/disks/customer-managed-encryption).
KMS_KEY = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")

# alias: (public image project, image family); the family's newest image wins.
IMAGES: dict[str, tuple[str, str]] = {
    "debian-12": ("debian-cloud", "debian-12"),
    "debian-13": ("debian-cloud", "debian-13"),
    "ubuntu-24.04": ("ubuntu-os-cloud", "ubuntu-2404-lts-amd64"),
    "ubuntu-22.04": ("ubuntu-os-cloud", "ubuntu-2204-lts"),
    "rocky-9": ("rocky-linux-cloud", "rocky-linux-9"),
}
# Public image projects whose images run no cloud-init (Compute Engine's guest environment reads
# ``ssh-keys`` and runs a ``startup-script`` instead): https://cloud.google.com/compute/docs/images/os-details
# and https://cloud.google.com/compute/docs/instances/startup-scripts/linux. Ubuntu, Container-Optimized OS
# and custom images are taken to run it.
NO_CLOUD_INIT = ("debian-cloud", "rocky-linux-cloud", "centos-cloud", "rhel-cloud", "rhel-sap-cloud", "suse-cloud",
                 "suse-sap-cloud", "opensuse-cloud", "almalinux-cloud", "oracle-linux-cloud", "fedora-coreos-cloud",
                 "windows-cloud", "windows-sql-cloud")
BOOT_DISK_TYPE = "pd-balanced"
DISK_TYPES = {"standard": "pd-balanced", "ssd": "pd-ssd"}


def runs_cloud_init(image: str) -> bool:
    """Whether an image (an alias, ``projects/P/...`` or its URL) boots cloud-init."""
    if image in IMAGES:
        return IMAGES[image][0] not in NO_CLOUD_INIT
    path = image.split("/compute/v1/")[-1].lstrip("/").split("/")
    return not (len(path) > 1 and path[0] == "projects" and path[1] in NO_CLOUD_INIT)


@cache
def prices() -> dict[str, Any]:
    """Per machine family: hourly on-demand price of one vCPU and one GiB, per region."""
    table: dict[str, Any] = json.loads((files("libcloud") / "data" / "pricing.json").read_text())
    return dict(table["compute"]["gce_instances"])


def _rate(family: dict[str, Any], part: str, region: str) -> float | None:
    """A family's rate in the region; where the table has none for it, the family's lowest elsewhere
    (families keep their order from region to region, and the table covers only some regions)."""
    rates = (family.get(part) or {}).get("on_demand") or {}
    found = rates.get(region) or min(rates.values(), key=lambda r: r["price"], default=None)
    return float(found["price"]) if found else None


def price(machine_type: dict[str, Any], region: str) -> float:
    """vCPUs and memory at their family's rates; unpriced families rank last."""
    family = prices().get(machine_type["name"].split("-")[0], {})
    cpu, ram = _rate(family, "cpu", region), _rate(family, "ram", region)
    if cpu is None or ram is None:
        return float("inf")
    total = cpu * machine_type["guestCpus"] + ram * machine_type["memoryMb"] / 1024
    return total or float("inf")


# Families that take Hyperdisk only, no Persistent Disk for the pd-balanced boot disk cloudvm gives a VM
# (https://cloud.google.com/compute/docs/disks/persistent-disks#machine-series).
HYPERDISK_ONLY = ("c4", "c4a", "c4d", "n4", "n4a", "n4d", "x4", "m4", "a4", "a4x", "h4d")


def usable(machine_type: dict[str, Any]) -> bool:
    """x86-64 (the public images cloudvm's aliases name are) and able to boot from a pd-balanced disk."""
    return machine_type.get("architecture", "X86_64") == "X86_64" and \
        machine_type["name"].split("-")[0] not in HYPERDISK_ONLY
