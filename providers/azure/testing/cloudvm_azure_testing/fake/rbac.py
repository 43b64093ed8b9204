"""Azure RBAC on the fake: each request needs the operation Azure Resource Manager checks for it
(``{namespace}/{type}/read|write|delete``, ``.../{action}/action``:
https://learn.microsoft.com/azure/role-based-access-control/resource-provider-operations), and a
resource that references another needs that one's ``join`` action too (a linked access check). A
caller holds a set of operations; what it lacks answers 403 ``AuthorizationFailed`` or
``LinkedAuthorizationFailed`` in ARM's words.
"""

from __future__ import annotations

from typing import Any

from cloudvm_azure_testing.fake.arm import ArmError
from cloudvm_azure_testing.fake.routes import COMPUTE, Route

PRINCIPAL = "00000000-0000-0000-0000-00000000c10d"  # the object id the fake gives a caller held to a role
_VERBS = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete", "POST": "action"}
_SERVICES = {"sizes": f"{COMPUTE}/locations/vmSizes/read", "usages": f"{COMPUTE}/locations/usages/read",
             "skus": f"{COMPUTE}/skus/read",
             "images": f"{COMPUTE}/locations/publishers/artifacttypes/offers/skus/versions/read",
             "locations": "Microsoft.Resources/subscriptions/locations/read",
             "provider": "Microsoft.Resources/subscriptions/providers/read",
             "groups": "Microsoft.Resources/subscriptions/resourceGroups/read",
             "group-result": "Microsoft.Resources/subscriptions/operationresults/read"}


def operation(method: str, route: Route) -> str | None:
    """The operation ARM authorizes for this request (None: a sign-in, which needs none)."""
    verb = _VERBS.get(method, "read")
    if route.what == "token":
        return None
    if route.what in _SERVICES:
        return _SERVICES[route.what]
    if route.what == "group":
        return f"Microsoft.Resources/subscriptions/resourceGroups/{verb}"
    if route.what == "operation":
        which = "diskOperations" if route.action.lower() == "diskoperations" else "operations"
        return f"{route.kind}/locations/{which}/read"
    if route.what == "action":
        return f"{route.kind}/instanceView/read" if route.action == "instanceView" else \
            f"{route.kind}/{route.action}/action"
    return f"{route.kind}/{verb}" if route.kind else None


def _ids(value: Any, key: str) -> list[str]:
    """Every ``{key: {"id": ...}}`` reference inside a body."""
    if isinstance(value, dict):
        found = [str(value[key]["id"])] if isinstance(value.get(key), dict) and value[key].get("id") else []
        return found + [i for v in value.values() for i in _ids(v, key)]
    if isinstance(value, list):
        return [i for v in value for i in _ids(v, key)]
    return []


def linked(method: str, route: Route, body: Any) -> list[tuple[str, str]]:
    """(operation, linked scope) pairs a write also needs for what its body references."""
    if method not in ("PUT", "PATCH") or not isinstance(body, dict):
        return []
    links = [("subnet", "Microsoft.Network/virtualNetworks/subnets/join/action"),
             ("networkSecurityGroup", "Microsoft.Network/networkSecurityGroups/join/action"),
             ("publicIPAddress", "Microsoft.Network/publicIPAddresses/join/action"),
             ("diskEncryptionSet", f"{COMPUTE}/diskEncryptionSets/read")]
    needs = [(action, rid) for key, action in links for rid in _ids(body, key)]
    if route.kind == f"{COMPUTE}/virtualMachines":
        props = body.get("properties") or {}
        needs += [("Microsoft.Network/networkInterfaces/join/action", str(nic["id"]))
                  for nic in (props.get("networkProfile") or {}).get("networkInterfaces") or [] if nic.get("id")]
        storage = props.get("storageProfile") or {}
        image = (storage.get("imageReference") or {}).get("id")
        if image:  # a VM from an image of the subscription reads it
            needs.append((f"{COMPUTE}/images/read", str(image)))
        for disk in [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]:
            if disk:  # a VM writes the managed disks it makes or attaches
                needs.append((f"{COMPUTE}/disks/write", (disk.get("managedDisk") or {}).get("id") or route.rid))
    return needs


def check(granted: frozenset[str] | None, method: str, route: Route, body: Any) -> list[str]:
    """Raise 403 for what ``granted`` lacks (None: everything is granted); else the operations used."""
    wanted = operation(method, route)
    if wanted is None or granted is None:
        return []
    scope = route.rid or (f"/subscriptions/{route.subscription}/resourceGroups/{route.group}" if route.group
                          else f"/subscriptions/{route.subscription}")
    if wanted not in granted:
        raise ArmError(403, "AuthorizationFailed", f"The client '{PRINCIPAL}' with object id '{PRINCIPAL}' does not "
                                                   f"have authorization to perform action '{wanted}' over scope "
                                                   f"'{scope}' or the scope is invalid. If access was recently "
                                                   "granted, please refresh your credentials.")
    links = linked(method, route, body)
    missing = [(action, rid) for action, rid in links if action not in granted]
    if missing:
        raise ArmError(403, "LinkedAuthorizationFailed", f"The client '{PRINCIPAL}' with object id '{PRINCIPAL}' "
                                                         f"has permission to perform action '{wanted}' on scope "
                                                         f"'{scope}'; however, it does not have permission to perform "
                                                         f"action(s) '{missing[0][0]}' on the linked scope(s) "
                                                         f"'{missing[0][1]}' (respectively) or the linked scope(s) "
                                                         "are invalid.")
    return [wanted, *(action for action, _ in links)]
