"""The conformance suite: one set of tests every provider runs, in the
manner of SQLAlchemy's dialect compliance suite.

A provider's test module does ``from cloudvm_testing.conformance import *``
and defines a session fixture ``conformance_target`` returning a
``Target``. Tests for optional features skip by the provider's own
``capabilities``; an undeclared feature must raise ``Unsupported``.
"""

from __future__ import annotations

import multiprocessing
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import cloudvm
from cloudvm import ssh
from cloudvm.errors import AlreadyExists, InvalidSpec, Unsupported
from cloudvm.hostkeys import HostKeyMismatch
from cloudvm.provider import Capability

__all__ = [
    "Target", "cloud", "run_id", "ssh_key", "make_spec",
    "test_undeclared_capabilities_raise_unsupported", "test_invalid_spec_creates_nothing",
    "test_lifecycle_snapshot_and_restore", "test_create_many_list_and_delete", "test_same_name_one_wins",
    "test_a_spot_vm_says_so",
]


@dataclass
class Target:
    """How the suite reaches one provider, and how it checks for leftovers."""

    provider: str
    options: dict[str, Any]
    image: str
    size: cloudvm.Size
    leftovers: Callable[[str], list[str]] = field(repr=False)  # resources still named after a VM/snapshot
    network: cloudvm.Network = field(default_factory=cloudvm.Network)
    timeout: float = 300.0

    def connect(self, **extra: Any) -> cloudvm.Cloud:
        return cloudvm.connect(self.provider, timeout=self.timeout, **self.options, **extra)


@pytest.fixture
def cloud(conformance_target: Target, tmp_path: Path) -> Iterator[cloudvm.Cloud]:
    with conformance_target.connect(known_hosts=tmp_path / "known_hosts") as c:
        yield c


