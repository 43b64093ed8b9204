"""VMs as files into Compute Engine: an export archived in the layout Google documents, put in a
bucket of the Cloud Storage emulator, made an image by the fake (which reads the archive there and
refuses a wrong layout as Compute Engine does), then a snapshot, then the VM; nothing is left."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudvm_gcp import imports
from cloudvm_gcp.testing import PROJECT, ZONE, FakeComputeEngine, cloud_storage, fake_compute_engine

import cloudvm
from cloudvm import errors, portable

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"
MIB, GIB = 1 << 20, 1 << 30
BUCKET = "cloudvm-staging"


@pytest.fixture(scope="module")
def backends() -> Iterator[tuple[FakeComputeEngine, str]]:
    with cloud_storage(BUCKET) as storage, fake_compute_engine(storage=storage) as gce:
        yield gce, storage
        assert gce.violations == []


@pytest.fixture
def cloud(backends: tuple[FakeComputeEngine, str]) -> Iterator[cloudvm.Cloud]:
    gce, storage = backends
    with cloudvm.connect("gcp", project=PROJECT, zone=ZONE, api_endpoint=gce.url, guests=False, timeout=60,
                         poll_interval=0.05, staging_bucket=BUCKET, storage_endpoint=storage) as c:
        yield c


def exported(directory: Path, disks: list[tuple[int, dict[int, bytes]]]) -> Path:
    """An export of a VM whose disks (size, offset -> data) hold that data, sparse."""
    fills = []
    for i, (size, data) in enumerate(disks):
        raw = directory / f"source-{i}.raw"
        with raw.open("wb") as f:
            f.truncate(size)
            for offset, chunk in data.items():
                f.seek(offset)
                f.write(chunk)

        def fill(target: Path, raw: Path = raw) -> None:
            subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(target)], check=True)
        fills.append(("root" if i == 0 else "data", size, fill))
    spec = cloudvm.VMSpec(name="moved", size=cloudvm.Size(cpus=2, memory_gib=4), image="cloudvm-tiny",
                          ssh=cloudvm.SSHAccess(user="ops", public_keys=[KEY]))
    return portable.write(directory / "export", name="moved-snap", source_vm="moved",
                          created="2026-01-01T00:00:00+00:00", tags={}, spec=spec, disks=fills)


def objects(storage: str) -> list[str]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs

    client = gcs.Client(project=PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": storage})
    return [blob.name for blob in client.list_blobs(BUCKET)]


def images(gce: FakeComputeEngine) -> list[str]:
    with gce.fake.compute.lock:
        return [i["name"] for i in gce.fake.compute.items(f"projects/{PROJECT}/global/images")]


def test_an_export_becomes_a_vm_through_cloud_storage(cloud: cloudvm.Cloud, backends: tuple[FakeComputeEngine, str],
                                                      tmp_path: Path) -> None:
    gce, storage = backends
    source = exported(tmp_path, [(129 * MIB, {0: os.urandom(MIB)}), (2 * GIB, {GIB: os.urandom(4 * MIB)})])
    moved = portable.Moved()
    vm = cloud.import_vm(source, name="landed", moved=moved)
    try:
        assert vm.state is cloudvm.VMState.RUNNING and vm.size is not None and vm.size.cpus == 2
        # each disk a whole number of GiB, as Compute Engine takes them
        assert [(d.root, d.size_gib) for d in vm.disks] == [(True, 1.0), (False, 2.0)]
        assert moved.of == 129 * MIB + 2 * GIB and moved.data < 10 * MIB and moved.blocks == 2, moved
    finally:
        cloud.delete(vm)
    assert objects(storage) == [] and images(gce) == [] and gce.leftovers("landed") == []
    assert [r["name"] for r in gce.resources() if r["kind"] == "compute#snapshot"] == []


def test_an_import_needs_a_staging_bucket_and_nothing_is_made_without_one(
        backends: tuple[FakeComputeEngine, str], tmp_path: Path) -> None:
    gce, _ = backends
    source = exported(tmp_path, [(GIB, {0: b"boot"})])
    with cloudvm.connect("gcp", project=PROJECT, zone=ZONE, api_endpoint=gce.url, guests=False) as c, \
            pytest.raises(errors.InvalidSpec, match="staging_bucket"):
        c.import_vm(source)
    assert images(gce) == []


def test_a_gcp_vm_cannot_be_exported_and_says_why(cloud: cloudvm.Cloud) -> None:
    with pytest.raises(errors.Unsupported, match="no API that reads a disk's bytes"):
        cloud.export("anything", "/nonexistent")


def _archive(member: str, data: bytes, fmt: int = tarfile.GNU_FORMAT, compress: bool = True) -> Callable[[Path], bytes]:
    def made(_: Path) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        return gzip.compress(out.getvalue()) if compress else out.getvalue()
    return made


def _packed(tmp_path: Path) -> bytes:
    """cloudvm's own archive of a 129 MiB disk: sparse, OLDGNU, gzip, grown to 1 GiB."""
    source = exported(tmp_path, [(129 * MIB, {MIB: b"data"})])
    return imports.archive(source / "disk-0.qcow2", tmp_path / "packed").read_bytes()


@pytest.mark.parametrize(("archive", "message"), [
    (_packed, None),
    (_archive("tmp/output.img", b"\0" * 512), "The file inside the tar archive was named 'tmp/output.img'. It should "
                                              "be named 'disk.raw'."),
    (_archive("disk.raw", b"\0" * 512, fmt=tarfile.PAX_FORMAT), "The tar archive format is not supported. "
                                                                 "Supported formats are: GNU and OLDGNU."),
    (_archive("disk.raw", b"\0" * 512, compress=False), "The tar archive is not a valid image."),
    (_archive("disk.raw", b"\0" * 512), "The disk image size must be a multiple of 1 GB"),
], ids=["cloudvms-own", "named-wrong", "posix", "not-gzip", "not-whole-gib"])
def test_the_fake_holds_archives_to_compute_engines_layout(backends: tuple[FakeComputeEngine, str],
                                                           archive: Callable[[Path], bytes], message: str | None,
                                                           request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs

    gce, storage = backends
    name = f"probe-{request.node.callspec.id}"
    client = gcs.Client(project=PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": storage})
    client.bucket(BUCKET).blob("probe.tar.gz").upload_from_string(archive(tmp_path))
    try:
        status, answer = gce.request("POST", f"projects/{PROJECT}/global/images", {
            "name": name, "rawDisk": {"source": f"https://storage.googleapis.com/{BUCKET}/probe.tar.gz"}})
        if message is None:
            assert status == 200, answer
            made: dict[str, Any] = gce.fake.compute.get(f"projects/{PROJECT}/global/images/{name}")
            assert made["diskSizeGb"] == "1"
            assert gce.request("DELETE", f"projects/{PROJECT}/global/images/{name}")[0] == 200
        else:
            assert status == 400 and answer["error"]["message"].startswith(message), answer
    finally:
        client.bucket(BUCKET).blob("probe.tar.gz").delete()
