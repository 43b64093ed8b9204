"""What a PUT or DELETE of each resource type does, and what it answers."""

from __future__ import annotations

import copy
from typing import Any

from cloudvm_azure.fake.arm import IMAGES, VM_SIZES, Arm, ArmError, etag, now_text

NETWORK = "Microsoft.Network"
COMPUTE = "Microsoft.Compute"


def _base(rid: str, kind: str, body: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    name = rid.rsplit("/", 1)[1]
    resource = {"name": name, "id": rid, "type": kind, **({"location": body["location"]} if "location" in body else {}),
                **({"tags": body["tags"]} if body.get("tags") is not None else {}),
                "properties": {**copy.deepcopy(body.get("properties") or {})}}
    if old is not None:
        resource["properties"] = {**old.get("properties", {}), **resource["properties"]}
        resource["properties"]["provisioningState"] = old["properties"].get("provisioningState")
    if kind.startswith(NETWORK):
        resource["etag"] = etag()
    if kind.startswith(NETWORK) and not kind.endswith("/subnets"):
        resource["properties"]["resourceGuid"] = (old or {}).get("properties", {}).get("resourceGuid") or Arm.unique()
    return resource


def _ref(arm: Arm, holder: dict[str, Any] | None, what: str) -> dict[str, Any] | None:
    """A referenced resource (``{"id": ...}``), which must exist."""
    if not holder or not holder.get("id"):
        return None
    found = arm.find(holder["id"])
    if found is None:
        raise ArmError(400, "InvalidResourceReference", f"Resource {holder['id']} referenced by {what} was not "
                                                        "found.")
    return found


def put(arm: Arm, rid: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create or update; returns the stored resource (provisioning goes on after)."""
    old = arm.find(rid)
    resource = _base(rid, kind, body, old)
    builders = {"virtualNetworks": _vnet, "subnets": _subnet, "publicIPAddresses": _public_ip,
                "networkSecurityGroups": _nsg, "networkInterfaces": _nic, "disks": _disk, "snapshots": _snapshot,
                "virtualMachines": _vm, "images": _image}
    builders[kind.rsplit("/", 1)[1]](arm, resource, body, old)
    arm.put(resource)
    if kind.endswith("/networkInterfaces"):  # ARM answers a NIC's PUT as done (see the recordings)
        resource["properties"]["provisioningState"] = "Succeeded"
    else:
        arm.provisioned(resource)
    return resource


def _vnet(arm: Arm, vnet: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    subnets = vnet["properties"].pop("subnets", None) or []
    for subnet in subnets:
        put(arm, f"{vnet['id']}/subnets/{subnet['name']}", f"{NETWORK}/virtualNetworks/subnets", subnet)


def _subnet(arm: Arm, subnet: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    if not subnet["properties"].get("addressPrefix"):
        raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: subnet addressPrefix is missing.")


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
    nsg = _ref(arm, props.get("networkSecurityGroup"), "networkSecurityGroup")
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
        subnet = _ref(arm, cprops.get("subnet"), "ipConfiguration.subnet")
        if subnet is None:
            raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: ipConfiguration needs a subnet.")
        ip = _ref(arm, cprops.get("publicIPAddress"), "ipConfiguration.publicIPAddress")
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


def _disk(arm: Arm, disk: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    props = disk["properties"]
    data = props.get("creationData") or {}
    size = props.get("diskSizeGB")
    if data.get("createOption") == "Copy":
        source = _ref(arm, {"id": data.get("sourceResourceId")}, "creationData.sourceResourceId")
        assert source is not None
        data["sourceUniqueId"] = source["properties"]["uniqueId"]
        size = max(size or 0, source["properties"]["diskSizeGB"])
    elif data.get("createOption") == "Empty" and not size:
        raise ArmError(400, "InvalidParameter", "Required parameter 'diskSizeGB' is missing (null).")
    disk["sku"] = body.get("sku") or {"name": "Standard_LRS", "tier": "Standard"}
    disk["sku"].setdefault("tier", "Premium" if disk["sku"]["name"].startswith("Premium") else "Standard")
    props.update(diskSizeGB=size, diskSizeBytes=size * 2**30, timeCreated=props.get("timeCreated") or now_text(),
                 uniqueId=props.get("uniqueId") or str(Arm.unique()), diskIOPSReadWrite=500, diskMBpsReadWrite=60,
                 diskState=(old or {}).get("properties", {}).get("diskState", "Unattached"), creationData=data)
    if old and old.get("managedBy"):
        disk["managedBy"] = old["managedBy"]


def _image(arm: Arm, image: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    os_disk = (image["properties"].get("storageProfile") or {}).get("osDisk") or {}
    for key in ("snapshot", "managedDisk"):
        _ref(arm, os_disk.get(key), f"storageProfile.osDisk.{key}")
    _ref(arm, image["properties"].get("sourceVirtualMachine"), "sourceVirtualMachine")


def _snapshot(arm: Arm, snap: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    props = snap["properties"]
    data = props.get("creationData") or {}
    source = _ref(arm, {"id": data.get("sourceResourceId") or data.get("sourceUri")}, "creationData.sourceResourceId")
    if source is None or data.get("createOption") not in ("Copy", "CopyStart"):
        raise ArmError(400, "InvalidParameter", "A snapshot needs creationData.createOption Copy or CopyStart and "
                                                "a sourceResourceId.")
    if data["createOption"] == "CopyStart":
        if not source["type"].endswith("/snapshots") or source.get("location") == snap.get("location"):
            raise ArmError(400, "InvalidParameter", "CopyStart copies a snapshot into another region.")
        props["completionPercent"] = 0.0
        arm.later(arm.timing.copy, lambda: props.update(completionPercent=100.0))
    data["sourceUniqueId"] = source["properties"]["uniqueId"]
    snap["sku"] = {"name": "Standard_LRS", "tier": "Standard"}
    props.update(diskSizeGB=source["properties"]["diskSizeGB"], timeCreated=now_text(), uniqueId=str(Arm.unique()),
                 incremental=bool(props.get("incremental")), creationData=data,
                 diskSizeBytes=source["properties"]["diskSizeGB"] * 2**30,
                 **({"osType": source["properties"]["osType"]} if "osType" in source["properties"] else {}))


def _vm(arm: Arm, vm: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    props = vm["properties"]
    size = (props.get("hardwareProfile") or {}).get("vmSize")
    if size not in VM_SIZES:
        raise ArmError(400, "InvalidParameter", f"The value {size} provided for the VM size is not valid.")
    if old is not None:
        return
    storage = props.get("storageProfile") or {}
    os_disk = storage.get("osDisk") or {}
    image = storage.get("imageReference")
    base = vm["id"].split("/providers/")[0]
    if os_disk.get("createOption") == "FromImage" and (image or {}).get("id"):
        custom = _ref(arm, image, "storageProfile.imageReference")
        assert custom is not None
        os_disk["diskSizeGB"] = max(os_disk.get("diskSizeGB") or 0, 30)
    elif os_disk.get("createOption") == "FromImage":
        image = image or {}
        versions = IMAGES.get((str(image.get("publisher")), str(image.get("offer")), str(image.get("sku"))))
        if not versions:
            raise ArmError(404, "PlatformImageNotFound", f"The platform image '{image}' is not available.")
        version = max(versions)
        image["exactVersion"] = version
        os_disk["diskSizeGB"] = max(os_disk.get("diskSizeGB") or 0, versions[version])
    nics = [_ref(arm, n, "networkProfile.networkInterfaces") for n in (props.get("networkProfile") or {}).get(
        "networkInterfaces") or []]
    for nic in nics:
        assert nic is not None
        if nic["properties"].get("virtualMachine"):
            raise ArmError(400, "NicInUse", f"Network Interface {nic['id']} is used by existing resource "
                                            f"{nic['properties']['virtualMachine']['id']}.")
    disks = [(os_disk, True), *((d, False) for d in storage.get("dataDisks") or [])]
    for spec, is_os in disks:
        _attach(arm, vm, base, spec, is_os)
    for nic in nics:
        assert nic is not None
        nic["properties"]["virtualMachine"] = {"id": vm["id"]}
        nic["properties"]["macAddress"] = "00-0D-3A-" + Arm.unique()[:6].upper()
    os_disk.setdefault("osType", "Windows" if (image or {}).get("publisher", "").startswith("MicrosoftWindows")
                       else "Linux")
    profile = props.get("osProfile") or {}
    profile.pop("customData", None)  # never given back, as Azure does
    profile.pop("adminPassword", None)
    props.update(vmId=str(Arm.unique()), timeCreated=now_text())


def _attach(arm: Arm, vm: dict[str, Any], base: str, spec: dict[str, Any], is_os: bool) -> None:
    option = spec.get("createOption")
    managed = spec.setdefault("managedDisk", {})
    if option == "Attach":
        disk = _ref(arm, managed, "managedDisk")
        assert disk is not None
        if disk.get("managedBy"):
            raise ArmError(409, "OperationNotAllowed", f"Disk {disk['name']} is attached to {disk['managedBy']}.")
        spec["diskSizeGB"] = disk["properties"]["diskSizeGB"]
    else:
        name = spec.get("name") or f"{vm['name']}_{'OsDisk_1' if is_os else 'disk' + str(spec.get('lun', 0))}_" \
                                   f"{Arm.unique()[:32]}"
        sku = managed.get("storageAccountType") or "Standard_LRS"
        disk = put(arm, f"{base}/providers/Microsoft.Compute/disks/{name}", "Microsoft.Compute/disks", {
            "location": vm["location"], "tags": vm.get("tags"), "sku": {"name": sku},
            "properties": {"diskSizeGB": spec.get("diskSizeGB") or 30,
                           "creationData": {"createOption": "FromImage" if is_os else "Empty"},
                           **({"osType": "Linux"} if is_os else {})}})
        spec["name"] = name
        managed["storageAccountType"] = sku
    managed["id"] = disk["id"]
    spec.setdefault("deleteOption", "Detach")
    spec.setdefault("caching", "ReadWrite" if is_os else "None")
    disk["managedBy"] = vm["id"]
    disk["properties"]["diskState"] = "Attached"


def delete(arm: Arm, resource: dict[str, Any]) -> None:
    """Refuse what is in use, as Azure does; otherwise remove after a while."""
    kind = resource["type"].rsplit("/", 1)[1]
    in_use = {
        "networkInterfaces": ("NicInUse", (resource["properties"].get("virtualMachine") or {}).get("id")),
        "publicIPAddresses": ("PublicIPAddressCannotBeDeleted",
                              (resource["properties"].get("ipConfiguration") or {}).get("id")),
        "disks": ("OperationNotAllowed", resource.get("managedBy")),
        "networkSecurityGroups": ("InUseNetworkSecurityGroupCannotBeDeleted", _nsg_user(arm, resource)),
        "virtualNetworks": ("InUseSubnetCannotBeDeleted", _vnet_user(arm, resource)),
    }.get(kind)
    if in_use and in_use[1]:
        status = 409 if kind == "disks" else 400
        raise ArmError(status, in_use[0], f"{resource['type']} {resource['name']} is in use by {in_use[1]} and "
                                          "cannot be deleted.")
    resource["properties"]["provisioningState"] = "Deleting"
    arm.later(arm.timing.delete, lambda: _gone(arm, resource))


def _gone(arm: Arm, resource: dict[str, Any]) -> None:
    arm.remove(resource["id"])
    kind = resource["type"].rsplit("/", 1)[1]
    if kind == "virtualNetworks":
        for subnet in arm.children(f"{resource['id']}/subnets"):
            arm.remove(subnet["id"])
    if kind == "networkInterfaces":
        nsg = arm.find((resource["properties"].get("networkSecurityGroup") or {}).get("id", ""))
        if nsg is not None:
            users = [u for u in nsg["properties"].get("networkInterfaces", [])
                     if u["id"].lower() != resource["id"].lower()]
            nsg["properties"]["networkInterfaces"] = users
            if not users:
                del nsg["properties"]["networkInterfaces"]
        for config in resource["properties"].get("ipConfigurations") or []:
            ip = arm.find(((config.get("properties") or {}).get("publicIPAddress") or {}).get("id", ""))
            if ip is not None:
                ip["properties"].pop("ipConfiguration", None)
                if config["properties"]["publicIPAddress"].get("properties", {}).get("deleteOption") == "Delete":
                    arm.remove(ip["id"])
    if kind == "virtualMachines":
        _release(arm, resource)


def _release(arm: Arm, vm: dict[str, Any]) -> None:
    """A deleted VM's disks and NICs go too when their ``deleteOption`` says Delete."""
    storage = vm["properties"].get("storageProfile") or {}
    for spec in [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]:
        disk = arm.find((spec.get("managedDisk") or {}).get("id", ""))
        if disk is None:
            continue
        disk.pop("managedBy", None)
        disk["properties"]["diskState"] = "Unattached"
        if spec.get("deleteOption") == "Delete":
            arm.remove(disk["id"])
    for ref in (vm["properties"].get("networkProfile") or {}).get("networkInterfaces") or []:
        nic = arm.find(ref["id"])
        if nic is None:
            continue
        nic["properties"].pop("virtualMachine", None)
        nic["properties"].pop("macAddress", None)
        if (ref.get("properties") or {}).get("deleteOption") == "Delete":
            _gone(arm, nic)


def _nsg_user(arm: Arm, nsg: dict[str, Any]) -> str | None:
    return next((r["id"] for r in arm.resources.values() if r["type"] == f"{NETWORK}/networkInterfaces"
                 and (r["properties"].get("networkSecurityGroup") or {}).get("id", "").lower() == nsg["id"].lower()),
                None)


def _vnet_user(arm: Arm, vnet: dict[str, Any]) -> str | None:
    prefix = vnet["id"].lower() + "/subnets/"
    return next((r["id"] for r in arm.resources.values() if r["type"] == f"{NETWORK}/networkInterfaces"
                 and any(((c.get("properties") or {}).get("subnet") or {}).get("id", "").lower().startswith(prefix)
                         for c in r["properties"].get("ipConfigurations") or [])), None)


def instance_view(arm: Arm, vm: dict[str, Any]) -> dict[str, Any]:
    power = arm.power.get(vm["id"].lower(), "running")
    state = vm["properties"].get("provisioningState", "Succeeded").lower()
    statuses = [{"code": f"ProvisioningState/{state}", "level": "Info",
                 "displayStatus": f"Provisioning {state}"}]
    if state not in ("creating", "failed"):
        statuses.append({"code": f"PowerState/{power}", "level": "Info", "displayStatus": f"VM {power}"})
    storage = vm["properties"].get("storageProfile") or {}
    disks = [{"name": d.get("name", ""), "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info",
                                                       "displayStatus": "Provisioning succeeded"}]}
             for d in [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]]
    agent = {"vmAgentVersion": "2.11.1.12", "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info",
                                                          "displayStatus": "Ready"}]}
    return {"computerName": (vm["properties"].get("osProfile") or {}).get("computerName", vm["name"]),
            "osName": "ubuntu", "osVersion": "24.04", "hyperVGeneration": "V2", "statuses": statuses,
            "disks": disks, "vmAgent": agent}
