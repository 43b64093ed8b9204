"""Host keys: read from what a VM printed on its console, filed per VM, used strictly, forgotten with the VM."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cloudvm_testing import FakeProvider, host_key

import cloudvm
from cloudvm import errors, hostkeys
from cloudvm.retry import RetryPolicy
from tests.test_cloud import Clock, spec

ED = host_key("one")
RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7"


def test_keys_are_read_from_the_last_complete_block_whatever_prefixes_the_lines() -> None:
    console = "\n".join([
        "[   3.1] cloud-init[612]: Generating public/private ed25519 key pair.",
        "ec2: -----BEGIN SSH HOST KEY KEYS-----", f"ec2: {host_key('old')} root@vm",
        "ec2: -----END SSH HOST KEY KEYS-----",
        "rebooting", "-----BEGIN SSH HOST KEY KEYS-----", f"{ED} root@vm", f"{RSA} root@vm", "not a key line",
        "ssh-ed25519 %%%not-base64", "-----END SSH HOST KEY KEYS-----",
        "-----BEGIN SSH HOST KEY KEYS-----", f"{host_key('cut')} root@vm",  # cut off: not complete yet
    ])
    assert hostkeys.from_console(console) == [ED, RSA]
    assert hostkeys.from_console("no keys here\n") == []


def test_the_file_holds_keys_per_vm_is_private_and_forgets(tmp_path: Path) -> None:
    known = hostkeys.KnownHosts(tmp_path / "cfg" / "known_hosts")
    a = cloudvm.VM(id="i-1", name="web", provider="aws", state=cloudvm.VMState.RUNNING)
    b = cloudvm.VM(id="i-2", name="web", provider="aws", state=cloudvm.VMState.RUNNING)
    known.record(a, [ED])
    known.record(b, [RSA])
    known.record(a, [ED, RSA])  # learned again: replaced, not added
    assert known.keys(a) == [ED, RSA] and known.keys(b) == [RSA]
    assert hostkeys.alias(a) != hostkeys.alias(b) and hostkeys.alias(a).startswith("web.")
    assert stat.S_IMODE(known.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(known.path.parent.stat().st_mode) == 0o700
    known.forget([a])
    assert known.keys(a) == [] and known.keys(b) == [RSA]


@pytest.fixture
def cloud(tmp_path: Path) -> cloudvm.Cloud:
    clock = Clock()
    c = cloudvm.Cloud(FakeProvider(boot_seconds=5, clock=clock), retry=RetryPolicy(sleep=clock.sleep), timeout=60,
                      known_hosts=tmp_path / "known_hosts")
    c.waiter.clock, c.waiter.sleep = clock, clock.sleep
    return c


def test_logins_trust_only_the_keys_the_console_showed_and_deleting_forgets_them(cloud: cloudvm.Cloud) -> None:
    fake = cloud.provider
    assert isinstance(fake, FakeProvider)
    fake.keys_seconds = 30  # cloud-init prints them late in the first boot
    vm = cloud.create(spec("web-1"))
    argv = cloud.ssh_argv(vm, ["uptime"])
    assert cloud.host_keys(vm) == [host_key(vm.id)]
    assert cloud.waiter.clock() >= 35
    options = " ".join(argv)
    assert "StrictHostKeyChecking=yes" in options and f"UserKnownHostsFile={cloud.known_hosts.path}" in options
    assert f"HostKeyAlias={hostkeys.alias(vm)}" in options and argv[-2:] == [f"ops@{vm.address}", "uptime"]
    assert "StrictHostKeyChecking=no" not in options and "/dev/null" not in options.replace(
        "GlobalKnownHostsFile=/dev/null", "")
    cloud.delete(vm)
    assert cloud.known_hosts.keys(vm) == []


def test_a_vm_that_never_prints_keys_is_not_logged_in_to(cloud: cloudvm.Cloud) -> None:
    fake = cloud.provider
    assert isinstance(fake, FakeProvider)
    fake.keys_seconds = 10_000
    vm = cloud.create(spec("quiet"))
    with pytest.raises(errors.Timeout, match="published no SSH host keys"):
        cloud.ssh_argv(vm, timeout=20)
    assert cloud.known_hosts.keys(vm) == []


def test_without_a_console_keys_must_be_filed_by_hand(cloud: cloudvm.Cloud) -> None:
    fake = cloud.provider
    assert isinstance(fake, FakeProvider)
    vm = cloud.create(spec("dark"))
    fake.capabilities = fake.capabilities - {cloudvm.Capability.CONSOLE_OUTPUT, cloudvm.Capability.HOST_KEYS}
    with pytest.raises(errors.Unsupported, match=r"known_hosts\.record"):
        cloud.ssh_argv(vm)
    cloud.known_hosts.record(vm, [ED])
    assert "HostKeyAlias=" in " ".join(cloud.ssh_argv(vm))
