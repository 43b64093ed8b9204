"""Client code nobody here wrote, against the fake: Apache Libcloud's GCE
driver through its main flows, and the calls of Google's published
google-cloud-compute samples (python-docs-samples, compute/client_library/
snippets: instances/create, list, list_all, stop, start, reset, delete,
create_with_existing_disks, snapshots/create, list, delete), made as the
samples make them, with only the endpoint changed (``gce.patch_clients()``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudvm_gcp.testing import FakeComputeEngine

PROJECT, ZONE = "samples", "us-central1-a"


@pytest.fixture
def libcloud_gce(gce: FakeComputeEngine, tmp_path: Path) -> Iterator[Any]:
    """Libcloud's GCE driver with a service account, pointed at the fake (host, port, plain HTTP)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from libcloud.compute.providers import Provider, get_driver

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    token = tmp_path / "token.json"  # a cached token: the driver asks Google's token endpoint for none
    token.write_text(json.dumps({"access_token": "fake", "token_type": "Bearer",
                                 "expire_time": "2099-01-01T00:00:00Z"}))
    driver = get_driver(Provider.GCE)("sa@samples.iam.gserviceaccount.com", key, project=PROJECT, auth_type="SA",
                                      credential_file=str(token))
    host, port = gce.url.removeprefix("http://").split(":")
    driver.connection.host, driver.connection.port, driver.connection.secure = host, int(port), False
    driver.connection.poll_interval = 0.05
    driver.connection.connect()
    yield driver
    assert gce.violations == []


def test_libcloud_gce_main_flows(libcloud_gce: Any, gce: FakeComputeEngine) -> None:
    d = libcloud_gce
    assert ZONE in [z.name for z in d.list_locations()]
    assert {"us-central1", "europe-west1"} <= {r.name for r in d.ex_list_regions()}
    assert "e2-small" in {s.name for s in d.list_sizes()}  # aggregated machine types
    assert "n2-standard-2" in {s.name for s in d.list_sizes(ZONE)}
    assert "debian-12-bookworm-v20261105" in {i.name for i in d.list_images()}
    image = d.ex_get_image_from_family("debian-12", ["debian-cloud"])
    node = d.create_node("lc-node", "e2-small", image, location=ZONE, ex_tags=["web"], ex_metadata={"k": "v"})
    assert node.name == "lc-node" and node.private_ips
    try:
        assert [n.name for n in d.list_nodes()] == ["lc-node"]  # aggregated instances
        assert [n.name for n in d.list_nodes(ex_zone=ZONE)] == ["lc-node"]
        assert d.ex_stop_node(d.ex_get_node("lc-node", ZONE))
        assert d.ex_get_node("lc-node", ZONE).extra["status"] == "TERMINATED"
        assert d.ex_start_node(d.ex_get_node("lc-node", ZONE))
        assert d.reboot_node(d.ex_get_node("lc-node", ZONE))
        volume = d.create_volume(10, "lc-volume", location=ZONE, ex_disk_type="pd-ssd")
        assert "lc-volume" in {v.name for v in d.list_volumes()}  # aggregated disks
        assert d.attach_volume(d.ex_get_node("lc-node", ZONE), volume)
        assert d.ex_get_volume("lc-volume", ZONE).extra["users"]
        assert d.detach_volume(volume, ex_node=d.ex_get_node("lc-node", ZONE))
        snapshot = d.create_volume_snapshot(d.ex_get_volume("lc-volume", ZONE), "lc-snapshot")
        assert "lc-snapshot" in {s.name for s in d.ex_list_snapshots()}
        assert d.destroy_volume_snapshot(snapshot)
        assert d.destroy_volume(d.ex_get_volume("lc-volume", ZONE))
        firewall = d.ex_create_firewall("lc-firewall", [{"IPProtocol": "tcp", "ports": ["22"]}], target_tags=["web"])
        firewall.source_ranges = ["10.0.0.0/8"]
        assert d.ex_update_firewall(firewall).source_ranges == ["10.0.0.0/8"]
        assert d.ex_destroy_firewall(d.ex_get_firewall("lc-firewall"))
    finally:
        d.destroy_node(d.ex_get_node("lc-node", ZONE))
    assert d.list_nodes() == [] and gce.resources(PROJECT) == []


def _wait(operation: Any) -> Any:
    """What the samples' ``wait_for_extended_operation`` does."""
    result = operation.result(timeout=60)
    if operation.error_code:
        raise operation.exception() or RuntimeError(operation.error_message)
    return result


