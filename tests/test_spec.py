"""Spec validation: bad input fails at construction, naming the field."""

import pytest

import cloudvm
from cloudvm.errors import InvalidSpec

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"
GOOD = dict(name="web-1", size={"cpus": 1, "memory_gib": 0.5}, image="debian-12")


@pytest.mark.parametrize(("changes", "field", "problem"), [
    ({"name": "Web_1"}, "name", "must match"),
    ({"name": "x" * 64}, "name", "must match"),
    ({"size": {"cpus": 1}}, "size", "needs both cpus and memory_gib"),
    ({"size": {"cpus": 0, "memory_gib": 1}}, "size.cpus", "must be > 0"),
    ({"size": {"cpus": 1, "memory_gib": 1, "instance_type": "t3.micro"}}, "size", "not both"),
    ({"disks": [{"size_gib": 1}, {"size_gib": 0}]}, "disks[1].size_gib", "must be > 0"),
    ({"disks": [{"size_gib": 1, "tier": "gold"}]}, "disks[0].tier", "'standard' or 'ssd'"),
    ({"root_disk_gib": -1}, "root_disk_gib", "must be > 0"),
    ({"network": {"ingress": [{"port": 70000}]}}, "network.ingress[0].port", "must be <= 65535"),
    ({"network": {"ingress": [{"port": 22, "cidr": "10.0.0.1/8"}]}}, "network.ingress[0].cidr", "host bits"),
    ({"network": {"ingress": [{"port": 80, "to_port": 79}]}}, "network.ingress[0]", "to_port must be >= port"),
    ({"ssh": {"user": "ops", "public_keys": ["not a key"]}}, "ssh.public_keys", "not an OpenSSH public key"),
    ({"ssh": {"user": "root", "public_keys": [KEY]}}, "ssh.user", "reserved"),
    ({"ssh": {"user": "ops", "public_keys": []}}, "ssh.public_keys", "at least 1"),
    ({"tags": {"cloudvm-name": "x"}}, "tags", "reserved prefix"),
    ({"tags": {"k": "v" * 64}}, "tags", "at most 63"),
    ({"image": ""}, "image", "at least 1"),
    ({"colour": "blue"}, "colour", "not a known field"),
])
def test_bad_values_name_the_field(changes: dict, field: str, problem: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        cloudvm.VMSpec(**{**GOOD, **changes})
    assert err.value.field == field
    assert problem in str(err.value)
    assert str(err.value).startswith(f"{field}: ")


def test_nested_models_built_directly_name_their_own_field() -> None:
    with pytest.raises(InvalidSpec, match=r"^size_gib: must be > 0$"):
        cloudvm.Disk(size_gib=0)


def test_several_problems_are_all_reported() -> None:
    with pytest.raises(InvalidSpec) as err:
        cloudvm.VMSpec(**{**GOOD, "name": "BAD", "image": ""})
    assert "name:" in str(err.value) and "image:" in str(err.value) and "1 more" in str(err.value)


def test_specs_are_immutable_and_hashable_sizes() -> None:
    spec = cloudvm.VMSpec(**GOOD)
    with pytest.raises(Exception, match="frozen"):
        spec.name = "other"  # type: ignore[misc]
    assert {cloudvm.Size(cpus=1, memory_gib=1): 1}[cloudvm.Size(cpus=1, memory_gib=1)] == 1


def test_user_data_is_kept_out_of_repr_and_errors() -> None:
    secret = "#!/bin/sh\nexport TOKEN=hunter2\n"
    spec = cloudvm.VMSpec(**GOOD, user_data=secret)
    assert "hunter2" not in repr(spec)
    with pytest.raises(InvalidSpec) as err:
        cloudvm.VMSpec(**GOOD, user_data=secret * 2000)
    assert "hunter2" not in str(err.value)


def test_replace_validates_again() -> None:
    spec = cloudvm.VMSpec(**GOOD)
    assert spec.replace(name="web-2").name == "web-2"
    with pytest.raises(InvalidSpec, match=r"^name"):
        spec.replace(name="Nope")
