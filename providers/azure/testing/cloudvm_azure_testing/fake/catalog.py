"""What a subscription sees before it makes anything: locations, VM sizes
(with the quota family each counts against), marketplace images, and the
core quotas a subscription starts with."""

from __future__ import annotations

# name: (vCPUs, memory MiB, max data disks, quota family)
VM_SIZES = {
    "Standard_B1ls": (1, 512, 2, "standardBSFamily"), "Standard_B1s": (1, 1024, 2, "standardBSFamily"),
    "Standard_B1ms": (1, 2048, 2, "standardBSFamily"), "Standard_B2s": (2, 4096, 4, "standardBSFamily"),
    "Standard_B2ms": (2, 8192, 4, "standardBSFamily"), "Standard_B4ms": (4, 16384, 8, "standardBSFamily"),
    "Standard_D2s_v3": (2, 8192, 4, "standardDSv3Family"), "Standard_D4s_v3": (4, 16384, 8, "standardDSv3Family"),
    "Standard_D2as_v4": (2, 8192, 4, "standardDASv4Family"), "Standard_F2s_v2": (2, 4096, 4, "standardFSv2Family"),
    "Standard_D2_v2": (2, 7168, 8, "standardDv2Family"), "Standard_DS1_v2": (1, 3584, 4, "standardDSv2Family"),
    "Standard_DS2_v2": (2, 7168, 8, "standardDSv2Family"), "Standard_E2s_v3": (2, 16384, 4, "standardESv3Family"),
    "Standard_A1_v2": (1, 2048, 2, "standardAv2Family"), "Standard_D2s_v5": (2, 8192, 4, "standardDSv5Family"),
}
# (publisher, offer, sku) of the marketplace images the fake knows; version -> OS disk GiB
IMAGES = {
    ("Canonical", "ubuntu-24_04-lts", "server"): {"24.04.202611010": 30},
    ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"): {"22.04.202611010": 30},
    ("Canonical", "UbuntuServer", "18.04-LTS"): {"18.04.202306070": 30},
    ("Debian", "debian-12", "12"): {"0.20261105.1800": 30},
    ("Debian", "debian-12", "12-gen2"): {"0.20261105.1800": 30},
    ("Debian", "debian-13", "13"): {"0.20261105.1800": 30},
    ("Debian", "debian-13", "13-gen2"): {"0.20261105.1800": 30},
    ("MicrosoftWindowsServer", "WindowsServer", "2016-Datacenter"): {"14393.5786.230310": 127},
    ("MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition"): {"20348.2700.240905": 127},
    ("resf", "rockylinux-x86_64", "9-base"): {"9.5.20241118": 10},
}
# Images of the first Hyper-V generation (BIOS): no Trusted Launch on them. The others are V2 (UEFI).
GENERATION_1 = frozenset({("Debian", "debian-12", "12"), ("Debian", "debian-13", "13"),
                          ("MicrosoftWindowsServer", "WindowsServer", "2016-Datacenter"),
                          ("resf", "rockylinux-x86_64", "9-base")})
# Marketplace images sold under a plan, which a VM made from them must name.
PLANS = {("resf", "rockylinux-x86_64", "9-base"): {"name": "9-base", "product": "rockylinux-x86_64",
                                                   "publisher": "resf"}}
# name: (display name, geography group, latitude, longitude, paired region)
LOCATIONS = {
    "eastus": ("East US", "US", "37.3719", "-79.8164", "westus"),
    "eastus2": ("East US 2", "US", "36.6681", "-78.3889", "centralus"),
    "westus": ("West US", "US", "37.783", "-122.417", "eastus"),
    "westus2": ("West US 2", "US", "47.233", "-119.852", "westcentralus"),
    "westeurope": ("West Europe", "Europe", "52.3667", "4.9", "northeurope"),
    "northeurope": ("North Europe", "Europe", "53.3478", "-6.2597", "westeurope"),
}
# Cores a subscription may run per location (https://learn.microsoft.com/azure/quotas/per-vm-quota-requests):
# in all and per VM family; FakeResourceManager.set_quota changes them.
REGIONAL_CORES = 350
FAMILY_CORES = 100


def family_name(family: str) -> str:
    """``standardDSv3Family`` -> ``Standard DSv3 Family vCPUs``, as the usages API words it."""
    return f"Standard {family.removeprefix('standard').removesuffix('Family')} Family vCPUs"

# User names Azure refuses for a VM's administrator
# (https://learn.microsoft.com/azure/virtual-machines/linux/faq#what-are-the-username-requirements-when-creating-a-vm-).
RESERVED_ADMIN_NAMES = frozenset({
    "administrator", "admin", "user", "user1", "test", "user2", "test1", "user3", "admin1", "1", "123", "a",
    "actuser", "adm", "admin2", "aspnet", "backup", "console", "david", "guest", "john", "owner", "root", "server",
    "sql", "support", "support_388945a0", "sys", "test2", "test3", "user4", "user5"})
