"""Networks, subnetworks and firewall rules. Firewall rules count against
the project's FIREWALLS quota; ``patch`` merges (JSON merge patch) and
``update`` replaces, as Compute Engine documents
(https://cloud.google.com/compute/docs/reference/rest/v1/firewalls)."""

from __future__ import annotations

from typing import Any

from cloudvm_gcp_testing.fake import catalog, quotas
from cloudvm_gcp_testing.fake.api import Api, Params, Query
from cloudvm_gcp_testing.fake.compute import BASE, ApiError, _id, now_text, relative

_FIREWALL_DEFAULTS = {"priority": 1000, "direction": "INGRESS", "logConfig": {"enable": False}, "disabled": False}
_FIREWALL_FIXED = ("kind", "id", "creationTimestamp", "selfLink", "name", "network")


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396: objects merge key by key, anything else (arrays too) replaces, null removes."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        else:
            out[key] = value
    return out


def _replace(resource: dict[str, Any], new: dict[str, Any]) -> None:
    resource.clear()
    resource.update(new)


class Networking(Api):
    def networks_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/global/networks/{p['network']}")

    def networks_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/global/networks", q)

    def subnetworks_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/regions/{p['region']}/subnetworks/{p['subnetwork']}")

    def subnetworks_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/regions/{p['region']}/subnetworks", q)

    def subnetworks_aggregatedList(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        self.c.project(p["project"])
        scopes = {f"regions/{r}": self.c.items(f"projects/{p['project']}/regions/{r}/subnetworks")
                  for r in sorted(catalog.ZONES)}
        return self._aggregated(p["project"], "subnetworks", scopes, q)

    # -- firewalls -------------------------------------------------------------------------------

    def _firewall(self, project: str, body: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
        """A firewall rule from a request, checked as Compute Engine checks it."""
        network = relative(body.get("network") or (old or {}).get("network") or "global/networks/default", project)
        self.c.get(network)
        if old is not None and BASE + network != old["network"]:
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.network': '{body.get('network')}'. "
                                           "The network of a firewall rule cannot be changed.")
        if bool(body.get("allowed")) == bool(body.get("denied")):
            raise ApiError(400, "invalid", "Invalid value for field 'resource': ''. A firewall rule must have either "
                                           "allowed or denied rules, and not both.")
        firewall = {"kind": "compute#firewall", "id": (old or {}).get("id") or _id(),
                    "creationTimestamp": (old or {}).get("creationTimestamp") or now_text(),
                    **_FIREWALL_DEFAULTS, **body, "network": BASE + network}
        if firewall["direction"] == "INGRESS" and not firewall.get("sourceRanges") and not firewall.get(
                "sourceTags") and not firewall.get("sourceServiceAccounts"):
            firewall["sourceRanges"] = ["0.0.0.0/0"]
        return firewall

    def firewalls_insert(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        project = p["project"]
        path = f"projects/{project}/global/firewalls/{body.get('name')}"
        self.c.check_new(path, body.get("name"))
        firewall = self._firewall(project, body)
        return self._done(f"projects/{project}/global", "insert", path, firewall,
                          quotas.exceeded(self.c, project, {"FIREWALLS": 1}))

    def firewalls_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/global/firewalls/{p['firewall']}")

    def firewalls_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/global/firewalls", q)

    def firewalls_delete(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._delete(f"projects/{p['project']}/global", f"firewalls/{p['firewall']}", gradual=False)

    def _replace_firewall(self, p: Params, changed: dict[str, Any], kind: str) -> dict[str, Any]:
        path = f"projects/{p['project']}/global/firewalls/{p['firewall']}"
        old = self.c.get(path)
        if changed.get("name", old["name"]) != old["name"]:
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.name': '{changed['name']}'. "
                                           "The name of a firewall rule cannot be changed.")
        new = self._firewall(p["project"], {k: v for k, v in changed.items() if k not in _FIREWALL_FIXED[:4]}, old)
        new.update(name=old["name"], selfLink=old["selfLink"])
        return self._change(f"projects/{p['project']}/global", kind, path, lambda r: _replace(r, new))

    def firewalls_patch(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        old = self.c.get(f"projects/{p['project']}/global/firewalls/{p['firewall']}")
        merged = merge_patch({k: v for k, v in old.items() if k not in _FIREWALL_FIXED[:4]}, body)
        if body.get("allowed"):  # a rule has allowed or denied: setting one clears the other
            merged.pop("denied", None)
        if body.get("denied"):
            merged.pop("allowed", None)
        return self._replace_firewall(p, merged, "patch")

    def firewalls_update(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        return self._replace_firewall(p, body, "update")
