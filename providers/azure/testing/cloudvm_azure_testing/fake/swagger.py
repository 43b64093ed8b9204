"""Azure's own OpenAPI specs (copied unmodified under ``specs/``): every body
the fake sends is checked against the definition the real service documents."""

from __future__ import annotations

import json
import posixpath
import re
from functools import cache
from importlib.resources import files
from typing import Any

COMPUTE = "Microsoft.Compute/ComputeRP/stable/2024-03-01/virtualMachine.json"
DISKS = "Microsoft.Compute/DiskRP/stable/2023-10-02/disk.json"
SNAPSHOTS = "Microsoft.Compute/DiskRP/stable/2023-10-02/snapshot.json"
NETWORK = "Microsoft.Network/stable/2024-01-01/"
IMAGES = "Microsoft.Compute/ComputeRP/stable/2024-03-01/image.json"
# resource type -> (spec file, definition of one resource, definition of a list)
DEFINITIONS = {
    "virtualMachines": (COMPUTE, "VirtualMachine", "VirtualMachineListResult"),
    "extensions": (COMPUTE, "VirtualMachineExtension", "VirtualMachineExtensionsListResult"),
    "disks": (DISKS, "Disk", "DiskList"),
    "snapshots": (SNAPSHOTS, "Snapshot", "SnapshotList"),
    "images": (IMAGES, "Image", "ImageListResult"),
    "networkInterfaces": (NETWORK + "networkInterface.json", "NetworkInterface", "NetworkInterfaceListResult"),
    "publicIPAddresses": (NETWORK + "publicIpAddress.json", "PublicIPAddress", "PublicIPAddressListResult"),
    "networkSecurityGroups": (NETWORK + "networkSecurityGroup.json", "NetworkSecurityGroup",
                              "NetworkSecurityGroupListResult"),
    "virtualNetworks": (NETWORK + "virtualNetwork.json", "VirtualNetwork", "VirtualNetworkListResult"),
    "subnets": (NETWORK + "virtualNetwork.json", "Subnet", "SubnetListResult"),
}
# resource type -> (spec file, definition of a PATCH body)
UPDATES = {"virtualMachines": (COMPUTE, "VirtualMachineUpdate"),
           "extensions": (COMPUTE, "VirtualMachineExtensionUpdate"), "disks": (DISKS, "DiskUpdate"),
           "snapshots": (SNAPSHOTS, "SnapshotUpdate"), "images": (IMAGES, "ImageUpdate"),
           **{kind: (NETWORK + "network.json", "TagsObject") for kind in ("networkInterfaces", "publicIPAddresses",
                                                                         "networkSecurityGroups", "virtualNetworks")}}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@cache
def spec(path: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((files("cloudvm_azure_testing.fake") / "specs" / path).read_text())
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


def coerce(value: Any, definition: str, path: str) -> tuple[Any, list[str]]:
    """A request body as ARM's deserializer (Json.NET) reads it into the documented types: "false"
    becomes a boolean, "2" a number, 2 a string where a string is wanted; what cannot be converted
    is a problem, in Json.NET's words."""
    node, where = _resolve(f"#/definitions/{definition}", path)
    problems: list[str] = []
    return _coerce(value, node, where, "", problems), problems


def _coerce(value: Any, schema: dict[str, Any], base: str, at: str, problems: list[str]) -> Any:
    if "$ref" in schema:
        node, where = _resolve(schema["$ref"], base)
        return _coerce(value, node, where, at, problems)
    kind = schema.get("type") or ("object" if "properties" in schema or "allOf" in schema else None)
    if kind == "object" and isinstance(value, dict):
        props, extra = _properties(schema, base)
        out = {}
        for key, item in value.items():
            inner = f"{at}.{key}" if at else key
            if key in props:
                out[key] = _coerce(item, props[key][0], props[key][1], inner, problems)
            else:
                out[key] = _coerce(item, extra, base, inner, problems) if isinstance(extra, dict) else item
        return out
    if kind == "array" and isinstance(value, list):
        return [_coerce(item, schema.get("items") or {}, base, f"{at}[{i}]", problems) for i, item in enumerate(value)]
    if value is None or kind not in ("boolean", "integer", "number", "string"):
        return value
    converted = _scalar(value, kind)
    if converted is None:
        target = {"boolean": "System.Boolean", "integer": "System.Int32", "number": "System.Double",
                  "string": "System.String"}[kind]
        problems.append(f"Error converting value {json.dumps(value)} to type '{target}'. Path '{at}'.")
        return value
    return converted


def _scalar(value: Any, kind: str) -> Any:
    """``value`` as ``kind``, or None when Json.NET would refuse it."""
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        return value.lower() == "true" if isinstance(value, str) and value.lower() in ("true", "false") else None
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return None
        if isinstance(value, str):
            if not _NUMBER.match(value.strip()):
                return None
            value = float(value)
        if kind == "integer":
            return int(value) if float(value).is_integer() else None
        return value
    if isinstance(value, (dict, list)):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)
