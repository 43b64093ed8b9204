"""Persistent disks and snapshots: disks from images, snapshots, a machine image's disk or nothing,
in use while an instance holds them; snapshots through ``disks.createSnapshot``
or ``snapshots.insert``, CREATING -> UPLOADING -> READY. New disks count
against the region's disk quotas, snapshots against the project's."""

from __future__ import annotations

import re
from typing import Any

from cloudvm_gcp_testing.fake import machineimages, quotas
from cloudvm_gcp_testing.fake.api import Params, Query, _region, zone_of
from cloudvm_gcp_testing.fake.compute import BASE, ApiError, _fingerprint, _id, not_found, now_text, relative
from cloudvm_gcp_testing.fake.locations import Locations

_SNAPSHOT_INPUT = ("name", "description", "labels", "storageLocations", "sourceDisk", "snapshotType",
                   "chainName", "guestFlush")


_KMS_KEY = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")


def _customer_key(key: dict[str, Any]) -> dict[str, str]:
    """A disk encrypted with a Cloud KMS key (CMEK) is told with the key version in use
    (https://cloud.google.com/compute/docs/disks/customer-managed-encryption)."""
    name = str(key.get("kmsKeyName") or "")
    if not _KMS_KEY.match(name):
        raise ApiError(400, "invalid", f"Invalid value for field 'resource.diskEncryptionKey.kmsKeyName': '{name}'. "
                                       "The KMS key name must have the form projects/PROJECT/locations/LOCATION/"
                                       "keyRings/KEY_RING/cryptoKeys/KEY.")
    return {"kmsKeyName": f"{name}/cryptoKeyVersions/1"}


