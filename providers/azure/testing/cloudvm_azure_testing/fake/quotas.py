"""vCPU quotas as Azure counts them: per location, in all and per VM family;
a VM holds its cores until it is deallocated. A create or start that would
go past a limit is refused at once, 409 OperationNotAllowed, in the Compute
resource provider's words (https://learn.microsoft.com/azure/quotas/per-vm-quota-requests)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from cloudvm_azure_testing.fake.arm import Arm, ArmError
from cloudvm_azure_testing.fake.catalog import FAMILY_CORES, REGIONAL_CORES, VM_SIZES, family_name

TOTAL = "cores"
_FREE = ("deallocated", "deallocating")


def limit(arm: Arm, subscription: str, location: str, name: str) -> int:
    default = REGIONAL_CORES if name == TOTAL else FAMILY_CORES
    return arm.quotas.get(f"{subscription}/{location}/{name}".lower(), default)


def _vms(arm: Arm, subscription: str, location: str) -> list[dict[str, Any]]:
    prefix = f"/subscriptions/{subscription}/".lower()
    return [r for key, r in arm.resources.items() if key.startswith(prefix)
            and r["type"] == "Microsoft.Compute/virtualMachines" and r.get("location") == location]


def in_use(arm: Arm, subscription: str, location: str, but: str = "") -> Counter[str]:
    """Cores held per family and in all (``cores``), leaving out the VM ``but``."""
    held: Counter[str] = Counter()
    for vm in _vms(arm, subscription, location):
        size = VM_SIZES.get(vm["properties"].get("hardwareProfile", {}).get("vmSize", ""))
        if size and vm["id"].lower() != but.lower() and arm.power.get(vm["id"].lower()) not in _FREE:
            held[size[3]] += size[0]
            held[TOTAL] += size[0]
    return held


def check(arm: Arm, subscription: str, location: str, size: str, but: str = "") -> None:
    """Refuse a VM of ``size`` that would go past the location's family or total cores."""
    cores, _, _, family = VM_SIZES[size]
    held = in_use(arm, subscription, location, but)
    for name, label in ((family, f"{family} Cores"), (TOTAL, "Total Regional Cores")):
        cap = limit(arm, subscription, location, name)
        if held[name] + cores > cap:
            raise ArmError(409, "OperationNotAllowed", (
                f"Operation could not be completed as it results in exceeding approved {label} quota. Additional "
                f"details - Deployment Model: Resource Manager, Location: {location}, Current Limit: {cap}, "
                f"Current Usage: {held[name]}, Additional Required: {cores}, (Minimum) New Limit Required: "
                f"{held[name] + cores}. Submit a request for Quota increase at https://aka.ms/ProdportalCRP by "
                "specifying parameters listed in the 'Details' section for deployment to succeed. Please read more "
                "about quota limits at https://docs.microsoft.com/en-us/azure/azure-supportability/"
                "per-vm-quota-requests"))


def usages(arm: Arm, subscription: str, location: str) -> list[dict[str, Any]]:
    """The usages API: total cores, each family's cores and the VM count."""
    held = in_use(arm, subscription, location)
    families = sorted({size[3] for size in VM_SIZES.values()})
    entry = [(TOTAL, "Total Regional vCPUs", held[TOTAL], limit(arm, subscription, location, TOTAL)),
             *((f, family_name(f), held[f], limit(arm, subscription, location, f)) for f in families),
             ("virtualMachines", "Virtual Machines", len(_vms(arm, subscription, location)), 25000)]
    return [{"unit": "Count", "currentValue": used, "limit": cap, "name": {"value": name, "localizedValue": label}}
            for name, label, used, cap in entry]
