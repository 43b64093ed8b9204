"""ARM's long-running operations as the core's handles, and how far they are.

A PUT or DELETE is sent without the SDK's poller; its answer says whether the
work is done already (a NIC's PUT answers Succeeded, a DELETE 200 or 204).
What goes on is told by the resources themselves: one list per kind of
resource a round (``provisioningState``; a deletion is done once the resource
is gone), and a VM that failed to provision says why in its instance view
(``ProvisioningState/failed/<error code>``), so an ``AllocationFailed``
reaches the caller as ``CapacityUnavailable`` as before."""

from __future__ import annotations

import json
from typing import Any

from cloudvm.errors import CloudVMError, ProviderError
from cloudvm.operations import Operation, Outcome
from cloudvm_azure._errors import from_code

# kind -> (SDK client, its operations group, what a person calls one)
KINDS = {
    "vm": ("compute", "virtual_machines", "VM"),
    "nic": ("network", "network_interfaces", "network interface"),
    "ip": ("network", "public_ip_addresses", "public IP"),
    "nsg": ("network", "network_security_groups", "security group"),
    "vnet": ("network", "virtual_networks", "virtual network"),
    "disk": ("compute", "disks", "disk"),
    "snapshot": ("compute", "restore_point_collections", "restore point collection"),
    "disksnap": ("compute", "snapshots", "snapshot"),
}


def running(kind: str, name: str, deleting: bool = False) -> Operation:
    """The handle of a PUT (or DELETE) of ``name`` still going on."""
    return Operation(id=f"{'delete' if deleting else 'put'} {kind}/{name}", scope=kind,
                     what=f"{'delete ' if deleting else ''}{KINDS[kind][2]} {name}")


def started(kind: str, name: str, deleting: bool, response: Any) -> Operation | None:
    """The operation an answer leaves running (None: the answer says it is done)."""
    finished = response.status_code in (200, 204) if deleting else provisioned(json.loads(response.text() or "{}"))
    return None if finished else running(kind, name, deleting)


def provisioned(resource: dict[str, Any]) -> bool:
    return (resource.get("properties") or {}).get("provisioningState") == "Succeeded"


def outcome(op: Operation, resource: dict[str, Any] | None) -> tuple[bool, Outcome]:
    """Whether ``op`` is done, as the listed ``resource`` (None: not listed) shows, and how it ended."""
    props = (resource or {}).get("properties") or {}
    state = props.get("provisioningState")
    if op.id.startswith("delete "):
        if resource is None:
            return True, None
        return (True, ProviderError(f"{op.what}: the deletion failed")) if state == "Failed" else (False, None)
    if resource is None:
        return True, ProviderError(f"{op.what}: gone before it was made")
    if state == "Succeeded":
        return True, None
    if state in ("Failed", "Canceled"):
        return True, _failure(op.what, resource, state)
    return False, None


def _failure(what: str, resource: dict[str, Any], state: str) -> CloudVMError:
    statuses = ((resource.get("properties") or {}).get("instanceView") or {}).get("statuses") or []
    for status in statuses:
        code = status.get("code") or ""
        if code.startswith("ProvisioningState/failed/"):
            return from_code(code.rsplit("/", 1)[1], status.get("message") or status.get("displayStatus") or "",
                             what)
    return ProviderError(f"{what}: provisioning {state.lower()}", code=state)
