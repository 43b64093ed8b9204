"""Compute Engine operations as the core's handles, and how far they are: a
round is one filtered ``list`` per scope (a zone, a region, the project's
global operations) naming the pending operations, 40 names a call
(https://cloud.google.com/compute/docs/reference/rest/v1/zoneOperations/list)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cloudvm.fanout import chunks
from cloudvm.operations import Operation, Outcome
from cloudvm_gcp import _sdk
from cloudvm_gcp._errors import mapped, operation_error

_NAMES_A_LIST = 40  # operation names one filtered list asks for


def handle(op: dict[str, Any], what: str) -> Operation:
    """The core's handle of an operation the API answered with (its scope: ``zones/Z``, ``regions/R``
    or ``global``)."""
    where = op.get("zone") or op.get("region")
    scope = "/".join(where.rsplit("/", 2)[-2:]) if where else "global"
    return Operation(id=op["name"], scope=scope, what=what)


class Operations:
    def __init__(self, client: Callable[[str], Any], project: Callable[[], str]) -> None:
        self._client = client
        self._project = project

    def progress(self, operations: Sequence[Operation]) -> dict[str, Outcome]:
        by_scope: dict[str, list[Operation]] = {}
        for op in operations:
            by_scope.setdefault(op.scope, []).append(op)
        done: dict[str, Outcome] = {}
        for scope, pending in by_scope.items():
            what = {op.id: op.what for op in pending}
            for part in chunks(pending, _NAMES_A_LIST):
                query = " OR ".join(f'(name = "{op.id}")' for op in part)
                done.update((item["name"], operation_error(item, what[item["name"]]))
                            for item in self._list(scope, part[0].what, query)
                            if item.get("status") == "DONE" and item["name"] in what)
        return done

    def _list(self, scope: str, what: str, query: str) -> list[dict[str, Any]]:
        kind, _, where = scope.partition("/")
        service = {"zones": "zone_operations", "regions": "region_operations"}.get(kind, "global_operations")
        request = {"project": self._project(), "filter": query, **({kind[:-1]: where} if where else {})}
        with mapped(f"{what}: list operations"):
            return [_sdk.as_dict(item) for item in self._client(service).list(request=request, retry=None,
                                                                              timeout=60.0)]
