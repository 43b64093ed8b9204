"""The instance methods: insert with its disks and network interfaces,
start/stop/reset/delete moving through Google's statuses over time."""

from __future__ import annotations

from typing import Any

from cloudvm_gcp.fake import catalog
from cloudvm_gcp.fake.api import Api, Params, _region
from cloudvm_gcp.fake.compute import BASE, ApiError, _fingerprint, _id, now_text, relative


class ComputeApi(Api):
    """Every method the fake serves."""

    def _path(self, p: Params) -> str:
        return f"projects/{p['project']}/zones/{p['zone']}/instances/{p['instance']}"

    def instances_get(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self.c.get(self._path(p))

    def instances_list(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/zones/{p['zone']}/instances", q)

    def instances_insert(self, p: Params, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        project, zone, name = p["project"], p["zone"], body.get("name")
        self._zone(project, zone)
        path = f"projects/{project}/zones/{zone}/instances/{name}"
        self.c.check_new(path, name)
        machine = relative(body.get("machineType") or "").rsplit("/", 1)[-1]
        if machine not in catalog.MACHINE_TYPES:
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.machineType': "
                                           f"'{body.get('machineType')}'. Machine type does not exist in {zone}")
        self.c.check_labels(body.get("labels") or {})
        disks = self._disks(project, zone, str(name), body.get("disks") or [])
        nics = [self._nic(project, zone, i, nic) for i, nic in enumerate(body.get("networkInterfaces") or [{}])]
        failure = self._failure()
        instance_id = _id()
        op = self.c.operation(f"projects/{project}/zones/{zone}", "insert", path, instance_id, failure)
        if failure:
            return op
        attached = []
        for index, (disk_path, disk, attach) in enumerate(disks):
            disk["users"] = [BASE + path]
            disk["lastAttachTimestamp"] = now_text()
            self._make_disk(disk_path, disk)
            attached.append({"kind": "compute#attachedDisk", "type": "PERSISTENT", "mode": "READ_WRITE",
                             "source": disk["selfLink"], "deviceName": attach.get("deviceName") or
                             f"persistent-disk-{index}", "index": index, "boot": bool(attach.get("boot")),
                             "autoDelete": bool(attach.get("autoDelete")), "interface": "SCSI",
                             "diskSizeGb": disk["sizeGb"], "architecture": "X86_64"})
        metadata = body.get("metadata") or {}
        instance = {
            "kind": "compute#instance", "id": instance_id, "creationTimestamp": now_text(), "name": name,
            "description": body.get("description", ""), "status": "PROVISIONING",
            "machineType": f"{BASE}projects/{project}/zones/{zone}/machineTypes/{machine}",
            "zone": f"{BASE}projects/{project}/zones/{zone}", "canIpForward": False, "networkInterfaces": nics,
            "disks": attached, "labels": body.get("labels") or {}, "labelFingerprint": _fingerprint(),
            "metadata": {"kind": "compute#metadata", "fingerprint": _fingerprint(),
                         "items": metadata.get("items") or []},
            "tags": {"items": (body.get("tags") or {}).get("items") or [], "fingerprint": _fingerprint()},
            "scheduling": {"onHostMaintenance": "MIGRATE", "automaticRestart": True, "preemptible": False,
                           "provisioningModel": "STANDARD"},
            "cpuPlatform": "Intel Cascade Lake", "startRestricted": False, "deletionProtection": False,
            "fingerprint": _fingerprint(),
        }
        self.c._put(path, instance)
        self._boot(path, instance)
        return op

    def _disks(self, project: str, zone: str, name: str, specs: list[dict[str, Any]]
               ) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        boots = [d for d in specs if d.get("boot")]
        if len(boots) != 1:
            raise ApiError(400, "invalid", "Invalid value for field 'resource.disks': exactly one boot disk "
                                           "is required")
        made: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for index, attach in enumerate(specs):
            params = dict(attach.get("initializeParams") or {})
            if not params or attach.get("source"):
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.disks[{index}]': this fake "
                                               "creates disks through initializeParams only")
            if attach.get("boot") and not (params.get("sourceImage") or params.get("sourceSnapshot")):
                raise ApiError(400, "invalid", "Invalid value for field 'resource.disks[0].initializeParams': "
                                               "a boot disk needs a source image or snapshot")
            params.setdefault("diskName", name if attach.get("boot") else f"{name}-disk-{index}")
            disk_path, disk = self._new_disk(project, zone, params)
            if any(p == disk_path for p, _, _ in made):
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.disks[{index}]': disk names "
                                               "repeat")
            made.append((disk_path, disk, attach))
        return made

    def _nic(self, project: str, zone: str, index: int, nic: dict[str, Any]) -> dict[str, Any]:
        region = _region(zone)
        if nic.get("subnetwork"):
            subnet = self.c.get(relative(nic["subnetwork"], project))
        else:
            network = self.c.get(relative(nic.get("network") or "global/networks/default", project))
            path = f"projects/{project}/regions/{region}/subnetworks/{network['name']}"
            subnet = self.c.find(path) or {}
            if not subnet:
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.networkInterfaces[{index}]': "
                                               f"network '{network['name']}' has no subnetwork in {region}")
        out = {"kind": "compute#networkInterface", "network": subnet["network"], "subnetwork": subnet["selfLink"],
               "networkIP": self.c.next_address(subnet), "name": f"nic{index}", "fingerprint": _fingerprint(),
               "stackType": "IPV4_ONLY"}
        if nic.get("accessConfigs"):
            number = int(out["networkIP"].split(".")[-1])
            out["accessConfigs"] = [{"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT",
                                     "name": ac.get("name", "External NAT"), "networkTier": "PREMIUM",
                                     "natIP": f"34.{120 + index}.{number // 250}.{number % 250 + 1}"}
                                    for ac in nic["accessConfigs"]]
        return out

    def _boot(self, path: str, instance: dict[str, Any]) -> None:
        boot = self.c.timing.boot
        self.c.later(boot / 2, path, "STAGING")
        self.c.later(boot, path, "RUNNING", lambda: instance.update(lastStartTimestamp=now_text()))

    def _act(self, p: Params, kind: str, allowed: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The instance and the operation for ``kind``, or an error if its status forbids it."""
        path = self._path(p)
        instance = self.c.get(path)
        if instance["status"] not in allowed:
            raise ApiError(400, "resourceNotReady", f"The resource '{path}' is not ready")
        failure = self._failure()
        op = self.c.operation(f"projects/{p['project']}/zones/{p['zone']}", kind, path, instance["id"], failure)
        return op, None if failure else instance

    def instances_start(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        op, instance = self._act(p, "start", ("TERMINATED", "RUNNING", "STAGING", "PROVISIONING"))
        if instance is not None and instance["status"] == "TERMINATED":
            path = self._path(p)
            self.c.cancel(path)
            instance["status"] = "STAGING"
            self.c.later(self.c.timing.boot / 2, path, "RUNNING", lambda: instance.update(
                lastStartTimestamp=now_text()))
        return op

    def instances_stop(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        op, instance = self._act(p, "stop", ("PROVISIONING", "STAGING", "RUNNING", "STOPPING", "TERMINATED"))
        if instance is not None and instance["status"] not in ("STOPPING", "TERMINATED"):
            path = self._path(p)
            self.c.cancel(path)
            instance["status"] = "STOPPING"
            self.c.later(self.c.timing.stop, path, "TERMINATED", lambda: instance.update(
                lastStopTimestamp=now_text()))
        return op

    def instances_reset(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        op, _ = self._act(p, "reset", ("RUNNING",))
        return op

    def instances_delete(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        op, instance = self._act(p, "delete", ("PROVISIONING", "STAGING", "RUNNING", "STOPPING", "TERMINATED",
                                               "SUSPENDED"))
        if instance is not None:
            path = self._path(p)
            self.c.cancel(path)
            instance["status"] = "STOPPING"
            self.c.later(self.c.timing.stop, path, None, lambda: self._release_disks(instance))
        return op

    def _release_disks(self, instance: dict[str, Any]) -> None:
        for attached in instance["disks"]:
            disk = self.c.find(relative(attached["source"]))
            if disk is None:
                continue
            if attached["autoDelete"]:
                self.c.remove(relative(attached["source"]))
            else:
                disk["users"] = [u for u in disk.get("users", []) if u != instance["selfLink"]]
                disk["lastDetachTimestamp"] = now_text()
                if not disk["users"]:
                    del disk["users"]

    def instances_setLabels(self, p: Params, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return self._set_labels(f"projects/{p['project']}/zones/{p['zone']}", self._path(p), body)

    def instances_setMetadata(self, p: Params, q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        path = self._path(p)
        instance = self.c.get(path)
        if body.get("fingerprint") != instance["metadata"]["fingerprint"]:
            raise ApiError(412, "conditionNotMet", "Supplied fingerprint does not match current metadata "
                                                   "fingerprint.")
        failure = self._failure()
        op = self.c.operation(f"projects/{p['project']}/zones/{p['zone']}", "setMetadata", path,
                              instance["id"], failure)
        if not failure:
            instance["metadata"] = {"kind": "compute#metadata", "fingerprint": _fingerprint(),
                                    "items": body.get("items") or []}
        return op

    def instances_getSerialPortOutput(self, p: Params, q: dict[str, str], body: Any) -> dict[str, Any]:
        path = self._path(p)
        instance = self.c.get(path)
        keys = {i["key"] for i in instance["metadata"].get("items", [])}
        lines = ["SeaBIOS (version 1.8.2)", "Booting from Hard Disk 0...", "[    0.000000] Linux version 6.1.0",
                 f"{instance['name']} login: ", *(["cloud-init: user-data found"] if "user-data" in keys else [])]
        contents = "\n".join(lines) + "\n"
        return {"kind": "compute#serialPortOutput", "contents": contents, "start": "0", "next": str(len(contents)),
                "selfLink": f"{BASE}{path}/serialPort?port=1"}
