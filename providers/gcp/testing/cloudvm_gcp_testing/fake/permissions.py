"""IAM on the fake: each served method needs the permissions Compute Engine documents for it
(https://cloud.google.com/compute/docs/access/iam-permissions, and "Required permissions" on each
method's reference page), some only for what the request body asks (metadata, labels, an external
address, a source image). A caller holds a set of permissions; a call it is not granted answers
403 ``forbidden`` naming the first missing permission and the resource, as Compute Engine does.
"""

from __future__ import annotations

from typing import Any

from cloudvm_gcp_testing.fake.compute import ApiError

_READS = {f"{kind}.{verb}": [f"compute.{kind}.{'list' if verb == 'aggregatedList' else verb}"]
          for kind in ("regions", "zones", "machineTypes", "diskTypes", "images", "networks", "subnetworks",
                       "firewalls", "instances", "disks", "snapshots", "machineImages")
          for verb in ("get", "list", "aggregatedList")}
REQUIRED: dict[str, list[str]] = {
    **_READS,
    "projects.get": ["compute.projects.get"],
    "images.getFromFamily": ["compute.images.getFromFamily"],
    "images.insert": ["compute.images.create"],  # and storage.objects.get on the archive's bucket
    "images.delete": ["compute.images.delete"],
    "firewalls.insert": ["compute.firewalls.create", "compute.networks.updatePolicy"],
    "firewalls.patch": ["compute.firewalls.update", "compute.networks.updatePolicy"],
    "firewalls.update": ["compute.firewalls.update", "compute.networks.updatePolicy"],
    "firewalls.delete": ["compute.firewalls.delete", "compute.networks.updatePolicy"],
    "instances.insert": ["compute.instances.create"],
    "instances.delete": ["compute.instances.delete"],
    "instances.start": ["compute.instances.start"],
    "instances.stop": ["compute.instances.stop"],
    "instances.reset": ["compute.instances.reset"],
    "instances.attachDisk": ["compute.instances.attachDisk", "compute.disks.use"],
    "instances.detachDisk": ["compute.instances.detachDisk"],
    "instances.setLabels": ["compute.instances.setLabels"],
    "instances.setMetadata": ["compute.instances.setMetadata"],
    "instances.setTags": ["compute.instances.setTags"],
    "instances.getSerialPortOutput": ["compute.instances.getSerialPortOutput"],
    "instances.getGuestAttributes": ["compute.instances.getGuestAttributes"],
    "disks.insert": ["compute.disks.create"],
    "disks.delete": ["compute.disks.delete"],
    "disks.createSnapshot": ["compute.disks.createSnapshot", "compute.snapshots.create"],
    "disks.setLabels": ["compute.disks.setLabels"],
    "snapshots.insert": ["compute.snapshots.create", "compute.disks.createSnapshot"],
    "snapshots.delete": ["compute.snapshots.delete"],
    "snapshots.setLabels": ["compute.snapshots.setLabels"],
    # https://cloud.google.com/compute/docs/reference/rest/v1/machineImages/insert
    "machineImages.insert": ["compute.machineImages.create", "compute.instances.useReadOnly",
                             "compute.disks.useReadOnly"],
    "machineImages.delete": ["compute.machineImages.delete"],
    "machineImages.setLabels": ["compute.machineImages.setLabels"],
    "zoneOperations.get": ["compute.zoneOperations.get"],
    "zoneOperations.wait": ["compute.zoneOperations.get"],
    "zoneOperations.list": ["compute.zoneOperations.list"],
    "regionOperations.get": ["compute.regionOperations.get"],
    "regionOperations.wait": ["compute.regionOperations.get"],
    "regionOperations.list": ["compute.regionOperations.list"],
    "globalOperations.get": ["compute.globalOperations.get"],
    "globalOperations.wait": ["compute.globalOperations.get"],
    "globalOperations.list": ["compute.globalOperations.list"],
}


def _new_disk(params: dict[str, Any]) -> list[str]:
    """What making a disk from these fields needs beyond ``compute.disks.create``."""
    return [*(["compute.images.useReadOnly"] if params.get("sourceImage") else []),
            *(["compute.snapshots.useReadOnly"] if params.get("sourceSnapshot") else []),
            *(["compute.machineImages.useReadOnly"] if params.get("sourceMachineImage") else []),
            *(["compute.disks.setLabels"] if params.get("labels") else [])]


def _insert(body: dict[str, Any]) -> list[str]:
    """What ``instances.insert`` needs for what its body asks."""
    needs = [*(["compute.instances.setMetadata"] if (body.get("metadata") or {}).get("items") else []),
             *(["compute.instances.setLabels"] if body.get("labels") else []),
             *(["compute.instances.setTags"] if (body.get("tags") or {}).get("items") else []),
             *(["compute.instances.setServiceAccount", "iam.serviceAccounts.actAs"]
               if body.get("serviceAccounts") else [])]
    for nic in body.get("networkInterfaces") or []:
        needs += ["compute.subnetworks.use", *(["compute.subnetworks.useExternalIp"] if nic.get("accessConfigs")
                                               else [])]
    for disk in body.get("disks") or []:
        if disk.get("source"):
            needs.append("compute.disks.use")
        else:
            needs += ["compute.disks.create", *_new_disk(disk.get("initializeParams") or {})]
    return needs


def required(method_id: str, body: Any) -> list[str]:
    """Every permission a call of ``method_id`` with ``body`` needs."""
    needs = list(REQUIRED.get(method_id, []))
    if isinstance(body, dict) and method_id == "instances.insert":
        needs += _insert(body)
    elif isinstance(body, dict) and method_id == "disks.insert":
        needs += _new_disk(body)
    return list(dict.fromkeys(needs))


def check(granted: frozenset[str] | None, method_id: str, body: Any, resource: str) -> None:
    """Raise 403 for the first permission ``granted`` lacks (None: the caller may do anything)."""
    if granted is None:
        return
    missing = [p for p in required(method_id, body) if p not in granted]
    if missing:
        raise ApiError(403, "forbidden", f"Required '{missing[0]}' permission for '{resource}'")
