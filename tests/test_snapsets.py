"""Snapshot sets as every provider records them."""

import pytest

import cloudvm
from cloudvm import snapsets
from cloudvm.model import VM, ResolvedSize, SnapshotState, VMState

READY, PENDING, ERROR = SnapshotState.READY, SnapshotState.PENDING, SnapshotState.ERROR


@pytest.mark.parametrize(("members", "complete", "expected"), [
    ([READY, READY], True, READY),
    ([READY, PENDING], True, PENDING),
    ([PENDING, ERROR], True, ERROR),  # an error anywhere is the set's
    ([READY], False, PENDING),  # a member not made yet
    ([ERROR], False, ERROR),
])
def test_a_set_is_as_far_as_its_least_advanced_member(members: list[SnapshotState], complete: bool,
                                                       expected: SnapshotState) -> None:
    assert snapsets.state(members, complete) is expected


def test_a_set_records_enough_to_boot_its_vm_again() -> None:
    vm = VM(id="i-1", name="db", provider="x", state=VMState.RUNNING, size=ResolvedSize("m5.large", 2, 8),
            image="ami-1", ssh_user="ops")
    tags = {"team": "data", **snapsets.about(vm, "set-1"), cloudvm.tags.MANAGED: "true"}
    assert snapsets.shown(tags) == {"team": "data", cloudvm.tags.MANAGED: "true"}
    spec = snapsets.spec(tags[snapsets.SOURCE], tags[snapsets.TYPE], tags[snapsets.IMAGE], tags)
    assert spec is not None and (spec.name, spec.size.instance_type, spec.image, spec.tags) == (
        "db", "m5.large", "ami-1", {"team": "data"})
    assert snapsets.spec("db", None, "ami-1", tags) is None  # a type unknown: the caller gives a spec
