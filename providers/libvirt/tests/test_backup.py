"""Backups on real VMs: a file written before a backup comes back in the
restored VM; a DR drill restores, logs in and checks; an export read into a
second storage pool boots with the file."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloudvm_libvirt.provider import LibvirtProvider
from cloudvm_libvirt.testing import leftovers, options

import cloudvm
from cloudvm import backup, ssh

OTHER_POOL = {"pool": "cloudvm-import", "pool_path": "/var/lib/libvirt/images/cloudvm-import"}


@pytest.fixture(scope="module")
def login(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    yield ssh.generate_keypair(tmp_path_factory.mktemp("key"))


def run(vm: cloudvm.VM, key: Path, command: str) -> str:
    done = ssh.run(vm, command, key_file=str(key))
    assert done.returncode == 0, f"{vm.name}: {command}: {done.stderr}"
    return done.stdout.strip()


def test_backup_restore_drill_export_and_import(tmp_path: Path, login: tuple[Path, str]) -> None:
    key, public = login
    spec = cloudvm.VMSpec(name="bk-src", size=cloudvm.Size(cpus=1, memory_gib=0.5), image="cloudvm-tiny",
                          ssh=cloudvm.SSHAccess(user="ops", public_keys=[public]), tags={"backup": "bk-test"},
                          disks=[cloudvm.Disk(size_gib=1)])
    policy = backup.Policy(name="bk-test", select=backup.Select(tags={"backup": "bk-test"}))
    with cloudvm.Cloud(LibvirtProvider(**options()), timeout=240) as cloud, \
            cloudvm.Cloud(LibvirtProvider(**options(), **OTHER_POOL), timeout=240) as other:
        try:
            vm = cloud.create(spec, wait="reachable")
            run(vm, key, "echo before-backup > ~/state && sync")
            report = backup.run(cloud, policy)
            assert len(report.taken) == 1 and report.kept == report.taken
            run(vm, key, "echo after-backup > ~/state && sync")

            restored = backup.restore(cloud, report.taken[0], name="bk-restored", wait="reachable")
            assert run(restored, key, "cat ~/state") == "before-backup"
            assert len(restored.disks) == 2 and run(vm, key, "cat ~/state") == "after-backup"
            cloud.delete(restored)

            drill = backup.drill(cloud, policy, check="cat ~/state", key_file=str(key))
            assert drill.passed and drill.check_output.strip() == "before-backup" and drill.rto_seconds > 0
            assert [v.name for v in cloud.list(tags={"backup": "bk-test"})] == ["bk-src"]  # the drill cleaned up

            exported = cloud.export(vm, tmp_path / "bk-src")
            manifest = json.loads((exported / "manifest.json").read_text())
            assert [d["file"] for d in manifest["disks"]] == ["disk-0.qcow2", "disk-1.qcow2"]
            info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(exported / "disk-0.qcow2")],
                                             capture_output=True, text=True, check=True).stdout)
            assert info["format"] == "qcow2" and "backing-filename" not in info  # standalone: no overlay chain
            imported = other.import_vm(exported, name="bk-imported", wait="reachable")
            assert run(imported, key, "cat ~/state") == "after-backup"
            assert any(d.id.startswith("bk-imported-") for d in imported.disks)
        finally:
            for c in (cloud, other):
                c.delete(c.list(tags={"backup": "bk-test"}))
            for b in backup.backups(cloud, "bk-test"):
                cloud.delete_snapshot(b)
    assert leftovers("bk-src") == leftovers("bk-restored") == []
    assert leftovers("bk-imported", pool=OTHER_POOL["pool"]) == []
    assert [n for n in LibvirtProvider(**options(), **OTHER_POOL).storage.names() if n.startswith("import-")] == []
