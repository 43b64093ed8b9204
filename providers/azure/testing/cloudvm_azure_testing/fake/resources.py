"""What a PUT, PATCH or DELETE of each resource type does, and the rules
Azure holds them to: a child needs its parent, a reference must resolve,
what is in use cannot be deleted, disks only grow and only while their VM
is deallocated. VMs and their extensions are in ``machines``."""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from cloudvm_azure_testing.fake import access, machines, restorepoints
from cloudvm_azure_testing.fake.arm import Arm, ArmError, etag, now_text
from cloudvm_azure_testing.fake.routes import NETWORK

Builder = Callable[[Arm, dict[str, Any], dict[str, Any], "dict[str, Any] | None"], None]


def _base(rid: str, kind: str, body: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    name = rid.rsplit("/", 1)[1]
    resource = {"name": name, "id": rid, "type": kind, **({"location": body["location"]} if "location" in body else {}),
                **({"tags": body["tags"]} if body.get("tags") is not None else {}),
                **({"plan": body["plan"]} if body.get("plan") else {}),
                "properties": {**copy.deepcopy(body.get("properties") or {})}}
    if old is not None:  # Compute merges a PUT into what exists (a VM tagged by a PUT keeps its disks)
        merge = _merge if kind.startswith("Microsoft.Compute/") else lambda a, b: {**a, **b}
        resource["properties"] = merge(copy.deepcopy(old.get("properties", {})), resource["properties"])
        resource["properties"]["provisioningState"] = old["properties"].get("provisioningState")
        if "location" in old:
            resource.setdefault("location", old["location"])
        if body.get("tags") is None and "tags" in old:
            resource["tags"] = old["tags"]
    if kind.startswith(NETWORK):
        resource["etag"] = etag()
    if kind.startswith(NETWORK) and not kind.endswith("/subnets"):
        resource["properties"]["resourceGuid"] = (old or {}).get("properties", {}).get("resourceGuid") or Arm.unique()
    return resource


_OPTIONS = {o.lower(): o for o in ("Attach", "Empty", "FromImage", "Copy", "CopyStart", "Upload", "Import",
                                    "Restore")}


def create_option(holder: dict[str, Any]) -> str:
    """A ``createOption``, read as ARM reads its enums (without regard to case) and kept in its own spelling."""
    value = str(holder.get("createOption") or "")
    if value:
        holder["createOption"] = value = _OPTIONS.get(value.lower(), value)
    return value


def ref(arm: Arm, holder: dict[str, Any] | None, what: str) -> dict[str, Any] | None:
    """A referenced resource (``{"id": ...}``), which must exist."""
    if not holder or not holder.get("id"):
        return None
    found = arm.find(holder["id"])
    if found is None:
        raise ArmError(400, "InvalidResourceReference", f"Resource {holder['id']} referenced by {what} was not "
                                                        "found.")
    return found


def parent(arm: Arm, rid: str, *, collection: bool = False) -> dict[str, Any]:
    """The parent of a child resource, or of a collection of children (a subnet's network, an
    extension's VM), which must exist."""
    owner = rid.rsplit("/", 1 if collection else 2)[0]
    found = arm.find(owner)
    if found is None:
        raise ArmError(404, "ParentResourceNotFound", f"Can not perform requested operation on nested resource. "
                                                      f"Parent resource '{owner.rsplit('/', 1)[1]}' not found.")
    return found


def put(arm: Arm, rid: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create or update; returns the stored resource (provisioning goes on after)."""
    old = arm.find(rid)
    resource = _base(rid, kind, body, old)
    BUILDERS[kind.split("/", 1)[1]](arm, resource, body, old)
    arm.put(resource)
    if kind.endswith("/networkInterfaces"):  # ARM answers a NIC's PUT as done (see the recordings)
        resource["properties"]["provisioningState"] = "Succeeded"
    else:
        arm.provisioned(resource)
    return resource


def patch(arm: Arm, resource: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """An update: tags replaced, properties merged key by key (lists replaced), as the PATCH
    operations of each type document."""
    kind = resource["type"]
    before = copy.deepcopy(resource)
    if "tags" in body:
        resource["tags"] = body["tags"] or {}
    if kind.startswith(NETWORK):  # the network types take tags alone (UpdateTags)
        resource["etag"] = etag()
        return resource
    merged = _merge(resource.get("properties") or {}, body.get("properties") or {})
    resource["properties"] = merged
    if body.get("sku"):
        resource["sku"] = {**resource.get("sku", {}), **body["sku"]}
    if kind.split("/", 1)[1] in PATCHES:
        PATCHES[kind.split("/", 1)[1]](arm, resource, body, before)
    arm.provisioned(resource)
    return resource


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for key, value in new.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# -- networks ------------------------------------------------------------------------------------------


def _vnet(arm: Arm, vnet: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    subnets = vnet["properties"].pop("subnets", None) or []
    arm.put(vnet)  # its subnets need it in place
    for subnet in subnets:
        put(arm, f"{vnet['id']}/subnets/{subnet['name']}", f"{NETWORK}/virtualNetworks/subnets", subnet)


def _subnet(arm: Arm, subnet: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    vnet = parent(arm, subnet["id"])
    prefix = subnet["properties"].get("addressPrefix") or (subnet["properties"].get("addressPrefixes") or [""])[0]
    if not prefix:
        raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: subnet addressPrefix is missing.")
    spaces = (vnet["properties"].get("addressSpace") or {}).get("addressPrefixes") or []
    try:
        inside = any(_within(prefix, space) for space in spaces)
    except ValueError:
        raise ArmError(400, "InvalidAddressPrefixFormat", f"Address prefix {prefix} of resource {subnet['id']} is "
                                                          "not formatted correctly.") from None
    if spaces and not inside:
        raise ArmError(400, "NetcfgSubnetRangeOutsideVnet", f"Subnet '{subnet['name']}' is not valid because its IP "
                                                            f"address range is outside the IP address range of "
                                                            f"virtual network '{vnet['name']}'.")


def _within(prefix: str, space: str) -> bool:
    inner, outer = ipaddress.ip_network(prefix, strict=False), ipaddress.ip_network(space, strict=False)
    return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def _public_ip(arm: Arm, ip: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    ip["sku"] = body.get("sku") or {"name": "Standard", "tier": "Regional"}
    number = len(arm.resources) % 250 + 1
    ip["properties"].update(publicIPAllocationMethod="Static", publicIPAddressVersion="IPv4", idleTimeoutInMinutes=4,
                            ipTags=[], ipAddress=(old or {}).get("properties", {}).get("ipAddress")
                            or f"20.{42 + number // 250}.{number % 250}.{(number * 7) % 250 + 1}")


def _nsg(arm: Arm, nsg: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    for rule in nsg["properties"].get("securityRules") or []:
        rule.update(id=f"{nsg['id']}/securityRules/{rule['name']}", etag=etag(),
                    type=f"{NETWORK}/networkSecurityGroups/securityRules")
        rule.setdefault("properties", {})["provisioningState"] = "Succeeded"


def _nic(arm: Arm, nic: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    props = nic["properties"]
    nsg = ref(arm, props.get("networkSecurityGroup"), "networkSecurityGroup")
    if nsg is not None:  # Azure lists the NICs a security group is on (read-only)
        users = nsg["properties"].setdefault("networkInterfaces", [])
        if not any(u["id"].lower() == nic["id"].lower() for u in users):
            users.append({"id": nic["id"]})
    configs = props.get("ipConfigurations") or []
    if not configs:
        raise ArmError(400, "NetworkInterfaceMustHaveIpConfiguration", "Network interface must have at least one "
                                                                       "IP configuration.")
    for config in configs:
        cprops = config.setdefault("properties", {})
        subnet = ref(arm, cprops.get("subnet"), "ipConfiguration.subnet")
        if subnet is None:
            raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: ipConfiguration needs a subnet.")
        ip = ref(arm, cprops.get("publicIPAddress"), "ipConfiguration.publicIPAddress")
        config.update(id=f"{nic['id']}/ipConfigurations/{config['name']}", etag=etag(),
                      type=f"{NETWORK}/networkInterfaces/ipConfigurations")
        previous = next((c for c in (old or {}).get("properties", {}).get("ipConfigurations", [])
                         if c["name"] == config["name"]), None)
        cprops.update(provisioningState="Succeeded", privateIPAllocationMethod="Dynamic",
                      privateIPAddressVersion="IPv4", primary=config is configs[0],
                      privateIPAddress=previous["properties"]["privateIPAddress"] if previous else arm.address(
                          subnet["properties"]["addressPrefix"]))
        if ip is not None:
            ip["properties"]["ipConfiguration"] = {"id": config["id"]}
    props.update(enableAcceleratedNetworking=props.get("enableAcceleratedNetworking", False),
                 enableIPForwarding=False, nicType="Standard",
                 dnsSettings={"dnsServers": [], "appliedDnsServers": []},
                 **({"virtualMachine": old["properties"]["virtualMachine"]}
                    if old and "virtualMachine" in old["properties"] else {}))


# -- disks, snapshots, images ----------------------------------------------------------------------------


_ENCRYPTION_SET = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/"
                             r"diskEncryptionSets/[^/]+$", re.IGNORECASE)


def encryption(encryption_set: str | None, at: str) -> dict[str, str]:
    """A managed disk's encryption at rest: the platform's key, or the named disk encryption set's
    (https://learn.microsoft.com/azure/virtual-machines/disk-encryption)."""
    if encryption_set is None:
        return {"type": "EncryptionAtRestWithPlatformKey"}
    if not _ENCRYPTION_SET.match(str(encryption_set)):
        raise ArmError(400, "LinkedInvalidPropertyId", f"Property id '{encryption_set}' at path '{at}' is invalid. "
                                                       "Expect fully qualified resource Id that start with "
                                                       "'/subscriptions/{subscriptionId}' or "
                                                       "'/providers/{resourceProviderNamespace}/'.")
    return {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": str(encryption_set)}


def _disk(arm: Arm, disk: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    props = disk["properties"]
    asked = (props.get("encryption") or {}).get("diskEncryptionSetId")
    data = props.get("creationData") or {}
    size = props.get("diskSizeGB")
    option, source = create_option(data), None
    if old is not None:
        _resized(arm, disk, old)
    elif option == "Copy":
        source = ref(arm, {"id": data.get("sourceResourceId")}, "creationData.sourceResourceId")
        assert source is not None
        access.check_idle(arm, source, "copy")
        copied(arm, source, disk)
        data["sourceUniqueId"] = source["properties"]["uniqueId"]
        size = max(size or 0, source["properties"]["diskSizeGB"])
        props.update(_inherited(source))
        asked = asked or (source["properties"].get("encryption") or {}).get("diskEncryptionSetId")
    elif option == "Restore":  # from a disk restore point
        source = restorepoints.restored(arm, data)
        copied(arm, source, disk)
        size = max(size or 0, source["properties"]["diskSizeGB"])
        props.update(_inherited(source))
        asked = asked or (source["properties"].get("encryption") or {}).get("diskEncryptionSetId")
    elif option == "Empty" and not size:
        raise ArmError(400, "InvalidParameter", "Required parameter 'diskSizeGB' is missing (null).",
                       target="diskSizeGB")
    elif option == "Upload":
        size = _upload_size(data)
        props["diskState"] = "ReadyToUpload"
    if old is None:
        props["encryption"] = encryption(asked, "properties.encryption.diskEncryptionSetId")
    disk["sku"] = body.get("sku") or (old or {}).get("sku") or {"name": "Standard_LRS", "tier": "Standard"}
    disk["sku"].setdefault("tier", "Premium" if disk["sku"]["name"].startswith("Premium") else "Standard")
    props.update(diskSizeGB=size, diskSizeBytes=_exact(data, size, old, source), timeCreated=props.get("timeCreated")
                 or now_text(), uniqueId=props.get("uniqueId") or str(Arm.unique()), diskIOPSReadWrite=500,
                 diskMBpsReadWrite=60, creationData=data,
                 diskState=(old or {}).get("properties", {}).get("diskState") or props.get("diskState", "Unattached"))
    if old and old.get("managedBy"):
        disk["managedBy"] = old["managedBy"]
    _data_sized(arm, disk)


def _data_sized(arm: Arm, disk: dict[str, Any]) -> None:
    """What the disk holds grown with it (when a storage emulator keeps it)."""
    if arm.data is not None:
        arm.data.resize(disk["id"], disk["properties"]["diskSizeBytes"])


def _upload_size(data: dict[str, Any]) -> int:
    """A disk made for upload holds ``uploadSizeBytes``: whole MiB of data and the VHD footer, from
    20 MiB to 32 TiB (https://learn.microsoft.com/rest/api/compute/disks/create-or-update#creationdata);
    its size in GiB, rounded up."""
    given = data.get("uploadSizeBytes")
    if not isinstance(given, int):
        raise ArmError(400, "InvalidParameter", "Required parameter 'uploadSizeBytes' is missing (null).",
                       target="uploadSizeBytes")
    if not 20972032 <= given <= 35183298347520:
        raise ArmError(400, "BadRequest", f"The upload size in bytes {given} must be between 20972032 (20 MiB + 512 "
                                          "bytes for the VHD footer) and 35183298347520 (32 TiB + 512 bytes for the "
                                          "VHD footer).")
    if (given - 512) % 2**20:
        raise ArmError(400, "BadRequest", f"The upload size in bytes {given} - 512 bytes for the VHD footer "
                                          f"({given - 512} in this case) must be a multiple of MiB.")
    return -(-(given - 512) // 2**30)


def _exact(data: dict[str, Any], size: int, old: dict[str, Any] | None, source: dict[str, Any] | None) -> int:
    """A disk's size in bytes: what was uploaded, or its source's, until it is resized; else whole GiB."""
    before = (old or {}).get("properties") or (source or {}).get("properties") or {}
    if before.get("diskSizeGB") == size and before.get("diskSizeBytes"):
        return int(before["diskSizeBytes"])
    return int(data["uploadSizeBytes"]) - 512 if old is None and data.get("createOption") == "Upload" else size * 2**30


def copied(arm: Arm, source: dict[str, Any], made: dict[str, Any]) -> None:
    """``made`` holds the bytes ``source`` holds (when a storage emulator keeps them)."""
    if arm.data is not None:
        arm.data.copy(source["id"], made["id"])


def _resized(arm: Arm, disk: dict[str, Any], old: dict[str, Any]) -> None:
    """A disk only grows, and only while nothing runs on it (its VM deallocated, or none)."""
    before, after = old["properties"]["diskSizeGB"], disk["properties"].get("diskSizeGB") or old["properties"][
        "diskSizeGB"]
    disk["properties"]["diskSizeGB"] = after
    if after == before:
        return
    if after < before:
        raise ArmError(409, "OperationNotAllowed", f"Changing property 'diskSizeGB' of disk '{disk['name']}' from "
                                                   f"{before} to {after} is not allowed: a disk can only grow.")
    if old.get("managedBy") and arm.power.get(old["managedBy"].lower()) != "deallocated":
        raise ArmError(409, "OperationNotAllowed", "Disk resizing is allowed only when creating a VM or when the VM "
                                                   f"is deallocated. Disk '{disk['name']}' is attached to "
                                                   f"{old['managedBy']}.")


def _disk_patch(arm: Arm, disk: dict[str, Any], body: dict[str, Any], before: dict[str, Any]) -> None:
    _resized(arm, disk, before)
    if disk["properties"]["diskSizeGB"] != before["properties"]["diskSizeGB"]:
        disk["properties"]["diskSizeBytes"] = disk["properties"]["diskSizeGB"] * 2**30
        _data_sized(arm, disk)


def _image(arm: Arm, image: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    storage = image["properties"].get("storageProfile") or {}
    os_disk = storage.get("osDisk") or {}
    sources = [ref(arm, os_disk.get(key), f"storageProfile.osDisk.{key}") for key in ("snapshot", "managedDisk")]
    vm = ref(arm, image["properties"].get("sourceVirtualMachine"), "sourceVirtualMachine")
    if old is None and not any(sources) and vm is None:
        raise ArmError(400, "InvalidParameter", "An image needs a source: storageProfile.osDisk.snapshot, "
                                                "storageProfile.osDisk.managedDisk or sourceVirtualMachine.",
                       target="storageProfile.osDisk")
    source = next((s for s in sources if s), None)
    if source is not None:
        os_disk.setdefault("diskSizeGB", source["properties"]["diskSizeGB"])
        os_disk.setdefault("storageAccountType", (source.get("sku") or {}).get("name", "Standard_LRS"))
    image["properties"].setdefault("hyperVGeneration", "V1")


def _inherited(source: dict[str, Any]) -> dict[str, Any]:
    """What a disk or snapshot copied from another keeps of it: its generation, security type and
    encryption (a disk asking for its own key overrides the last)."""
    return {k: copy.deepcopy(source["properties"][k]) for k in ("hyperVGeneration", "securityProfile", "encryption")
            if k in source["properties"]}


def _snapshot(arm: Arm, snap: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    props = snap["properties"]
    data = props.get("creationData") or {}
    if old is not None:
        return
    source = ref(arm, {"id": data.get("sourceResourceId") or data.get("sourceUri")}, "creationData.sourceResourceId")
    if source is None or create_option(data) not in ("Copy", "CopyStart"):
        raise ArmError(400, "InvalidParameter", "A snapshot needs creationData.createOption Copy or CopyStart and "
                                                "a sourceResourceId.", target="creationData")
    access.check_idle(arm, source, "copy")
    copied(arm, source, snap)
    if data["createOption"] == "CopyStart":
        if not source["type"].endswith("/snapshots") or source.get("location") == snap.get("location"):
            raise ArmError(400, "InvalidParameter", "CopyStart copies a snapshot into another region.")
        props["completionPercent"] = 0.0
        arm.later(arm.timing.copy, lambda: props.update(completionPercent=100.0))
    data["sourceUniqueId"] = source["properties"]["uniqueId"]
    props.update(_inherited(source))
    snap["sku"] = {"name": "Standard_LRS", "tier": "Standard"}
    props.update(diskSizeGB=source["properties"]["diskSizeGB"], timeCreated=now_text(), uniqueId=str(Arm.unique()),
                 incremental=bool(props.get("incremental")), creationData=data,
                 diskSizeBytes=source["properties"].get("diskSizeBytes") or source["properties"]["diskSizeGB"] * 2**30,
                 **({"osType": source["properties"]["osType"]} if "osType" in source["properties"] else {}))


# machines and this module use each other: its functions are looked up when called
BUILDERS: dict[str, Builder] = {
    "virtualNetworks": _vnet, "virtualNetworks/subnets": _subnet, "publicIPAddresses": _public_ip,
    "networkSecurityGroups": _nsg, "networkInterfaces": _nic, "disks": _disk, "snapshots": _snapshot,
    "images": _image, "virtualMachines": lambda *a: machines.vm(*a),
    "virtualMachines/extensions": lambda *a: machines.extension(*a),
    "restorePointCollections": lambda *a: restorepoints.collection(*a),
    "restorePointCollections/restorePoints": lambda *a: restorepoints.point(*a),
}
PATCHES: dict[str, Callable[[Arm, dict[str, Any], dict[str, Any], dict[str, Any]], None]] = {
    "disks": _disk_patch, "virtualMachines": lambda *a: machines.vm_patch(*a),
}


# -- deleting --------------------------------------------------------------------------------------------


def delete(arm: Arm, resource: dict[str, Any]) -> None:
    """Refuse what is in use, as Azure does; otherwise remove after a while."""
    kind = resource["type"].split("/", 1)[1]
    in_use = {
        "networkInterfaces": ("NicInUse", (resource["properties"].get("virtualMachine") or {}).get("id")),
        "publicIPAddresses": ("PublicIPAddressCannotBeDeleted",
                              (resource["properties"].get("ipConfiguration") or {}).get("id")),
        "disks": ("OperationNotAllowed", resource.get("managedBy")),
        "networkSecurityGroups": ("InUseNetworkSecurityGroupCannotBeDeleted", _nsg_user(arm, resource)),
        "virtualNetworks": ("InUseSubnetCannotBeDeleted", _subnet_user(arm, resource["id"] + "/subnets/")),
        "virtualNetworks/subnets": ("InUseSubnetCannotBeDeleted", _subnet_user(arm, resource["id"])),
    }.get(kind)
    if any(k == resource["id"].lower() or k.startswith(resource["id"].lower() + "/") for k in arm.access):
        raise ArmError(409, "OperationNotAllowed", f"Cannot delete {resource['name']}: a SAS to it is active; "
                                                   "revoke access to it first.")
    if in_use and in_use[1]:
        status = 409 if kind == "disks" else 400
        raise ArmError(status, in_use[0], f"{resource['type']} {resource['name']} is in use by {in_use[1]} and "
                                          "cannot be deleted.")
    resource["properties"]["provisioningState"] = "Deleting"
    arm.later(arm.timing.delete, lambda: gone(arm, resource))


def gone(arm: Arm, resource: dict[str, Any]) -> None:
    arm.remove(resource["id"])
    for child in arm.descendants(resource["id"]):  # a network's subnets, a VM's extensions
        arm.remove(child["id"])
    kind = resource["type"].rsplit("/", 1)[1]
    if kind == "networkInterfaces":
        _nic_gone(arm, resource)
    if kind == "virtualMachines":
        machines.release(arm, resource)


def _nic_gone(arm: Arm, nic: dict[str, Any]) -> None:
    nsg = arm.find((nic["properties"].get("networkSecurityGroup") or {}).get("id", ""))
    if nsg is not None:
        users = [u for u in nsg["properties"].get("networkInterfaces", []) if u["id"].lower() != nic["id"].lower()]
        nsg["properties"]["networkInterfaces"] = users
        if not users:
            del nsg["properties"]["networkInterfaces"]
    for config in nic["properties"].get("ipConfigurations") or []:
        ip = arm.find(((config.get("properties") or {}).get("publicIPAddress") or {}).get("id", ""))
        if ip is not None:
            ip["properties"].pop("ipConfiguration", None)
            if config["properties"]["publicIPAddress"].get("properties", {}).get("deleteOption") == "Delete":
                arm.remove(ip["id"])


def _nsg_user(arm: Arm, nsg: dict[str, Any]) -> str | None:
    return next((r["id"] for r in arm.resources.values() if r["type"] == f"{NETWORK}/networkInterfaces"
                 and (r["properties"].get("networkSecurityGroup") or {}).get("id", "").lower() == nsg["id"].lower()),
                None)


def _subnet_user(arm: Arm, prefix: str) -> str | None:
    """A NIC with an IP configuration in the subnet ``prefix`` (or in any subnet under it)."""
    low = prefix.lower()
    return next((r["id"] for r in arm.resources.values() if r["type"] == f"{NETWORK}/networkInterfaces"
                 and any(((c.get("properties") or {}).get("subnet") or {}).get("id", "").lower().startswith(low)
                         for c in r["properties"].get("ipConfigurations") or [])), None)