@pytest.fixture
def run_id() -> str:
    """A short random infix that keeps this run's names apart from others'."""
    return secrets.token_hex(2)


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fresh ed25519 key pair: (private key file, public key line)."""
    return ssh.generate_keypair(tmp_path_factory.mktemp("ssh"))


@pytest.fixture
def make_spec(conformance_target: Target, ssh_key: tuple[Path, str], run_id: str) -> Callable[..., cloudvm.VMSpec]:
    def make(name: str, **changes: Any) -> cloudvm.VMSpec:
        fields: dict[str, Any] = dict(
            name=f"cvt-{run_id}-{name}", size=conformance_target.size, image=conformance_target.image,
            network=conformance_target.network, ssh=cloudvm.SSHAccess(user="ops", public_keys=[ssh_key[1]]),
            tags={"suite": "conformance", "run": run_id},
        )
        return cloudvm.VMSpec(**{**fields, **changes})
    return make


def _assert_gone(target: Target, cloud: cloudvm.Cloud, *names: str) -> None:
    listed = {vm.name for vm in cloud.list()}
    assert not listed & set(names), f"still listed: {listed & set(names)}"
    for name in names:
        assert target.leftovers(name) == [], f"{name} left resources behind"


def test_undeclared_capabilities_raise_unsupported(cloud: cloudvm.Cloud, make_spec: Any) -> None:
    caps = cloud.capabilities
    calls: dict[Capability, Callable[[], object]] = {
        Capability.SNAPSHOTS: lambda: cloud.snapshot("no-such-vm"),
        Capability.COPY_SNAPSHOT: lambda: cloud.copy_snapshot("no-such-snapshot", region="elsewhere"),
        Capability.CONSOLE_OUTPUT: lambda: cloud.console_output("no-such-vm"),
        Capability.EXPORT: lambda: cloud.export("no-such-vm", "/nonexistent"),
        Capability.IMPORT: lambda: cloud.import_vm("/nonexistent"),
        Capability.INGRESS_RULES: lambda: cloud.create(
            make_spec("ingress", network=cloudvm.Network(ingress=[cloudvm.Ingress(port=22)]))),
        Capability.PUBLIC_IP: lambda: cloud.create(make_spec("public", network=cloudvm.Network(public_ip=True))),
        Capability.DATA_DISKS: lambda: cloud.create(make_spec("disks", disks=[cloudvm.Disk(size_gib=1)])),
        Capability.ENCRYPTION_KEYS: lambda: cloud.create(make_spec("cmk", encryption_key="a-key")),
        Capability.SPOT: lambda: cloud.create(make_spec("spot", spot=cloudvm.Spot())),
    }
    for capability, call in calls.items():
        if capability not in caps:
            with pytest.raises(Unsupported) as refused:
                call()
            assert capability is not Capability.SPOT or "spot" in str(refused.value)
    assert cloud.list(tags={"run": make_spec("x").tags["run"]}) == []


def test_invalid_spec_creates_nothing(conformance_target: Target, cloud: cloudvm.Cloud, make_spec: Any) -> None:
    spec = make_spec("badimage", image="no-such-image-alias")
    with pytest.raises(InvalidSpec) as err:
        cloud.create(spec)
    assert err.value.field == "image"
    with pytest.raises(InvalidSpec, match=r"disks\[1\]\.size_gib"):
        cloudvm.VMSpec(**{**make_spec("x").model_dump(), "disks": [{"size_gib": 1}, {"size_gib": 0}]})
    _assert_gone(conformance_target, cloud, spec.name)


def _login(cloud: cloudvm.Cloud, vm: cloudvm.VM, key: Path, command: str) -> str:
    done = cloud.ssh(vm, command, key_file=str(key))
    assert done.returncode == 0, f"ssh {vm.name} {command!r}: {done.stderr}"
    return done.stdout


def _refuses_another_host_key(cloud: cloudvm.Cloud, vm: cloudvm.VM, key: Path, other_key: str) -> None:
    """A VM answering with a key other than the one it printed on its console is not logged in to."""
    learned = cloud.host_keys(vm)
    assert learned, f"{vm.name} printed no host keys"
    cloud.known_hosts.record(vm, [" ".join(other_key.split()[:2])])
    try:
        with pytest.raises(HostKeyMismatch, match=vm.name):
            cloud.ssh(vm, "true", key_file=str(key))
    finally:
        cloud.known_hosts.record(vm, learned)


def _rebooted(cloud: cloudvm.Cloud, vm: cloudvm.VM, key: Path, boot_id: str, timeout: float) -> cloudvm.VM:
    """The VM once it answers SSH from a new boot (a reboot may keep the VM "running" throughout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        vm = cloud.wait(vm, "reachable", timeout)[0]
        done = cloud.ssh(vm, "cat /proc/sys/kernel/random/boot_id", key_file=str(key), timeout=30)
        if done.returncode == 0 and done.stdout != boot_id:
            return vm
        time.sleep(1)
    raise AssertionError(f"{vm.name} did not come back from the reboot within {timeout:.0f}s")


def test_lifecycle_snapshot_and_restore(conformance_target: Target, cloud: cloudvm.Cloud, make_spec: Any,
                                        ssh_key: tuple[Path, str]) -> None:
    """create -> log in -> stop -> start -> reboot -> snapshot -> restore -> delete, nothing left.

    Providers without REACHABILITY (API fakes that run no guest) skip the logins.
    """
    key = ssh_key[0]
    guest = Capability.REACHABILITY in cloud.capabilities
    wait: Any = "reachable" if guest else "running"
    disks = [cloudvm.Disk(size_gib=1)] if Capability.DATA_DISKS in cloud.capabilities else []
    spec = make_spec("life", disks=disks, user_data="#!/bin/sh\necho hello-from-user-data > /tmp/hello\n")
    restored_name = spec.name[:-4] + "restored"
    snap = None
    try:
        vm = cloud.create(spec, wait=wait)
        assert vm.state is cloudvm.VMState.RUNNING and vm.name == spec.name and vm.provider == cloud.provider.name
        assert vm.tags["run"] == spec.tags["run"] and vm.private_ips and vm.created_at
        assert vm.size is not None and vm.size.cpus == conformance_target.size.cpus
        if guest:
            assert _login(cloud, vm, key, "cat /tmp/hello").strip() == "hello-from-user-data"
            assert _login(cloud, vm, key, "hostname").strip() == spec.name
            _refuses_another_host_key(cloud, vm, key, ssh_key[1])
            _login(cloud, vm, key, "echo kept-across-restarts > ~/restarts && sync")

        assert cloud.stop(vm)[0].state is cloudvm.VMState.STOPPED
        assert cloud.get(spec.name).state is cloudvm.VMState.STOPPED
        vm = cloud.start(vm)[0]
        assert vm.state is cloudvm.VMState.RUNNING
        if guest:
            vm = cloud.wait(vm, "reachable", conformance_target.timeout)[0]
            boot = _login(cloud, vm, key, "cat /proc/sys/kernel/random/boot_id")
            cloud.reboot(vm)
            vm = _rebooted(cloud, vm, key, boot, conformance_target.timeout)
            assert _login(cloud, vm, key, "cat ~/restarts").strip() == "kept-across-restarts"
            _login(cloud, vm, key, "echo kept-by-snapshot > ~/proof && sync")
        else:
            assert cloud.reboot(vm)[0].state is cloudvm.VMState.RUNNING

        if Capability.SNAPSHOTS not in cloud.capabilities:
            return
        snap = cloud.snapshot(vm, name=spec.name + "-snap", tags={"run": spec.tags["run"]})
        assert snap.state is cloudvm.SnapshotState.READY and snap.source_vm == spec.name
        assert [d.root for d in snap.disks] == [d.root for d in vm.disks]
        assert [s.name for s in cloud.list_snapshots(tags={"run": spec.tags["run"]})] == [snap.name]
        vm2 = cloud.restore(snap, name=restored_name, wait=wait)
        assert vm2.id != vm.id and vm2.name == restored_name
        assert len(vm2.disks) == len(vm.disks)
        if guest:
            assert _login(cloud, vm2, key, "cat ~/proof").strip() == "kept-by-snapshot"
            assert set(cloud.host_keys(vm2)).isdisjoint(cloud.host_keys(vm)), "a restored VM keeps its source's keys"
    finally:
        cloud.delete([v for v in cloud.list(tags={"run": spec.tags["run"]})])
        if snap is not None:
            cloud.delete_snapshot(snap)
    _assert_gone(conformance_target, cloud, spec.name, restored_name)
    if snap is not None:
        assert cloud.list_snapshots(tags={"run": spec.tags["run"]}) == []
        assert conformance_target.leftovers(snap.name) == []


def test_create_many_list_and_delete(conformance_target: Target, cloud: cloudvm.Cloud, make_spec: Any) -> None:
    specs = [make_spec("many-a"), make_spec("many-b")]
    try:
        vms = cloud.create_many(specs)
        assert [vm.name for vm in vms] == [s.name for s in specs]
        assert all(vm.state is cloudvm.VMState.RUNNING for vm in vms)
        listed = cloud.list(tags={"run": specs[0].tags["run"]})
        assert [vm.name for vm in listed] == sorted(s.name for s in specs)
        assert cloud.get(specs[1].name).id == vms[1].id
    finally:
        cloud.delete([vm for vm in cloud.list(tags={"run": specs[0].tags["run"]})])
    _assert_gone(conformance_target, cloud, *(s.name for s in specs))


def _create_in_process(provider: str, options: dict[str, Any], spec_json: str) -> str:
    with cloudvm.connect(provider, **options) as cloud:
        try:
            return cloud.create(cloudvm.VMSpec.model_validate_json(spec_json), wait=None).id
        except AlreadyExists:
            return "AlreadyExists"


def test_same_name_one_wins(conformance_target: Target, cloud: cloudvm.Cloud, make_spec: Any) -> None:
    spec = make_spec("race")
    ctx = multiprocessing.get_context("spawn")
    try:
        with ctx.Pool(2) as pool:
            args = (conformance_target.provider, conformance_target.options, spec.model_dump_json())
            results = pool.starmap(_create_in_process, [args] * 2)
        assert sorted(r == "AlreadyExists" for r in results) == [False, True], results
        assert [vm.name for vm in cloud.list(tags={"run": spec.tags["run"]})] == [spec.name]
    finally:
        cloud.delete([vm for vm in cloud.list(tags={"run": spec.tags["run"]})])
    _assert_gone(conformance_target, cloud, spec.name)


def test_a_spot_vm_says_so(conformance_target: Target, cloud: cloudvm.Cloud, make_spec: Any) -> None:
    """A spot VM runs on spot capacity and says so, and goes like any other VM."""
    if Capability.SPOT not in cloud.capabilities:
        pytest.skip(f"{conformance_target.provider} has no spot capacity")
    spec = make_spec("spot", spot=cloudvm.Spot())
    vm = cloud.create(spec, wait="running")
    try:
        assert vm.spot and cloud.get(vm.id).spot and not cloud.get(vm.id).interrupted
    finally:
        cloud.delete(vm)
    _assert_gone(conformance_target, cloud, spec.name)
