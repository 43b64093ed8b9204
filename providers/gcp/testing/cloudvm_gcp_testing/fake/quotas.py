"""Resource quotas as Compute Engine counts them: per region (CPUs of the
instances that run, disk gigabytes by kind, instances, external addresses)
and per project (firewall rules, snapshots, networks, images). Usage is
counted from what exists, so it is never out of step with the resources.
https://cloud.google.com/compute/resource-usage"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from cloudvm_gcp_testing.fake import catalog
from cloudvm_gcp_testing.fake.compute import Compute, relative

_STOPPED = ("TERMINATED", "SUSPENDED")
_SSD = ("pd-ssd", "pd-balanced", "pd-extreme")  # pd-balanced counts as SSD capacity
_PROJECT_COLLECTIONS = {"FIREWALLS": "global/firewalls", "SNAPSHOTS": "global/snapshots",
                        "NETWORKS": "global/networks", "IMAGES": "global/images"}


def _zones(region: str) -> list[str]:
    return catalog.ZONES.get(region, [])


def _in_region(c: Compute, project: str, region: str, kind: str) -> Iterator[dict[str, Any]]:
    for zone in _zones(region):
        yield from c.store.get(f"projects/{project}/zones/{zone}/{kind}", {}).values()


def instance_cpus(instance: dict[str, Any]) -> int:
    return catalog.MACHINE_TYPES[relative(instance["machineType"]).rsplit("/", 1)[1]][0]


def instance_addresses(instance: dict[str, Any]) -> int:
    return sum(len(nic.get("accessConfigs") or []) for nic in instance.get("networkInterfaces") or [])


def disk_metric(disk_type: str) -> str:
    return "SSD_TOTAL_GB" if disk_type.rsplit("/", 1)[-1] in _SSD else "DISKS_TOTAL_GB"


def usage(c: Compute, project: str, metric: str, region: str = "") -> float:
    if not region:
        return float(len(c.store.get(f"projects/{project}/{_PROJECT_COLLECTIONS[metric]}", {})))
    instances = list(_in_region(c, project, region, "instances"))
    running = [i for i in instances if i["status"] not in _STOPPED]
    if metric == "CPUS":
        return float(sum(instance_cpus(i) for i in running))
    if metric == "INSTANCES":
        return float(len(instances))
    if metric == "IN_USE_ADDRESSES":
        return float(sum(instance_addresses(i) for i in running))
    return float(sum(int(d["sizeGb"]) for d in _in_region(c, project, region, "disks")
                     if disk_metric(d["type"]) == metric))


def limit(c: Compute, project: str, metric: str, region: str = "") -> float:
    default = (catalog.REGION_QUOTAS if region else catalog.PROJECT_QUOTAS)[metric]
    return c.quota_limits.get(f"{project}/{region}/{metric}", default)


def listed(c: Compute, project: str, region: str = "") -> list[dict[str, Any]]:
    """The ``quotas`` field of a region or project."""
    metrics = catalog.REGION_QUOTAS if region else catalog.PROJECT_QUOTAS
    return [{"metric": m, "limit": limit(c, project, m, region), "usage": usage(c, project, m, region)}
            for m in metrics]


def exceeded(c: Compute, project: str, wants: Mapping[str, float], region: str = "") -> dict[str, Any] | None:
    """The operation error of a create that needs ``wants`` more of each metric, if it would
    go past a limit: ``QUOTA_EXCEEDED``, HTTP 403, in Compute Engine's words."""
    for metric, more in wants.items():
        cap = limit(c, project, metric, region)
        if more > 0 and usage(c, project, metric, region) + more > cap:
            where = f"in region {region}" if region else "globally"
            return {"code": "QUOTA_EXCEEDED", "message": f"Quota '{metric}' exceeded.  Limit: {cap:.1f} {where}.",
                    "errorDetails": [{"quotaInfo": {"metricName": f"compute.googleapis.com/{metric.lower()}",
                                                    "limitName": f"{metric}-per-project" + ("-region" if region
                                                                                            else ""),
                                                    "limit": cap, "dimensions": {"region": region or "global"}}}],
                    "http": 403, "status": "FORBIDDEN"}
    return None
