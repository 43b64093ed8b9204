"""What every group of Compute Engine methods shares: lists with filters and
pages, aggregated lists by scope, operations that make, change or delete a
resource (or fail without doing so), label updates checked by fingerprint,
and the operation methods. Handlers are named by discovery id
(``instances.insert`` -> ``instances_insert``); they get the path
parameters, the query and the body, and return the response body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudvm_gcp_testing.fake import catalog
from cloudvm_gcp_testing.fake.compute import BASE, ApiError, Compute, _fingerprint, matches, not_found

Params = dict[str, str]
Query = dict[str, str]
Handler = Callable[[Params, Query, Any], dict[str, Any]]


def _region(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def _kind(collection: str, suffix: str) -> str:
    """``compute#instanceList`` from ``instances`` (and ``machineTypes`` -> ``machineTypeList``)."""
    singular = collection[:-1] if collection.endswith("s") else collection
    return f"compute#{singular}{suffix}"


class Api:
    """The shared mechanics; ``fail_next`` makes the next operation end with an error instead of its effect."""

    def __init__(self, compute: Compute) -> None:
        self.c = compute
        self.fail_next: dict[str, Any] | None = None

    def handler(self, method_id: str) -> Handler | None:
        found: Handler | None = getattr(self, method_id.replace(".", "_"), None)
        return found

    # -- lists ----------------------------------------------------------------------------

    @staticmethod
    def _page(chosen: list[Any], query: Query) -> tuple[list[Any], str | None]:
        size = min(int(query.get("maxResults") or 500), 500)
        start = int(query.get("pageToken") or 0)
        return chosen[start:start + size], str(start + size) if start + size < len(chosen) else None

    def _list(self, collection: str, query: Query, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        kind = collection.rsplit("/", 1)[1]
        chosen = [r for r in (self.c.items(collection) if items is None else items)
                  if matches(r, query.get("filter", ""))]
        page, token = self._page(chosen, query)
        answer: dict[str, Any] = {"kind": _kind(kind, "List"), "id": collection, "items": page,
                                  "selfLink": BASE + collection}
        if token:
            answer["nextPageToken"] = token
        return answer

    def _aggregated(self, project: str, kind: str, scopes: dict[str, list[dict[str, Any]]], query: Query
                    ) -> dict[str, Any]:
        """``aggregatedList``: every scope (``zones/Z`` or ``regions/R``), its items on this page or a
        NO_RESULTS_ON_PAGE warning; ``maxResults`` counts items across scopes."""
        flat = [(scope, r) for scope, items in scopes.items() for r in items if matches(r, query.get("filter", ""))]
        page, token = self._page(flat, query)
        items: dict[str, Any] = {scope: {} for scope in scopes}
        for scope, resource in page:
            items[scope].setdefault(kind, []).append(resource)
        for scope, entry in items.items():
            if not entry:
                entry["warning"] = {"code": "NO_RESULTS_ON_PAGE", "data": [{"key": "scope", "value": scope}],
                                    "message": f"There are no results for scope '{scope}' on this page."}
        answer: dict[str, Any] = {"kind": _kind(kind, "AggregatedList"), "id": f"projects/{project}/aggregated/{kind}",
                                  "items": items, "selfLink": f"{BASE}projects/{project}/aggregated/{kind}"}
        if token:
            answer["nextPageToken"] = token
        return answer

    def _zonal(self, project: str, kind: str, query: Query) -> dict[str, Any]:
        """The aggregated list of a zonal collection that is stored (instances, disks)."""
        self.c.project(project)
        scopes = {f"zones/{z}": self.c.items(f"projects/{project}/zones/{z}/{kind}")
                  for r in sorted(catalog.ZONES) for z in catalog.ZONES[r]}
        return self._aggregated(project, kind, scopes, query)

    # -- operations that change things -------------------------------------------------------

    def _failure(self) -> dict[str, Any] | None:
        failure, self.fail_next = self.fail_next, None
        return failure

    def _done(self, scope: str, kind: str, path: str, resource: dict[str, Any],
              refused: dict[str, Any] | None = None) -> dict[str, Any]:
        """An operation that makes ``resource`` at once, or fails (an injected fault, or ``refused``,
        e.g. a quota) without making it."""
        failure = self._failure() or refused
        op = self.c.operation(scope, kind, path, resource.get("id", ""), failure)
        if not failure:
            self.c._put(path, resource)
        return op

    def _change(self, scope: str, kind: str, path: str, apply: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """An operation that applies ``apply`` to an existing resource, unless it fails."""
        resource = self.c.get(path)
        failure = self._failure()
        op = self.c.operation(scope, kind, path, resource["id"], failure)
        if not failure:
            apply(resource)
        return op

    def _delete(self, scope: str, name: str, *, gradual: bool = True) -> dict[str, Any]:
        """A delete operation; a resource with a status shows DELETING until the operation is done
        (``gradual``), others (firewalls) go at once."""
        path = f"{scope}/{name}"
        resource = self.c.get(path)
        failure = self._failure()
        op = self.c.operation(scope, "delete", path, resource["id"], failure)
        if not failure and gradual:
            resource["status"] = "DELETING"
            self.c.later(self.c.timing.operation * 0.9, path, None)
        elif not failure:
            self.c.remove(path)
        return op

    def _set_labels(self, scope: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resource = self.c.get(path)
        if body.get("labelFingerprint") != resource.get("labelFingerprint"):
            raise ApiError(412, "conditionNotMet", "Labels fingerprint either invalid or resource labels have "
                                                   "changed")
        self.c.check_labels(body.get("labels") or {}, "labels")
        return self._change(scope, "setLabels", path, lambda r: r.update(
            labels=body.get("labels") or {}, labelFingerprint=_fingerprint()))

    # -- operations ----------------------------------------------------------------------------

    def zoneOperations_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/zones/{p['zone']}/operations/{p['operation']}")

    def zoneOperations_wait(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.wait(f"projects/{p['project']}/zones/{p['zone']}/operations/{p['operation']}")

    def zoneOperations_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        zone_of(self.c, p["project"], p["zone"])
        return self._list(f"projects/{p['project']}/zones/{p['zone']}/operations", q)

    def regionOperations_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/regions/{p['region']}/operations/{p['operation']}")

    def regionOperations_wait(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.wait(f"projects/{p['project']}/regions/{p['region']}/operations/{p['operation']}")

    def regionOperations_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/regions/{p['region']}/operations", q)

    def globalOperations_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/global/operations/{p['operation']}")

    def globalOperations_wait(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.wait(f"projects/{p['project']}/global/operations/{p['operation']}")

    def globalOperations_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/global/operations", q)


def zone_of(c: Compute, project: str, zone: str) -> str:
    """``zone``'s region, or the 404 Compute Engine answers for a zone that does not exist."""
    region = _region(zone)
    if zone not in catalog.ZONES.get(region, []):
        raise not_found(f"projects/{project}/zones/{zone}")
    c.project(project)
    return region
