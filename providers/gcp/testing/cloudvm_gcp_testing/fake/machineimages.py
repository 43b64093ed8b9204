"""Machine images: every disk of an instance captured at one instant, crash-consistent across
disks (https://cloud.google.com/compute/docs/machine-images), with the instance's properties;
global resources stored in one region or multi-region, CREATING -> UPLOADING -> READY. A disk is
made back from one of its disks by device name (``disks.insert`` with ``sourceMachineImage`` and
``sourceMachineImageDiskDeviceName``)."""

from __future__ import annotations

import copy
from typing import Any

from cloudvm_gcp_testing.fake import catalog
from cloudvm_gcp_testing.fake.api import Api, Params, Query, _region
from cloudvm_gcp_testing.fake.compute import ApiError, Compute, _fingerprint, _id, now_text, relative

_INPUT = ("name", "description", "labels", "storageLocations", "machineImageEncryptionKey", "guestFlush")
MULTI_REGIONS = {"us": "us", "europe": "eu", "asia": "asia"}  # a region's prefix: its multi-region
_DISK_FIELDS = ("deviceName", "boot", "autoDelete", "mode", "interface", "diskSizeGb", "architecture", "type",
                "guestOsFeatures")


class MachineImages(Api):
    def machineImages_insert(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        project = p["project"]
        source = q.get("sourceInstance") or body.get("sourceInstance")
        if not source:
            raise ApiError(400, "required", "Required field 'sourceInstance' not specified")
        instance = self.c.get(relative(str(source), project))
        path = f"projects/{project}/global/machineImages/{body.get('name')}"
        self.c.check_new(path, body.get("name"))
        self.c.check_labels(body.get("labels") or {})
        # by default, the multi-region of the instance's region
        locations = body.get("storageLocations") or [
            MULTI_REGIONS.get(_region(instance["zone"].rsplit("/", 1)[1]).split("-")[0], "us")]
        for where in locations:
            if where not in catalog.ZONES and where not in MULTI_REGIONS.values():
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.storageLocations[0]': '{where}'. "
                                               "Must be a region or a multi-region (us, eu, asia).")
        image = {"kind": "compute#machineImage", "id": _id(), "creationTimestamp": now_text(), "status": "CREATING",
                 "sourceInstance": instance["selfLink"], "instanceProperties": self._properties(instance),
                 "savedDisks": self._saved(instance), "storageLocations": locations, "labels": {},
                 "labelFingerprint": _fingerprint(), "satisfiesPzs": False,
                 **{k: v for k, v in body.items() if k in _INPUT and k != "guestFlush"}}
        image["storageLocations"] = locations
        image["totalStorageBytes"] = str(sum(int(d["storageBytes"]) for d in image["savedDisks"]))
        failure = self._failure()
        op = self.c.operation(f"projects/{project}/global", "insert", path, image["id"], failure)
        if not failure:
            self.c._put(path, image)
            self.c.later(self.c.timing.snapshot / 2, path, "UPLOADING")
            self.c.later(self.c.timing.snapshot, path, "READY")
        return op

    def _properties(self, instance: dict[str, Any]) -> dict[str, Any]:
        """What the instance was (InstanceProperties), its disks by device name as they were at this instant."""
        disks = []
        for attached in instance["disks"]:
            disk = self.c.get(relative(attached["source"]))
            disks.append({**{k: copy.deepcopy(attached[k]) for k in _DISK_FIELDS if k in attached},
                          "type": "PERSISTENT", "diskSizeGb": disk["sizeGb"], "architecture": disk["architecture"],
                          "kind": "compute#attachedDisk", "source": disk["selfLink"],
                          "guestOsFeatures": copy.deepcopy(disk.get("guestOsFeatures") or []),
                          **({"diskEncryptionKey": copy.deepcopy(disk["diskEncryptionKey"])}
                             if disk.get("diskEncryptionKey") else {})})
        return {"machineType": instance["machineType"].rsplit("/", 1)[1], "disks": disks,
                "labels": copy.deepcopy(instance.get("labels") or {}),
                "metadata": copy.deepcopy(instance.get("metadata") or {}),
                "networkInterfaces": copy.deepcopy(instance.get("networkInterfaces") or []),
                "canIpForward": instance.get("canIpForward", False)}

    def _saved(self, instance: dict[str, Any]) -> list[dict[str, Any]]:
        found = []
        for attached in instance["disks"]:
            disk = self.c.get(relative(attached["source"]))
            found.append({"kind": "compute#savedDisk", "sourceDisk": disk["selfLink"],
                          "storageBytes": str(int(disk["sizeGb"]) * 2**27), "storageBytesStatus": "UP_TO_DATE",
                          "architecture": disk["architecture"]})
        return found

    def machineImages_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/global/machineImages/{p['machineImage']}")

    def machineImages_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/global/machineImages", q)

    def machineImages_delete(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._delete(f"projects/{p['project']}/global", f"machineImages/{p['machineImage']}")

    def machineImages_setLabels(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        path = f"projects/{p['project']}/global/machineImages/{p['resource']}"
        return self._set_labels(f"projects/{p['project']}/global", path, body)


def disk_source(c: Compute, spec: dict[str, Any], project: str) -> dict[str, Any]:
    """The fields a disk made from one disk of a machine image takes from it."""
    image = c.get(relative(str(spec["sourceMachineImage"]), project))
    if image["status"] != "READY":
        raise ApiError(400, "resourceNotReady", f"The resource '{relative(image['selfLink'])}' is not ready")
    device = spec.get("sourceMachineImageDiskDeviceName")
    saved = next((d for d in image["instanceProperties"]["disks"] if d.get("deviceName") == device), None)
    if saved is None:
        names = ", ".join(d.get("deviceName", "") for d in image["instanceProperties"]["disks"])
        raise ApiError(400, "invalid", f"Invalid value for field 'resource.sourceMachineImageDiskDeviceName': "
                                       f"'{device}'. The machine image has the disks {names}.")
    return {"sourceMachineImage": image["selfLink"], "sourceMachineImageId": image["id"],
            "sourceMachineImageDiskDeviceName": device, "architecture": saved["architecture"],
            "guestOsFeatures": copy.deepcopy(saved.get("guestOsFeatures") or []),
            "sizeGb": saved["diskSizeGb"]}
