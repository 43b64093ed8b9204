"""The Compute Engine v1 discovery document: where the fake's routes come
from and what every body it receives or sends is checked against."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from typing import Any

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1)}
_INT_STRING = re.compile(r"^-?\d+$")


@cache
def document() -> dict[str, Any]:
    """The document google-api-python-client ships (the same revision Google serves)."""
    text = (files("googleapiclient") / "discovery_cache" / "documents" / "compute.v1.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    return doc


def method(method_id: str) -> dict[str, Any]:
    """A method by its id without the ``compute.`` prefix, e.g. ``instances.insert``."""
    resource, name = method_id.rsplit(".", 1)
    found: dict[str, Any] = document()["resources"][resource]["methods"][name]
    return found


def method_ids() -> list[str]:
    """Every method of the API, e.g. ``instances.insert``."""
    return [f"{resource}.{name}" for resource, info in document()["resources"].items()
            for name in info.get("methods", {})]


def validate(value: Any, schema: str | dict[str, Any], at: str = "") -> list[str]:
    """Every way ``value`` departs from the schema: unknown fields, wrong
    types, values outside an enum. Empty when the body is one Google could send."""
    found: dict[str, Any] = document()["schemas"][schema] if isinstance(schema, str) else schema
    if "$ref" in found:
        return validate(value, found["$ref"], at)
    kind = found.get("type", "")
    checks = {"object": _object, "array": _array, "string": _string, "integer": _integer,
              "number": _number, "boolean": _boolean}
    return checks[kind](value, found, at or "$") if kind in checks else []


def parse(value: Any, schema: str | dict[str, Any]) -> tuple[Any, list[str]]:
    """A request body as Google's JSON parser reads it (proto3 JSON mapping,
    https://protobuf.dev/programming-guides/json/): ``null`` means unset, 64-bit
    integers come as strings or numbers, 32-bit ones as numbers or numeric strings.
    Returns the body in the API's own spelling and every way it departs from the schema."""
    body = _normal(value, schema)
    return body, validate(body, schema)


def _normal(value: Any, schema: str | dict[str, Any]) -> Any:
    found: dict[str, Any] = document()["schemas"][schema] if isinstance(schema, str) else schema
    if "$ref" in found:
        return _normal(value, found["$ref"])
    kind, fmt = found.get("type", ""), found.get("format", "")
    if kind == "object" and isinstance(value, dict):
        props, extra = found.get("properties") or {}, found.get("additionalProperties")
        return {k: _normal(v, props.get(k) or extra or {}) for k, v in value.items() if v is not None}
    if kind == "array" and isinstance(value, list):
        return [_normal(item, found["items"]) for item in value]
    if kind == "string" and fmt in ("int64", "uint64") and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if kind == "integer" and isinstance(value, str) and _INT_STRING.match(value):
        return int(value)
    return value


def _object(value: Any, schema: dict[str, Any], at: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{at}: expected an object, got {type(value).__name__}"]
    problems: list[str] = []
    props = schema.get("properties")
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if props is not None and key in props:
            problems += validate(item, props[key], f"{at}.{key}")
        elif extra is not None:
            problems += validate(item, extra, f"{at}[{key!r}]")
        else:
            problems.append(f"{at}: field {key!r} is not in the API")
    return problems


def _array(value: Any, schema: dict[str, Any], at: str) -> list[str]:
    if not isinstance(value, list):
        return [f"{at}: expected an array, got {type(value).__name__}"]
    return [p for i, item in enumerate(value) for p in validate(item, schema["items"], f"{at}[{i}]")]


def _string(value: Any, schema: dict[str, Any], at: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{at}: expected a string, got {type(value).__name__}"]
    if schema.get("format") in ("int64", "uint64") and not _INT_STRING.match(value):
        return [f"{at}: {value!r} is not a {schema['format']}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} is not one of the API's values"]
    return []


def _integer(value: Any, schema: dict[str, Any], at: str) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [f"{at}: expected an integer, got {type(value).__name__}"]
    low, high = _INT_RANGES.get(schema.get("format", ""), (-(2**63), 2**64))
    return [] if low <= value <= high else [f"{at}: {value} out of {schema.get('format')} range"]


def _number(value: Any, schema: dict[str, Any], at: str) -> list[str]:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return [] if ok else [f"{at}: expected a number, got {type(value).__name__}"]


def _boolean(value: Any, schema: dict[str, Any], at: str) -> list[str]:
    return [] if isinstance(value, bool) else [f"{at}: expected a boolean, got {type(value).__name__}"]
