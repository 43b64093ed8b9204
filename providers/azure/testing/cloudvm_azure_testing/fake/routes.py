"""Where a request goes: ARM paths read as ARM reads them (without regard to
case), the resource types and actions the fake serves, and everything else
named as not served (answered 501, never 404)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

COMPUTE, NETWORK = "Microsoft.Compute", "Microsoft.Network"
# The resource types the fake serves, in ARM's own spelling.
KINDS = tuple(f"{ns}/{t}" for ns, types in {
    COMPUTE: ("virtualMachines", "virtualMachines/extensions", "disks", "snapshots", "images",
              "restorePointCollections", "restorePointCollections/restorePoints",
              "restorePointCollections/restorePoints/diskRestorePoints"),
    NETWORK: ("virtualNetworks", "virtualNetworks/subnets", "networkInterfaces", "publicIPAddresses",
              "networkSecurityGroups"),
}.items() for t in types)
_KINDS = {kind.lower(): kind for kind in KINDS}
_NAMESPACES = {COMPUTE.lower(): COMPUTE, NETWORK.lower(): NETWORK}
# POST actions (and the instance view, a GET) by resource type.
ACCESS = ("beginGetAccess", "endGetAccess")
ACTIONS = {f"{COMPUTE}/virtualMachines": ("start", "powerOff", "deallocate", "restart", "instanceView",
                                          "retrieveBootDiagnosticsData", "simulateEviction"),
           f"{COMPUTE}/disks": ACCESS, f"{COMPUTE}/snapshots": ACCESS,
           f"{COMPUTE}/restorePointCollections/restorePoints/diskRestorePoints": ACCESS}


@dataclass(frozen=True)
class Route:
    """What a path names. ``what``: token, locations, groups, group, group-result, provider, operation,
    sizes, skus, usages, images, list-all, collection, resource, action, unserved or not-arm."""

    what: str
    subscription: str = ""
    group: str = ""
    kind: str = ""  # e.g. Microsoft.Compute/virtualMachines/extensions
    rid: str = ""  # the resource's (or collection's) id
    action: str = ""
    location: str = ""
    name: str = ""  # an operation, a tenant
    parts: tuple[str, ...] = ()  # below .../publishers: publisher, offer, sku, version (as many as named)

    @property
    def short(self) -> str:
        return self.kind.rsplit("/", 1)[-1]


def parse(path: str) -> Route:
    segs = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
    low = [s.lower() for s in segs]
    if len(segs) >= 3 and low[1] == "oauth2" and low[-1] == "token":
        return Route("token", name=segs[0])
    if len(segs) < 2 or low[0] != "subscriptions":
        return Route("not-arm")
    sub, rest, lrest = segs[1], segs[2:], low[2:]
    if lrest in (["locations"], ["resourcegroups"]):
        return Route({"locations": "locations", "resourcegroups": "groups"}[lrest[0]], sub)
    if len(lrest) == 2 and lrest[0] in ("resourcegroups", "operationresults"):
        return Route("group" if lrest[0] == "resourcegroups" else "group-result", sub, group=rest[1], name=rest[1])
    if lrest[:1] == ["providers"] and len(rest) == 2 and rest[1].lower() in _NAMESPACES:
        return Route("provider", sub, kind=_NAMESPACES[rest[1].lower()])
    if lrest[:1] == ["providers"] and len(rest) >= 3:
        return _provider(sub, rest[1], rest[2:])
    if len(lrest) >= 5 and lrest[0] == "resourcegroups" and lrest[2] == "providers":
        return _resource(sub, rest[1], rest[3], rest[4:])
    return Route("unserved", sub)


def _provider(sub: str, namespace: str, tail: list[str]) -> Route:
    """Paths below ``/subscriptions/S/providers/NS``: subscription-wide lists and location services."""
    low = [t.lower() for t in tail]
    if len(tail) == 1 and f"{namespace}/{tail[0]}".lower() in _KINDS:
        return Route("list-all", sub, kind=_KINDS[f"{namespace}/{tail[0]}".lower()])
    if low == ["skus"] and namespace.lower() == COMPUTE.lower():
        return Route("skus", sub)
    if len(tail) < 3 or low[0] != "locations":
        return Route("unserved", sub)
    location = tail[1]
    if len(tail) == 4 and low[2] in ("operations", "diskoperations"):
        return Route("operation", sub, location=location, name=tail[3],
                     kind=_NAMESPACES.get(namespace.lower(), namespace), action=tail[2])
    if namespace.lower() != COMPUTE.lower():
        return Route("unserved", sub)
    if low[2:] in (["vmsizes"], ["usages"]):
        return Route("sizes" if low[2] == "vmsizes" else "usages", sub, location=location)
    # publishers[/P/artifacttypes/vmimage/offers[/O/skus[/S/versions[/V]]]]: a list at each level, then a version
    images = low[2:]
    shape = ["publishers", None, "artifacttypes", "vmimage", "offers", None, "skus", None, "versions", None]
    fits = all(want is None or want == got for want, got in zip(shape, images, strict=False))
    if fits and len(images) in (1, 5, 7, 9, 10):
        named = tuple(tail[2:][i] for i in (1, 5, 7, 9) if i < len(images))
        return Route("images", sub, location=location, parts=named)
    return Route("unserved", sub)


def _resource(sub: str, group: str, namespace: str, tail: list[str]) -> Route:
    """``type/name[/child-type/name...][/action]``, as deep as the types nest."""
    kind = _KINDS.get(f"{namespace}/{tail[0]}".lower())
    if kind is None:
        return Route("unserved", sub, group)
    rid, rest = f"/subscriptions/{sub}/resourceGroups/{group}/providers/{kind}", tail[1:]
    while rest:
        rid += f"/{rest[0]}"
        if len(rest) == 1:
            return Route("resource", sub, group, kind, rid)
        action = {a.lower(): a for a in ACTIONS.get(kind, ())}.get(rest[1].lower())
        if len(rest) == 2 and action:
            return Route("action", sub, group, kind, rid, action)
        child = _KINDS.get(f"{kind}/{rest[1]}".lower())
        if child is None:
            return Route("unserved", sub, group)
        kind, rid, rest = child, f"{rid}/{child.rsplit('/', 1)[1]}", rest[2:]
    return Route("collection", sub, group, kind, rid)
