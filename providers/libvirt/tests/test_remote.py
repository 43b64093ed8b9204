"""cloudvm against a libvirt host reached over SSH: the connection, consoles and volumes through
libvirt, logins and reachability through the hypervisor as an SSH jump host, its host key checked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from cloudvm_libvirt.provider import jump_for
from cloudvm_libvirt.testing import leftovers, options, ssh_hypervisor

import cloudvm
from cloudvm.ssh import Jump
from cloudvm.testing.conformance import *  # noqa: F403
from cloudvm.testing.conformance import Target


@pytest.fixture(scope="module")
def remote() -> Iterator[str]:
    with ssh_hypervisor() as uri:
        yield uri


@pytest.fixture(scope="module")
def conformance_target(remote: str) -> Target:
    return Target(provider="libvirt", options={**options(), "uri": remote}, image="cloudvm-tiny",
                  size=cloudvm.Size(cpus=1, memory_gib=0.5), leftovers=partial(leftovers, uri=remote), timeout=240)


def test_the_jump_host_comes_from_the_uri_and_its_host_key_is_checked(remote: str, tmp_path: Path) -> None:
    jump = jump_for(remote)
    assert jump is not None and jump.user == "root" and jump.key_file and jump.command != "ssh" and jump.verify
    assert jump.tcp_open("127.0.0.1", jump.port or 22)  # an SSH server answers, as the hypervisor sees it
    (tmp_path / "known_hosts").write_text("")  # a hypervisor whose key is not on file is not used
    assert not replace(jump, command="ssh", known_hosts=str(tmp_path / "known_hosts")).tcp_open(
        "127.0.0.1", jump.port or 22)
    assert jump_for("qemu:///system") is None and jump_for("qemu+tls://hv1/system") is None
    assert jump_for("qemu+ssh://hv1/system?no_verify=1") == Jump("hv1", verify=False)
    for off in (False, "false"):  # guests routed to the client: reached directly (-O jump_host=false)
        with cloudvm.connect("libvirt", **{**options(), "uri": remote}, jump_host=off) as direct:
            assert direct.provider.jump is None
