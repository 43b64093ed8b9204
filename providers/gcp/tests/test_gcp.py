"""What a user of the GCP provider relies on, checked through the official
client against the fake: sizes, images, labels, metadata, firewalls, disks,
networks, snapshots and their copies, and error mapping."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cloudvm_gcp import catalog
from cloudvm_gcp.testing import PROJECT, ZONE, FakeComputeEngine
from cloudvm_testing import host_key, restored_copy

import cloudvm
from cloudvm import errors, hostkeys, tags
from cloudvm.retry import NO_RETRY

MakeVM = Callable[..., cloudvm.VMSpec]


def raw(gce: FakeComputeEngine, kind: str, name: str) -> dict[str, Any]:
    """A resource exactly as the fake holds it."""
    return next(r for r in gce.resources() if r["kind"] == f"compute#{kind}" and r["name"] == name)


def test_a_shape_becomes_the_cheapest_fitting_machine_type(cloud: cloudvm.Cloud) -> None:
    chosen = cloud.resolve_size(cloudvm.Size(cpus=2, memory_gib=3))
    assert chosen.cpus >= 2 and chosen.memory_gib >= 3
    types = cloud.provider._list("machine_types", "list", project=PROJECT, zone=ZONE)  # type: ignore[attr-defined]
    fitting = {t["name"]: catalog.price(t, "us-central1") for t in types
               if t["guestCpus"] >= 2 and t["memoryMb"] >= 3 * 1024}
    assert fitting[chosen.type_name] == min(fitting.values()) < float("inf")
    assert cloud.resolve_size(cloudvm.Size(instance_type="n2-standard-4")) == cloudvm.ResolvedSize(
        "n2-standard-4", 4, 16.0)
    with pytest.raises(errors.InvalidSpec, match=r"size\.instance_type.*zz-huge"):
        cloud.resolve_size(cloudvm.Size(instance_type="zz-huge"))
    with pytest.raises(errors.InvalidSpec, match=r"no machine type .* 512 vCPUs"):
        cloud.resolve_size(cloudvm.Size(cpus=512, memory_gib=1))


def test_the_chosen_type_boots_the_images_aliases_name_wherever_prices_are_missing(
        gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    with cloudvm.connect("gcp", project=PROJECT, zone="us-east1-b", api_endpoint=gce.url, timeout=60,
                         poll_interval=0.1) as east:  # the price table has no us-east1 rates
        for cpus, memory in [(1, 4), (2, 8), (1, 1)]:
            vm = east.create(make_vm(f"priced-{cpus}-{memory}", size=cloudvm.Size(cpus=cpus, memory_gib=memory)))
            assert vm.size and vm.size.type_name.split("-")[0] not in ("t2a", "c4a", "n4", "c4"), vm.size
            east.delete(vm)


def test_aliases_resolve_to_image_families_and_urls_pass_through(cloud: cloudvm.Cloud, gce: FakeComputeEngine) -> None:
    for alias, (project, family) in catalog.IMAGES.items():
        link = cloud.provider.resolve_image(alias)
        assert f"/projects/{project}/global/images/" in link
        assert gce.fake.compute.get(link.split("/compute/v1/")[1])["family"] == family
    # the family's newest image that is not deprecated
    assert cloud.provider.resolve_image("debian-12").endswith("/debian-12-bookworm-v20261105")
    url = "https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-12-bookworm-v20261020"
    assert cloud.provider.resolve_image(url) == url
    assert cloud.provider.resolve_image("projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts").endswith(
        "/ubuntu-2204-jammy-v20261101")
    with pytest.raises(errors.InvalidSpec, match=r"unknown image 'centos-7'.*debian-12.*ubuntu-24\.04"):
        cloud.provider.resolve_image("centos-7")
    with pytest.raises(errors.InvalidSpec, match="no image"):
        cloud.provider.resolve_image("projects/debian-cloud/global/images/debian-1")


def test_labels_metadata_firewalls_and_public_ip(cloud: cloudvm.Cloud, gce: FakeComputeEngine,
                                                 make_vm: MakeVM) -> None:
    network = cloudvm.Network(public_ip=True, ingress=[cloudvm.Ingress(port=22, cidr="10.0.0.0/8"),
                                                       cloudvm.Ingress(port=8000, to_port=8080)])
    vm = cloud.create(make_vm("full", tags={"Team": "QA/Ops"}, network=network, user_data="#!/bin/sh\necho hi\n",
                              disks=[cloudvm.Disk(size_gib=2, tier="ssd")]))
    try:
        assert vm.tags["Team"] == "QA/Ops" and vm.public_ips and vm.ssh_user == "ops"  # given back exactly
        inst = raw(gce, "instance", "full")
        assert inst["labels"]["team"] == "qa_ops" and inst["labels"][tags.MANAGED] == "true"
        meta = {i["key"]: i["value"] for i in inst["metadata"]["items"]}
        assert meta["ssh-keys"].startswith("ops:ssh-ed25519 ")
        assert "#!/bin/sh\necho hi" in meta["user-data"] and "name: ops" in meta["user-data"]
        assert [raw(gce, "disk", d.id)["type"].rsplit("/", 1)[1] for d in vm.disks] == ["pd-balanced", "pd-ssd"]
        assert [d["autoDelete"] for d in inst["disks"]] == [True, True]
        rules = sorted((r for r in gce.resources() if r["kind"] == "compute#firewall"
                        and r["targetTags"] == inst["tags"]["items"]), key=lambda r: r["sourceRanges"])
        assert [(r["sourceRanges"], r["allowed"]) for r in rules] == [
            (["0.0.0.0/0"], [{"IPProtocol": "tcp", "ports": ["8000-8080"]}]),
            (["10.0.0.0/8"], [{"IPProtocol": "tcp", "ports": ["22"]}])]
        assert all(r["targetTags"] == inst["tags"]["items"] for r in rules)
    finally:
        cloud.delete(vm)
    assert gce.leftovers("full") == []


def test_a_fleet_with_the_same_ingress_shares_its_firewall_rules(cloud: cloudvm.Cloud, gce: FakeComputeEngine,
                                                                  make_vm: MakeVM) -> None:
    web = cloudvm.Network(ingress=[cloudvm.Ingress(port=443), cloudvm.Ingress(port=80)])
    rules = len([r for r in gce.resources() if r["kind"] == "compute#firewall"])
    gce.set_quota("FIREWALLS", rules + 2)  # room for two rules, not one a VM
    fleet = cloud.create_many([make_vm(f"web-{n}", network=web) for n in range(5)])
    other = cloud.create(make_vm("ssh-only", network=cloudvm.Network(ingress=[cloudvm.Ingress(port=22)])))
    try:
        shared = [r for r in gce.resources() if r["kind"] == "compute#firewall" and r["name"].startswith("cloudvm-in-")]
        assert len(shared) == 2 and shared[0]["allowed"] != shared[1]["allowed"]
        web_rule = next(r for r in shared if r["allowed"][0]["ports"] == ["443", "80"])
        assert {vm.name for vm in cloud.list() if web_rule["targetTags"][0] in vm.raw["tags"]["items"]} == {
            f"web-{n}" for n in range(5)}
        cloud.delete(fleet[:4])
        assert len([r for r in gce.resources() if r["kind"] == "compute#firewall"]) == rules + 2  # web-4 holds it
    finally:
        cloud.delete([fleet[4], other])
    assert gce.leftovers("web-4") == [] and gce.leftovers("ssh-only") == []
    assert len([r for r in gce.resources() if r["kind"] == "compute#firewall"]) == rules


def test_tags_that_collide_as_labels_fail_before_anything_is_made(cloud: cloudvm.Cloud, gce: FakeComputeEngine,
                                                                  make_vm: MakeVM) -> None:
    with pytest.raises(errors.InvalidSpec, match=r"tags.*'Team'.*'team'"):
        cloud.create(make_vm("collide", tags={"Team": "a", "team": "b"}))
    assert gce.leftovers("collide") == []


def test_disks_take_the_customer_managed_key_the_spec_names(cloud: cloudvm.Cloud, gce: FakeComputeEngine,
                                                            make_vm: MakeVM) -> None:
    key = f"projects/{PROJECT}/locations/us-central1/keyRings/vms/cryptoKeys/disks"
    with pytest.raises(errors.InvalidSpec, match="encryption_key: Compute Engine takes a Cloud KMS key"):
        cloud.create(make_vm("bad-key", encryption_key="alias/aws/ebs"))
    assert gce.leftovers("bad-key") == []
    vm = cloud.create(make_vm("cmk", disks=[cloudvm.Disk(size_gib=1)], encryption_key=key))
    plain = cloud.create(make_vm("pmk"))
    try:
        assert [raw(gce, "disk", d.id)["diskEncryptionKey"] for d in vm.disks] == [
            {"kmsKeyName": f"{key}/cryptoKeyVersions/1"}] * 2
        assert "diskEncryptionKey" not in raw(gce, "disk", plain.disks[0].id)  # Google's own keys
        with restored_copy(cloud, vm, "cmk-again") as restored:
            assert all("diskEncryptionKey" in raw(gce, "disk", d.id) for d in restored.disks)
    finally:
        cloud.delete([vm, plain])


def test_host_keys_come_from_guest_attributes_or_the_console(cloud: cloudvm.Cloud, gce: FakeComputeEngine,
                                                              make_vm: MakeVM) -> None:
    debian = cloud.create(make_vm("keys-agent", image="debian-12"))  # the guest environment publishes them
    ubuntu = cloud.create(make_vm("keys-console", image="ubuntu-24.04"))
    try:
        for vm in (debian, ubuntu):
            assert cloud.host_keys(vm) == [host_key(raw(gce, "instance", vm.name)["id"])]
            assert f"HostKeyAlias={hostkeys.alias(vm)}" in " ".join(cloud.ssh_argv(vm))
        assert hostkeys.BEGIN in cloud.console_output(ubuntu) and hostkeys.BEGIN not in cloud.console_output(debian)
        without = gce.request("POST", f"projects/{PROJECT}/zones/{ZONE}/instances/keys-agent/setMetadata", {
            "fingerprint": raw(gce, "instance", "keys-agent")["metadata"]["fingerprint"], "items": []})
        assert without[0] == 200
        status = gce.request("GET", f"projects/{PROJECT}/zones/{ZONE}/instances/keys-agent/getGuestAttributes"
                                    "?queryPath=hostkeys/")[0]
        assert status == 404, "guest attributes are published only where the metadata enables them"
    finally:
        cloud.delete([debian, ubuntu])


def test_user_data_runs_where_the_image_has_no_cloud_init(cloud: cloudvm.Cloud, gce: FakeComputeEngine,
                                                          make_vm: MakeVM) -> None:
    script = "#!/bin/sh\necho configured > /etc/motd\n"
    debian = cloud.create(make_vm("no-cloud-init", image="debian-12", user_data=script))
    ubuntu = cloud.create(make_vm("with-cloud-init", image="ubuntu-24.04", user_data=script))
    try:
        metadata = {i["key"]: i["value"] for i in gce.request(
            "GET", f"projects/{PROJECT}/zones/{ZONE}/instances/no-cloud-init")[1]["metadata"]["items"]}
        assert script.strip() in metadata["startup-script"] and "user-data.done" in metadata["startup-script"]
        assert "startup-script exit status 0" in cloud.console_output(debian)
        assert "running user-data" in cloud.console_output(ubuntu)
        with pytest.raises(cloudvm.errors.InvalidSpec, match=r"user_data: debian-12 on Compute Engine runs no "
                                                             r"cloud-init"):
            cloud.create(make_vm("config-on-debian", image="debian-12", user_data="#cloud-config\nruncmd: [ls]\n"))
        assert gce.leftovers("config-on-debian") == []
    finally:
        cloud.delete([debian, ubuntu])


def test_shielded_vm_where_the_image_boots_uefi_and_restores_keep_it(cloud: cloudvm.Cloud, gce: FakeComputeEngine,
                                                                      make_vm: MakeVM) -> None:
    shielded = cloud.create(make_vm("shielded"))
    bios = cloud.create(make_vm("bios", image="projects/centos-cloud/global/images/family/centos-7"))
    try:
        config = raw(gce, "instance", "shielded")["shieldedInstanceConfig"]
        assert config == {"enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}
        assert "shieldedInstanceConfig" not in raw(gce, "instance", "bios")
        with restored_copy(cloud, shielded, "shielded-again"):
            assert raw(gce, "instance", "shielded-again")["shieldedInstanceConfig"]["enableSecureBoot"] is True
    finally:
        cloud.delete([shielded, bios])


def test_kept_disks_outlive_the_vm(cloud: cloudvm.Cloud, gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    vm = cloud.create(make_vm("keeper", disks=[cloudvm.Disk(size_gib=1, keep=True), cloudvm.Disk(size_gib=1)]))
    cloud.delete(vm)
    assert gce.leftovers("keeper") == ["disk keeper-data-1"]
    assert "users" not in raw(gce, "disk", "keeper-data-1")
    with gce.fake.compute.lock:
        gce.fake.compute.remove(f"projects/{PROJECT}/zones/{ZONE}/disks/keeper-data-1")


def test_a_named_network_and_subnetwork(cloud: cloudvm.Cloud, gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    gce.add_network("lab", {"us-central1": "172.20.0.0/24", "us-west1": "172.20.1.0/24"})
    vm = cloud.create(make_vm("in-lab", network=cloudvm.Network(name="lab/lab")))
    try:
        assert vm.private_ips[0].startswith("172.20.0.")
        assert vm.raw["networkInterfaces"][0]["subnetwork"].endswith("/regions/us-central1/subnetworks/lab")
    finally:
        cloud.delete(vm)
    with pytest.raises(errors.InvalidSpec, match=r"network\.name.*'nowhere'"):
        cloud.create(make_vm("no-net", network=cloudvm.Network(name="nowhere", ingress=[cloudvm.Ingress(port=22)])))
    assert gce.leftovers("no-net") == []


def test_waiting_on_many_vms_costs_one_list_per_poll(cloud: cloudvm.Cloud, gce: FakeComputeEngine,
                                                     make_vm: MakeVM) -> None:
    gets, lists = gce.count("instances.get"), gce.count("instances.list")
    vms = cloud.create_many([make_vm(f"many-{i}", tags={"batch": "many"}) for i in range(6)])
    polls = gce.count("instances.list") - lists
    cloud.delete(vms)
    assert gce.count("instances.get") == gets  # never one request per VM
    boot_rounds = gce.timing.boot / 0.1  # the cloud fixture polls every 0.1 s
    assert polls <= boot_rounds + 4, polls


def test_snapshot_copy_to_a_region_and_restore_in_another_zone(cloud: cloudvm.Cloud, gce: FakeComputeEngine,
                                                               make_vm: MakeVM) -> None:
    vm = cloud.create(make_vm("dr", disks=[cloudvm.Disk(size_gib=3, tier="ssd")]))
    snap = cloud.snapshot(vm, name="dr-snap", tags={"policy": "daily"})
    assert [(d.root, d.size_gib) for d in snap.disks] == [(True, 10.0), (False, 3.0)]
    assert snap.spec is not None and snap.spec.size.instance_type == vm.size.type_name  # type: ignore[union-attr]
    # both disks at one instant: a machine image of the VM (crash-consistent), not a snapshot per disk
    image = raw(gce, "machineImage", "dr-snap")
    assert [d["deviceName"] for d in image["instanceProperties"]["disks"]] == [d.device for d in vm.disks]
    assert not [r for r in gce.resources() if r["kind"] == "compute#snapshot"]
    local = cloud.restore(snap, name="dr-local")
    assert [(d.root, d.size_gib) for d in local.disks] == [(True, 10.0), (False, 3.0)]
    assert raw(gce, "disk", local.disks[1].id)["sourceMachineImageDiskDeviceName"] == vm.disks[1].device
    cloud.delete(local)
    copy = cloud.copy_snapshot(snap, region="us-west1")
    assert copy.region == "us-west1" and copy.name == "dr-snap" and copy.id != snap.id
    assert cloud.copy_snapshot(snap, region="us-west1").disks == copy.disks  # idempotent
    with cloudvm.connect("gcp", project=PROJECT, zone="us-west1-b", api_endpoint=gce.url, timeout=60,
                         poll_interval=0.1) as west:
        found = west.get_snapshot("dr-snap")
        assert found.id == copy.id  # the copy stored in the region comes first
        restored = west.restore(found, name="dr-west")
        assert restored.zone == "us-west1-b" and [(d.root, d.size_gib) for d in restored.disks] == [
            (True, 10.0), (False, 3.0)]
        assert raw(gce, "disk", restored.disks[1].id)["type"].endswith("/pd-ssd")
        assert restored.ssh_user == "ops"
        west.delete(restored)
    cloud.delete(vm)
    cloud.delete_snapshot(snap)
    cloud.delete_snapshot(copy)
    assert cloud.list_snapshots() == []
    assert gce.leftovers("dr") == [] and gce.leftovers("dr-snap") == [] and gce.leftovers("dr-west") == []
    assert gce.leftovers("dr-local") == []
    assert not [r for r in gce.resources() if r["name"].endswith("-copy")]  # temporary disks


def test_snapshot_storage_location_is_settable(gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    with cloudvm.connect("gcp", project=PROJECT, zone=ZONE, api_endpoint=gce.url, snapshot_location="eu",
                         timeout=60, poll_interval=0.1) as cloud:
        vm = cloud.create(make_vm("located"))
        snap = cloud.snapshot(vm, name="located-snap")
        try:
            assert snap.region == "eu" and raw(gce, "machineImage", "located-snap")["storageLocations"] == ["eu"]
        finally:
            cloud.delete(vm)
            cloud.delete_snapshot(snap)


def test_restore_refuses_an_incomplete_set(cloud: cloudvm.Cloud, gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    vm = cloud.create(make_vm("partial", disks=[cloudvm.Disk(size_gib=1)]))
    snap = cloud.snapshot(vm, name="partial-snap")
    cloud.delete(vm)
    copy = cloud.copy_snapshot(snap, region="us-west1")  # a copy is a snapshot per disk
    cloud.delete_snapshot(snap)
    provider: Any = cloud.provider
    provider._check((provider._call("snapshots", "delete_unary", "x", project=PROJECT, snapshot=copy.disks[1].id),
                     "x"))
    broken = cloud.get_snapshot("partial-snap")
    assert broken.state is cloudvm.SnapshotState.PENDING  # never READY with a member missing
    with pytest.raises(errors.ProviderError, match=r"partial-snap is pending: not every disk.s copy is complete"):
        cloud.restore(broken, name="partial-2")
    cloud.delete_snapshot(broken)
    assert gce.leftovers("partial-2") == [] and gce.leftovers("partial-snap") == []


@pytest.mark.parametrize(("kind", "details", "cls", "code"), [
    ("operation", {"code": "ZONE_RESOURCE_POOL_EXHAUSTED"}, errors.CapacityUnavailable, "ZONE_RESOURCE_POOL_EXHAUSTED"),
    ("operation", {"code": "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"}, errors.CapacityUnavailable,
     "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"),
    ("operation", {"code": "QUOTA_EXCEEDED"}, errors.QuotaExceeded, "QUOTA_EXCEEDED"),
    ("throttle", {}, errors.Throttled, "rateLimitExceeded"),
    ("rate403", {}, errors.Throttled, "rateLimitExceeded"),
    ("unavailable", {}, errors.TransientError, "backendError"),
    # a 401 makes the client refresh its credentials; the fake's anonymous ones cannot be
    ("error", {"status": 401, "reason": "authError"}, errors.AuthenticationError, "unauthorized"),
    ("error", {"status": 403, "reason": "forbidden"}, errors.PermissionDenied, "forbidden"),
    ("error", {"status": 400, "reason": "badRequest"}, errors.ProviderError, "badRequest"),
])
def test_api_errors_become_cloudvm_errors(gce: FakeComputeEngine, make_vm: MakeVM, kind: str,
                                          details: dict[str, Any], cls: type, code: str) -> None:
    name = f"err-{kind}-{code.lower().replace('_', '-')}"[:40].rstrip("-")
    gce.inject("instances.insert", kind, **details)
    with cloudvm.connect("gcp", project=PROJECT, zone=ZONE, api_endpoint=gce.url, retry=NO_RETRY,
                         timeout=30, poll_interval=0.1) as cloud, pytest.raises(cls) as err:
        cloud.create(make_vm(name, network=cloudvm.Network(ingress=[cloudvm.Ingress(port=22)])))
    assert type(err.value) is cls and err.value.code == code
    assert gce.leftovers(name) == []


def test_plan_creates_nothing(cloud: cloudvm.Cloud, gce: FakeComputeEngine, make_vm: MakeVM) -> None:
    inserts = gce.count("instances.insert")
    request = cloud.plan([make_vm("dry")])[0]
    assert request.size.type_name == "e2-micro" and "/debian-cloud/" in request.image
    assert gce.count("instances.insert") == inserts and gce.leftovers("dry") == []


def test_the_cli_drives_gcp_like_the_others(gce: FakeComputeEngine, tmp_path: Path, make_vm: MakeVM) -> None:
    (tmp_path / "key.pub").write_text(make_vm("x").ssh.public_keys[0])  # type: ignore[union-attr]
    base = [sys.executable, "-m", "cloudvm", "-p", "gcp", "-O", f"project={PROJECT}", "-O", f"api_endpoint={gce.url}",
            "-o", "json"]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], capture_output=True, text=True, timeout=120)

    made = cli("create", "cli-gcp", "--image", "ubuntu-24.04", "--cpus", "2", "--memory", "1",
               "--key", str(tmp_path / "key.pub"), "--ingress", "22", "--public-ip", "--tag", "suite=cli-gcp")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)[0]["state"] == "running"
    assert [v["name"] for v in json.loads(cli("list", "--tag", "suite=cli-gcp").stdout)] == ["cli-gcp"]
    assert "cli-gcp login" in cli("console", "cli-gcp").stdout
    assert cli("delete", "cli-gcp").returncode == 0
    assert gce.leftovers("cli-gcp") == []


def test_connect_imports_only_the_clients_it_uses(gce: FakeComputeEngine) -> None:
    code = f"""
import sys, time, cloudvm
started = time.perf_counter()
cloud = cloudvm.connect("gcp", project="p", api_endpoint="{gce.url}")
cloud.list()
print(time.perf_counter() - started)
services = sorted(m.split(".")[4] for m in sys.modules if m.startswith("google.cloud.compute_v1.services.")
                  and m.count(".") == 4)
print(" ".join(services))
from google.cloud import compute_v1  # the whole package is still there for code that wants it
print(compute_v1.RoutersClient.__name__)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    _, services, late = done.stdout.split("\n")[:3]
    assert set(services.split()) <= {"instances", "zone_operations"}  # not the hundred clients the package holds
    assert late == "RoutersClient"


def test_labels_round_trip_through_the_client(cloud: cloudvm.Cloud, make_vm: MakeVM) -> None:
    vm = cloud.create(make_vm("labelled", tags={"cost-center": "R&D 42"}))
    try:
        assert [v.name for v in cloud.list(tags={"cost-center": "R&D 42"})] == ["labelled"]
        assert cloud.list(tags={"cost-center": "r_d_42"}) == []  # the label spelling is not the tag
        assert vm.raw["labels"]["cost-center"] == "r_d_42"
    finally:
        cloud.delete(vm)
