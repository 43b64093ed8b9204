"""The fake answers like Compute Engine: checked against the discovery
document, against responses recorded from the real API (apache-libcloud's
fixtures), and by its behaviour over time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from importlib.resources import files
from typing import Any

import pytest
from cloudvm_gcp.testing import PROJECT, ZONE, FakeComputeEngine
from cloudvm_gcp_testing.fake import discovery

FIXTURES = files("libcloud") / "test" / "compute" / "fixtures" / "gce"
KINDS = {"compute#instance": "Instance", "compute#operation": "Operation", "compute#disk": "Disk",
         "compute#snapshot": "Snapshot", "compute#machineType": "MachineType", "compute#zone": "Zone",
         "compute#firewall": "Firewall", "compute#network": "Network", "compute#image": "Image",
         "compute#instanceList": "InstanceList", "compute#diskList": "DiskList",
         "compute#snapshotList": "SnapshotList", "compute#firewallList": "FirewallList",
         "compute#machineTypeList": "MachineTypeList", "compute#zoneList": "ZoneList",
         "compute#imageList": "ImageList", "compute#networkList": "NetworkList"}
ZONE_PATH = f"projects/{PROJECT}/zones/{ZONE}"


def recorded() -> dict[str, dict[str, Any]]:
    """libcloud's recorded Compute Engine answers, by file name, for the kinds the fake serves."""
    out = {}
    for fixture in FIXTURES.iterdir():
        if fixture.name.endswith(".json"):
            body = json.loads(fixture.read_text())
            if body.get("kind") in KINDS:
                out[fixture.name] = body
    return out


