"""The instance methods: insert with new or existing disks and network
interfaces, attach and detach disks, start/stop/reset/delete moving through
Google's statuses over time, labels, tags and metadata (with Compute
Engine's size limits) checked by fingerprint. Creates and starts count
against the region's quotas."""

from __future__ import annotations

import re
from typing import Any

from cloudvm_testing import host_key

from cloudvm.hostkeys import console_block
from cloudvm_gcp_testing.fake import catalog, quotas
from cloudvm_gcp_testing.fake.api import Params, Query, _region, zone_of
from cloudvm_gcp_testing.fake.compute import BASE, ApiError, _fingerprint, _id, now_text, relative
from cloudvm_gcp_testing.fake.disks import Disks
from cloudvm_gcp_testing.fake.images import Images
from cloudvm_gcp_testing.fake.machineimages import MachineImages
from cloudvm_gcp_testing.fake.networking import Networking

# https://cloud.google.com/compute/docs/reference/rest/v1/instances (Metadata): keys [a-zA-Z0-9-_]+ under
# 128 bytes, values up to 256 KiB, all keys and values together under 512 KB.
_METADATA_KEY = re.compile(r"^[a-zA-Z0-9_-]{1,127}$")
METADATA_VALUE_BYTES = 262144
METADATA_TOTAL_BYTES = 512 * 1024
_LIVE = ("PROVISIONING", "STAGING", "RUNNING", "STOPPING", "TERMINATED", "SUSPENDED")
NewDisk = tuple[str, dict[str, Any], dict[str, Any], bool]  # path, disk, attached-disk request, made here


def check_metadata(items: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    total = 0
    for index, item in enumerate(items):
        key, value = str(item.get("key", "")), str(item.get("value") or "")
        if not _METADATA_KEY.match(key):
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.metadata.items[{index}].key': "
                                           f"'{key[:64]}'. Must be a match of regex '[a-zA-Z0-9-_]{{1,128}}'")
        if key in seen:
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.metadata.items[{index}].key': "
                                           f"'{key}'. Duplicate keys are not allowed.")
        seen.add(key)
        size = len(value.encode())
        if size > METADATA_VALUE_BYTES:
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.metadata.items[{index}].value': "
                                           f"the value of '{key}' is {size} bytes; the limit is "
                                           f"{METADATA_VALUE_BYTES} bytes.")
        total += len(key.encode()) + size
    if total > METADATA_TOTAL_BYTES:
        raise ApiError(400, "invalid", f"Invalid value for field 'resource.metadata': metadata is {total} bytes; "
                                       f"all keys and values together are limited to {METADATA_TOTAL_BYTES} bytes.")


def _attached(disk: dict[str, Any], request: dict[str, Any], index: int) -> dict[str, Any]:
    return {"kind": "compute#attachedDisk", "type": "PERSISTENT", "mode": request.get("mode") or "READ_WRITE",
            "source": disk["selfLink"], "deviceName": request.get("deviceName") or f"persistent-disk-{index}",
            "index": index, "boot": bool(request.get("boot")), "autoDelete": bool(request.get("autoDelete")),
            "interface": request.get("interface") or "SCSI", "diskSizeGb": disk["sizeGb"],
            "architecture": disk["architecture"]}


def _scheduling(asked: dict[str, Any]) -> dict[str, Any]:
    """Scheduling as Compute Engine keeps it: a Spot VM stops when preempted unless told to go, and is never
    live-migrated or restarted (https://cloud.google.com/compute/docs/instances/spot)."""
    scheduling = {"onHostMaintenance": "MIGRATE", "automaticRestart": True, "preemptible": False,
                  "provisioningModel": "STANDARD", **asked}
    if scheduling["provisioningModel"] not in ("STANDARD", "SPOT"):
        raise ApiError(400, "invalid", "Invalid value for field 'resource.scheduling.provisioningModel': "
                                       f"'{scheduling['provisioningModel']}'.")
    if scheduling["provisioningModel"] != "SPOT":
        return scheduling
    action = scheduling.setdefault("instanceTerminationAction", "STOP")
    if action not in ("STOP", "DELETE"):
        raise ApiError(400, "invalid", f"Invalid value for field 'resource.scheduling.instanceTerminationAction': "
                                       f"'{action}'.")
    if asked.get("automaticRestart") or asked.get("onHostMaintenance") == "MIGRATE":
        raise ApiError(400, "invalid", "Invalid value for field 'resource.scheduling': Spot VMs cannot be "
                                       "live-migrated or restarted automatically.")
    return {**scheduling, "automaticRestart": False, "onHostMaintenance": "TERMINATE"}


