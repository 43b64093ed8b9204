"""Resource groups: made and read at once; deleted by a long-running
operation that takes everything in the group with it, during which the
group answers ``Deleting`` and refuses new resources, as ARM does
(https://learn.microsoft.com/azure/azure-resource-manager/management/delete-resource-group)."""

from __future__ import annotations

from typing import Any

from cloudvm_azure_testing.fake import operations
from cloudvm_azure_testing.fake.arm import Arm, ArmError
from cloudvm_azure_testing.fake.catalog import LOCATIONS
from cloudvm_azure_testing.fake.operations import Answer, Call


def _key(subscription: str, name: str) -> str:
    return f"{subscription}/{name}".lower()


def serve(arm: Arm, call: Call) -> Answer:
    sub, name = call.route.subscription, call.route.group
    found = arm.groups.get(_key(sub, name))
    if call.method == "HEAD":
        return (204 if found else 404), None, {}
    if call.method == "GET":
        return 200, arm.group(sub, name), {}
    if call.method in ("PUT", "PATCH"):
        return _write(arm, call, found)
    if call.method == "DELETE":
        return _delete(arm, call, found)
    raise ArmError(405, "MethodNotAllowed", f"{call.method} is not supported on a resource group.")


def listed(arm: Arm, call: Call) -> Answer:
    prefix = call.route.subscription.lower() + "/"
    return 200, {"value": [g for key, g in sorted(arm.groups.items()) if key.startswith(prefix)]}, {}


def _write(arm: Arm, call: Call, found: dict[str, Any] | None) -> Answer:
    sub, name = call.route.subscription, call.route.group
    if found is not None and found["properties"]["provisioningState"] == "Deleting":
        raise being_deleted(name)
    if call.method == "PATCH":
        if found is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        if "tags" in call.body:
            found["tags"] = call.body["tags"] or {}
        return 200, found, {}
    location = call.body.get("location")
    if str(location).lower() not in LOCATIONS:
        raise ArmError(400, "LocationNotAvailableForResourceGroup",
                       f"The provided location '{location}' is not available for resource group.")
    if found is not None and found["location"] != str(location).lower():
        raise ArmError(409, "InvalidResourceGroupLocation", f"Invalid resource group location '{location}'. The "
                                                            f"Resource group already exists in location "
                                                            f"'{found['location']}'.")
    group = found or {"id": f"/subscriptions/{sub}/resourceGroups/{name}", "name": name,
                      "type": "Microsoft.Resources/resourceGroups", "location": str(location).lower(),
                      "properties": {"provisioningState": "Succeeded"}}
    group["tags"] = call.body.get("tags") or {}
    arm.groups[_key(sub, name)] = group
    return (200 if found else 201), group, {}


def _delete(arm: Arm, call: Call, found: dict[str, Any] | None) -> Answer:
    """202 with a Location to poll; after a while the group and everything in it are gone."""
    sub, name = call.route.subscription, call.route.group
    if found is None:
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
    found["properties"]["provisioningState"] = "Deleting"
    op = arm.operation("Microsoft.Resources", found["location"], arm.timing.delete * 2)
    arm.later(arm.timing.delete * 2, lambda: _empty(arm, sub, name))
    return 202, None, {"Location": f"{call.base}/subscriptions/{sub}/operationresults/{op.name}?api-version="
                                   f"{call.version}", **operations.pause(arm)}


def _empty(arm: Arm, sub: str, name: str) -> None:
    prefix = f"/subscriptions/{sub}/resourcegroups/{name}/".lower()
    for key in [k for k in arm.resources if k.startswith(prefix)]:
        arm.power.pop(key, None)
        arm.resources.pop(key, None)
    arm.groups.pop(_key(sub, name), None)


def being_deleted(name: str) -> ArmError:
    return ArmError(409, "ResourceGroupBeingDeleted", f"The resource group '{name}' is in deprovisioning state and "
                                                      "cannot perform this operation.")


def writable(arm: Arm, call: Call) -> None:
    """A resource can be made in the group: it exists and is not being deleted."""
    group = arm.group(call.route.subscription, call.route.group)
    if group["properties"]["provisioningState"] == "Deleting":
        raise being_deleted(group["name"])

