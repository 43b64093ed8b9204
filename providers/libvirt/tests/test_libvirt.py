"""What only the libvirt provider does: seeds, images, clean-up on failure,
kept disks, the console log, and its error messages."""

from __future__ import annotations

import builtins
import hashlib
import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pycdlib
import pytest
import yaml
from cloudvm_libvirt import capacity, images
from cloudvm_libvirt.provider import LibvirtProvider
from cloudvm_libvirt.seed import nocloud_seed
from cloudvm_libvirt.testing import leftovers, options

import cloudvm
from cloudvm import errors
from cloudvm.provider import LaunchRequest


@pytest.fixture
def provider() -> Iterator[LibvirtProvider]:
    p = LibvirtProvider(**options())
    yield p
    p.close()


@pytest.fixture
def cloud(provider: LibvirtProvider) -> cloudvm.Cloud:
    return cloudvm.Cloud(provider, timeout=240)


def spec(name: str, key: str, **changes: object) -> cloudvm.VMSpec:
    return cloudvm.VMSpec(**{"name": name, "size": cloudvm.Size(cpus=1, memory_gib=0.5), "image": "cloudvm-tiny",
                             "ssh": cloudvm.SSHAccess(user="ops", public_keys=[key]), **changes})


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> str:
    return cloudvm.ssh.generate_keypair(tmp_path_factory.mktemp("k"))[1]


def _iso_file(iso: pycdlib.PyCdlib, name: str) -> str:
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, rr_path="/" + name)
    return out.getvalue().decode()


def test_seed_is_a_nocloud_cidata_iso(key: str) -> None:
    data = nocloud_seed(spec("seed-1", key, user_data="#!/bin/sh\ntrue\n"), "i-123")
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == "cidata"
        meta = yaml.safe_load(_iso_file(iso, "meta-data"))
        user = _iso_file(iso, "user-data")
        joliet = {c.file_identifier().decode("utf-16-be") for c in iso.list_children(joliet_path="/")}
    finally:
        iso.close()
    assert meta == {"instance-id": "i-123", "local-hostname": "seed-1"}
    assert "text/cloud-config" in user and "text/x-shellscript" in user and key in user
    assert {"user-data", "meta-data"} <= joliet


def test_unknown_image_lists_the_aliases(cloud: cloudvm.Cloud, key: str) -> None:
    with pytest.raises(errors.InvalidSpec, match=r"image: unknown image 'debian-9'.*cloudvm-tiny.*ubuntu-24\.04"):
        cloud.create(spec("noimage", key, image="debian-9"))
    assert leftovers("noimage") == []


def test_unknown_network_is_invalid_spec(cloud: cloudvm.Cloud, key: str) -> None:
    with pytest.raises(errors.InvalidSpec, match=r"network\.name: libvirt has no network 'nowhere'"):
        cloud.create(spec("nonet", key, network=cloudvm.Network(name="nowhere")))
    assert leftovers("nonet") == []


def test_unreachable_daemon_names_the_uri_and_the_fix() -> None:
    cloud = cloudvm.connect("libvirt", uri="qemu+unix:///system?socket=/nonexistent/libvirt-sock")
    with pytest.raises(errors.ProviderError, match=r"qemu\+unix:///system.*libvirtd"):
        cloud.list()


def test_a_host_without_room_refuses_before_anything_is_made(provider: LibvirtProvider, cloud: cloudvm.Cloud,
                                                             key: str) -> None:
    """More CPUs than the host has, more memory than it has available, more disk than the pool has
    free: CapacityUnavailable (what a placement list moves on from), and nothing made."""
    cpus = provider.conn().getInfo()[2]
    # all of the host's memory, twice: more than is available however much of it the cache holds
    memory_gib = provider.conn().getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)["total"] / 2**20
    provider.storage.pool().refresh(0)  # the space free now, not when the pool last looked
    free_gib = provider.storage.pool().info()[3] / 2**30
    for name, changes, code in [
        ("full-cpu", {"size": cloudvm.Size(cpus=cpus + 1, memory_gib=0.5)}, "InsufficientCPU"),
        ("full-mem", {"size": cloudvm.Size(cpus=1, memory_gib=round(memory_gib * 2))}, "InsufficientMemory"),
        ("full-disk", {"disks": [cloudvm.Disk(size_gib=int(free_gib) + 10)]}, "InsufficientStorage"),
    ]:
        try:
            with pytest.raises(errors.CapacityUnavailable) as refused:
                cloud.create(spec(name, key, **changes))
        finally:  # a VM made after all goes, so a failure here does not fail the next run too
            cloud.delete([vm for vm in cloud.list() if vm.name == name])
        assert refused.value.code == code and name in str(refused.value)
        assert leftovers(name) == []


