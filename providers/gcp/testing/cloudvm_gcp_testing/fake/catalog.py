"""What the fake Compute Engine knows before anyone creates anything: zones,
machine types, public images and the default network, shaped like Google's."""

from __future__ import annotations

ZONES = {
    "us-central1": ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"],
    "us-east1": ["us-east1-b", "us-east1-c", "us-east1-d"],
    "us-west1": ["us-west1-a", "us-west1-b", "us-west1-c"],
    "europe-west1": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
}
# Each region's default subnetwork, as auto-mode VPC networks assign them.
SUBNETS = {"us-central1": "10.128.0.0/20", "us-east1": "10.142.0.0/20", "us-west1": "10.138.0.0/20",
           "europe-west1": "10.132.0.0/20"}
# name: (vCPUs, memory MiB, shared core)
MACHINE_TYPES = {
    "e2-micro": (2, 1024, True), "e2-small": (2, 2048, True), "e2-medium": (2, 4096, True),
    "e2-standard-2": (2, 8192, False), "e2-standard-4": (4, 16384, False), "e2-standard-8": (8, 32768, False),
    "e2-highcpu-2": (2, 2048, False), "e2-highcpu-4": (4, 4096, False), "e2-highmem-2": (2, 16384, False),
    "n1-standard-1": (1, 3840, False), "n1-standard-2": (2, 7680, False), "n1-standard-4": (4, 15360, False),
    "n2-standard-2": (2, 8192, False), "n2-standard-4": (4, 16384, False), "n2-highcpu-2": (2, 2048, False),
    "c2-standard-4": (4, 16384, False), "f1-micro": (1, 614, True), "g1-small": (1, 1740, True),
    "t2a-standard-1": (1, 4096, False), "c4a-standard-1": (1, 4096, False), "n4-standard-2": (2, 8192, False),
    "c4-standard-2": (2, 7680, False),
}
# Families of Arm (Ampere, Axion) machines, and of those that take Hyperdisk only, no Persistent Disk
# (https://cloud.google.com/compute/docs/disks/persistent-disks#machine-series).
ARM_FAMILIES = ("t2a", "c4a")
HYPERDISK_ONLY = ("c4", "c4a", "n4")
# project: [(image name, family, size GiB, deprecated)]; the newest undeprecated image leads its family.
IMAGES = {
    "debian-cloud": [("debian-12-bookworm-v20261020", "debian-12", 10, True),
                     ("debian-12-bookworm-v20261105", "debian-12", 10, False),
                     ("debian-12-bookworm-arm64-v20261105", "debian-12-arm64", 10, False),
                     ("debian-13-trixie-v20261105", "debian-13", 10, False)],
    "ubuntu-os-cloud": [("ubuntu-2404-noble-amd64-v20261101", "ubuntu-2404-lts-amd64", 10, False),
                        ("ubuntu-2204-jammy-v20261101", "ubuntu-2204-lts", 10, False)],
    "rocky-linux-cloud": [("rocky-linux-9-v20261030", "rocky-linux-9", 20, False)],
    "centos-cloud": [("centos-7-v20240611", "centos-7", 20, False)],
}
# Images that boot by BIOS only: no UEFI_COMPATIBLE feature, so no Shielded VM on them.
BIOS_ONLY = frozenset({"centos-7-v20240611"})
# The image projects whose images boot cloud-init; the others' guest environment runs a startup-script.
CLOUD_INIT_PROJECTS = ("ubuntu-os-cloud",)
# name: (description, valid sizes, default GB)
DISK_TYPE_INFO = {
    "pd-standard": ("Standard Persistent Disk", "10GB-65536GB", 500),
    "pd-balanced": ("Balanced Persistent Disk", "10GB-65536GB", 100),
    "pd-ssd": ("SSD Persistent Disk", "10GB-65536GB", 100),
    "pd-extreme": ("Extreme Persistent Disk", "500GB-65536GB", 1000),
    "hyperdisk-balanced": ("Hyperdisk Balanced", "4GB-65536GB", 100),
}
DISK_TYPES = tuple(DISK_TYPE_INFO)
# What a new project may use, as regions.get / projects.get report it (limits a paid project starts with);
# FakeComputeEngine.set_quota changes them. A create that would go past a limit fails with QUOTA_EXCEEDED.
REGION_QUOTAS = {"CPUS": 96.0, "DISKS_TOTAL_GB": 4096.0, "SSD_TOTAL_GB": 2048.0, "INSTANCES": 960.0,
                 "IN_USE_ADDRESSES": 24.0}
PROJECT_QUOTAS = {"FIREWALLS": 200.0, "SNAPSHOTS": 5000.0, "NETWORKS": 15.0, "IMAGES": 2000.0}


def architecture(name: str) -> str:
    """A machine type's or image's architecture, as the API spells it."""
    return "ARM64" if "arm64" in name or name.split("-")[0] in ARM_FAMILIES else "X86_64"