def _boot_disk(compute_v1: Any, source_image: str) -> Any:
    disk = compute_v1.AttachedDisk()
    params = compute_v1.AttachedDiskInitializeParams()
    params.source_image = source_image
    params.disk_size_gb = 10
    params.disk_type = f"zones/{ZONE}/diskTypes/pd-standard"
    disk.initialize_params = params
    disk.auto_delete = True
    disk.boot = True
    return disk


def _create_instance(compute_v1: Any, name: str, disks: list[Any]) -> Any:
    client = compute_v1.InstancesClient()
    nic = compute_v1.NetworkInterface()
    nic.network = "global/networks/default"
    access = compute_v1.AccessConfig()
    access.type_ = compute_v1.AccessConfig.Type.ONE_TO_ONE_NAT.name
    access.name = "External NAT"
    access.network_tier = access.NetworkTier.PREMIUM.name
    nic.access_configs = [access]
    instance = compute_v1.Instance()
    instance.network_interfaces = [nic]
    instance.name = name
    instance.disks = disks
    instance.machine_type = f"zones/{ZONE}/machineTypes/n1-standard-1"
    request = compute_v1.InsertInstanceRequest()
    request.zone, request.project, request.instance_resource = ZONE, PROJECT, instance
    _wait(client.insert(request=request))
    return client.get(project=PROJECT, zone=ZONE, instance=name)


def test_googles_published_samples_run_unchanged(gce: FakeComputeEngine) -> None:
    from google.cloud import compute_v1

    with gce.patch_clients():
        image = compute_v1.ImagesClient().get_from_family(project="debian-cloud", family="debian-12")
        created = _create_instance(compute_v1, "sample-vm", [_boot_disk(compute_v1, image.self_link)])
        assert created.status in ("PROVISIONING", "STAGING", "RUNNING") and created.network_interfaces[0].access_configs
        instances = compute_v1.InstancesClient()
        assert [i.name for i in instances.list(project=PROJECT, zone=ZONE)] == ["sample-vm"]
        request = compute_v1.AggregatedListInstancesRequest()
        request.project, request.max_results = PROJECT, 50
        everywhere = {zone: [i.name for i in scoped.instances] for zone, scoped in instances.aggregated_list(
            request=request) if scoped.instances}
        assert everywhere == {f"zones/{ZONE}": ["sample-vm"]}

        _wait(instances.stop(project=PROJECT, zone=ZONE, instance="sample-vm"))
        assert instances.get(project=PROJECT, zone=ZONE, instance="sample-vm").status == "TERMINATED"
        _wait(instances.start(project=PROJECT, zone=ZONE, instance="sample-vm"))
        _wait(instances.reset(project=PROJECT, zone=ZONE, instance="sample-vm"))

        disk = compute_v1.DisksClient().get(project=PROJECT, zone=ZONE, disk="sample-vm")
        snapshot = compute_v1.Snapshot()
        snapshot.source_disk, snapshot.name = disk.self_link, "sample-snapshot"
        snapshots = compute_v1.SnapshotsClient()
        _wait(snapshots.insert(project=PROJECT, snapshot_resource=snapshot))
        assert snapshots.get(project=PROJECT, snapshot="sample-snapshot").source_disk == disk.self_link
        assert [s.name for s in snapshots.list(project=PROJECT)] == ["sample-snapshot"]

        new_disk = compute_v1.Disk()
        new_disk.name, new_disk.source_snapshot = "restored", "global/snapshots/sample-snapshot"
        new_disk.type_ = f"zones/{ZONE}/diskTypes/pd-balanced"
        time.sleep(gce.timing.snapshot)
        _wait(compute_v1.DisksClient().insert(project=PROJECT, zone=ZONE, disk_resource=new_disk))
        existing = compute_v1.AttachedDisk(source=compute_v1.DisksClient().get(
            project=PROJECT, zone=ZONE, disk="restored").self_link, boot=True, auto_delete=True)
        restored = _create_instance(compute_v1, "sample-restored", [existing])
        assert restored.disks[0].source.endswith("/disks/restored")

        _wait(snapshots.delete(project=PROJECT, snapshot="sample-snapshot"))
        for name in ("sample-vm", "sample-restored"):
            _wait(instances.delete(project=PROJECT, zone=ZONE, instance=name))
    assert gce.resources(PROJECT) == [] and gce.violations == []
