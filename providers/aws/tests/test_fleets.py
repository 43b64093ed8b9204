"""Counted fleets on EC2: a chunk in one RunInstances, members named by their launch index, exactly
once under lost answers and against a second run, one security group a chunk, nothing left behind."""

from __future__ import annotations

import base64
import email
import threading
from collections.abc import Iterator
from typing import Any

import jinja2
import pytest
import yaml
from cloudvm_aws.testing import REGION, FaultProxy, leftovers

import cloudvm
from cloudvm import errors, tags

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_url) as p:
        yield p


def connect(proxy: FaultProxy, **options: Any) -> cloudvm.Cloud:
    return cloudvm.connect("aws", region=REGION, endpoint_url=proxy.url, timeout=60, poll_interval=0.1,
                           retry=cloudvm.RetryPolicy(initial=0.05, maximum=1.0, deadline=30), **options)


def spec(name: str, **changes: Any) -> cloudvm.VMSpec:
    return cloudvm.VMSpec(**{"name": name, "size": cloudvm.Size(cpus=2, memory_gib=1), "image": "ubuntu-24.04",
                             "ssh": cloudvm.SSHAccess(user="ops", public_keys=[KEY]),
                             "network": cloudvm.Network(ingress=[cloudvm.Ingress(port=22)]), **changes})


def members(name: str, count: int) -> list[str]:
    return [f"{name}-{i}" for i in range(1, count + 1)]


def groups(moto_url: str, name: str, count: int) -> set[str]:
    """The security groups the fleet's members hold (a group made once however many tries asked)."""
    return {found for member in members(name, count) for found in leftovers(moto_url, member)
            if found.startswith("security group")}


def alive(cloud: cloudvm.Cloud, name: str) -> list[str]:
    return sorted(vm.name for vm in cloud.list() if vm.name.startswith(f"{name}-"))


def hostname(user_data: str, launch_index: int) -> str:
    """The hostname cloud-init gives the instance at ``launch_index``: the SDK's part rendered as cloud-init
    renders a Jinja template, with the instance data keys' hyphens as underscores."""
    message = email.message_from_string(user_data)
    parts = [p for p in message.walk() if not p.is_multipart()]
    ours = next(p for p in parts if p.get_filename() == "cloudvm.cfg") if message.is_multipart() else message
    text = ours.get_payload(decode=True).decode() if message.is_multipart() else user_data
    head, _, template = text.partition("\n")
    assert head == "## template: jinja"
    rendered = jinja2.Template(template).render(ds={"meta_data": {"ami_launch_index": str(launch_index)}})
    return str(yaml.safe_load(rendered)["hostname"])


def test_a_fleet_is_one_launch_and_its_members_come_back_named_in_order(proxy: FaultProxy, moto_url: str) -> None:
    with connect(proxy) as cloud:
        vms = cloud.create_many(spec("herd", user_data="#!/bin/sh\necho hi\n"), count=5)
        assert [vm.name for vm in vms] == members("herd", 5)
        assert proxy.count("RunInstances") == 1 and len(groups(moto_url, "herd", 5)) == 1
        run = next(p for action, p in proxy.requests if action == "RunInstances")
        assert run["MinCount"] == run["MaxCount"] == ["5"]
        user_data = base64.b64decode(run["UserData"][0]).decode()
        assert [hostname(user_data, i) for i in range(5)] == members("herd", 5)
        assert len({vm.tags[tags.TOKEN] for vm in vms}) == 5 and all(vm.ssh_user == "ops" for vm in vms)
        assert cloud.get("herd-3").id == vms[2].id
        cloud.delete(vms)
    assert [found for name in members("herd", 5) for found in leftovers(moto_url, name)] == []


def test_a_big_fleet_goes_in_chunks_with_a_group_each_and_a_partial_delete_keeps_the_shared_group(
        proxy: FaultProxy, moto_url: str) -> None:
    with connect(proxy) as cloud:
        cloud.provider.fleet_limit = 2  # type: ignore[misc]
        vms = cloud.create_many(spec("drove"), count=5)
        assert [vm.name for vm in vms] == members("drove", 5)
        assert proxy.count("RunInstances") == 3 and len(groups(moto_url, "drove", 5)) == 3
        cloud.delete(vms[0])  # drove-2 still holds the group of drove-1..2
        assert any(found.startswith("security group") for found in leftovers(moto_url, "drove-1"))
        cloud.delete(vms[1:])
    assert [found for name in members("drove", 5) for found in leftovers(moto_url, name)] == []


def test_a_lost_answer_to_a_fleet_launch_makes_no_second_fleet(proxy: FaultProxy, moto_url: str) -> None:
    proxy.inject("RunInstances", "drop")
    with connect(proxy) as cloud:
        vms = cloud.create_many(spec("flock"), count=4)
        assert proxy.faults[0].times == 0 and proxy.count("RunInstances") == 2
        assert alive(cloud, "flock") == members("flock", 4) == [vm.name for vm in vms]
        cloud.delete(vms)
    assert [found for name in members("flock", 4) for found in leftovers(moto_url, name)] == []


def test_two_runs_creating_one_fleet_make_it_once(proxy: FaultProxy, moto_url: str) -> None:
    outcomes: list[object] = []

    def run() -> None:
        with connect(proxy, claim_lease=4) as cloud:
            try:
                outcomes.append(cloud.create_many(spec("pack"), count=3, wait=None))
            except errors.AlreadyExists as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(type(o).__name__ for o in outcomes) == ["AlreadyExists", "list"]
    with connect(proxy) as cloud:
        assert alive(cloud, "pack") == members("pack", 3)
        cloud.delete(cloud.list())
    assert [found for name in members("pack", 3) for found in leftovers(moto_url, name)] == []


def test_member_names_are_taken_both_ways(proxy: FaultProxy, moto_url: str) -> None:
    with connect(proxy) as cloud:
        fleet = cloud.create_many(spec("mob"), count=2)
        with pytest.raises(errors.AlreadyExists, match="mob-2"):
            cloud.create(spec("mob-2"))  # a named VM cannot take a member's name
        alone = cloud.create(spec("crowd-2"))
        with pytest.raises(errors.AlreadyExists, match="crowd-2"):
            cloud.create_many(spec("crowd"), count=3)  # nor a fleet a named VM's
        assert alive(cloud, "crowd") == ["crowd-2"] and alive(cloud, "mob") == members("mob", 2)
        cloud.delete([*fleet, alone])
    assert [found for name in [*members("mob", 2), *members("crowd", 3)] for found in leftovers(moto_url, name)] == []
