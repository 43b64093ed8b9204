"""Virtual machines and their extensions: created from a marketplace or
custom image with their OS and data disks, NICs attached; updated (data
disks attached and detached, size changed) by PUT or PATCH; held to the
Compute resource provider's rules on names, ``customData`` and core quotas;
their power state shown in the instance view."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cloudvm.ssh import key_type
from cloudvm_azure_testing.fake import access, quotas, resources
from cloudvm_azure_testing.fake.arm import Arm, ArmError, now_text
from cloudvm_azure_testing.fake.catalog import GENERATION_1, IMAGES, PLANS, RESERVED_ADMIN_NAMES, VM_SIZES

# https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftcompute
_NAME_FORBIDDEN = set("~!@#$%^&*()=+_[]{}\\|;:'\",<>/?` ")
_COMPUTER_FORBIDDEN = "` ~ ! @ # $ % ^ & * ( ) = + _ [ ] { } \\ | ; : . ' \" , < > / ?"
CUSTOM_DATA_CHARACTERS = 87380  # 64 KiB once decoded, base64-encoded


def check_names(vm: dict[str, Any], windows: bool) -> None:
    name = vm["name"]
    if not 1 <= len(name) <= 64 or set(name) & _NAME_FORBIDDEN or name.endswith(("-", ".")):
        raise ArmError(400, "InvalidParameter", f"The resource name '{name}' is invalid: a virtual machine's name has "
                                                "1 to 64 characters, none of ~ ! @ # $ % ^ & * ( ) = + _ [ ] { } \\ | "
                                                "; : ' \" , < > / ? or spaces, and does not end with '-' or '.'.",
                       target="vmName")
    computer = (vm["properties"].get("osProfile") or {}).get("computerName")
    if computer is None:
        return
    if windows and (len(computer) > 15 or computer.isdigit() or set(computer) & set(_COMPUTER_FORBIDDEN.split())):
        raise ArmError(400, "InvalidParameter", "Windows computer name cannot be more than 15 characters long, be "
                                                "entirely numeric, or contain the following characters: "
                                                f"{_COMPUTER_FORBIDDEN}.", target="computerName")
    if not windows and (len(computer) > 64 or set(computer) & (set(_COMPUTER_FORBIDDEN.split()) - {"."})):
        raise ArmError(400, "InvalidParameter", "Linux host name cannot exceed 64 characters in length or contain the "
                                                f"following characters: {_COMPUTER_FORBIDDEN.replace(' .', '')}.",
                       target="computerName")


def check_login(profile: dict[str, Any], windows: bool) -> None:
    """The administrator's name, and the SSH keys Azure takes: RSA of 2048 bits or more, or Ed25519
    (https://learn.microsoft.com/azure/virtual-machines/linux/create-ssh-keys-detailed)."""
    admin = str(profile.get("adminUsername") or "")
    if admin and (admin.lower() in RESERVED_ADMIN_NAMES or len(admin) > (20 if windows else 64)
                  or admin.endswith(".") or set(admin) & set('\\/"[]:|<>+=;,?*@& ')):
        raise ArmError(400, "InvalidParameter", "The Admin Username specified is not allowed.",
                       target="adminUsername")
    keys = (((profile.get("linuxConfiguration") or {}).get("ssh") or {}).get("publicKeys")) or []
    for key in keys:
        algorithm, bits = key_type(str(key.get("keyData") or ""))
        if not (algorithm == "ssh-ed25519" or (algorithm == "ssh-rsa" and bits >= 2048)):
            raise ArmError(400, "InvalidParameter", "The value of parameter linuxConfiguration.ssh.publicKeys.keyData "
                                                    "is invalid.", target="linuxConfiguration.ssh.publicKeys.keyData")


def check_custom_data(profile: dict[str, Any]) -> None:
    data = profile.get("customData")
    if data is None:
        return
    try:
        base64.b64decode(data, validate=True)
        valid = re.fullmatch(r"[A-Za-z0-9+/=\s]*", data) is not None
    except (binascii.Error, ValueError, TypeError):
        valid = False
    if not valid or len(data) > CUSTOM_DATA_CHARACTERS:
        raise ArmError(400, "InvalidParameter", "Custom data in OSProfile must be in Base64 encoding and with a "
                                                f"maximum length of {CUSTOM_DATA_CHARACTERS} characters.",
                       target="customData")


def _security(machine: dict[str, Any]) -> str:
    """The VM's security type: ``Standard`` unless its securityProfile says ``TrustedLaunch`` (or another)."""
    return str(((machine["properties"].get("securityProfile") or {}).get("securityType")) or "Standard")


def _check_generation(security: str, generation: str) -> None:
    """Trusted Launch boots UEFI images only (https://learn.microsoft.com/azure/virtual-machines/trusted-launch)."""
    if security == "TrustedLaunch" and generation != "V2":
        raise ArmError(400, "InvalidParameter", "The image is of Hyper-V generation 1, which Trusted Launch does not "
                                                "support: use a generation 2 image or securityType Standard.",
                       target="securityProfile.securityType")


def _generation(machine: dict[str, Any]) -> str:
    image = (machine["properties"].get("storageProfile") or {}).get("imageReference") or {}
    urn = (str(image.get("publisher")), str(image.get("offer")), str(image.get("sku")))
    return "V1" if urn in GENERATION_1 else "V2"


def _check_plan(machine: dict[str, Any], urn: tuple[str, str, str]) -> None:
    """A Marketplace image sold under a plan needs the plan named in the request (and its terms accepted,
    which the fake takes as done)."""
    plan = PLANS.get(urn)
    if plan and {k: str(v).lower() for k, v in (machine.get("plan") or {}).items() if k in plan} != {
            k: v.lower() for k, v in plan.items()}:
        raise ArmError(400, "VMMarketplaceInvalidInput", "Creating a virtual machine from Marketplace image or a "
                                                         "custom image sourced from a Marketplace image requires Plan "
                                                         f"information in the request. VM: '{machine['name']}'.")


def _size(arm: Arm, vm: dict[str, Any]) -> str:
    size = (vm["properties"].get("hardwareProfile") or {}).get("vmSize")
    if size not in VM_SIZES:
        raise ArmError(400, "InvalidParameter", f"The value {size} provided for the VM size is not valid.",
                       target="vmSize")
    location = vm.get("location", "")
    if f"{_subscription(vm)}/{location}/{size}".lower() in arm.restricted:
        raise ArmError(409, "SkuNotAvailable", f"The requested VM size for resource 'Following SKUs have failed for "
                                               f"Capacity Restrictions: {size}' is currently not available in "
                                               f"location '{location}'. Please try another size or deploy to a "
                                               "different location or different zone.")
    return str(size)


def _check_priority(props: dict[str, Any]) -> None:
    """Spot fields belong to Spot VMs; a max price is -1 (evicted for capacity only) or above zero
    (https://learn.microsoft.com/azure/virtual-machines/spot-vms#pricing)."""
    priority = props.get("priority") or "Regular"
    price = (props.get("billingProfile") or {}).get("maxPrice")
    if priority != "Spot" and (props.get("evictionPolicy") or price is not None):
        raise ArmError(400, "InvalidParameter", "Eviction policy and max price can be set only for Azure Spot "
                                                "virtual machines.", target="evictionPolicy")
    if price is not None and price != -1 and price <= 0:
        raise ArmError(400, "InvalidParameter", f"The value {price} of parameter 'billingProfile.maxPrice' is "
                                                "invalid: use -1 or a price above 0.", target="billingProfile.maxPrice")
    if priority == "Spot":
        props.setdefault("evictionPolicy", "Deallocate")


def _subscription(vm: dict[str, Any]) -> str:
    return str(vm["id"].split("/")[2])


def vm(arm: Arm, machine: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    size = _size(arm, machine)
    if old is not None:
        _update(arm, machine, old)
        return
    props = machine["properties"]
    storage = props.setdefault("storageProfile", {})
    storage.setdefault("dataDisks", [])  # always there, as Azure shows it
    image = storage.get("imageReference") or {}
    os_disk = storage.setdefault("osDisk", {"createOption": "FromImage"} if image else {})  # made from the image
    windows = str(image.get("publisher", "")).startswith("MicrosoftWindows") or os_disk.get("osType") == "Windows"
    check_names(machine, windows)
    check_login(props.get("osProfile") or {}, windows)
    check_custom_data(props.get("osProfile") or {})
    _check_priority(props)
    quotas.check(arm, _subscription(machine), machine.get("location", ""), size)
    from_image = resources.create_option(os_disk) == "FromImage"
    security = _security(machine)
    if from_image and image.get("id"):
        custom = resources.ref(arm, image, "storageProfile.imageReference") or {}
        os_disk["diskSizeGB"] = max(os_disk.get("diskSizeGB") or 0, 30)
        _check_generation(security, str(custom.get("properties", {}).get("hyperVGeneration", "V1")))
    elif from_image:
        urn = (str(image.get("publisher")), str(image.get("offer")), str(image.get("sku")))
        versions = IMAGES.get(urn)
        if not versions:
            raise ArmError(404, "PlatformImageNotFound", f"The platform image '{image}' is not available.")
        image["exactVersion"] = max(versions)
        _check_plan(machine, urn)
        _check_generation(security, "V1" if urn in GENERATION_1 else "V2")
        os_disk["diskSizeGB"] = max(os_disk.get("diskSizeGB") or 0, versions[image["exactVersion"]])
    nics = [resources.ref(arm, n, "networkProfile.networkInterfaces")
            for n in (props.get("networkProfile") or {}).get("networkInterfaces") or []]
    for nic in nics:
        assert nic is not None
        if nic["properties"].get("virtualMachine"):
            raise ArmError(400, "NicInUse", f"Network Interface {nic['id']} is used by existing resource "
                                            f"{nic['properties']['virtualMachine']['id']}.")
    _attach(arm, machine, os_disk, is_os=True)
    for spec in storage.get("dataDisks") or []:
        _attach(arm, machine, spec, is_os=False)
    for nic in nics:
        assert nic is not None
        nic["properties"]["virtualMachine"] = {"id": machine["id"]}
        nic["properties"]["macAddress"] = "00-0D-3A-" + Arm.unique()[:6].upper()
    os_disk.setdefault("osType", "Windows" if windows else "Linux")
    profile = props.get("osProfile") or {}
    profile.pop("customData", None)  # never given back, as Azure does
    profile.pop("adminPassword", None)
    props.update(vmId=str(Arm.unique()), timeCreated=now_text())


def vm_patch(arm: Arm, machine: dict[str, Any], body: dict[str, Any], before: dict[str, Any]) -> None:
    _size(arm, machine)
    _update(arm, machine, before)


def _update(arm: Arm, machine: dict[str, Any], old: dict[str, Any]) -> None:
    """A change to an existing VM: data disks added are attached (or made), those left out detached;
    a new size needs the cores for it."""
    size, was = machine["properties"]["hardwareProfile"]["vmSize"], old["properties"]["hardwareProfile"]["vmSize"]
    if size != was and arm.power.get(machine["id"].lower()) != "deallocated":
        quotas.check(arm, _subscription(machine), machine.get("location", ""), size, but=machine["id"])
    storage = machine["properties"].get("storageProfile") or {}
    kept = {str(d.get("lun")): d for d in (old["properties"].get("storageProfile") or {}).get("dataDisks") or []}
    wanted = storage.get("dataDisks")
    if wanted is None:
        return
    for spec in wanted:
        if str(spec.get("lun")) not in kept:
            _attach(arm, machine, spec, is_os=False)
    luns = {str(spec.get("lun")) for spec in wanted}
    for lun, spec in kept.items():
        if lun not in luns:
            _detach(arm, spec)


def _attach(arm: Arm, machine: dict[str, Any], spec: dict[str, Any], *, is_os: bool) -> None:
    managed = spec.setdefault("managedDisk", {})
    at = "properties.storageProfile." + ("osDisk" if is_os else f"dataDisks[{spec.get('lun', 0)}]")
    if resources.create_option(spec) == "Attach":
        disk = resources.ref(arm, managed, "managedDisk")
        if disk is None:
            raise ArmError(400, "InvalidParameter", "A disk to attach needs managedDisk.id.", target="managedDisk")
        if disk.get("managedBy"):
            raise ArmError(409, "OperationNotAllowed", f"Disk {disk['name']} is attached to {disk['managedBy']}.")
        access.check_idle(arm, disk, "attach")
        held = str((disk["properties"].get("securityProfile") or {}).get("securityType") or "Standard")
        if is_os and held != _security(machine):
            raise ArmError(400, "InvalidParameter", f"The security type of the VM ({_security(machine)}) is not "
                                                    f"compatible with the security type of the OS disk {disk['name']} "
                                                    f"({held}).", target="securityProfile.securityType")
        spec["diskSizeGB"] = disk["properties"]["diskSizeGB"]
        spec.setdefault("name", disk["name"])
    else:
        name = spec.get("name") or f"{machine['name']}_{'OsDisk_1' if is_os else 'disk' + str(spec.get('lun', 0))}_" \
                                   f"{Arm.unique()[:32]}"
        sku = managed.get("storageAccountType") or "Standard_LRS"
        base = machine["id"].split("/providers/")[0]
        disk = resources.put(arm, f"{base}/providers/Microsoft.Compute/disks/{name}", "Microsoft.Compute/disks", {
            "location": machine["location"], "tags": machine.get("tags"), "sku": {"name": sku},
            "properties": {"diskSizeGB": spec.get("diskSizeGB") or 30, "encryption": resources.encryption(
                               (managed.get("diskEncryptionSet") or {}).get("id"),
                               f"{at}.managedDisk.diskEncryptionSet.id"),
                           "creationData": {"createOption": "FromImage" if is_os else "Empty"},
                           **({"osType": "Linux", "hyperVGeneration": _generation(machine)} if is_os else {}),
                           **({"securityProfile": {"securityType": _security(machine)}}
                              if is_os and _security(machine) != "Standard" else {})}})
        spec["name"] = name
        managed["storageAccountType"] = sku
    managed["id"] = disk["id"]
    spec.setdefault("deleteOption", "Detach")
    spec.setdefault("caching", "ReadWrite" if is_os else "None")
    disk["managedBy"] = machine["id"]
    disk["properties"]["diskState"] = "Attached"


def _detach(arm: Arm, spec: dict[str, Any]) -> None:
    disk = arm.find((spec.get("managedDisk") or {}).get("id", ""))
    if disk is not None:
        disk.pop("managedBy", None)
        disk["properties"]["diskState"] = "Unattached"


def release(arm: Arm, machine: dict[str, Any]) -> None:
    """A deleted VM's disks and NICs go too when their ``deleteOption`` says Delete; the others are freed."""
    arm.power.pop(machine["id"].lower(), None)
    storage = machine["properties"].get("storageProfile") or {}
    for spec in [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]:
        _detach(arm, spec)
        if spec.get("deleteOption") == "Delete":
            arm.remove((spec.get("managedDisk") or {}).get("id", ""))
    for held in (machine["properties"].get("networkProfile") or {}).get("networkInterfaces") or []:
        nic = arm.find(held["id"])
        if nic is None:
            continue
        nic["properties"].pop("virtualMachine", None)
        nic["properties"].pop("macAddress", None)
        if (held.get("properties") or {}).get("deleteOption") == "Delete":
            resources.gone(arm, nic)


def extension(arm: Arm, ext: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> None:
    """A VM extension: its VM must exist; protected settings are kept, never shown."""
    machine = resources.parent(arm, ext["id"])
    props = ext["properties"]
    if old is None and not (props.get("publisher") and props.get("type") and props.get("typeHandlerVersion")):
        raise ArmError(400, "InvalidParameter", "An extension needs publisher, type and typeHandlerVersion.",
                       target="properties")
    props.pop("protectedSettings", None)
    ext.setdefault("location", machine.get("location"))


def instance_view(arm: Arm, machine: dict[str, Any]) -> dict[str, Any]:
    power = arm.power.get(machine["id"].lower(), "running")
    state = machine["properties"].get("provisioningState", "Succeeded").lower()
    statuses = [{"code": f"ProvisioningState/{state}", "level": "Info",
                 "displayStatus": f"Provisioning {state}"}]
    failure = arm.failures.get(machine["id"].lower()) if state == "failed" else None
    if failure:  # as Azure shows it: ProvisioningState/failed/<error code>, with the error's message
        statuses = [{"code": f"ProvisioningState/failed/{failure['code']}", "level": "Error",
                     "displayStatus": "Provisioning failed", "message": failure["message"]}]
    if state not in ("creating", "failed"):
        statuses.append({"code": f"PowerState/{power}", "level": "Info", "displayStatus": f"VM {power}"})
    storage = machine["properties"].get("storageProfile") or {}
    disks = [{"name": d.get("name", ""), "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info",
                                                       "displayStatus": "Provisioning succeeded"}]}
             for d in [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]]
    agent = {"vmAgentVersion": "2.11.1.12", "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info",
                                                          "displayStatus": "Ready"}]}
    extensions = [{"name": e["name"], "type": e["properties"].get("type", ""),
                   "typeHandlerVersion": e["properties"].get("typeHandlerVersion", ""),
                   "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info",
                                 "displayStatus": "Provisioning succeeded"}]} for e in arm.descendants(machine["id"])]
    return {"computerName": (machine["properties"].get("osProfile") or {}).get("computerName", machine["name"]),
            "osName": "ubuntu", "osVersion": "24.04", "hyperVGeneration": "V2", "statuses": statuses,
            "disks": disks, "vmAgent": agent, **({"extensions": extensions} if extensions else {})}
