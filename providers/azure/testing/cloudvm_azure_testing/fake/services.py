"""What a subscription reads before it makes anything: its locations, the
VM sizes and core usages of a location, the marketplace image catalogue;
and the Microsoft Entra token endpoint (v1 and v2 client credentials) that
clients sign in at. The fake checks no secret: any client id and secret
get a token."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from typing import Any

from cloudvm_azure_testing.fake import quotas
from cloudvm_azure_testing.fake.arm import Arm, ArmError
from cloudvm_azure_testing.fake.catalog import GENERATION_1, IMAGES, LOCATIONS, PLANS, VM_SIZES
from cloudvm_azure_testing.fake.operations import Answer, Call
from cloudvm_azure_testing.fake.routes import KINDS


def locations(call: Call) -> Answer:
    sub = call.route.subscription
    return 200, {"value": [{
        "id": f"/subscriptions/{sub}/locations/{name}", "name": name, "type": "Region", "displayName": display,
        "regionalDisplayName": f"({geography}) {display}",
        "metadata": {"regionType": "Physical", "regionCategory": "Recommended", "geography": geography,
                     "geographyGroup": geography, "latitude": lat, "longitude": lon, "physicalLocation": display,
                     "pairedRegion": [{"name": pair, "id": f"/subscriptions/{sub}/locations/{pair}"}]},
    } for name, (display, geography, lat, lon, pair) in LOCATIONS.items()]}, {}


def provider(call: Call) -> Answer:
    """A resource provider's registration: its resource types and the locations that offer them."""
    namespace, sub = call.route.kind, call.route.subscription
    types = sorted({kind.split("/", 1)[1].split("/")[0] for kind in KINDS if kind.startswith(namespace + "/")})
    where = [display for display, *_ in LOCATIONS.values()]
    return 200, {"id": f"/subscriptions/{sub}/providers/{namespace}", "namespace": namespace,
                 "registrationState": "Registered", "registrationPolicy": "RegistrationRequired",
                 "resourceTypes": [{"resourceType": t, "locations": where, "apiVersions": ["2024-03-01"],
                                    "capabilities": "None"} for t in [*types, "locations", "operations"]]}, {}


def _location(name: str) -> str:
    if name.lower() not in LOCATIONS:
        raise ArmError(404, "NoRegisteredProviderFound", f"No registered resource provider found for location "
                                                         f"'{name}' and API version for type 'locations'.")
    return name.lower()


def sizes(call: Call) -> Answer:
    _location(call.route.location)
    return 200, {"value": [{"name": n, "numberOfCores": c, "memoryInMB": m, "maxDataDiskCount": d,
                            "osDiskSizeInMB": 1047552, "resourceDiskSizeInMB": 0}
                           for n, (c, m, d, _) in VM_SIZES.items()]}, {}


def skus(arm: Arm, call: Call) -> Answer:
    """Resource SKUs: every VM size per location with its capabilities and the restrictions on this
    subscription (``$filter=location eq 'L'`` narrows to one location)."""
    wanted = call.query.get("$filter", "")
    where = [loc for loc in LOCATIONS if not wanted or f"'{loc}'" in wanted.lower()]
    sub = call.route.subscription
    return 200, {"value": [{
        "resourceType": "virtualMachines", "name": name, "tier": "Standard", "size": name.split("_", 1)[1],
        "family": family, "locations": [loc], "locationInfo": [{"location": loc, "zones": ["1", "2", "3"],
                                                                 "zoneDetails": []}],
        "capabilities": [{"name": "vCPUs", "value": str(cores)}, {"name": "MemoryGB", "value": f"{memory / 1024:g}"},
                         {"name": "MaxDataDiskCount", "value": str(disks)}],
        "restrictions": [{"type": "Location", "values": [loc], "reasonCode": reason,
                          "restrictionInfo": {"locations": [loc]}}
                         for reason in [arm.restricted.get(f"{sub}/{loc}/{name}".lower())] if reason]}
        for loc in where for name, (cores, memory, disks, family) in VM_SIZES.items()]}, {}


def usages(arm: Arm, call: Call) -> Answer:
    location = _location(call.route.location)
    return 200, {"value": quotas.usages(arm, call.route.subscription, location)}, {}


def images(call: Call) -> Answer:
    """publishers -> offers -> skus -> versions, each a list of names; then one version."""
    location, parts = _location(call.route.location), call.route.parts
    here = call.path.split("?")[0].rstrip("/")
    if len(parts) == 4:
        return 200, _version(here, location, parts), {}
    if len(parts) == 3:
        names = sorted(IMAGES.get((parts[0], parts[1], parts[2]), {}))
    else:
        names = sorted({urn[len(parts)] for urn in IMAGES if urn[:len(parts)] == parts})
    if parts and not names:
        raise ArmError(404, "NotFound", f"Artifact: VMImage was not found ({'/'.join(parts)}).")
    return 200, [{"location": location, "name": n, "id": f"{here}/{n}"} for n in names], {}


def _version(here: str, location: str, parts: tuple[str, ...]) -> dict[str, Any]:
    publisher, offer, sku, version = parts
    versions = IMAGES.get((publisher, offer, sku), {})
    if version == "latest" and versions:
        version = max(versions)
    if version not in versions:
        raise ArmError(404, "NotFound", f"Artifact: VMImage was not found ({'/'.join(parts)}).")
    windows = publisher.startswith("MicrosoftWindows")
    plan = PLANS.get((publisher, offer, sku))
    return {"location": location, "name": version, "id": f"{here.rsplit('/', 1)[0]}/{version}",
            "properties": {"osImage": {"operatingSystem": "Windows" if windows else "Linux",
                                       "sizeInGb": versions[version]},
                           "hyperVGeneration": "V1" if (publisher, offer, sku) in GENERATION_1 else "V2",
                           "dataDiskImages": [],
                           "architecture": "x64", "automaticOSUpgradeProperties": {
                               "automaticOSUpgradeSupported": False}, **({"plan": plan} if plan else {})}}


def token(call: Call, raw: bytes) -> tuple[int, dict[str, Any]]:
    """The client-credentials grant of Entra ID's v1 (``/T/oauth2/token``, a ``resource``) and v2
    (``/T/oauth2/v2.0/token``, a ``scope``) endpoints."""
    form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
    missing = [k for k in ("grant_type", "client_id") if not form.get(k)]
    if missing or not (form.get("client_secret") or form.get("client_assertion")):
        wanted = missing[0] if missing else "client_secret"
        return 400, {"error": "invalid_request", "error_description": f"AADSTS900144: The request body must "
                                                                       f"contain the following parameter: '{wanted}'."}
    now = int(time.time())
    claims = {"aud": form.get("resource") or form.get("scope", "").split()[0].removesuffix("/.default"),
              "iss": f"https://sts.windows.net/{call.route.name}/", "appid": form["client_id"], "iat": now,
              "exp": now + 3600, "tid": call.route.name}
    jwt = ".".join(base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
                   for part in ({"typ": "JWT", "alg": "none"}, claims)) + ".fake"
    answer: dict[str, Any] = {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": jwt}
    if "v2.0" not in call.path:  # v1 answers with strings and says when the token expires
        answer.update(expires_in="3599", ext_expires_in="3599", expires_on=str(now + 3599), not_before=str(now),
                      resource=claims["aud"])
    return 200, answer
