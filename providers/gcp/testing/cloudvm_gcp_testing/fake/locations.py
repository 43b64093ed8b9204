"""What a project sees before it makes anything: its regions (with their
quotas) and zones, the machine and disk types of each zone, public images
and the project itself."""

from __future__ import annotations

from typing import Any

from cloudvm_gcp_testing.fake import catalog, quotas
from cloudvm_gcp_testing.fake.api import Api, Params, Query, zone_of
from cloudvm_gcp_testing.fake.compute import BASE, ApiError, _fingerprint, not_found, relative

_CREATED = "2014-05-30T18:35:16.575-07:00"
_REGIONS = sorted(catalog.ZONES)
_ZONES = [z for r in _REGIONS for z in catalog.ZONES[r]]


def _stable_id(*parts: str) -> str:
    """The same numeric id for the same name, run after run (as Google's are)."""
    return str(int.from_bytes("/".join(parts).encode()[:8].ljust(8, b"\0"), "big") % 10**15 + 10**15)


class Locations(Api):
    # -- regions and zones ------------------------------------------------------------------

    def _zone(self, project: str, zone: str) -> dict[str, Any]:
        region = zone_of(self.c, project, zone)
        return {"kind": "compute#zone", "id": _stable_id("zone", zone), "creationTimestamp": _CREATED, "name": zone,
                "description": zone, "status": "UP", "region": f"{BASE}projects/{project}/regions/{region}",
                "selfLink": f"{BASE}projects/{project}/zones/{zone}",
                "availableCpuPlatforms": ["Intel Cascade Lake", "AMD Milan"], "supportsPzs": False}

    def zones_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._zone(p["project"], p["zone"])

    def zones_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/zones", q, [self._zone(p["project"], z) for z in _ZONES])

    def _region(self, project: str, region: str) -> dict[str, Any]:
        if region not in catalog.ZONES:
            raise not_found(f"projects/{project}/regions/{region}")
        self.c.project(project)
        return {"kind": "compute#region", "id": _stable_id("region", region), "creationTimestamp": _CREATED,
                "name": region, "description": region, "status": "UP",
                "zones": [f"{BASE}projects/{project}/zones/{z}" for z in catalog.ZONES[region]],
                "quotas": quotas.listed(self.c, project, region),
                "selfLink": f"{BASE}projects/{project}/regions/{region}", "supportsPzs": False}

    def regions_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._region(p["project"], p["region"])

    def regions_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/regions", q, [self._region(p["project"], r) for r in _REGIONS])

    def projects_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        project = p["project"]
        self.c.project(project)
        return {"kind": "compute#project", "id": _stable_id("project", project), "name": project,
                "creationTimestamp": _CREATED, "description": "", "selfLink": f"{BASE}projects/{project}",
                "commonInstanceMetadata": {"kind": "compute#metadata", "fingerprint": _fingerprint(), "items": []},
                "quotas": quotas.listed(self.c, project), "defaultNetworkTier": "PREMIUM",
                "defaultServiceAccount": f"{_stable_id('number', project)}-compute@developer.gserviceaccount.com",
                "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS"}

    # -- machine and disk types -----------------------------------------------------------------

    def _machine_type(self, project: str, zone: str, name: str) -> dict[str, Any]:
        zone_of(self.c, project, zone)
        if name not in catalog.MACHINE_TYPES:
            raise not_found(f"projects/{project}/zones/{zone}/machineTypes/{name}")
        cpus, memory, shared = catalog.MACHINE_TYPES[name]
        return {"kind": "compute#machineType", "id": _stable_id("machineType", name), "name": name,
                "creationTimestamp": "2015-01-16T09:25:43.314-08:00",
                "description": f"{cpus} vCPU{'s' if cpus > 1 else ''}, {memory / 1024:g} GB RAM",
                "guestCpus": cpus, "memoryMb": memory, "imageSpaceGb": 0, "maximumPersistentDisks": 128,
                "maximumPersistentDisksSizeGb": "263168", "zone": zone, "isSharedCpu": shared,
                "selfLink": f"{BASE}projects/{project}/zones/{zone}/machineTypes/{name}",
                "architecture": catalog.architecture(name)}

    def machineTypes_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._machine_type(p["project"], p["zone"], p["machineType"])

    def machineTypes_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        types = [self._machine_type(p["project"], p["zone"], n) for n in sorted(catalog.MACHINE_TYPES)]
        return self._list(f"projects/{p['project']}/zones/{p['zone']}/machineTypes", q, types)

    def machineTypes_aggregatedList(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        scopes = {f"zones/{z}": [self._machine_type(p["project"], z, n) for n in sorted(catalog.MACHINE_TYPES)]
                  for z in _ZONES}
        return self._aggregated(p["project"], "machineTypes", scopes, q)

    def _disk_type(self, project: str, zone: str, name: str) -> dict[str, Any]:
        zone_of(self.c, project, zone)
        if name not in catalog.DISK_TYPE_INFO:
            raise not_found(f"projects/{project}/zones/{zone}/diskTypes/{name}")
        description, valid, default = catalog.DISK_TYPE_INFO[name]
        return {"kind": "compute#diskType", "id": _stable_id("diskType", zone, name), "name": name,
                "creationTimestamp": _CREATED, "description": description, "validDiskSize": valid,
                "defaultDiskSizeGb": str(default), "zone": f"{BASE}projects/{project}/zones/{zone}",
                "selfLink": f"{BASE}projects/{project}/zones/{zone}/diskTypes/{name}"}

    def diskTypes_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._disk_type(p["project"], p["zone"], p["diskType"])

    def diskTypes_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        types = [self._disk_type(p["project"], p["zone"], n) for n in catalog.DISK_TYPE_INFO]
        return self._list(f"projects/{p['project']}/zones/{p['zone']}/diskTypes", q, types)

    def diskTypes_aggregatedList(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        scopes = {f"zones/{z}": [self._disk_type(p["project"], z, n) for n in catalog.DISK_TYPE_INFO]
                  for z in _ZONES}
        return self._aggregated(p["project"], "diskTypes", scopes, q)

    def disk_type(self, project: str, zone: str, link: str) -> str:
        """A disk type's name from a name or link, refused as Compute Engine refuses an unknown one."""
        name = relative(link).rsplit("/", 1)[-1]
        if name not in catalog.DISK_TYPE_INFO:
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.type': '{link}'. "
                                           "Disk type does not exist")
        return name

    # -- images ---------------------------------------------------------------------------------

    def images_get(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self.c.get(f"projects/{p['project']}/global/images/{p['image']}")

    def images_list(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._list(f"projects/{p['project']}/global/images", q)

    def images_getFromFamily(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        members = [i for i in self.c.items(f"projects/{p['project']}/global/images")
                   if i.get("family") == p["family"] and "deprecated" not in i]
        if not members:
            raise not_found(f"projects/{p['project']}/global/images/family/{p['family']}")
        return max(members, key=lambda i: i["name"])

    def image(self, link: str, project: str) -> dict[str, Any]:
        """An image by link, name within ``project``, or ``.../images/family/F``."""
        path = relative(link, project)
        parts = path.split("/")
        if len(parts) == 6 and parts[4] == "family":
            return self.images_getFromFamily({"project": parts[1], "family": parts[5]}, {}, None)
        return self.c.get(path)

