"""The methods clients call besides cloudvm's, and the rules Compute Engine
enforces, each answered as Google answers: aggregated lists, regions and
their quotas, disk types, snapshots.insert, firewall patch/update, existing
disks at insert, attach/detach, size limits, and 501 for the rest."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from cloudvm_gcp.testing import ROLES, ZONE, FakeComputeEngine

PROJECT = "fake-methods"  # a project of its own: usage and lists count only what these tests make
ZONE_PATH = f"projects/{PROJECT}/zones/{ZONE}"
GLOBAL = f"projects/{PROJECT}/global"


def instance(name: str, **changes: Any) -> dict[str, Any]:
    return {"name": name, "machineType": f"zones/{ZONE}/machineTypes/e2-small",
            "disks": [{"boot": True, "autoDelete": True, "initializeParams": {
                "sourceImage": "projects/debian-cloud/global/images/family/debian-12"}}],
            "networkInterfaces": [{"network": "global/networks/default"}], **changes}


def done(gce: FakeComputeEngine, op: dict[str, Any]) -> dict[str, Any]:
    """The operation once finished (``wait`` on its own scope)."""
    scope = op["selfLink"].split("/compute/v1/")[1].rsplit("/operations/", 1)[0]
    status, finished = gce.request("POST", f"{scope}/operations/{op['name']}/wait")
    assert status == 200 and finished["status"] == "DONE"
    return finished


def call(gce: FakeComputeEngine, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """A call that must succeed; a returned operation is waited for and must not fail."""
    status, answer = gce.request(method, path, body)
    assert status == 200, answer
    if answer.get("kind") == "compute#operation":
        answer = done(gce, answer)
        assert "error" not in answer, answer["error"]
    return answer


def gone(gce: FakeComputeEngine, *paths: str) -> None:
    for path in paths:
        status, answer = gce.request("DELETE", path)
        if status == 200:
            done(gce, answer)
    time.sleep(gce.timing.stop + 0.05)


@pytest.fixture
def vm(gce: FakeComputeEngine) -> Iterator[str]:
    call(gce, "POST", f"{ZONE_PATH}/instances", instance("methods-vm"))
    yield f"{ZONE_PATH}/instances/methods-vm"
    gone(gce, f"{ZONE_PATH}/instances/methods-vm")


def test_a_method_the_fake_does_not_serve_answers_501_naming_it(gce: FakeComputeEngine) -> None:
    status, body = gce.request("GET", f"projects/{PROJECT}/regions/us-central1/addresses")
    assert status == 501 and body["error"]["status"] == "UNIMPLEMENTED"
    assert "compute.addresses.list" in body["error"]["message"]
    status, body = gce.request("POST", f"{ZONE_PATH}/instances/x/setMachineType", {"machineType": "e2-small"})
    assert status == 501 and "compute.instances.setMachineType" in body["error"]["message"]
    assert gce.request("GET", f"{ZONE_PATH}/instances/nothing")[0] == 404  # served: a missing resource
    assert gce.request("GET", f"projects/{PROJECT}/no/such/path")[0] == 404  # not the API at all


def test_aggregated_lists_group_by_zone_and_page_across_zones(gce: FakeComputeEngine) -> None:
    call(gce, "POST", f"{ZONE_PATH}/instances", instance("agg-a"))
    call(gce, "POST", f"projects/{PROJECT}/zones/us-east1-b/instances",
         instance("agg-b", machineType="zones/us-east1-b/machineTypes/e2-small"))
    try:
        ours = "filter=name%20eq%20agg-.*"  # other tests' instances may share the project
        listed = call(gce, "GET", f"projects/{PROJECT}/aggregated/instances?{ours}")
        assert listed["kind"] == "compute#instanceAggregatedList"
        names = {scope: [i["name"] for i in entry.get("instances", [])] for scope, entry in listed["items"].items()}
        assert names[f"zones/{ZONE}"] == ["agg-a"] and names["zones/us-east1-b"] == ["agg-b"]
        empty = listed["items"]["zones/europe-west1-b"]["warning"]
        assert empty["code"] == "NO_RESULTS_ON_PAGE" and empty["data"] == [{"key": "scope",
                                                                            "value": "zones/europe-west1-b"}]
        first = call(gce, "GET", f"projects/{PROJECT}/aggregated/instances?maxResults=1&{ours}")
        rest = call(gce, "GET", f"projects/{PROJECT}/aggregated/instances?maxResults=1&{ours}"
                                f"&pageToken={first['nextPageToken']}")
        paged = [i["name"] for page in (first, rest) for entry in page["items"].values()
                 for i in entry.get("instances", [])]
        assert paged == ["agg-a", "agg-b"] and "nextPageToken" not in rest
        disks = call(gce, "GET", f"projects/{PROJECT}/aggregated/disks?filter=name%20%3D%20agg-b")
        assert [d["name"] for e in disks["items"].values() for d in e.get("disks", [])] == ["agg-b"]
        types = call(gce, "GET", f"projects/{PROJECT}/aggregated/machineTypes")["items"]
        assert {t["name"] for t in types["zones/us-west1-a"]["machineTypes"]} >= {"e2-small", "n2-standard-2"}
    finally:
        gone(gce, f"{ZONE_PATH}/instances/agg-a", f"projects/{PROJECT}/zones/us-east1-b/instances/agg-b")


def test_regions_report_quotas_from_what_runs(gce: FakeComputeEngine, vm: str) -> None:
    region = call(gce, "GET", f"projects/{PROJECT}/regions/us-central1")
    assert region["zones"][0].endswith(f"/zones/{ZONE}") and region["status"] == "UP"
    quota = {q["metric"]: q for q in region["quotas"]}
    assert quota["CPUS"]["usage"] == 2.0 and quota["INSTANCES"]["usage"] == 1.0  # e2-small: 2 vCPUs
    assert quota["SSD_TOTAL_GB"]["usage"] == 0.0 and quota["DISKS_TOTAL_GB"]["usage"] == 10.0  # pd-standard boot
    assert [r["name"] for r in call(gce, "GET", f"projects/{PROJECT}/regions")["items"]] == [
        "europe-west1", "us-central1", "us-east1", "us-west1"]
    assert gce.request("GET", f"projects/{PROJECT}/regions/mars-north1")[0] == 404
    assert call(gce, "GET", f"projects/{PROJECT}/zones/{ZONE}")["region"].endswith("/regions/us-central1")
    assert {q["metric"] for q in call(gce, "GET", f"projects/{PROJECT}")["quotas"]} >= {"FIREWALLS", "SNAPSHOTS"}


def test_disk_types(gce: FakeComputeEngine) -> None:
    ssd = call(gce, "GET", f"{ZONE_PATH}/diskTypes/pd-ssd")
    assert ssd["validDiskSize"] == "10GB-65536GB" and ssd["zone"].endswith(ZONE)
    assert {t["name"] for t in call(gce, "GET", f"{ZONE_PATH}/diskTypes")["items"]} == {
        "pd-standard", "pd-balanced", "pd-ssd", "pd-extreme", "hyperdisk-balanced"}
    assert gce.request("GET", f"{ZONE_PATH}/diskTypes/pd-floppy")[0] == 404
    listed = call(gce, "GET", f"projects/{PROJECT}/aggregated/diskTypes")["items"]
    assert len(listed["zones/us-east1-c"]["diskTypes"]) == 5


def test_the_cpu_quota_fails_an_insert_and_makes_nothing(gce: FakeComputeEngine, vm: str) -> None:
    gce.set_quota("CPUS", 3, region="us-central1", project=PROJECT)  # the running VM holds 2
    status, op = gce.request("POST", f"{ZONE_PATH}/instances", instance("over-quota"))
    assert status == 200
    failed = done(gce, op)
    assert failed["httpErrorStatusCode"] == 403 and failed["error"]["errors"][0]["code"] == "QUOTA_EXCEEDED"
    assert failed["error"]["errors"][0]["message"] == "Quota 'CPUS' exceeded.  Limit: 3.0 in region us-central1."
    assert gce.request("GET", f"{ZONE_PATH}/instances/over-quota")[0] == 404
    assert gce.leftovers("over-quota", PROJECT) == []  # nor its boot disk
    call(gce, "POST", f"{vm}/stop")  # a stopped VM holds no CPUs ...
    call(gce, "POST", f"{ZONE_PATH}/instances", instance("in-quota"))
    status, op = gce.request("POST", f"{vm}/start")  # ... and takes them back to start
    assert done(gce, op)["error"]["errors"][0]["code"] == "QUOTA_EXCEEDED"
    gone(gce, f"{ZONE_PATH}/instances/in-quota")


def test_the_firewall_quota_counts_the_projects_rules(gce: FakeComputeEngine) -> None:
    existing = len(call(gce, "GET", f"{GLOBAL}/firewalls").get("items", []))
    gce.set_quota("FIREWALLS", existing + 1, project=PROJECT)
    rule = {"name": "quota-1", "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]}
    call(gce, "POST", f"{GLOBAL}/firewalls", rule)
    try:
        failed = done(gce, gce.request("POST", f"{GLOBAL}/firewalls", {**rule, "name": "quota-2"})[1])
        assert failed["error"]["errors"][0]["message"] == (
            f"Quota 'FIREWALLS' exceeded.  Limit: {existing + 1:.1f} globally.")
        assert gce.request("GET", f"{GLOBAL}/firewalls/quota-2")[0] == 404
    finally:
        gone(gce, f"{GLOBAL}/firewalls/quota-1")
    with pytest.raises(ValueError, match="FIREWALLS"):
        gce.set_quota("FIREWALLS", 1, region="us-central1", project=PROJECT)


def test_firewalls_patch_merges_and_update_replaces(gce: FakeComputeEngine) -> None:
    path = f"{GLOBAL}/firewalls/edited"
    call(gce, "POST", f"{GLOBAL}/firewalls", {"name": "edited", "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
                                              "sourceRanges": ["10.0.0.0/8"], "targetTags": ["web"]})
    try:
        call(gce, "PATCH", path, {"allowed": [{"IPProtocol": "tcp", "ports": ["443"]}]})
        patched = call(gce, "GET", path)
        assert patched["allowed"] == [{"IPProtocol": "tcp", "ports": ["443"]}]
        assert patched["targetTags"] == ["web"] and patched["sourceRanges"] == ["10.0.0.0/8"]  # kept
        call(gce, "PUT", path, {"name": "edited", "denied": [{"IPProtocol": "udp"}]})
        replaced = call(gce, "GET", path)
        assert replaced["denied"] == [{"IPProtocol": "udp"}] and "allowed" not in replaced
        assert "targetTags" not in replaced and replaced["sourceRanges"] == ["0.0.0.0/0"]
        assert replaced["id"] == patched["id"]
        status, body = gce.request("PUT", path, {"name": "renamed", "denied": [{"IPProtocol": "udp"}]})
        assert status == 400 and body["error"]["errors"][0]["reason"] == "invalid"
        status, body = gce.request("PATCH", path, {"network": "global/networks/nowhere"})
        assert status == 404  # a firewall rule needs its network
    finally:
        gone(gce, path)


def test_snapshots_insert_takes_a_disk_by_link(gce: FakeComputeEngine) -> None:
    call(gce, "POST", f"{ZONE_PATH}/disks", {"name": "snap-source", "sizeGb": 12})  # a number: proto3 JSON allows it
    disk = call(gce, "GET", f"{ZONE_PATH}/disks/snap-source")
    assert disk["sizeGb"] == "12"
    try:
        status, op = gce.request("POST", f"{GLOBAL}/snapshots", {"name": "inserted", "sourceDisk": disk["selfLink"],
                                                                 "labels": {"k": "v"}, "description": None})
        assert status == 200 and op["operationType"] == "insert" and "zone" not in op  # a global operation
        done(gce, op)
        time.sleep(gce.timing.snapshot + 0.05)
        snapshot = call(gce, "GET", f"{GLOBAL}/snapshots/inserted")
        assert snapshot["status"] == "READY" and snapshot["sourceDisk"] == disk["selfLink"]
        assert snapshot["labels"] == {"k": "v"} and snapshot["diskSizeGb"] == "12"
        status, _ = gce.request("POST", f"{GLOBAL}/snapshots", {"name": "orphan",
                                                                "sourceDisk": f"{ZONE_PATH}/disks/none"})
        assert status == 404
    finally:
        gone(gce, f"{GLOBAL}/snapshots/inserted", f"{ZONE_PATH}/disks/snap-source")


def test_an_existing_disk_boots_an_instance_and_is_then_in_use(gce: FakeComputeEngine) -> None:
    call(gce, "POST", f"{ZONE_PATH}/disks", {"name": "reused", "sourceImage":
                                             "projects/debian-cloud/global/images/family/debian-12"})
    boot = {"boot": True, "source": f"{ZONE_PATH}/disks/reused"}
    try:
        call(gce, "POST", f"{ZONE_PATH}/instances", instance("from-disk", disks=[boot]))
        attached = call(gce, "GET", f"{ZONE_PATH}/instances/from-disk")["disks"][0]
        assert attached["source"].endswith("/disks/reused") and attached["autoDelete"] is False
        status, body = gce.request("POST", f"{ZONE_PATH}/instances", instance("second", disks=[boot]))
        assert status == 400 and body["error"]["errors"][0]["reason"] == "resourceInUseByAnotherResource"
        status, body = gce.request("DELETE", f"{ZONE_PATH}/disks/reused")
        assert status == 400 and body["error"]["errors"][0]["reason"] == "resourceInUseByAnotherResource"
        gone(gce, f"{ZONE_PATH}/instances/from-disk")
        assert "users" not in call(gce, "GET", f"{ZONE_PATH}/disks/reused")  # kept (not autoDelete), now free
    finally:
        gone(gce, f"{ZONE_PATH}/instances/from-disk", f"{ZONE_PATH}/disks/reused")


def test_attach_and_detach_a_disk(gce: FakeComputeEngine, vm: str) -> None:
    call(gce, "POST", f"{ZONE_PATH}/disks", {"name": "extra", "sizeGb": "20", "type": f"zones/{ZONE}/diskTypes/pd-ssd"})
    try:
        call(gce, "POST", f"{vm}/attachDisk", {"source": f"{ZONE_PATH}/disks/extra", "deviceName": "data"})
        disks = call(gce, "GET", vm)["disks"]
        assert [(d["deviceName"], d["index"], d["boot"]) for d in disks] == [("persistent-disk-0", 0, True),
                                                                             ("data", 1, False)]
        assert call(gce, "GET", f"{ZONE_PATH}/disks/extra")["users"] == [call(gce, "GET", vm)["selfLink"]]
        status, body = gce.request("POST", f"{vm}/attachDisk", {"source": f"{ZONE_PATH}/disks/extra"})
        assert status == 400  # already held
        status, body = gce.request("POST", f"{vm}/detachDisk?deviceName=nothing")
        assert status == 400 and "nothing" in body["error"]["message"]
        status, body = gce.request("POST", f"{vm}/detachDisk?deviceName=persistent-disk-0")
        assert status == 400  # the boot disk of a running instance
        call(gce, "POST", f"{vm}/detachDisk?deviceName=data")
        assert [d["deviceName"] for d in call(gce, "GET", vm)["disks"]] == ["persistent-disk-0"]
        assert "users" not in call(gce, "GET", f"{ZONE_PATH}/disks/extra")
        call(gce, "POST", f"{vm}/attachDisk", {"initializeParams": {"diskName": "made-on-attach", "diskSizeGb": "5"}})
        assert call(gce, "GET", f"{ZONE_PATH}/disks/made-on-attach")["users"]
        call(gce, "POST", f"{vm}/detachDisk?deviceName=persistent-disk-1")
    finally:
        gone(gce, f"{ZONE_PATH}/disks/extra", f"{ZONE_PATH}/disks/made-on-attach")


def test_stop_and_start_operations_end_when_the_instance_has_moved(gce: FakeComputeEngine, vm: str) -> None:
    time.sleep(gce.timing.boot)
    call(gce, "POST", f"{vm}/stop")
    assert call(gce, "GET", vm)["status"] == "TERMINATED"
    call(gce, "POST", f"{vm}/start")
    assert call(gce, "GET", vm)["status"] == "RUNNING"


def test_metadata_is_held_to_googles_size_limits(gce: FakeComputeEngine) -> None:
    big = "x" * 262145
    status, body = gce.request("POST", f"{ZONE_PATH}/instances", instance("fat", metadata={"items": [
        {"key": "user-data", "value": big}]}))
    assert status == 400 and "262144" in body["error"]["message"]
    halves = [{"key": f"k{i}", "value": "x" * 200_000} for i in range(3)]
    status, body = gce.request("POST", f"{ZONE_PATH}/instances", instance("fat", metadata={"items": halves}))
    assert status == 400 and "524288" in body["error"]["message"]
    status, body = gce.request("POST", f"{ZONE_PATH}/instances", instance("fat", metadata={"items": [
        {"key": "bad key", "value": "v"}]}))
    assert status == 400 and "items[0].key" in body["error"]["message"]
    assert gce.request("GET", f"{ZONE_PATH}/instances/fat")[0] == 404


def test_bodies_are_read_as_googles_json_parser_reads_them(gce: FakeComputeEngine) -> None:
    status, body = gce.request("POST", f"{ZONE_PATH}/instances", instance("typed", canIpForward="false"))
    assert status == 400 and "canIpForward" in body["error"]["message"]  # a string is not a boolean
    status, body = gce.request("POST", f"{ZONE_PATH}/instances", instance("Typed"))
    assert status == 400 and "resource.name" in body["error"]["message"]  # RFC 1035
    status, body = gce.request("POST", f"{ZONE_PATH}/instances", instance("a" * 64))
    assert status == 400  # 63 characters at most
    call(gce, "POST", f"{ZONE_PATH}/instances", instance("nulls", description=None, labels=None))
    gone(gce, f"{ZONE_PATH}/instances/nulls")


def test_children_need_their_parents(gce: FakeComputeEngine) -> None:
    status, body = gce.request("POST", f"projects/{PROJECT}/zones/us-central1-z/disks", {"name": "lost"})
    assert status == 404 and "zones/us-central1-z" in body["error"]["message"]
    assert gce.request("GET", f"projects/{PROJECT}/zones/us-central1-z/instances")[0] == 404
    status, _ = gce.request("POST", f"{GLOBAL}/firewalls", {"name": "lost", "network": "global/networks/nowhere",
                                                           "allowed": [{"IPProtocol": "icmp"}]})
    assert status == 404
    status, _ = gce.request("POST", f"{ZONE_PATH}/instances", instance("lost", networkInterfaces=[
        {"subnetwork": "regions/us-central1/subnetworks/nowhere"}]))
    assert status == 404


def test_the_documentation_says_what_is_served() -> None:
    from pathlib import Path

    from cloudvm_gcp_testing.fake.server import SERVED

    readme = (Path(__file__).parents[3] / "docs" / "providers" / "gcp.md").read_text()
    table = readme.split("<!-- gcp:served -->", 1)[1].split("<!-- /gcp:served -->", 1)[0]
    said: dict[str, set[str]] = {}
    for row in table.strip().splitlines()[2:]:
        resources, methods = (cell.strip() for cell in row.strip("|").split("|"))
        for resource in resources.split(", "):
            said[resource] = {m.split(" (")[0] for m in methods.split(", ")}
    assert said == {resource: set(methods.split()) for resource, methods in SERVED.items()}


def test_machines_boot_their_own_architecture_from_disks_they_take(gce: FakeComputeEngine) -> None:
    arm = "projects/debian-cloud/global/images/family/debian-12-arm64"
    status, body = gce.request("POST", f"{ZONE_PATH}/instances", instance(
        "arm-x86", machineType=f"zones/{ZONE}/machineTypes/t2a-standard-1"))
    assert status == 400 and "ARM64" in body["error"]["message"]
    status, body = gce.request("POST", f"{ZONE_PATH}/instances", instance("hyper-pd", machineType=f"zones/{ZONE}/"
                                                                          "machineTypes/n4-standard-2"))
    assert status == 400 and "Hyperdisk" in body["error"]["message"]
    assert call(gce, "GET", f"{ZONE_PATH}/machineTypes/c4a-standard-1")["architecture"] == "ARM64"
    booted = instance("arm-arm", machineType=f"zones/{ZONE}/machineTypes/t2a-standard-1", disks=[
        {"boot": True, "autoDelete": True, "initializeParams": {"sourceImage": arm}}])
    hyper = instance("hyper-hyper", machineType=f"zones/{ZONE}/machineTypes/n4-standard-2", disks=[
        {"boot": True, "autoDelete": True, "initializeParams": {
            "sourceImage": "projects/debian-cloud/global/images/family/debian-12",
            "diskType": f"zones/{ZONE}/diskTypes/hyperdisk-balanced"}}])
    for body in (booted, hyper):
        call(gce, "POST", f"{ZONE_PATH}/instances", body)
    gone(gce, f"{ZONE_PATH}/instances/arm-arm", f"{ZONE_PATH}/instances/hyper-hyper")


def test_shielded_vm_needs_a_uefi_boot_disk(gce: FakeComputeEngine) -> None:
    centos = [{"boot": True, "autoDelete": True, "initializeParams": {
        "sourceImage": "projects/centos-cloud/global/images/family/centos-7"}}]
    status, body = gce.request("POST", f"{ZONE_PATH}/instances", instance(
        "bios-shielded", disks=centos, shieldedInstanceConfig={"enableSecureBoot": True}))
    assert status == 400 and "UEFI_COMPATIBLE" in body["error"]["message"]
    call(gce, "POST", f"{ZONE_PATH}/instances", instance("uefi-default"))
    assert call(gce, "GET", f"{ZONE_PATH}/instances/uefi-default")["shieldedInstanceConfig"] == {
        "enableSecureBoot": False, "enableVtpm": True, "enableIntegrityMonitoring": True}  # Google's defaults
    gone(gce, f"{ZONE_PATH}/instances/uefi-default")


def test_cloudvm_is_held_to_the_shipped_roles(gce: FakeComputeEngine) -> None:
    """Callers without a token (cloudvm against the fake) hold cloudvm_gcp/permissions and nothing more."""
    path = f"{gce.url}/compute/v1/{ZONE_PATH}/instances/nobody/attachDisk"
    anonymous = urllib.request.Request(path, data=b'{"source": "zones/x/disks/y"}', method="POST",
                                       headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(anonymous, timeout=10)
    error = json.loads(denied.value.read())["error"]
    assert denied.value.code == 403 and error["errors"][0]["reason"] == "forbidden"
    assert error["message"] == (f"Required 'compute.instances.attachDisk' permission for "
                                f"'projects/{PROJECT}/zones/{ZONE}/instances/nobody/attachDisk'")
    harness = gce.request("POST", f"{ZONE_PATH}/instances/nobody/attachDisk", {"source": "zones/x/disks/y"})
    assert harness[0] == 404  # the harness may: there is no such VM
    for role in ROLES.glob("*.yaml"):
        loaded = yaml.safe_load(role.read_text())
        assert loaded["title"] and loaded["stage"] == "GA" and all("*" not in p for p in loaded["includedPermissions"])