def http(gce: FakeComputeEngine, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    return gce.request(method, path, body)


def instance(name: str, **changes: Any) -> dict[str, Any]:
    return {"name": name, "machineType": f"zones/{ZONE}/machineTypes/e2-small",
            "disks": [{"boot": True, "autoDelete": True, "initializeParams": {
                "sourceImage": "projects/debian-cloud/global/images/family/debian-12"}}],
            "networkInterfaces": [{"network": "global/networks/default"}], **changes}


# What libcloud's older recordings hold that the API no longer defines (fields since removed, a
# client's getters serialised by mistake, hand-written ids as numbers): known, and nothing else.
DATED = ("field 'scratchDisks'", "field 'maintenanceWindows'", "field 'getResourceId'", "field 'getDisplayName'",
         "field 'getResourceType'", "field 'getFullResourcePath'", "expected a string, got int")


def test_the_validator_accepts_real_answers_and_rejects_wrong_ones() -> None:
    answers = recorded()
    assert len(answers) > 150
    problems = {name: discovery.validate(body, KINDS[body["kind"]]) for name, body in answers.items()}
    unexplained = {name: [p for p in found if not any(d in p for d in DATED)] for name, found in problems.items()}
    assert {name: found for name, found in unexplained.items() if found} == {}
    assert sum(not found for found in problems.values()) > 0.9 * len(answers)
    good = answers["zones_us-central1-a_instances_node-name.json"]
    assert discovery.validate({**good, "color": "red"}, "Instance") == ["$: field 'color' is not in the API"]
    assert discovery.validate({**good, "id": 4006034190819017667}, "Instance") == [
        "$.id: expected a string, got int"]  # int64 travels as a string
    assert discovery.validate({**good, "status": "BOOTING"}, "Instance") == [
        "$.status: 'BOOTING' is not one of the API's values"]
    assert discovery.validate({**good, "disks": [{"boot": "yes"}]}, "Instance") == [
        "$.disks[0].boot: expected a boolean, got str"]


@pytest.mark.parametrize(("fixture", "path", "optional"), [
    ("zones_us-central1-a_instances_node-name.json", f"{ZONE_PATH}/instances/shape", ()),
    ("zones_us-central1-a_disks_lcdisk.json", f"{ZONE_PATH}/disks/shape", ()),
    ("zones_us-central1-a_machineTypes_n1-standard-1.json", f"{ZONE_PATH}/machineTypes/n1-standard-1", ()),
    ("zones_us-central1-a.json", f"projects/{PROJECT}/zones/{ZONE}", ()),
    # a legacy network, recorded before subnetworks; the default network is auto-mode now
    ("global_networks_default.json", f"projects/{PROJECT}/global/networks/default", ("IPv4Range", "gatewayIPv4")),
    ("operations_operation_zones_us-central1-a_instances_post.json", None, ()),
])
def test_the_fake_answers_with_the_fields_the_real_api_sends(gce: FakeComputeEngine, fixture: str,
                                                           path: str | None, optional: tuple[str, ...]) -> None:
    real = recorded()[fixture]
    status, op = http(gce, "POST", f"{ZONE_PATH}/instances", instance("shape"))
    assert status == 200
    if path is None:
        status, ours = http(gce, "POST", f"{ZONE_PATH}/operations/{op['name']}/wait")
    else:
        status, ours = http(gce, "GET", path)
    try:
        assert status == 200
        missing = set(real) - set(ours) - {"description", *optional}
        assert missing == set(), f"the fake leaves out {missing}"
        for key in ("kind", "status"):
            if key in real:
                assert type(ours[key]) is type(real[key])
    finally:
        http(gce, "DELETE", f"{ZONE_PATH}/instances/shape")
        time.sleep(gce.timing.stop + 0.1)


def test_statuses_move_on_over_time_like_the_real_service(gce: FakeComputeEngine) -> None:
    seen: list[str] = []
    _, op = http(gce, "POST", f"{ZONE_PATH}/instances", instance("timeline"))
    assert op["status"] in ("PENDING", "RUNNING") and op["targetLink"].endswith("/instances/timeline")
    assert op["targetId"].isdigit()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (not seen or seen[-1] != "RUNNING"):
        status = http(gce, "GET", f"{ZONE_PATH}/instances/timeline")[1]["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.02)
    assert seen == ["PROVISIONING", "STAGING", "RUNNING"]
    done = http(gce, "POST", f"{ZONE_PATH}/operations/{op['name']}/wait")[1]
    assert done["status"] == "DONE" and done["progress"] == 100 and "endTime" in done
    http(gce, "POST", f"{ZONE_PATH}/instances/timeline/stop")
    assert http(gce, "GET", f"{ZONE_PATH}/instances/timeline")[1]["status"] == "STOPPING"
    time.sleep(gce.timing.stop + 0.05)
    assert http(gce, "GET", f"{ZONE_PATH}/instances/timeline")[1]["status"] == "TERMINATED"
    http(gce, "DELETE", f"{ZONE_PATH}/instances/timeline")
    time.sleep(gce.timing.stop + 0.05)
    assert http(gce, "GET", f"{ZONE_PATH}/instances/timeline")[0] == 404
    assert gce.leftovers("timeline") == []  # the boot disk went with it (autoDelete)


def test_errors_have_googles_shape(gce: FakeComputeEngine) -> None:
    status, body = http(gce, "GET", f"{ZONE_PATH}/instances/nothing-here")
    assert status == 404 and body == {"error": {"code": 404, "message": f"The resource '{ZONE_PATH}/instances/"
                                                "nothing-here' was not found", "errors": [{
                                                    "message": f"The resource '{ZONE_PATH}/instances/nothing-here' "
                                                               "was not found", "domain": "global",
                                                    "reason": "notFound"}]}}
    assert http(gce, "POST", f"{ZONE_PATH}/instances", instance("Bad_Name"))[1]["error"]["errors"][0][
        "reason"] == "invalid"
    status, body = http(gce, "POST", f"{ZONE_PATH}/instances", instance("typo", machineTyp="e2-small"))
    assert status == 400 and "machineTyp" in body["error"]["message"]  # unknown fields are refused, as Google does
    status, body = http(gce, "POST", f"{ZONE_PATH}/instances?requestId=not-a-uuid", instance("badid"))
    assert status == 400 and "requestId" in body["error"]["message"]


def test_request_ids_deduplicate_inserts(gce: FakeComputeEngine) -> None:
    rid = uuid.uuid4()
    first = http(gce, "POST", f"{ZONE_PATH}/instances?requestId={rid}", instance("dedup"))[1]
    again = http(gce, "POST", f"{ZONE_PATH}/instances?requestId={rid}", instance("dedup"))[1]
    assert again["name"] == first["name"] and again["clientOperationId"] == str(rid)
    status, conflict = http(gce, "POST", f"{ZONE_PATH}/instances?requestId={uuid.uuid4()}", instance("dedup"))
    assert status == 409 and conflict["error"]["errors"][0]["reason"] == "alreadyExists"
    http(gce, "DELETE", f"{ZONE_PATH}/instances/dedup")


def test_list_filters_and_pages(gce: FakeComputeEngine) -> None:
    for i in range(3):
        http(gce, "POST", f"{ZONE_PATH}/instances", instance(f"page-{i}", labels={"group": "paged"}))
    try:
        page = http(gce, "GET", f"{ZONE_PATH}/instances?maxResults=2&filter=labels.group%20%3D%20paged")[1]
        assert [i["name"] for i in page["items"]] == ["page-0", "page-1"] and page["nextPageToken"]
        rest = http(gce, "GET", f"{ZONE_PATH}/instances?maxResults=2&filter=labels.group%20%3D%20paged"
                                f"&pageToken={page['nextPageToken']}")[1]
        assert [i["name"] for i in rest["items"]] == ["page-2"] and "nextPageToken" not in rest
        either = '(name = "page-0") OR (name = "page-2")'
        found = http(gce, "GET", f"{ZONE_PATH}/instances?filter={urllib.request.quote(either)}")[1]
        assert [i["name"] for i in found["items"]] == ["page-0", "page-2"]
    finally:
        for i in range(3):
            http(gce, "DELETE", f"{ZONE_PATH}/instances/page-{i}")


def test_every_answer_so_far_matched_the_schema(gce: FakeComputeEngine) -> None:
    assert gce.violations == []  # the session fixture checks again after the last test


def test_the_fake_runs_on_its_own_for_other_tools() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "cloudvm_gcp_testing.fake"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        with urllib.request.urlopen(f"{url}/compute/v1/projects/any/zones/{ZONE}", timeout=10) as reply:
            assert json.loads(reply.read())["status"] == "UP"
    finally:
        proc.terminate()
        proc.wait(10)


def test_label_and_metadata_updates_need_the_current_fingerprint(gce: FakeComputeEngine) -> None:
    http(gce, "POST", f"{ZONE_PATH}/instances", instance("fingerprinted"))
    path = f"{ZONE_PATH}/instances/fingerprinted"
    try:
        current = http(gce, "GET", path)[1]
        status, body = http(gce, "POST", f"{path}/setLabels", {"labels": {"a": "b"}, "labelFingerprint": "stale="})
        assert status == 412 and body["error"]["errors"][0]["reason"] == "conditionNotMet"
        assert http(gce, "POST", f"{path}/setLabels", {"labels": {"a": "b"},
                                                       "labelFingerprint": current["labelFingerprint"]})[0] == 200
        assert http(gce, "POST", f"{path}/setMetadata", {"items": [{"key": "k", "value": "v"}],
                                                         "fingerprint": current["metadata"]["fingerprint"]})[0] == 200
        after = http(gce, "GET", path)[1]
        assert after["labels"] == {"a": "b"} and after["metadata"]["items"] == [{"key": "k", "value": "v"}]
        assert after["labelFingerprint"] != current["labelFingerprint"]
    finally:
        http(gce, "DELETE", path)
