"""Snapshot sets, the same on every cloud: what a set records of the VM it was taken of (one
vocabulary of tags or labels), how its members' states add up, and the spec a restore boots
from. Each provider stores a set its own way (EBS snapshots sharing a tag, a Compute Engine
machine image, an Azure restore point collection) and speaks this module's words."""

from __future__ import annotations

from collections.abc import Iterable

from cloudvm import tags as tagging
from cloudvm.model import VM, SnapshotState
from cloudvm.spec import Size, VMSpec

SET = "cloudvm-snapshot"  # the set's id, on every member
SOURCE = "cloudvm-source"  # the name of the VM it was taken of
TYPE = "cloudvm-type"  # that VM's machine type
IMAGE = tagging.IMAGE  # the image it booted from
USER = tagging.USER  # its login user
ROOT = "cloudvm-root"  # the device its root disk sits at
DEVICE = "cloudvm-device"  # on each member: the device it copies
BOOT = "cloudvm-boot"  # how its image boots (architecture, firmware), where a restore must say it again
MEMBERS = "cloudvm-members"  # how many members a complete set has, where members are made one by one
COPIED_FROM = tagging.COPIED_FROM  # on a DR copy: the id of the set it copies
OWN = frozenset({SET, SOURCE, TYPE, IMAGE, USER, ROOT, DEVICE, BOOT, MEMBERS, COPIED_FROM})


def about(vm: VM, set_id: str) -> dict[str, str]:
    """What a new set records of ``vm``: enough to boot it again with nothing but the set."""
    return {SET: set_id, SOURCE: vm.name, TYPE: vm.size.type_name if vm.size else "", IMAGE: vm.image or "",
            **({USER: vm.ssh_user} if vm.ssh_user else {})}


def shown(tags: dict[str, str]) -> dict[str, str]:
    """The set's tags as a user sees them: the set's own bookkeeping left out."""
    return {k: v for k, v in tags.items() if k not in OWN}


def state(members: Iterable[SnapshotState], complete: bool = True) -> SnapshotState:
    """A set is as far as its least advanced member: an error anywhere is an error, a pending
    member (or a member not made yet) keeps it pending."""
    found = set(members)
    if SnapshotState.ERROR in found:
        return SnapshotState.ERROR
    return SnapshotState.PENDING if SnapshotState.PENDING in found or not complete else SnapshotState.READY


def spec(source: str | None, instance_type: str | None, image: str | None, tags: dict[str, str],
         encryption_key: str | None = None) -> VMSpec | None:
    """The VM a restore makes, when the set knows its type and image (None: the caller gives a spec)."""
    if not (source and instance_type and image):
        return None
    return VMSpec(name=source, size=Size(instance_type=instance_type), image=image, tags=tagging.declared(tags),
                  encryption_key=encryption_key)
