"""cloudvm against a second libvirt host (second-host.sh): reached over SSH at its own address,
sharing no files with this one. The connection, images, seeds, consoles and exports go through
libvirt; logins and reachability through the hypervisor as an SSH jump host, its key checked.
Two hosts serve one environment, the first failing over to the second when full."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from cloudvm_libvirt.provider import jump_for
from cloudvm_libvirt.testing import leftovers, options, second_host
from cloudvm_testing.conformance import *  # noqa: F403
from cloudvm_testing.conformance import Target

import cloudvm
from cloudvm import backup
from cloudvm.environment import ENV, Environment
from cloudvm.ssh import Jump

LOCAL = "qemu:///system"


@pytest.fixture(scope="module")
def remote() -> str:
    return second_host()


@pytest.fixture(scope="module")
def conformance_target(remote: str) -> Target:
    return Target(provider="libvirt", options={**options(), "uri": remote}, image="cloudvm-tiny",
                  size=cloudvm.Size(cpus=1, memory_gib=0.5), leftovers=partial(leftovers, uri=remote), timeout=240)


def test_the_jump_host_comes_from_the_uri_and_its_host_key_is_checked(remote: str, tmp_path: Path) -> None:
    jump = jump_for(remote)
    assert jump is not None and jump.user == "root" and jump.key_file and jump.command != "ssh" and jump.verify
    assert jump.tcp_open(jump.host)  # its own sshd answers, as the hypervisor sees it
    (tmp_path / "known_hosts").write_text("")  # a hypervisor whose key is not on file is not used
    assert not replace(jump, command="ssh", known_hosts=str(tmp_path / "known_hosts")).tcp_open(jump.host)
    assert jump_for(LOCAL) is None and jump_for("qemu+tls://hv1/system") is None
    assert jump_for("qemu+ssh://hv1/system?no_verify=1") == Jump("hv1", verify=False)
    for off in (False, "false"):  # guests routed to the client: reached directly (-O jump_host=false)
        with cloudvm.connect("libvirt", **{**options(), "uri": remote}, jump_host=off) as direct:
            assert direct.provider.jump is None


def test_two_hosts_serve_one_environment_and_a_full_one_fails_over(remote: str, tmp_path: Path,
                                                                  ssh_key: tuple[Path, str]) -> None:
    doc: dict[str, Any] = {
        "name": "hosts", "provider": {"name": "libvirt", **{k: v for k, v in options().items() if k != "uri"}},
        "placement": [f"libvirt:{remote}", f"libvirt:{LOCAL}"],
        "defaults": {"image": "cloudvm-tiny", "size": {"cpus": 1, "memory_gib": 0.5},
                     "ssh": {"user": "ops", "public_keys": [ssh_key[1]]}},
        # the second host's pool is 3 GiB: "big" does not fit there
        "vms": [{"name": "small"}, {"name": "big", "disks": [{"size_gib": 5}]}],
    }
    path = tmp_path / "cloudvm-env.yaml"
    path.write_text(yaml.safe_dump(doc))
    with Environment.load(path) as env:
        env.up()
        assert {name: landing.where for name, landing in env.landed.items()} == {
            "small": f"libvirt:{remote}", "big": f"libvirt:{LOCAL}"}
        assert "InsufficientStorage" in env.landed["big"].skipped[f"libvirt:{remote}"]
        assert {name: out["placement"] for name, out in env.outputs().items()} == {
            "small": f"libvirt:{remote}", "big": f"libvirt:{LOCAL}"}
        # one list over both hosts, each VM with where it is
        listed = subprocess.run([sys.executable, "-m", "cloudvm", "-o", "json", "list", "--tag", f"{ENV}=hosts",
                                 "--at", remote, "--at", LOCAL], capture_output=True, text=True, timeout=120,
                                check=False)
        assert listed.returncode == 0, listed.stderr
        assert {vm["name"]: vm["region"] for vm in json.loads(listed.stdout)} == {
            "hosts-small": jump_for(remote).host, "hosts-big": socket.gethostname()}  # type: ignore[union-attr]
        assert sorted(env.down()) == ["hosts-big", "hosts-small"]
    for name in ("hosts-small", "hosts-big"):
        assert leftovers(name, uri=remote) == [] and leftovers(name, uri=LOCAL) == []


def test_an_export_from_one_host_imports_on_the_other(remote: str, tmp_path: Path,
                                                      ssh_key: tuple[Path, str]) -> None:
    spec = cloudvm.VMSpec(name="moved", size=cloudvm.Size(cpus=1, memory_gib=0.5), image="cloudvm-tiny",
                          ssh=cloudvm.SSHAccess(user="ops", public_keys=[ssh_key[1]]),
                          disks=[cloudvm.Disk(size_gib=1)])
    with cloudvm.connect("libvirt", **{**options(), "uri": remote}, timeout=240) as there, \
            cloudvm.connect("libvirt", **{**options(), "uri": LOCAL}, timeout=240) as here:
        vm = there.create(spec)
        try:
            exported = there.export(vm, tmp_path / "moved")  # the disks read as volume streams, over SSH
        finally:
            there.delete(vm)
        imported = here.import_vm(exported, name="moved-here")
        try:
            assert imported.state is cloudvm.VMState.RUNNING
            assert [(d.root, d.size_gib) for d in imported.disks] == [(d.root, d.size_gib) for d in vm.disks]
        finally:
            here.delete(imported)
    assert leftovers("moved", uri=remote) == [] and leftovers("moved-here", uri=LOCAL) == []


def test_the_cli_tour_runs_against_the_remote_host(remote: str, tmp_path: Path,
                                                   ssh_key: tuple[Path, str]) -> None:
    host = ["-O", f"uri={remote}", *(a for k, v in options().items() if k != "uri" for a in ("-O", f"{k}={v}"))]
    env = {**os.environ, "CLOUDVM_KNOWN_HOSTS": str(tmp_path / "known_hosts")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "cloudvm", *host, *args], capture_output=True, text=True,
                              timeout=300, env=env, check=False)
        assert done.returncode == 0, done.stderr
        return done

    try:
        cli("create", "tour-1", "--image", "cloudvm-tiny", "--cpus", "1", "--memory", "0.5", "--user", "ops",
            "--key", f"{ssh_key[0]}.pub", "--wait", "reachable")
        assert "tour-1" in cli("list").stdout
        assert cli("ssh", "tour-1", "-i", str(ssh_key[0]), "--", "hostname").stdout.strip() == "tour-1"
        cli("snapshot", "tour-1", "--name", "tour-1-snap")
        cli("restore", "tour-1-snap", "--name", "tour-2", "--wait", "reachable")
        assert "tour-2" in cli("console", "tour-2").stdout
    finally:
        subprocess.run([sys.executable, "-m", "cloudvm", *host, "delete", "tour-1", "tour-2"], env=env,
                       capture_output=True, timeout=300, check=False)
        subprocess.run([sys.executable, "-m", "cloudvm", *host, "delete-snapshot", "tour-1-snap"], env=env,
                       capture_output=True, timeout=300, check=False)
    for name in ("tour-1", "tour-2", "tour-1-snap"):
        assert leftovers(name, uri=remote) == []


def test_a_backup_and_a_drill_on_the_remote_host(remote: str, tmp_path: Path, ssh_key: tuple[Path, str]) -> None:
    (tmp_path / "policy.yaml").write_text("name: hv\nselect: {tags: {backup: hv}}\nkeep: {last: 1}\n")
    policy = backup.Policy.load(tmp_path / "policy.yaml")
    with cloudvm.connect("libvirt", **{**options(), "uri": remote}, timeout=240,
                         known_hosts=tmp_path / "known_hosts") as cloud:
        vm = cloud.create(cloudvm.VMSpec(name="kept", size=cloudvm.Size(cpus=1, memory_gib=0.5),
                                         image="cloudvm-tiny", tags={"backup": "hv"},
                                         ssh=cloudvm.SSHAccess(user="ops", public_keys=[ssh_key[1]])))
        try:
            backup.run(cloud, policy)
            report = backup.drill(cloud, policy, check="hostname", key_file=str(ssh_key[0]), name="kept-drill")
            assert report.reached == "reachable" and report.check_exit == 0, report
            assert report.check_output.strip() == "kept-drill"
        finally:
            cloud.delete(vm)
            for taken in backup.backups(cloud, "hv"):
                cloud.delete_snapshot(taken)
    assert leftovers("kept", uri=remote) == [] and leftovers("kept-drill", uri=remote) == []
