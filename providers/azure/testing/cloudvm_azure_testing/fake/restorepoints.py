"""VM restore points (https://learn.microsoft.com/azure/virtual-machines/virtual-machines-create-restore-points):
a collection per source VM (or, for a cross-region copy, per source collection), restore points in
it capturing every managed disk of the VM at one instant as disk restore points, copies that
replicate in the background, and disks made back from a disk restore point (``createOption:
Restore``). The rules Azure holds them to: a collection lives in its VM's region and a copy in
another one; only ``CrashConsistent`` is taken as an explicit consistency mode; a restore point
is never updated; a disk is restored only from a disk restore point that finished replicating."""

from __future__ import annotations

import copy
from typing import Any

from cloudvm_azure_testing.fake import resources
from cloudvm_azure_testing.fake.arm import Arm, ArmError, now_text

COLLECTIONS = "Microsoft.Compute/restorePointCollections"
DISK_POINTS = f"{COLLECTIONS}/restorePoints/diskRestorePoints"


def collection(arm: Arm, rpc: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    props = rpc["properties"]
    if old is not None:  # "When updating a restore point collection, only tags may be modified."
        props["source"] = old["properties"]["source"]
        return
    source = resources.ref(arm, props.get("source"), "properties.source")
    if source is None:
        raise ArmError(400, "InvalidParameter", "Required parameter 'source.id' is missing (null).",
                       target="properties.source.id")
    copying = source["type"] == COLLECTIONS
    if not copying and not source["type"].endswith("/virtualMachines"):
        raise ArmError(400, "InvalidParameter", "The source of a restore point collection is a virtual machine or "
                                                "another restore point collection.", target="properties.source.id")
    if (source["location"].lower() == str(rpc.get("location")).lower()) == copying:
        where = "a region other than" if copying else "the region of"
        raise ArmError(400, "InvalidParameter", f"A restore point collection must be in {where} its source "
                                                f"'{source['id']}' ({source['location']}).", target="location")
    props.update(source={"id": source["id"], "location": source["location"]},
                 restorePointCollectionId=str(Arm.unique()))


def point(arm: Arm, rp: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    if old is not None:
        raise ArmError(409, "OperationNotAllowed", "Updating properties of an existing restore point is not allowed.")
    props = rp["properties"]
    mode = props.get("consistencyMode")
    if mode is not None and mode != "CrashConsistent":
        raise ArmError(400, "InvalidParameter", f"ConsistencyMode '{mode}' is not accepted: for now only "
                                                "CrashConsistent can be specified.", target="consistencyMode")
    owner = resources.parent(arm, rp["id"])
    source = arm.get(owner["properties"]["source"]["id"])
    if source["type"] == COLLECTIONS:
        _copy(arm, rp, owner, source)
    else:
        _capture(arm, rp, source)
    props.setdefault("consistencyMode", "ApplicationConsistent")
    props["timeCreated"] = now_text()


def _capture(arm: Arm, rp: dict[str, Any], vm: dict[str, Any]) -> None:
    """Every managed disk of the VM at this instant, as one disk restore point each."""
    excluded = {str(d.get("id", "")).lower() for d in rp["properties"].get("excludeDisks") or []}
    storage = copy.deepcopy(vm["properties"]["storageProfile"])
    kept = []
    for disk in [storage["osDisk"], *(storage.get("dataDisks") or [])]:
        source = arm.get(disk["managedDisk"]["id"])
        if source["id"].lower() in excluded and disk is not storage["osDisk"]:
            continue
        point_id = _disk_point(arm, rp, source, None)
        key = source["properties"].get("encryption") or {}
        encrypted = {"type": key.get("type", "EncryptionAtRestWithPlatformKey"),
                     **({"diskEncryptionSet": {"id": key["diskEncryptionSetId"]}} if key.get("diskEncryptionSetId")
                        else {})}
        disk.update(diskSizeGB=source["properties"]["diskSizeGB"],
                    diskRestorePoint={"id": point_id, "encryption": encrypted},
                    managedDisk={"id": source["id"], "storageAccountType": source["sku"]["name"]})
        kept.append(disk)
    storage["dataDisks"] = [d for d in storage.get("dataDisks") or [] if d in kept]
    vm_props = vm["properties"]
    rp["properties"]["sourceMetadata"] = {
        "hardwareProfile": copy.deepcopy(vm_props["hardwareProfile"]), "storageProfile": _source_disks(storage),
        "vmId": vm_props.get("vmId"), "location": vm["location"],
        **{k: copy.deepcopy(vm_props[k]) for k in ("securityProfile", "diagnosticsProfile") if k in vm_props}}


def _source_disks(storage: dict[str, Any]) -> dict[str, Any]:
    """A VM's storage profile as a restore point keeps it (RestorePointSourceVMStorageProfile)."""
    fields = ("name", "caching", "diskSizeGB", "managedDisk", "diskRestorePoint")
    return {"osDisk": {"osType": storage["osDisk"].get("osType", "Linux"),
                       **{k: storage["osDisk"][k] for k in fields if k in storage["osDisk"]}},
            "dataDisks": [{"lun": d["lun"], **{k: d[k] for k in fields if k in d}} for d in storage["dataDisks"]]}


def _copy(arm: Arm, rp: dict[str, Any], owner: dict[str, Any], source_rpc: dict[str, Any]) -> None:
    """A restore point of the source collection, replicated into this one's region in the background."""
    wanted = resources.ref(arm, rp["properties"].get("sourceRestorePoint"), "properties.sourceRestorePoint")
    if wanted is None or not wanted["id"].lower().startswith(source_rpc["id"].lower() + "/"):
        raise ArmError(400, "InvalidParameter", "A restore point in a copy collection needs sourceRestorePoint.id, "
                                                f"a restore point of {source_rpc['id']}.",
                       target="properties.sourceRestorePoint.id")
    metadata = copy.deepcopy(wanted["properties"]["sourceMetadata"])
    storage = metadata["storageProfile"]
    for disk in [storage["osDisk"], *storage["dataDisks"]]:
        source = arm.get(disk["diskRestorePoint"]["id"])
        disk["diskRestorePoint"] = {**disk["diskRestorePoint"], "id": _disk_point(arm, rp, source, source["id"]),
                                    "sourceDiskRestorePoint": {"id": source["id"]}}
    rp["properties"]["sourceMetadata"] = metadata
    rp["properties"]["sourceRestorePoint"] = {"id": wanted["id"]}
    rp["properties"].setdefault("consistencyMode", wanted["properties"].get("consistencyMode"))


def _disk_point(arm: Arm, rp: dict[str, Any], source: dict[str, Any], copied_from: str | None) -> str:
    """A disk restore point under ``rp``: of a disk, or (``copied_from``) a replica of another region's."""
    props = source["properties"]
    point_id = f"{rp['id']}/diskRestorePoints/{source['name']}_{Arm.unique()[:8]}"
    replicated: dict[str, Any] = {"completionPercent": 100 if copied_from is None else 0}
    arm.put({"name": point_id.rsplit("/", 1)[1], "id": point_id, "type": DISK_POINTS,
             "properties": {"sourceResourceId": props.get("sourceResourceId") or source["id"],
                            "diskSizeGB": props["diskSizeGB"], "replication": replicated,
                            "storageAccountType": props.get("storageAccountType") or source["sku"]["name"],
                            **{k: copy.deepcopy(props[k]) for k in ("osType", "hyperVGeneration", "securityProfile",
                                                                    "encryption") if k in props}}})
    resources.copied(arm, source, {"id": point_id})
    if copied_from is not None:
        arm.later(arm.timing.copy, lambda: replicated.update(completionPercent=100))
    return point_id


def restored(arm: Arm, data: dict[str, Any]) -> dict[str, Any]:
    """The disk restore point a ``Restore`` disk is made from; refused until it finished replicating."""
    source = resources.ref(arm, {"id": data.get("sourceResourceId")}, "creationData.sourceResourceId")
    if source is None or source["type"] != DISK_POINTS:
        raise ArmError(400, "InvalidParameter", "createOption Restore needs creationData.sourceResourceId, a disk "
                                                "restore point.", target="creationData.sourceResourceId")
    if source["properties"]["replication"]["completionPercent"] < 100:
        raise ArmError(409, "OperationNotAllowed", f"Disk restore point {source['id']} is still being replicated; a "
                                                   "disk can be restored from it once the copy completes.")
    return source


def view(arm: Arm, resource: dict[str, Any], expand: str) -> dict[str, Any]:
    """A collection with its restore points (``$expand=restorePoints``), a restore point with its
    disks' replication (``$expand=instanceView``)."""
    shown = copy.deepcopy(resource)
    if resource["type"] == COLLECTIONS and expand == "restorepoints":
        shown["properties"]["restorePoints"] = [view(arm, p, "")
                                                for p in arm.children(f"{resource['id']}/restorePoints")]
    if resource["type"] == f"{COLLECTIONS}/restorePoints" and expand == "instanceview":
        points = arm.children(f"{resource['id']}/diskRestorePoints")
        shown["properties"]["instanceView"] = {
            "diskRestorePoints": [{"id": p["id"], "replicationStatus": {
                "status": {"code": "ReplicationState/" + ("succeeded" if p["properties"]["replication"][
                    "completionPercent"] >= 100 else "replicating")},
                "completionPercent": p["properties"]["replication"]["completionPercent"]}} for p in points],
            "statuses": [{"code": f"ProvisioningState/{resource['properties'].get('provisioningState', '').lower()}",
                          "level": "Info"}]}
    return shown
