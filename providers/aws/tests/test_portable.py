"""VMs as files on AWS: an export written into snapshots through the EBS direct APIs (only the
blocks that hold data), launched, and read back block by block; moto serves the APIs, the proxy
holds them to EBS's rules (512 KiB blocks with their checksums, pending until completed, a
volume's blocks those of the snapshot it came from)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cloudvm_aws.direct import checksum
from cloudvm_aws.testing import CREDENTIALS, HARNESS, REGION, FaultProxy, leftovers, moto_proxy
from cloudvm_testing.exports import mostly_holes, same_disks, sparse_export

import cloudvm
from cloudvm import errors, portable

MIB, GIB = 1 << 20, 1 << 30


@pytest.fixture(scope="module")
def proxy() -> Any:
    os.environ.update(CREDENTIALS)
    with moto_proxy() as running:
        yield running


@pytest.fixture
def cloud(proxy: FaultProxy) -> Any:
    with cloudvm.connect("aws", region=REGION, endpoint_url=proxy.url, timeout=60, poll_interval=0.05) as c:
        yield c


def snapshots_left(url: str) -> list[str]:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url, **HARNESS)
    return [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:cloudvm-managed", "Values": ["true"]}])["Snapshots"]]


def test_a_sparse_disk_travels_as_its_data_and_comes_back_the_same(cloud: cloudvm.Cloud, proxy: FaultProxy,
                                                                    tmp_path: Path) -> None:
    source = mostly_holes(tmp_path)
    moved = portable.Moved()
    vm = cloud.import_vm(source, moved=moved)
    try:
        # 300 MiB and five bytes of data in 10 GiB: what is sent is the data's blocks, not the disk
        assert moved.of == 10 * GIB and 300 * MIB <= moved.data <= 301 * MIB, moved
        assert proxy.count("StartSnapshot") == 1 and proxy.count("PutSnapshotBlock") == moved.blocks == 601
        assert vm.name == "moved" and vm.size is not None and vm.size.cpus >= 1 and vm.size.memory_gib >= 1
        assert [(d.root, d.size_gib) for d in vm.disks] == [(True, 10.0)]
        back = cloud.export(vm, tmp_path / "back")
    finally:
        cloud.delete(vm)
    manifest = portable.read(back)
    assert manifest.source_vm == "moved" and [(d.role, d.size) for d in manifest.disks] == [("root", 10 * GIB)]
    assert manifest.vm_spec() is not None and manifest.vm_spec().size.instance_type is None  # type: ignore[union-attr]
    assert same_disks(source, back) is None
    assert leftovers(proxy.url, "moved") == [] and snapshots_left(proxy.url) == []


def test_a_damaged_export_is_refused_before_anything_is_made(cloud: cloudvm.Cloud, proxy: FaultProxy,
                                                             tmp_path: Path) -> None:
    source = sparse_export(tmp_path, GIB, {0: b"boot"})
    with (source / "disk-0.qcow2").open("r+b") as f:
        f.seek(100)
        f.write(b"rot")
    before = proxy.count("StartSnapshot")
    with pytest.raises(errors.InvalidSpec, match=r"disk-0\.qcow2 is missing or damaged"):
        cloud.import_vm(source)
    (source / "manifest.json").unlink()
    with pytest.raises(errors.InvalidSpec, match=r"no manifest\.json: not a cloudvm export, or an unfinished one"):
        cloud.import_vm(source)
    assert proxy.count("StartSnapshot") == before


def test_an_upload_that_fails_leaves_no_snapshot(cloud: cloudvm.Cloud, proxy: FaultProxy, tmp_path: Path) -> None:
    source = sparse_export(tmp_path, GIB, {0: os.urandom(4 * MIB)}, name="broken")
    fault = proxy.inject("PutSnapshotBlock", "error", code="ValidationException", status=400, times=10**6)
    try:
        with pytest.raises(errors.ProviderError):
            cloud.import_vm(source)
    finally:
        fault.times = 0
    assert snapshots_left(proxy.url) == [] and leftovers(proxy.url, "broken") == []


def test_the_direct_apis_hold_to_ebs_rules(proxy: FaultProxy) -> None:
    ebs = boto3.client("ebs", region_name=REGION, endpoint_url=proxy.url, **HARNESS)
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=proxy.url, **HARNESS)
    started = ebs.start_snapshot(VolumeSize=1)
    snapshot = started["SnapshotId"]
    assert started["BlockSize"] == 512 * 1024
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"] == "pending"

    def refused(data: bytes, index: int = 0, digest: str | None = None) -> str:
        with pytest.raises(ClientError) as caught:
            ebs.put_snapshot_block(SnapshotId=snapshot, BlockIndex=index, BlockData=data, DataLength=len(data),
                                   Checksum=digest or checksum(data), ChecksumAlgorithm="SHA256")
        assert caught.value.response["Error"]["Code"] == "ValidationException"
        return str(caught.value.response["Error"].get("Message", ""))

    block = b"\x07" * 512 * 1024
    assert "524288" in refused(b"short")
    assert "checksum" in refused(block, digest=checksum(b"other"))
    assert "beyond" in refused(block, index=2048)
    ebs.put_snapshot_block(SnapshotId=snapshot, BlockIndex=2047, BlockData=block, DataLength=len(block),
                           Checksum=checksum(block), ChecksumAlgorithm="SHA256")
    ebs.complete_snapshot(SnapshotId=snapshot, ChangedBlocksCount=1)
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"] == "completed"
    assert "not one being written" in refused(block)
    ec2.delete_snapshot(SnapshotId=snapshot)
