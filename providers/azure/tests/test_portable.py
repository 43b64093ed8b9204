"""VMs as files on Azure: each disk uploaded into a managed disk made for upload through the SAS
URI ``grantAccess`` hands out (only the pages that hold data, then the VHD footer), kept as
managed snapshots, and read back through a read SAS. The Resource Manager fake keeps what disks
hold in Azurite and holds uploads to Azure's rules."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.storage.blob import BlobClient
from cloudvm_azure import vhd
from cloudvm_azure.testing import (
    RESOURCE_GROUP,
    SUBSCRIPTION,
    FakeCredential,
    FakeResourceManager,
    fake_resource_manager,
)
from cloudvm_testing.exports import mostly_holes, same_disks, sparse_export

import cloudvm
from cloudvm import errors, portable

MIB, GIB = 1 << 20, 1 << 30


@pytest.fixture(scope="module")
def stored() -> Iterator[FakeResourceManager]:
    with fake_resource_manager(storage=True) as arm:
        yield arm
        assert arm.violations == []


@pytest.fixture
def cloud(stored: FakeResourceManager) -> Iterator[cloudvm.Cloud]:
    with cloudvm.connect("azure", **stored.connect_options(), guests=False, timeout=60, poll_interval=0.05) as c:
        yield c
    stored.reset_faults()


def managed(arm: FakeResourceManager) -> list[str]:
    return sorted(f"{r['type'].rsplit('/', 1)[1]} {r['name']}" for r in arm.resources()
                  if r["type"].endswith(("/disks", "/snapshots", "/restorePointCollections")))


def test_a_sparse_disk_travels_as_its_data_and_comes_back_the_same(cloud: cloudvm.Cloud, stored: FakeResourceManager,
                                                                    tmp_path: Path) -> None:
    source = mostly_holes(tmp_path)
    moved = portable.Moved()
    vm = cloud.import_vm(source, moved=moved)
    try:
        # 300 MiB and five bytes in 10 GiB: what is sent is the pages holding data and the footer
        assert moved.of == 10 * GIB and 300 * MIB < moved.data <= 300 * MIB + 2048, moved
        assert vm.name == "moved" and [(d.root, d.size_gib) for d in vm.disks] == [(True, 10.0)]
        back = cloud.export(vm, tmp_path / "back")
    finally:
        cloud.delete(vm)
    manifest = portable.read(back)
    assert manifest.source_vm == "moved" and [(d.role, d.size) for d in manifest.disks] == [("root", 10 * GIB)]
    assert same_disks(source, back) is None
    assert managed(stored) == [] and stored.held() == []


def test_an_import_that_fails_leaves_nothing(cloud: cloudvm.Cloud, stored: FakeResourceManager,
                                             tmp_path: Path) -> None:
    source = sparse_export(tmp_path, GIB, {0: os.urandom(4 * MIB)}, name="broken")
    stored.inject("PUT", "snapshots", "error", status=400, code="InvalidParameter", times=10**6)
    with pytest.raises(errors.ProviderError):
        cloud.import_vm(source)
    stored.reset_faults()
    assert managed(stored) == [] and stored.held() == []


def test_an_imported_set_is_kept_copied_and_restored(cloud: cloudvm.Cloud, stored: FakeResourceManager,
                                                     tmp_path: Path) -> None:
    source = sparse_export(tmp_path, GIB, {5 * MIB: b"kept"}, name="kept")
    snap = cloud.import_snapshot(source, name="kept-dr")
    assert snap.state is cloudvm.SnapshotState.READY and snap.spec is not None
    assert [(d.root, d.size_gib) for d in snap.disks] == [(True, 1.0)]
    assert [s.id for s in cloud.list_snapshots()] == [snap.id]
    copy = cloud.copy_snapshot(snap, region="westus2")
    assert copy.copy_of == snap.id and copy.region == "westus2" and len(copy.disks) == 1
    vm = cloud.restore(snap, name="kept")
    try:
        assert vm.name == "kept" and [(d.root, d.size_gib) for d in vm.disks] == [(True, 1.0)]
        back = cloud.export(vm, tmp_path / "back")
    finally:
        cloud.delete(vm)
        cloud.delete_snapshot(copy)
        cloud.delete_snapshot(snap)
    assert same_disks(source, back) is None
    assert managed(stored) == [] and stored.held() == []


def _client(arm: FakeResourceManager) -> ComputeManagementClient:
    return ComputeManagementClient(FakeCredential("fake"), SUBSCRIPTION, base_url=arm.url,
                                   connection_verify=arm.ca_file, polling_interval=0.05)


def _upload_disk(compute: Any, name: str, size: int) -> Any:
    return compute.disks.begin_create_or_update(RESOURCE_GROUP, name, {"location": "eastus", "properties": {
        "creationData": {"createOption": "Upload", "uploadSizeBytes": size}}}).result()


def test_uploads_hold_to_azure_rules(stored: FakeResourceManager) -> None:
    compute = _client(stored)
    with pytest.raises(Exception, match=r"must be a multiple of MiB"):
        _upload_disk(compute, "odd", 64 * MIB + 512 + 1)
    with pytest.raises(Exception, match=r"between 20972032"):
        _upload_disk(compute, "tiny", MIB + 512)
    disk = _upload_disk(compute, "up", 64 * MIB + 512)
    assert disk.disk_state == "ReadyToUpload" and disk.disk_size_gb == 1
    uri = compute.disks.begin_grant_access(RESOURCE_GROUP, "up", {"access": "Write", "durationInSeconds": 600}
                                           ).result().access_sas
    assert compute.disks.get(RESOURCE_GROUP, "up").disk_state == "ActiveUpload"
    blob = BlobClient.from_blob_url(uri, connection_verify=stored.ca_file)
    blob.upload_page(b"x" * 512, offset=MIB, length=512)
    with pytest.raises(Exception, match=r"revoke access"):
        compute.disks.begin_delete(RESOURCE_GROUP, "up").result()
    with pytest.raises(Exception, match=r"cookie value 'conectix'") as caught:
        compute.disks.begin_revoke_access(RESOURCE_GROUP, "up").result()
    assert "sig=" not in str(caught.value)
    assert compute.disks.get(RESOURCE_GROUP, "up").disk_state == "ActiveUpload"  # not usable: made again
    compute.disks.begin_delete(RESOURCE_GROUP, "up").result()

    _upload_disk(compute, "up", 64 * MIB + 512)
    uri = compute.disks.begin_grant_access(RESOURCE_GROUP, "up", {"access": "Write", "durationInSeconds": 600}
                                           ).result().access_sas
    blob = BlobClient.from_blob_url(uri, connection_verify=stored.ca_file)
    blob.upload_page(b"x" * 512, offset=MIB, length=512)
    blob.upload_page(vhd.footer(64 * MIB), offset=64 * MIB, length=512)
    compute.disks.begin_revoke_access(RESOURCE_GROUP, "up").result()
    assert compute.disks.get(RESOURCE_GROUP, "up").disk_state == "Unattached"
    with pytest.raises(Exception, match=r"Write access can be granted only to a disk created for upload"):
        compute.disks.begin_grant_access(RESOURCE_GROUP, "up", {"access": "Write", "durationInSeconds": 600}).result()
    compute.snapshots.begin_create_or_update(RESOURCE_GROUP, "up-snap", {"location": "eastus", "properties": {
        "creationData": {"createOption": "Copy", "sourceResourceId": disk.id}}}).result()
    uri = compute.snapshots.begin_grant_access(RESOURCE_GROUP, "up-snap", {"access": "Read", "durationInSeconds": 600}
                                               ).result().access_sas
    copy = BlobClient.from_blob_url(uri, connection_verify=stored.ca_file)
    assert copy.download_blob(offset=MIB, length=512).readall() == b"x" * 512  # what was uploaded, copied
    with pytest.raises(HttpResponseError):  # read access does not write
        copy.upload_page(b"y" * 512, offset=0, length=512)
    compute.snapshots.begin_revoke_access(RESOURCE_GROUP, "up-snap").result()
    compute.snapshots.begin_delete(RESOURCE_GROUP, "up-snap").result()
    compute.disks.begin_delete(RESOURCE_GROUP, "up").result()
    stored.fake.arm.settle()
    assert stored.held() == []