def test_a_domain_that_fails_to_start_leaves_nothing(cloud: cloudvm.Cloud, key: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # QEMU cannot allocate 4 TiB: definition, disks and seed exist by then. The host's own refusal
    # is what is tested here, so cloudvm's capacity check, which refuses that before, is set aside.
    monkeypatch.setattr(capacity, "check", lambda *_: None)
    bad = spec("nostart", key, size=cloudvm.Size(cpus=1, memory_gib=4096), disks=[cloudvm.Disk(size_gib=1)])
    with pytest.raises(errors.ProviderError, match="start nostart"):
        cloud.create(bad)
    assert leftovers("nostart") == []


def test_a_retried_launch_returns_the_same_vm(provider: LibvirtProvider, cloud: cloudvm.Cloud, key: str) -> None:
    request = cloud.plan([spec("retry-1", key)])[0]
    try:
        first = provider.launch([request])
        again = provider.launch([request])  # as after a lost response
        assert first == again
        other = LaunchRequest(request.spec, request.size, request.image, "another-token", request.tags)
        with pytest.raises(errors.AlreadyExists):
            provider.launch([other])
    finally:
        cloud.delete("retry-1")
    assert leftovers("retry-1") == []


def test_kept_disks_outlive_the_vm_and_console_is_captured(cloud: cloudvm.Cloud, key: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    vm = cloud.create(spec("keeper", key, disks=[cloudvm.Disk(size_gib=1, keep=True), cloudvm.Disk(size_gib=1)]),
                      wait="reachable")
    assert [d.root for d in vm.disks] == [True, False, False]
    with monkeypatch.context() as patch:  # the log is read through libvirt, as from a remote host: no local file
        opened = builtins.open
        def local(path: object, *args: object, **kwargs: object) -> object:
            assert not str(path).startswith("/var/log/libvirt"), f"read {path} on the client"
            return opened(path, *args, **kwargs)  # type: ignore[call-overload]
        patch.setattr(builtins, "open", local)
        assert "cloudvm-tiny: boot finished" in cloud.console_output(vm)
    cloud.delete(vm)
    assert leftovers("keeper") == ["volume keeper-data-0.qcow2"]  # the console log went with the VM
    def orphaned() -> list[str]:  # as `cloudvm gc` lists them (the shared pool may hold others')
        return [o.split(" (")[0] for o in cloud.provider.orphans() if o.startswith("volume keeper-")]
    assert orphaned() == ["volume keeper-data-0.qcow2 in pool cloudvm"]
    conn = libvirt.open(options()["uri"])
    try:
        conn.storagePoolLookupByName("cloudvm").storageVolLookupByName("keeper-data-0.qcow2").delete(0)
    finally:
        conn.close()
    assert orphaned() == []


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server for a fake image and its checksum list."""
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()


def test_catalog_images_are_verified_and_downloaded_once(image_server: tuple[str, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         provider: LibvirtProvider) -> None:
    url, root = image_server
    content = b"QFI\xfb" + bytes(1000)
    (root / "img.qcow2").write_bytes(content)
    (root / "SHA256SUMS").write_text(f"{hashlib.sha256(content).hexdigest()} *img.qcow2\n")
    monkeypatch.setenv("CLOUDVM_CACHE", str(tmp_path / "cache"))
    entry = images.CatalogEntry(f"{url}/img.qcow2", f"{url}/SHA256SUMS")
    path = images.download(entry, tmp_path / "cache")
    assert path.read_bytes() == content
    (root / "img.qcow2").write_bytes(b"tampered")
    assert images.download(entry, tmp_path / "cache") == path  # cached: not fetched again
    (root / "SHA256SUMS").write_text(f"{hashlib.sha256(b'other').hexdigest()}  img.qcow2\n")
    with pytest.raises(errors.ProviderError, match="does not match the published"):
        images.download(entry, tmp_path / "cache2")
    assert not list((tmp_path / "cache2").glob("*.qcow2"))
    gone = images.CatalogEntry(f"{url}/missing.qcow2", f"{url}/NOSUMS")
    with pytest.raises(errors.ProviderError, match="NOSUMS: HTTP 404") as err:
        images.download(gone, tmp_path / "cache3")
    assert not err.value.retryable


def test_a_domain_made_by_a_later_cloudvm_stays_readable() -> None:
    from datetime import UTC, datetime

    from cloudvm_libvirt.domain import Meta

    spec = cloudvm.VMSpec(name="newer", size=cloudvm.Size(cpus=1, memory_gib=0.5), image="cloudvm-tiny")
    written = Meta("newer", "t0k3n", "cloudvm-tiny", "small", datetime.now(UTC), {}, (), spec).to_xml()
    later = written.replace('"tags":{}', '"tags":{},"a_later_field":{"x":1}')
    assert later != written
    assert Meta.from_xml(later).spec == spec