class Disks(Locations):
    def new_disk(self, project: str, zone: str, spec: dict[str, Any], labels: dict[str, str] | None = None
                 ) -> tuple[str, dict[str, Any]]:
        """A disk resource from ``disks.insert`` fields or an attached disk's ``initializeParams``."""
        zone_of(self.c, project, zone)
        name = spec.get("diskName") or spec.get("name")
        path = f"projects/{project}/zones/{zone}/disks/{name}"
        self.c.check_new(path, name)
        kind = self.disk_type(project, zone, spec.get("diskType") or spec.get("type") or "pd-standard")
        disk: dict[str, Any] = {"kind": "compute#disk", "id": _id(), "creationTimestamp": now_text(), "name": name,
                                "zone": f"{BASE}projects/{project}/zones/{zone}", "status": "CREATING",
                                "type": f"{BASE}projects/{project}/zones/{zone}/diskTypes/{kind}",
                                "labels": spec.get("labels") or labels or {}, "labelFingerprint": _fingerprint(),
                                "physicalBlockSizeBytes": "4096", "architecture": "X86_64"}
        if spec.get("description"):
            disk["description"] = spec["description"]
        if spec.get("diskEncryptionKey"):
            disk["diskEncryptionKey"] = _customer_key(spec["diskEncryptionKey"])
        self.c.check_labels(disk["labels"])
        size = 0
        if spec.get("sourceImage"):
            image = self.image(spec["sourceImage"], project)
            disk.update(sourceImage=image["selfLink"], sourceImageId=image["id"], architecture=image["architecture"],
                        guestOsFeatures=image["guestOsFeatures"])
            size = int(image["diskSizeGb"])
        if spec.get("sourceSnapshot"):
            snapshot = self.c.get(relative(spec["sourceSnapshot"], project))
            if snapshot["status"] != "READY":
                raise ApiError(400, "resourceNotReady", f"The resource '{relative(snapshot['selfLink'])}' "
                                                        "is not ready")
            disk.update(sourceSnapshot=snapshot["selfLink"], sourceSnapshotId=snapshot["id"],
                        architecture=snapshot["architecture"], guestOsFeatures=snapshot.get("guestOsFeatures", []))
            size = int(snapshot["diskSizeGb"])
        if spec.get("sourceMachineImage"):
            found = machineimages.disk_source(self.c, spec, project)
            size = int(found.pop("sizeGb"))
            disk.update(found)
        wanted = int(spec.get("diskSizeGb") or spec.get("sizeGb") or size or 10)
        if wanted < size:
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.sizeGb': '{wanted}'. Requested "
                                           f"disk size cannot be smaller than the source ({size} GB)")
        disk["sizeGb"] = str(wanted)
        return path, disk

    @staticmethod
    def disk_needs(disks: list[dict[str, Any]]) -> dict[str, float]:
        """What new disks take from the region's quotas."""
        needs: dict[str, float] = {}
        for disk in disks:
            metric = quotas.disk_metric(disk["type"])
            needs[metric] = needs.get(metric, 0) + int(disk["sizeGb"])
        return needs

    def make_disk(self, path: str, disk: dict[str, Any]) -> None:
        self.c._put(path, disk)
        self.c.later(self.c.timing.operation, path, "READY")

    def disks_insert(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        path, disk = self.new_disk(p["project"], p["zone"], body)
        failure = self._failure() or quotas.exceeded(self.c, p["project"], self.disk_needs([disk]), _region(p["zone"]))
        op = self.c.operation(f"projects/{p['project']}/zones/{p['zone']}", "insert", path, disk["id"], failure)
        if not failure:
            self.make_disk(path, disk)
        return op

    def disks_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/zones/{p['zone']}/disks/{p['disk']}")

    def disks_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        zone_of(self.c, p["project"], p["zone"])
        return self._list(f"projects/{p['project']}/zones/{p['zone']}/disks", q)

    def disks_aggregatedList(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._zonal(p["project"], "disks", q)

    def disks_delete(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        path = f"projects/{p['project']}/zones/{p['zone']}/disks/{p['disk']}"
        disk = self.c.get(path)
        if disk.get("users"):
            raise ApiError(400, "resourceInUseByAnotherResource", f"The disk resource '{path}' is already being "
                                                                  f"used by '{relative(disk['users'][0])}'")
        return self._delete(f"projects/{p['project']}/zones/{p['zone']}", f"disks/{p['disk']}")

    def disks_setLabels(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        path = f"projects/{p['project']}/zones/{p['zone']}/disks/{p['resource']}"
        return self._set_labels(f"projects/{p['project']}/zones/{p['zone']}", path, body)

    # -- snapshots ------------------------------------------------------------------------------------

    def _snapshot(self, project: str, disk_path: str, body: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
        """A new snapshot of a disk, its path, and the scope its operation belongs to."""
        disk = self.c.get(disk_path)
        path = f"projects/{project}/global/snapshots/{body.get('name')}"
        self.c.check_new(path, body.get("name"))
        self.c.check_labels(body.get("labels") or {})
        size = int(disk["sizeGb"])
        zone = disk_path.split("/")[3]
        snapshot = {"kind": "compute#snapshot", "id": _id(), "creationTimestamp": now_text(), "status": "CREATING",
                    "sourceDisk": disk["selfLink"], "sourceDiskId": disk["id"], "diskSizeGb": disk["sizeGb"],
                    "storageBytes": str(size * 2**27), "storageBytesStatus": "UPDATING",
                    "storageLocations": [_region(zone).split("-")[0]], "labels": {},
                    "labelFingerprint": _fingerprint(), "snapshotType": "STANDARD", "autoCreated": False,
                    "architecture": disk["architecture"], "guestOsFeatures": disk.get("guestOsFeatures", []),
                    "downloadBytes": str(size * 2**20),
                    "creationSizeBytes": "0",
                    **{k: v for k, v in body.items() if k in _SNAPSHOT_INPUT and k != "guestFlush"}}
        snapshot["sourceDisk"] = disk["selfLink"]  # output-only fields a client sends are ignored, as Google does
        return path, snapshot, f"projects/{disk_path.split('/')[1]}/zones/{zone}"

    def _take(self, scope: str, target: str, target_id: str, path: str, snapshot: dict[str, Any],
              kind: str) -> dict[str, Any]:
        project = path.split("/")[1]
        failure = self._failure() or quotas.exceeded(self.c, project, {"SNAPSHOTS": 1})
        op = self.c.operation(scope, kind, target, target_id, failure)
        if not failure:
            self.c._put(path, snapshot)
            self.c.later(self.c.timing.snapshot / 2, path, "UPLOADING")
            self.c.later(self.c.timing.snapshot, path, "READY",
                         lambda: snapshot.update(storageBytesStatus="UP_TO_DATE"))
        return op

    def disks_createSnapshot(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        disk_path = f"projects/{p['project']}/zones/{p['zone']}/disks/{p['disk']}"
        path, snapshot, scope = self._snapshot(p["project"], disk_path, body)
        return self._take(scope, disk_path, snapshot["sourceDiskId"], path, snapshot, "createSnapshot")

    def snapshots_insert(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("sourceDisk"):
            raise ApiError(400, "invalid", "Invalid value for field 'resource.sourceDisk': ''. A snapshot needs a "
                                           "source disk.")
        disk_path = relative(body["sourceDisk"], p["project"])
        if len(disk_path.split("/")) != 6 or disk_path.split("/")[2] != "zones":
            raise not_found(disk_path)
        path, snapshot, _ = self._snapshot(p["project"], disk_path, body)
        return self._take(f"projects/{p['project']}/global", path, snapshot["id"], path, snapshot, "insert")

    def snapshots_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/global/snapshots/{p['snapshot']}")

    def snapshots_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/global/snapshots", q)

    def snapshots_delete(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._delete(f"projects/{p['project']}/global", f"snapshots/{p['snapshot']}")

    def snapshots_setLabels(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        path = f"projects/{p['project']}/global/snapshots/{p['resource']}"
        return self._set_labels(f"projects/{p['project']}/global", path, body)
