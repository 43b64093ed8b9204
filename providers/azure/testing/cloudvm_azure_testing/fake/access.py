"""``beginGetAccess`` and ``endGetAccess`` on disks, snapshots and disk restore points: a SAS URI
to the resource's page blob in the storage emulator, and its revocation. The rules Azure holds
them to (https://learn.microsoft.com/azure/virtual-machines/linux/disks-upload-vhd-to-managed-disk-cli):
write access only to a disk made for upload (``createOption: Upload``), which stays ``ActiveUpload``
until access is revoked, and is refused then unless its blob ends in a fixed-VHD footer
(``InvalidVhd``, the service's words); a disk being uploaded is not copied nor attached; nothing
is deleted while a SAS to it is out."""

from __future__ import annotations

from typing import Any

from cloudvm_azure import vhd

from cloudvm_azure_testing.fake.arm import Arm, ArmError
from cloudvm_azure_testing.fake.operations import Answer, Call, begin

UPLOADING = ("ReadyToUpload", "ActiveUpload")


def _data(arm: Arm) -> Any:
    if arm.data is None:
        raise ArmError(501, "NotImplemented", "Disk access is served only with a storage emulator: "
                                              "fake_resource_manager(storage=True) (cloudvm_azure_testing).")
    return arm.data


def grant(arm: Arm, call: Call, resource: dict[str, Any]) -> Answer:
    body = call.body if isinstance(call.body, dict) else {}
    access, seconds = body.get("access"), body.get("durationInSeconds")
    if access not in ("Read", "Write") or not isinstance(seconds, int) or seconds <= 0:
        raise ArmError(400, "InvalidParameter", "grantAccessData needs access (Read or Write) and a positive "
                                                "durationInSeconds.", target="grantAccessData")
    data, props, state = _data(arm), resource["properties"], resource["properties"].get("diskState")
    if access == "Write" and state not in UPLOADING:
        raise ArmError(409, "OperationNotAllowed", "Write access can be granted only to a disk created for upload "
                                                   f"(createOption Upload); {resource['name']} is "
                                                   f"{state or 'not one'}.")
    if access == "Read" and state in UPLOADING:
        raise ArmError(409, "OperationNotAllowed", f"Disk {resource['name']} is {state}: it can be read once its "
                                                   "upload is finished and access revoked.")
    if data.size(resource["id"]) is None:
        if access == "Write":
            data.create(resource["id"], props["creationData"]["uploadSizeBytes"])
        else:  # made from an image or empty: zeros
            data.create(resource["id"], _bytes(resource) + vhd.SIZE, footer=True)
    arm.access[resource["id"].lower()] = access
    if "diskState" in props:
        props["diskState"] = "ActiveUpload" if access == "Write" else "ActiveSAS"
    uri = data.uri(resource["id"], write=access == "Write", seconds=seconds)
    return 202, None, begin(arm, call, "Microsoft.Compute", resource.get("location") or "eastus",
                            arm.timing.provision, "disks", poll_location=True, output={"accessSAS": uri})


def revoke(arm: Arm, call: Call, resource: dict[str, Any]) -> Answer:
    props, key = resource["properties"], resource["id"].lower()
    if props.get("diskState") == "ActiveUpload":
        footer, size = _data(arm).footer(resource["id"])
        if vhd.problem(footer, size) is not None:
            arm.access.pop(key, None)  # the SAS is withdrawn; the disk stays unusable until deleted
            raise ArmError(400, "InvalidVhd", f"The specified cookie value in VHD footer indicates that disk "
                                              f"'{resource['name']}' with blob {_plain(arm, resource)} is not a "
                                              "supported VHD. Disk is expected to have cookie value 'conectix'.")
        props.update(diskSizeBytes=size)
    if arm.access.pop(key, None) and "diskState" in props:
        props["diskState"] = "Reserved" if resource.get("managedBy") else "Unattached"
    return 202, None, begin(arm, call, "Microsoft.Compute", resource.get("location") or "eastus",
                            arm.timing.provision, "disks", poll_location=True)


def _plain(arm: Arm, resource: dict[str, Any]) -> str:
    """The blob's URI without its signature (what an error may name)."""
    return str(_data(arm).uri(resource["id"], write=False, seconds=1).split("?", 1)[0])


def _bytes(resource: dict[str, Any]) -> int:
    props = resource["properties"]
    return int(props.get("diskSizeBytes") or props["diskSizeGB"] * 2**30)


def check_idle(arm: Arm, resource: dict[str, Any], doing: str) -> None:
    """Refuse ``doing`` to a resource with a SAS out, or a disk still to be uploaded."""
    state = resource["properties"].get("diskState")
    if resource["id"].lower() in arm.access or state in UPLOADING:
        raise ArmError(409, "OperationNotAllowed", f"Cannot {doing} {resource['name']}: it is {state or 'ActiveSAS'}"
                                                   "; revoke access to it first.")
