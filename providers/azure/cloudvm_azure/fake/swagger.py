"""Azure's own OpenAPI specs (copied unmodified under ``specs/``): every body
the fake sends is checked against the definition the real service documents."""

from __future__ import annotations

import json
import posixpath
from functools import cache
from importlib.resources import files
from typing import Any

COMPUTE = "Microsoft.Compute/ComputeRP/stable/2024-03-01/virtualMachine.json"
DISKS = "Microsoft.Compute/DiskRP/stable/2023-10-02/disk.json"
SNAPSHOTS = "Microsoft.Compute/DiskRP/stable/2023-10-02/snapshot.json"
NETWORK = "Microsoft.Network/stable/2024-01-01/"
# resource type -> (spec file, definition of one resource, definition of a list)
DEFINITIONS = {
    "virtualMachines": (COMPUTE, "VirtualMachine", "VirtualMachineListResult"),
    "disks": (DISKS, "Disk", "DiskList"),
    "snapshots": (SNAPSHOTS, "Snapshot", "SnapshotList"),
    "images": ("Microsoft.Compute/ComputeRP/stable/2024-03-01/image.json", "Image", "ImageListResult"),
    "networkInterfaces": (NETWORK + "networkInterface.json", "NetworkInterface", "NetworkInterfaceListResult"),
    "publicIPAddresses": (NETWORK + "publicIpAddress.json", "PublicIPAddress", "PublicIPAddressListResult"),
    "networkSecurityGroups": (NETWORK + "networkSecurityGroup.json", "NetworkSecurityGroup",
                              "NetworkSecurityGroupListResult"),
    "virtualNetworks": (NETWORK + "virtualNetwork.json", "VirtualNetwork", "VirtualNetworkListResult"),
    "subnets": (NETWORK + "virtualNetwork.json", "Subnet", "SubnetListResult"),
}


@cache
def spec(path: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((files("cloudvm_azure.fake") / "specs" / path).read_text())
    return found


def _resolve(ref: str, base: str) -> tuple[dict[str, Any], str]:
    target, _, pointer = ref.partition("#")
    path = posixpath.normpath(posixpath.join(posixpath.dirname(base), target)) if target else base
    node: Any = spec(path)
    for part in pointer.strip("/").split("/"):
        node = node[part]
    return node, path


def _properties(schema: dict[str, Any], base: str) -> tuple[dict[str, tuple[dict[str, Any], str]], Any]:
    """Own and inherited (``allOf``) properties, each with the file it resolves in."""
    props = {k: (v, base) for k, v in (schema.get("properties") or {}).items()}
    extra = schema.get("additionalProperties")
    for parent in schema.get("allOf") or []:
        node, where = _resolve(parent["$ref"], base) if "$ref" in parent else (parent, base)
        inherited, more = _properties(node, where)
        props = {**inherited, **props}
        extra = extra if extra is not None else more
    return props, extra


def validate(value: Any, definition: str, path: str, at: str = "$") -> list[str]:
    node, where = _resolve(f"#/definitions/{definition}", path)
    return _check(value, node, where, at)


def _check(value: Any, schema: dict[str, Any], base: str, at: str) -> list[str]:
    if "$ref" in schema:
        node, where = _resolve(schema["$ref"], base)
        return _check(value, node, where, at)
    kind = schema.get("type") or ("object" if "properties" in schema or "allOf" in schema else None)
    if kind == "object":
        return _object(value, schema, base, at)
    if kind == "array":
        if not isinstance(value, list):
            return [f"{at}: expected an array"]
        return [p for i, item in enumerate(value) for p in _check(item, schema.get("items") or {}, base, f"{at}[{i}]")]
    simple: dict[str, type | tuple[type, ...]] = {"string": str, "boolean": bool, "integer": int,
                                                  "number": (int, float)}
    if kind in simple:
        ok = isinstance(value, simple[kind]) and not (kind in ("integer", "number") and isinstance(value, bool))
        return [] if ok else [f"{at}: expected {kind}, got {type(value).__name__}"]
    return []


def _object(value: Any, schema: dict[str, Any], base: str, at: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{at}: expected an object, got {type(value).__name__}"]
    props, extra = _properties(schema, base)
    problems = []
    for key, item in value.items():
        if key in props:
            problems += _check(item, props[key][0], props[key][1], f"{at}.{key}")
        elif isinstance(extra, dict):
            problems += _check(item, extra, base, f"{at}[{key!r}]")
        elif not extra:
            problems.append(f"{at}: field {key!r} is not in the API")
    return problems