class ComputeApi(Disks, Networking, MachineImages, Images):
    """Every method the fake serves."""

    def _path(self, p: Params) -> str:
        return f"projects/{p['project']}/zones/{p['zone']}/instances/{p['instance']}"

    def instances_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.get(self._path(p))

    def instances_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        zone_of(self.c, p["project"], p["zone"])
        return self._list(f"projects/{p['project']}/zones/{p['zone']}/instances", q)

    def instances_aggregatedList(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._zonal(p["project"], "instances", q)

    def instances_insert(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        project, zone, name = p["project"], p["zone"], body.get("name")
        region = zone_of(self.c, project, zone)
        path = f"projects/{project}/zones/{zone}/instances/{name}"
        self.c.check_new(path, name)
        machine = relative(body.get("machineType") or "").rsplit("/", 1)[-1]
        if machine not in catalog.MACHINE_TYPES:
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.machineType': "
                                           f"'{body.get('machineType')}'. Machine type does not exist in {zone}")
        self.c.check_labels(body.get("labels") or {})
        metadata = body.get("metadata") or {}
        check_metadata(metadata.get("items") or [])
        disks = self._disks(project, zone, str(name), body.get("disks") or [])
        self._fits(machine, disks)
        shielded = self._shielded(body, disks)
        nics = [self._nic(project, zone, i, nic) for i, nic in enumerate(body.get("networkInterfaces") or [{}])]
        instance_id = _id()
        instance = {
            "kind": "compute#instance", "id": instance_id, "creationTimestamp": now_text(), "name": name,
            "description": body.get("description", ""), "status": "PROVISIONING",
            "machineType": f"{BASE}projects/{project}/zones/{zone}/machineTypes/{machine}",
            "zone": f"{BASE}projects/{project}/zones/{zone}", "canIpForward": bool(body.get("canIpForward")),
            "networkInterfaces": nics, "disks": [], "labels": body.get("labels") or {},
            "labelFingerprint": _fingerprint(),
            "metadata": {"kind": "compute#metadata", "fingerprint": _fingerprint(), "items": metadata.get("items")
                         or []},
            "tags": {"items": (body.get("tags") or {}).get("items") or [], "fingerprint": _fingerprint()},
            "scheduling": _scheduling(body.get("scheduling") or {}),
            "cpuPlatform": "Intel Cascade Lake", "startRestricted": False,
            "deletionProtection": bool(body.get("deletionProtection")), "fingerprint": _fingerprint(),
            **({"shieldedInstanceConfig": shielded} if shielded else {}),
            **({"hostname": body["hostname"]} if body.get("hostname") else {}),
        }
        needs = {"CPUS": catalog.MACHINE_TYPES[machine][0], "INSTANCES": 1,
                 "IN_USE_ADDRESSES": quotas.instance_addresses(instance),
                 **self.disk_needs([disk for _, disk, _, new in disks if new])}
        failure = self._failure() or quotas.exceeded(self.c, project, needs, region)
        op = self.c.operation(f"projects/{project}/zones/{zone}", "insert", path, instance_id, failure)
        if failure:
            return op
        self.c._put(path, instance)
        for index, (disk_path, disk, request, new) in enumerate(disks):
            if new:
                self.make_disk(disk_path, disk)
            self._hold(instance, disk, request, index)
        self._boot(path, instance)
        return op

    def _disks(self, project: str, zone: str, name: str, requests: list[dict[str, Any]]) -> list[NewDisk]:
        boots = [d for d in requests if d.get("boot")]
        if len(boots) != 1:
            raise ApiError(400, "invalid", "Invalid value for field 'resource.disks': exactly one boot disk "
                                           "is required")
        made: list[NewDisk] = []
        for index, request in enumerate(requests):
            if request.get("source"):
                disk_path = relative(request["source"], project)
                disk = self._existing(disk_path, zone, f"resource.disks[{index}].source")
                made.append((disk_path, disk, request, False))
                continue
            params = dict(request.get("initializeParams") or {})
            if request.get("boot") and not (params.get("sourceImage") or params.get("sourceSnapshot")):
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.disks[{index}].initializeParams': "
                                               "a boot disk needs a source image or snapshot")
            params.setdefault("diskName", name if request.get("boot") else f"{name}-disk-{index}")
            if request.get("diskEncryptionKey"):  # given on the attached disk, for the disk it makes
                params["diskEncryptionKey"] = request["diskEncryptionKey"]
            disk_path, disk = self.new_disk(project, zone, params)
            if any(p == disk_path for p, _, _, _ in made):
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.disks[{index}]': disk names "
                                               "repeat")
            made.append((disk_path, disk, request, True))
        return made

    @staticmethod
    def _fits(machine: str, disks: list[NewDisk]) -> None:
        """Hyperdisk-only machines take no Persistent Disk; a machine boots only its own architecture."""
        for index, (_, disk, request, _) in enumerate(disks):
            kind = disk["type"].rsplit("/", 1)[1]
            if machine.split("-")[0] in catalog.HYPERDISK_ONLY and kind.startswith("pd-"):
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.disks[{index}].initializeParams."
                                               f"diskType': '{kind}'. The machine type {machine} does not support "
                                               f"Persistent Disk; use a Hyperdisk type.")
            if request.get("boot") and disk["architecture"] != catalog.architecture(machine):
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.disks[{index}]': the boot disk's "
                                               f"architecture ({disk['architecture']}) does not match the machine "
                                               f"type {machine} ({catalog.architecture(machine)}).")

    @staticmethod
    def _shielded(body: dict[str, Any], disks: list[NewDisk]) -> dict[str, bool] | None:
        """Shielded VM features need a UEFI boot disk; one gets vTPM and integrity monitoring unless told
        otherwise (https://cloud.google.com/compute/shielded-vm/docs/shielded-vm)."""
        boot = next(disk for _, disk, request, _ in disks if request.get("boot"))
        uefi = any(f.get("type") == "UEFI_COMPATIBLE" for f in boot.get("guestOsFeatures") or [])
        asked = body.get("shieldedInstanceConfig") or {}
        if not uefi:
            if any(asked.values()):
                raise ApiError(400, "invalid", "Invalid value for field 'resource.shieldedInstanceConfig': Shielded "
                                               "VM features need a boot disk whose image is UEFI_COMPATIBLE.")
            return None
        return {"enableSecureBoot": False, "enableVtpm": True, "enableIntegrityMonitoring": True, **asked}

    def _existing(self, path: str, zone: str, field: str) -> dict[str, Any]:
        """An existing disk to attach: in the instance's zone, and not held read-write by another instance."""
        disk = self.c.get(path)
        if path.split("/")[3] != zone:
            raise ApiError(400, "invalid", f"Invalid value for field '{field}': '{path}'. The disk must be in the "
                                           "instance's zone.")
        if disk.get("users"):
            raise ApiError(400, "resourceInUseByAnotherResource",
                           f"Invalid value for field '{field}': The disk resource '{relative(disk['selfLink'])}' is "
                           f"already being used by '{relative(disk['users'][0])}'")
        return disk

    def _hold(self, instance: dict[str, Any], disk: dict[str, Any], request: dict[str, Any], index: int) -> None:
        disk["users"] = [*disk.get("users", []), instance["selfLink"]]
        disk["lastAttachTimestamp"] = now_text()
        instance["disks"].append(_attached(disk, request, index))

    def _nic(self, project: str, zone: str, index: int, nic: dict[str, Any]) -> dict[str, Any]:
        region = _region(zone)
        if nic.get("subnetwork"):
            subnet = self.c.get(relative(nic["subnetwork"], project))
        else:
            network = self.c.get(relative(nic.get("network") or "global/networks/default", project))
            subnet = self.c.find(f"projects/{project}/regions/{region}/subnetworks/{network['name']}") or {}
            if not subnet:
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.networkInterfaces[{index}]': "
                                               f"network '{network['name']}' has no subnetwork in {region}")
        out = {"kind": "compute#networkInterface", "network": subnet["network"], "subnetwork": subnet["selfLink"],
               "networkIP": nic.get("networkIP") or self.c.next_address(subnet), "name": f"nic{index}",
               "fingerprint": _fingerprint(), "stackType": "IPV4_ONLY"}
        if nic.get("accessConfigs"):
            number = int(out["networkIP"].split(".")[-1])
            out["accessConfigs"] = [{"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT",
                                     "name": ac.get("name", "External NAT"), "networkTier": "PREMIUM",
                                     "natIP": ac.get("natIP") or f"34.{120 + index}.{number // 250}.{number % 250 + 1}"}
                                    for ac in nic["accessConfigs"]]
        return out

    def _boot(self, path: str, instance: dict[str, Any]) -> None:
        boot = self.c.timing.boot
        self.c.later(boot / 2, path, "STAGING")
        self.c.later(boot, path, "RUNNING", lambda: instance.update(lastStartTimestamp=now_text()))

    def _act(self, p: Params, kind: str, allowed: tuple[str, ...], refused: dict[str, Any] | None = None,
             lasting: float = 0.0) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The operation for ``kind`` (done once its effect, ``lasting`` seconds, is) and the instance to
        change (None if the operation fails), or an error if the instance's status forbids it."""
        path = self._path(p)
        instance = self.c.get(path)
        if instance["status"] not in allowed:
            raise ApiError(400, "resourceNotReady", f"The resource '{path}' is not ready")
        failure = self._failure() or refused
        op = self.c.operation(f"projects/{p['project']}/zones/{p['zone']}", kind, path, instance["id"], failure,
                              lasting)
        return op, None if failure else instance

    def instances_start(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        instance = self.c.get(self._path(p))
        needs = {"CPUS": quotas.instance_cpus(instance), "IN_USE_ADDRESSES": quotas.instance_addresses(instance)}
        stopped = instance["status"] == "TERMINATED"
        refused = quotas.exceeded(self.c, p["project"], needs, _region(p["zone"])) if stopped else None
        op, started = self._act(p, "start", ("TERMINATED", "RUNNING", "STAGING", "PROVISIONING"), refused,
                                self.c.timing.boot / 2 if stopped else 0.0)
        if started is not None and stopped:
            path = self._path(p)
            self.c.cancel(path)
            started["status"] = "STAGING"
            self.c.later(self.c.timing.boot / 2, path, "RUNNING", lambda: started.update(
                lastStartTimestamp=now_text()))
        return op

    def instances_stop(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        running = self.c.get(self._path(p))["status"] not in ("STOPPING", "TERMINATED")
        op, instance = self._act(p, "stop", _LIVE[:5], lasting=self.c.timing.stop if running else 0.0)
        if instance is not None and running:
            path = self._path(p)
            self.c.cancel(path)
            instance["status"] = "STOPPING"
            self.c.later(self.c.timing.stop, path, "TERMINATED", lambda: instance.update(
                lastStopTimestamp=now_text()))
        return op

    def instances_reset(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        op, _ = self._act(p, "reset", ("RUNNING",))
        return op

    def instances_delete(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        if self.c.get(self._path(p)).get("deletionProtection"):
            raise ApiError(400, "resourceIsProtected", f"The instance '{self._path(p)}' cannot be deleted while "
                                                       "deletion protection is on")
        op, instance = self._act(p, "delete", _LIVE, lasting=self.c.timing.stop)
        if instance is not None:
            path = self._path(p)
            self.c.cancel(path)
            instance["status"] = "STOPPING"
            self.c.later(self.c.timing.stop, path, None, lambda: self._release_disks(instance))
        return op

    def preempt(self, path: str) -> None:
        """Take a Spot VM back as Compute Engine does: a ``compute.instances.preempted`` operation on it, then
        the VM stopped or deleted as its ``instanceTerminationAction`` says
        (https://cloud.google.com/compute/docs/instances/spot#preemption-process)."""
        instance = self.c.get(path)
        scheduling = instance["scheduling"]
        if scheduling.get("provisioningModel") != "SPOT" or instance["status"] != "RUNNING":
            raise ValueError(f"{path} is not a running Spot VM")
        op = self.c.operation(path.rsplit("/instances/", 1)[0], "compute.instances.preempted", path, instance["id"])
        op["statusMessage"] = "Instance was preempted."
        self.c.cancel(path)
        instance["status"] = "STOPPING"
        if scheduling.get("instanceTerminationAction") == "DELETE":
            self.c.later(self.c.timing.stop, path, None, lambda: self._release_disks(instance))
        else:
            self.c.later(self.c.timing.stop, path, "TERMINATED", lambda: instance.update(lastStopTimestamp=now_text()))

    def _release(self, instance: dict[str, Any], attached: dict[str, Any], *, deleting: bool) -> None:
        disk = self.c.find(relative(attached["source"]))
        if disk is None:
            return
        if deleting and attached["autoDelete"]:
            self.c.remove(relative(attached["source"]))
            return
        disk["users"] = [u for u in disk.get("users", []) if u != instance["selfLink"]]
        disk["lastDetachTimestamp"] = now_text()
        if not disk["users"]:
            del disk["users"]

    def _release_disks(self, instance: dict[str, Any]) -> None:
        for attached in instance["disks"]:
            self._release(instance, attached, deleting=True)

    def instances_attachDisk(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        path = self._path(p)
        instance = self.c.get(path)
        new = not body.get("source")
        if new:
            params = {"diskName": f"{p['instance']}-disk-{len(instance['disks'])}",
                      **(body.get("initializeParams") or {})}
            disk_path, disk = self.new_disk(p["project"], p["zone"], params)
        else:
            disk_path = relative(body["source"], p["project"])
            disk = self._existing(disk_path, p["zone"], "resource.source")
        index = max((d["index"] for d in instance["disks"]), default=-1) + 1
        device = body.get("deviceName") or f"persistent-disk-{index}"
        if any(d["deviceName"] == device for d in instance["disks"]):
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.deviceName': '{device}'. The "
                                           "device name is already in use on this instance.")
        refused = quotas.exceeded(self.c, p["project"], self.disk_needs([disk]), _region(p["zone"])) if new else None
        op, attaching = self._act(p, "attachDisk", _LIVE, refused)
        if attaching is not None:
            if new:
                self.make_disk(disk_path, disk)
            self._hold(attaching, disk, body, index)
        return op

    def instances_detachDisk(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        instance = self.c.get(self._path(p))
        device = q.get("deviceName", "")
        attached = next((d for d in instance["disks"] if d["deviceName"] == device), None)
        if attached is None:
            raise ApiError(400, "invalid", f"Invalid value for field 'deviceName': '{device}'. No attached disk "
                                           "with this device name.")
        if attached["boot"] and instance["status"] != "TERMINATED":
            raise ApiError(400, "invalid", f"Invalid value for field 'deviceName': '{device}'. The boot disk can "
                                           "only be detached from a stopped instance.")
        op, detaching = self._act(p, "detachDisk", _LIVE)
        if detaching is not None:
            detaching["disks"] = [d for d in detaching["disks"] if d is not attached]
            self._release(detaching, attached, deleting=False)
        return op

    def instances_setLabels(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        return self._set_labels(f"projects/{p['project']}/zones/{p['zone']}", self._path(p), body)

    def instances_setMetadata(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        instance = self.c.get(self._path(p))
        if body.get("fingerprint") != instance["metadata"]["fingerprint"]:
            raise ApiError(412, "conditionNotMet", "Supplied fingerprint does not match current metadata "
                                                   "fingerprint.")
        check_metadata(body.get("items") or [])
        return self._change(f"projects/{p['project']}/zones/{p['zone']}", "setMetadata", self._path(p),
                            lambda r: r.update(metadata={"kind": "compute#metadata", "fingerprint": _fingerprint(),
                                                         "items": body.get("items") or []}))

    def instances_setTags(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        instance = self.c.get(self._path(p))
        if body.get("fingerprint") != instance["tags"]["fingerprint"]:
            raise ApiError(412, "conditionNotMet", "Supplied fingerprint does not match current tags fingerprint.")
        return self._change(f"projects/{p['project']}/zones/{p['zone']}", "setTags", self._path(p),
                            lambda r: r.update(tags={"items": body.get("items") or [], "fingerprint": _fingerprint()}))

    def instances_getGuestAttributes(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        """What the guest environment publishes once the instance runs, if its metadata enables guest
        attributes: its SSH host keys under ``hostkeys/``, a base64 key per key type
        (https://cloud.google.com/compute/docs/metadata/manage-guest-attributes)."""
        path = self._path(p)
        instance = self.c.get(path)
        items = {i["key"]: str(i.get("value", "")) for i in instance["metadata"].get("items", [])}
        query = q.get("queryPath", "")
        if items.get("enable-guest-attributes", "").upper() != "TRUE" or instance["status"] != "RUNNING" or \
                query.rstrip("/") != "hostkeys":
            raise ApiError(404, "notFound", f"The resource '{path}/guestAttributes/{query}' was not found")
        kind, key = host_key(instance["id"]).split()
        return {"kind": "compute#guestAttributes", "queryPath": query,
                "queryValue": {"items": [{"namespace": "hostkeys", "key": kind, "value": key}]},
                "selfLink": f"{BASE}{path}/guestAttributes/{query}"}

    def instances_getSerialPortOutput(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        """A boot log: cloud-init reading user-data on images that carry it, the guest environment
        running the startup-script on the others."""
        path = self._path(p)
        instance = self.c.get(path)
        keys = {i["key"] for i in instance["metadata"].get("items", [])}
        boot = self.c.find(relative(next(d["source"] for d in instance["disks"] if d["boot"]))) or {}
        image = relative(boot.get("sourceImage", "")).split("/")
        cloud_init = len(image) > 1 and image[1] in catalog.CLOUD_INIT_PROJECTS
        lines = ["SeaBIOS (version 1.8.2)", "Booting from Hard Disk 0...", "[    0.000000] Linux version 6.1.0",
                 *(["cloud-init[612]: Cloud-init v. 24.4 running 'modules:final': running user-data"]
                   if cloud_init and "user-data" in keys else []),
                 *(["google_metadata_script_runner[701]: Found startup-script in metadata.",
                    "google_metadata_script_runner[701]: startup-script exit status 0"]
                   if not cloud_init and "startup-script" in keys else []),
                 *([console_block([f"{host_key(instance['id'])} root@{instance['name']}"])]
                   if cloud_init and instance["status"] == "RUNNING" else []),
                 f"{instance['name']} login: "]
        contents = "\n".join(lines) + "\n"
        return {"kind": "compute#serialPortOutput", "contents": contents, "start": "0", "next": str(len(contents)),
                "selfLink": f"{BASE}{path}/serialPort?port=1"}
