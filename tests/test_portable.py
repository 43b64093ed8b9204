"""VMs as files, one format on every backend: the format's guarantees (written last, checked
whole before anything is made, sparse both ways), and a VM that travels from libvirt to AWS or
Azure and back, booting at home with the data it left with."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

import cloudvm
from cloudvm import portable, ssh
from cloudvm.errors import InvalidSpec

MIB = 1 << 20


def raw_disk(path: Path, size: int, data: dict[int, bytes]) -> Path:
    with path.open("wb") as f:
        f.truncate(size)
        for offset, chunk in data.items():
            f.seek(offset)
            f.write(chunk)
    return path


def qcow2(raw: Path) -> callable:  # type: ignore[valid-type]
    def fill(target: Path) -> None:
        subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(target)], check=True)
    return fill


def test_an_export_is_checked_whole_and_its_manifest_comes_last(tmp_path: Path) -> None:
    raw = raw_disk(tmp_path / "a.raw", 64 * MIB, {MIB: b"data"})
    spec = cloudvm.VMSpec(name="box", size=cloudvm.Size(cpus=1, memory_gib=1), image="debian-12")

    def interrupted(target: Path) -> None:
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        portable.write(tmp_path / "out", name="s", source_vm="box", created="2026-01-01T00:00:00+00:00", tags={},
                       spec=spec, disks=[("root", 64 * MIB, qcow2(raw)), ("data", MIB, interrupted)])
    assert (tmp_path / "out" / "disk-0.qcow2").exists() and not (tmp_path / "out" / "manifest.json").exists()
    with pytest.raises(InvalidSpec, match=r"no manifest\.json: not a cloudvm export, or an unfinished one"):
        portable.read(tmp_path / "out")
    out = portable.write(tmp_path / "out", name="s", source_vm="box", created="2026-01-01T00:00:00+00:00",
                         tags={"team": "qa"}, spec=spec, disks=[("root", 64 * MIB, qcow2(raw))])
    manifest = portable.read(out)
    assert manifest.vm_spec() == spec and manifest.tags == {"team": "qa"}
    assert [(d.role, d.size) for d in manifest.disks] == [("root", 64 * MIB)]
    listed = json.loads((out / "manifest.json").read_text())
    listed["format"] = "someone-else/2"
    (out / "manifest.json").write_text(json.dumps(listed))
    with pytest.raises(InvalidSpec, match="is not a cloudvm-export/1 manifest"):
        portable.read(out)


def test_blocks_skip_the_holes_and_rebuild_the_same_disk(tmp_path: Path) -> None:
    block = 512 * 1024
    data = {0: os.urandom(1000), 5 * block + 7: os.urandom(2 * block), 40 * block: b"\0" * block}
    source = tmp_path / "source.qcow2"
    qcow2(raw_disk(tmp_path / "a.raw", 64 * MIB, data))(source)
    found = list(portable.blocks(source, block))
    assert [index for index, _ in found] == [0, 5, 6, 7]  # the written zeros are left out too
    assert all(len(chunk) == block for _, chunk in found)
    portable.assemble(tmp_path / "rebuilt.qcow2", 64 * MIB, iter(found), block)
    info = subprocess.run(["qemu-img", "info", "--output=json", str(tmp_path / "rebuilt.qcow2")], check=True,
                          capture_output=True, text=True)
    assert json.loads(info.stdout)["virtual-size"] == 64 * MIB
    compared = subprocess.run(["qemu-img", "compare", str(source), str(tmp_path / "rebuilt.qcow2")])
    assert compared.returncode == 0


def test_the_firmware_a_disk_needs_is_read_from_its_partition_table(tmp_path: Path) -> None:
    def gpt(*kinds: bytes) -> Path:
        header = bytearray(512)
        header[:8] = b"EFI PART"
        header[72:80], header[80:84], header[84:88] = (2).to_bytes(8, "little"), (128).to_bytes(4, "little"), \
            (128).to_bytes(4, "little")
        entries = b"".join(kind.ljust(128, b"\0") for kind in kinds)
        image = tmp_path / f"gpt-{len(kinds)}.qcow2"
        qcow2(raw_disk(tmp_path / "gpt.raw", 8 * MIB, {512: bytes(header), 1024: entries}))(image)
        return image
    esp, bios_boot = portable._ESP, portable._BIOS_BOOT
    linux = bytes.fromhex("af3dc60f838472478e793d69d8477de4")
    assert portable.firmware(gpt(esp, linux)) == "uefi"
    assert portable.firmware(gpt(bios_boot, esp, linux)) == "both"
    assert portable.firmware(gpt(linux)) == "bios"
    mbr = tmp_path / "mbr.qcow2"
    qcow2(raw_disk(tmp_path / "mbr.raw", 8 * MIB, {510: b"\x55\xaa"}))(mbr)
    assert portable.firmware(mbr) == "bios"


Away = tuple[cloudvm.Cloud, Callable[[str], list[str]]]


@contextmanager
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Away]:
    """EC2 and EBS in moto; what the account still holds of a name."""
    pytest.importorskip("cloudvm_aws.testing")
    from cloudvm_aws.testing import CREDENTIALS, REGION, leftovers, moto_proxy

    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    with moto_proxy() as proxy, cloudvm.connect("aws", region=REGION, endpoint_url=proxy.url, timeout=60,
                                                poll_interval=0.05) as cloud:
        yield cloud, lambda name: leftovers(proxy.url, name)


@contextmanager
def azure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Away]:
    """The Resource Manager fake with disks' bytes in Azurite; what the subscription and the storage
    emulator still hold of a name."""
    pytest.importorskip("cloudvm_azure.testing")
    from cloudvm_azure.testing import fake_resource_manager

    with fake_resource_manager(storage=True) as arm, cloudvm.connect(
            "azure", **arm.connect_options(), guests=False, timeout=60, poll_interval=0.05) as cloud:
        yield cloud, lambda name: arm.leftovers(name) + arm.held()
        assert arm.violations == []


@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", [aws, azure], ids=["aws", "azure"])
def test_a_vm_goes_from_libvirt_to_a_cloud_and_back_with_its_data(
        backend: Callable[[pytest.MonkeyPatch], AbstractContextManager[Away]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cloudvm_libvirt.testing import leftovers as at_home
    from cloudvm_libvirt.testing import options

    key_file, public = ssh.generate_keypair(tmp_path)
    access = cloudvm.SSHAccess(user="ops", public_keys=[public])
    spec = cloudvm.VMSpec(name="wanderer", size=cloudvm.Size(cpus=1, memory_gib=0.5), image="cloudvm-tiny",
                          ssh=access, disks=[cloudvm.Disk(size_gib=1)])
    with cloudvm.connect("libvirt", **options(), timeout=240) as home:
        vm = home.create(spec, wait="reachable")
        try:
            home.ssh(vm, "echo precious > ~/data && sync", key_file=str(key_file))
            left = home.export(vm, tmp_path / "from-libvirt")
        finally:
            home.delete(vm)
    sizes = [d.size for d in portable.read(left).disks]

    with backend(monkeypatch) as (cloud, leftovers):
        moved = portable.Moved()
        away = cloud.import_vm(left, moved=moved)
        try:
            # disks come in whole GiB: the 129 MiB root counts as 1 GiB, its partitions as they were
            assert [(d.root, d.size_gib) for d in away.disks] == [(True, 1.0), (False, 1.0)]
            assert moved.of == sum(sizes) and moved.data < moved.of / 4, moved  # the data, not the disks
            back = cloud.export(away, tmp_path / "from-cloud")
        finally:
            cloud.delete(away)
        assert leftovers("wanderer") == []
    returned = portable.read(back)
    assert returned.login() == "ops"  # the cloud kept the user, not the keys
    # each disk comes back as the cloud held it: AWS in whole GiB, Azure to the MiB it was uploaded in
    assert [d.size >= size for d, size in zip(returned.disks, sizes, strict=True)] == [True, True]

    with cloudvm.connect("libvirt", **options(), timeout=240) as home:
        again = home.import_vm(back, name="wanderer-home", wait="reachable", ssh=access)
        try:
            assert [d.size_gib for d in again.disks] == [d.size / 2**30 for d in returned.disks]
            said = home.ssh(again, "cat ~/data", key_file=str(key_file))
            assert said.stdout.strip() == "precious"
        finally:
            home.delete(again)
    assert at_home("wanderer") == at_home("wanderer-home") == []


@pytest.mark.timeout(1200)
def test_backups_are_kept_on_another_backend_and_drilled_there(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A libvirt VM's backups copied to AWS and drilled there; the VM restored in AWS from its copy,
    its backups copied home and drilled on libvirt, where the file it left with is read."""
    pytest.importorskip("cloudvm_aws.testing")
    from cloudvm_aws.testing import CREDENTIALS, REGION, moto_proxy
    from cloudvm_libvirt.testing import options

    from cloudvm import backup

    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    key_file, public = ssh.generate_keypair(tmp_path)
    spec = cloudvm.VMSpec(name="keeper", size=cloudvm.Size(cpus=1, memory_gib=0.5), image="cloudvm-tiny",
                          ssh=cloudvm.SSHAccess(user="ops", public_keys=[public]), tags={"backup": "xdr"})
    with moto_proxy() as proxy, cloudvm.connect("libvirt", **options(), timeout=240) as home, \
            cloudvm.connect("aws", region=REGION, endpoint_url=proxy.url, timeout=60, poll_interval=0.05,
                            guests=False) as aws:
        to_aws = backup.Policy(name="xdr", select=backup.Select(tags={"backup": "xdr"}), copy_to=(backup.CopyTo(
            provider="aws", region=REGION, options={"endpoint_url": proxy.url, "guests": False}),))
        to_home = backup.Policy(name="xdr-home", select=backup.Select(tags={"backup": "xdr-home"}),
                                copy_to=(backup.CopyTo(provider="libvirt", options=options()),))
        try:
            vm = home.create(spec, wait="reachable")
            home.ssh(vm, "echo precious > ~/data && sync", key_file=str(key_file))
            report = backup.run(home, to_aws)
            assert report.copied == [f"{report.taken[0]} -> aws:{REGION}"]
            assert backup.run(home, to_aws).copied == []  # found there again: copied once
            assert backup.drill(home, to_aws, region=f"aws:{REGION}").passed
            home.delete(vm)

            copy = backup.backups(aws, "xdr", copies=True)[0]
            assert copy.tags[backup.COPY_OF] == backup.backups(home, "xdr")[0].id and copy.user == "ops"
            assert backup.backups(aws, "xdr") == []  # a copy, not a backup of its own
            away = aws.restore(copy, name="keeper", tags={"backup": "xdr-home"})
            assert backup.run(aws, to_home).copied == [f"{backup.backups(aws, 'xdr-home')[0].name} -> libvirt"]
            drilled = backup.drill(aws, to_home, region="libvirt", check="cat ~/data", key_file=str(key_file))
            assert drilled.check_output.strip() == "precious" and drilled.passed
            aws.delete(away)
        finally:
            for cloud in (home, aws):
                cloud.delete([vm for vm in cloud.list() if vm.name.startswith(("keeper", "drill-keeper"))])
                for snap in cloud.list_snapshots():
                    cloud.delete_snapshot(snap)
        assert home.list_snapshots() == aws.list_snapshots() == []
