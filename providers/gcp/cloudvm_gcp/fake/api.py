"""One handler per Compute Engine method the fake serves, named by its
discovery id (``instances.insert`` -> ``instances_insert``). Handlers get the
path parameters, the query and the body, and return the response body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudvm_gcp.fake import catalog
from cloudvm_gcp.fake.compute import (
    BASE,
    ApiError,
    Compute,
    _fingerprint,
    _id,
    matches,
    not_found,
    now_text,
    relative,
)

Params = dict[str, str]
Handler = Callable[[Params, dict[str, str], Any], dict[str, Any]]
_LIST_KINDS = {"instances": "instanceList", "disks": "diskList", "snapshots": "snapshotList",
               "images": "imageList", "machineTypes": "machineTypeList", "zones": "zoneList",
               "networks": "networkList", "subnetworks": "subnetworkList", "firewalls": "firewallList"}


def _region(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


class Api:
    """The methods; ``fail_next`` makes the next operation end with an error instead of its effect."""

    def __init__(self, compute: Compute) -> None:
        self.c = compute
        self.fail_next: dict[str, Any] | None = None

    def handler(self, method_id: str) -> Handler | None:
        found: Handler | None = getattr(self, method_id.replace(".", "_"), None)
        return found

    # -- generic ------------------------------------------------------------------------

    def _list(self, collection: str, query: dict[str, str], items: list[dict[str, Any]] | None = None
              ) -> dict[str, Any]:
        kind = collection.rsplit("/", 1)[1]
        chosen = [r for r in (self.c.items(collection) if items is None else items)
                  if matches(r, query.get("filter", ""))]
        size = min(int(query.get("maxResults", 500)), 500)
        start = int(query.get("pageToken") or 0)
        page: dict[str, Any] = {"kind": f"compute#{_LIST_KINDS[kind]}", "id": collection,
                                "items": chosen[start:start + size], "selfLink": BASE + collection}
        if start + size < len(chosen):
            page["nextPageToken"] = str(start + size)
        return page

    def _failure(self) -> dict[str, Any] | None:
        failure, self.fail_next = self.fail_next, None
        return failure

    # -- catalog ---------------------------------------------------------------------------

    def _zone(self, project: str, zone: str) -> dict[str, Any]:
        region = _region(zone)
        if zone not in catalog.ZONES.get(region, []):
            raise not_found(f"projects/{project}/zones/{zone}")
        return {"kind": "compute#zone", "id": str(2000 + sorted(catalog.ZONES).index(region) * 10 + ord(zone[-1])),
                "creationTimestamp": "2014-05-30T18:35:16.575-07:00", "name": zone, "description": zone,
                "status": "UP", "region": f"{BASE}projects/{project}/regions/{region}",
                "selfLink": f"{BASE}projects/{project}/zones/{zone}",
                "availableCpuPlatforms": ["Intel Cascade Lake", "AMD Milan"], "supportsPzs": False}

    def zones_get(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self._zone(p["project"], p["zone"])

    def zones_list(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        zones = [self._zone(p["project"], z) for r in sorted(catalog.ZONES) for z in catalog.ZONES[r]]
        return self._list(f"projects/{p['project']}/zones", q, zones)

    def _machine_type(self, project: str, zone: str, name: str) -> dict[str, Any]:
        self._zone(project, zone)
        if name not in catalog.MACHINE_TYPES:
            raise not_found(f"projects/{project}/zones/{zone}/machineTypes/{name}")
        cpus, memory, shared = catalog.MACHINE_TYPES[name]
        return {"kind": "compute#machineType", "id": str(abs(hash(name)) % 10**12), "name": name,
                "creationTimestamp": "2015-01-16T09:25:43.314-08:00",
                "description": f"{cpus} vCPU{'s' if cpus > 1 else ''}, {memory / 1024:g} GB RAM",
                "guestCpus": cpus, "memoryMb": memory, "imageSpaceGb": 0, "maximumPersistentDisks": 128,
                "maximumPersistentDisksSizeGb": "263168", "zone": zone, "isSharedCpu": shared,
                "selfLink": f"{BASE}projects/{project}/zones/{zone}/machineTypes/{name}", "architecture": "X86_64"}

    def machineTypes_get(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self._machine_type(p["project"], p["zone"], p["machineType"])

    def machineTypes_list(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        types = [self._machine_type(p["project"], p["zone"], n) for n in sorted(catalog.MACHINE_TYPES)]
        return self._list(f"projects/{p['project']}/zones/{p['zone']}/machineTypes", q, types)

    def images_get(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/global/images/{p['image']}")

    def images_list(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/global/images", q)

    def images_getFromFamily(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        members = [i for i in self.c.items(f"projects/{p['project']}/global/images")
                   if i.get("family") == p["family"] and "deprecated" not in i]
        if not members:
            raise not_found(f"projects/{p['project']}/global/images/family/{p['family']}")
        return max(members, key=lambda i: i["name"])

    def _image(self, link: str, project: str) -> dict[str, Any]:
        path = relative(link, project)
        parts = path.split("/")
        if len(parts) == 6 and parts[4] == "family":
            return self.images_getFromFamily({"project": parts[1], "family": parts[5]}, {}, None)
        return self.c.get(path)

    def networks_get(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/global/networks/{p['network']}")

    def networks_list(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/global/networks", q)

    def subnetworks_get(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/regions/{p['region']}/subnetworks/{p['subnetwork']}")

    def subnetworks_list(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/regions/{p['region']}/subnetworks", q)

    # -- firewalls -----------------------------------------------------------------------------

    def firewalls_insert(self, p: Params, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        path = f"projects/{p['project']}/global/firewalls/{body.get('name')}"
        self.c.check_new(path, body.get("name"))
        network = relative(body.get("network") or "global/networks/default", p["project"])
        self.c.get(network)
        if not body.get("allowed") and not body.get("denied"):
            raise ApiError(400, "invalid", "Invalid value for field 'resource.allowed': ''. "
                                           "A firewall must have at least one allowed or denied rule")
        firewall = {"kind": "compute#firewall", "id": _id(), "creationTimestamp": now_text(), "priority": 1000,
                    "direction": "INGRESS", "logConfig": {"enable": False}, "disabled": False,
                    **body, "network": BASE + network}
        if firewall["direction"] == "INGRESS":
            firewall.setdefault("sourceRanges", ["0.0.0.0/0"])
        return self._done(f"projects/{p['project']}/global", "insert", path, firewall)

    def firewalls_get(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/global/firewalls/{p['firewall']}")

    def firewalls_list(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/global/firewalls", q)

    def firewalls_delete(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self._delete(f"projects/{p['project']}/global", f"firewalls/{p['firewall']}", gradual=False)

    def _delete(self, scope: str, name: str, *, gradual: bool = True) -> dict[str, Any]:
        """A delete operation; a resource with a status shows DELETING until the operation is done
        (``gradual``), others (firewalls) go at once."""
        path = f"{scope}/{name}"
        resource = self.c.get(path)
        failure = self._failure()
        op = self.c.operation(scope, "delete", path, resource["id"], failure)
        if not failure and gradual:
            resource["status"] = "DELETING"
            self.c.later(self.c.timing.operation * 0.9, path, None)
        elif not failure:
            self.c.remove(path)
        return op

    def _done(self, scope: str, kind: str, path: str, resource: dict[str, Any]) -> dict[str, Any]:
        """An operation that makes ``resource`` at once, or fails without making it."""
        failure = self._failure()
        op = self.c.operation(scope, kind, path, resource.get("id", ""), failure)
        if not failure:
            self.c._put(path, resource)
        return op

    # -- disks ------------------------------------------------------------------------------------

    def _new_disk(self, project: str, zone: str, spec: dict[str, Any], labels: dict[str, str] | None = None
                  ) -> tuple[str, dict[str, Any]]:
        """A disk resource from ``disks.insert`` fields or an attached disk's ``initializeParams``."""
        name = spec.get("diskName") or spec.get("name")
        path = f"projects/{project}/zones/{zone}/disks/{name}"
        self.c.check_new(path, name)
        kind = relative(spec.get("diskType") or spec.get("type") or "pd-standard").rsplit("/", 1)[-1]
        if kind not in catalog.DISK_TYPES:
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.type': '{kind}'. "
                                           "Disk type does not exist")
        disk: dict[str, Any] = {"kind": "compute#disk", "id": _id(), "creationTimestamp": now_text(), "name": name,
                                "zone": f"{BASE}projects/{project}/zones/{zone}", "status": "CREATING",
                                "type": f"{BASE}projects/{project}/zones/{zone}/diskTypes/{kind}",
                                "labels": spec.get("labels") or labels or {}, "labelFingerprint": _fingerprint(),
                                "physicalBlockSizeBytes": "4096", "architecture": "X86_64"}
        self.c.check_labels(disk["labels"])
        size = 0
        if spec.get("sourceImage"):
            image = self._image(spec["sourceImage"], project)
            disk.update(sourceImage=image["selfLink"], sourceImageId=image["id"])
            size = int(image["diskSizeGb"])
        if spec.get("sourceSnapshot"):
            snapshot = self.c.get(relative(spec["sourceSnapshot"], project))
            if snapshot["status"] != "READY":
                raise ApiError(400, "resourceNotReady", f"The resource '{relative(snapshot['selfLink'])}' "
                                                        "is not ready")
            disk.update(sourceSnapshot=snapshot["selfLink"], sourceSnapshotId=snapshot["id"])
            size = int(snapshot["diskSizeGb"])
        wanted = int(spec.get("diskSizeGb") or spec.get("sizeGb") or size or 10)
        if wanted < size:
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.sizeGb': '{wanted}'. Requested "
                                           f"disk size cannot be smaller than the source ({size} GB)")
        disk["sizeGb"] = str(wanted)
        return path, disk

    def _make_disk(self, path: str, disk: dict[str, Any]) -> None:
        self.c._put(path, disk)
        self.c.later(self.c.timing.operation, path, "READY")

    def disks_insert(self, p: Params, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        path, disk = self._new_disk(p["project"], p["zone"], body)
        failure = self._failure()
        op = self.c.operation(f"projects/{p['project']}/zones/{p['zone']}", "insert", path, disk["id"], failure)
        if not failure:
            self._make_disk(path, disk)
        return op

    def disks_get(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/zones/{p['zone']}/disks/{p['disk']}")

    def disks_list(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/zones/{p['zone']}/disks", q)

    def disks_delete(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        path = f"projects/{p['project']}/zones/{p['zone']}/disks/{p['disk']}"
        disk = self.c.get(path)
        if disk.get("users"):
            raise ApiError(400, "resourceInUseByAnotherResource", f"The disk resource '{path}' is already being "
                                                                  f"used by '{relative(disk['users'][0])}'")
        return self._delete(f"projects/{p['project']}/zones/{p['zone']}", f"disks/{p['disk']}")

    def disks_createSnapshot(self, p: Params, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        disk_path = f"projects/{p['project']}/zones/{p['zone']}/disks/{p['disk']}"
        disk = self.c.get(disk_path)
        path = f"projects/{p['project']}/global/snapshots/{body.get('name')}"
        self.c.check_new(path, body.get("name"))
        self.c.check_labels(body.get("labels") or {})
        size = int(disk["sizeGb"])
        snapshot = {"kind": "compute#snapshot", "id": _id(), "creationTimestamp": now_text(), "status": "CREATING",
                    "sourceDisk": disk["selfLink"], "sourceDiskId": disk["id"], "diskSizeGb": disk["sizeGb"],
                    "storageBytes": str(size * 2**27), "storageBytesStatus": "UPDATING",
                    "storageLocations": [_region(p["zone"]).split("-")[0]], "labels": {},
                    "labelFingerprint": _fingerprint(), "snapshotType": "STANDARD", "autoCreated": False,
                    "architecture": "X86_64", "downloadBytes": str(size * 2**20), "creationSizeBytes": "0",
                    **{k: v for k, v in body.items() if k != "guestFlush"}}
        failure = self._failure()
        op = self.c.operation(f"projects/{p['project']}/zones/{p['zone']}", "createSnapshot", disk_path,
                              disk["id"], failure)
        if not failure:
            self.c._put(path, snapshot)
            self.c.later(self.c.timing.snapshot / 2, path, "UPLOADING")
            self.c.later(self.c.timing.snapshot, path, "READY",
                         lambda: snapshot.update(storageBytesStatus="UP_TO_DATE"))
        return op

    # -- snapshots ----------------------------------------------------------------------------------

    def snapshots_get(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/global/snapshots/{p['snapshot']}")

    def snapshots_list(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/global/snapshots", q)

    def snapshots_delete(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self._delete(f"projects/{p['project']}/global", f"snapshots/{p['snapshot']}")

    def snapshots_setLabels(self, p: Params, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        path = f"projects/{p['project']}/global/snapshots/{p['resource']}"
        return self._set_labels(f"projects/{p['project']}/global", path, body)

    def _set_labels(self, scope: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resource = self.c.get(path)
        if body.get("labelFingerprint") != resource.get("labelFingerprint"):
            raise ApiError(412, "conditionNotMet", "Labels fingerprint either invalid or resource labels have "
                                                   "changed")
        self.c.check_labels(body.get("labels") or {}, "labels")
        failure = self._failure()
        op = self.c.operation(scope, "setLabels", path, resource["id"], failure)
        if not failure:
            resource.update(labels=body.get("labels") or {}, labelFingerprint=_fingerprint())
        return op

    # -- operations -------------------------------------------------------------------------------

    def zoneOperations_get(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/zones/{p['zone']}/operations/{p['operation']}")

    def zoneOperations_wait(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self.c.wait(f"projects/{p['project']}/zones/{p['zone']}/operations/{p['operation']}")

    def regionOperations_get(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/regions/{p['region']}/operations/{p['operation']}")

    def regionOperations_wait(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self.c.wait(f"projects/{p['project']}/regions/{p['region']}/operations/{p['operation']}")

    def globalOperations_get(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/global/operations/{p['operation']}")

    def globalOperations_wait(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self.c.wait(f"projects/{p['project']}/global/operations/{p['operation']}")
