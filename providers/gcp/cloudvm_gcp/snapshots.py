"""Snapshot sets on Compute Engine. A VM's snapshot is a machine image: every disk captured at
one instant, crash-consistent across disks (https://cloud.google.com/compute/docs/machine-images).
A copy stored in another location is one global snapshot per disk, sharing a ``cloudvm-snapshot``
label. Each carries a JSON manifest in its description (source VM, machine type, image, user,
Cloud KMS key, each disk's place, size and tier, the exact tags) so a restore needs nothing but
the set itself."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cloudvm import snapsets
from cloudvm import tags as tagging
from cloudvm.model import DiskInfo, Snapshot, SnapshotState
from cloudvm.snapsets import COPIED_FROM, MEMBERS, SET

_STATES = {"CREATING": SnapshotState.PENDING, "UPLOADING": SnapshotState.PENDING, "READY": SnapshotState.READY,
           "DELETING": SnapshotState.PENDING, "FAILED": SnapshotState.ERROR}


def manifest(item: dict[str, Any]) -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads(item.get("description") or "{}")
    except ValueError:
        return {}
    return found


def is_image(members: list[dict[str, Any]]) -> bool:
    """The set is a machine image (else snapshots, one per disk)."""
    return bool(members) and members[0].get("kind") == "compute#machineImage"


def disks(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each disk's manifest (index, root, device, disk_type, size), the root first."""
    if is_image(members):
        return list(manifest(members[0]).get("disks") or [])
    return [{**manifest(m), "size": m.get("diskSizeGb", 0), "member": m} for m in members]


def boot(members: list[dict[str, Any]]) -> dict[str, Any]:
    """What the set knows of its boot disk (its ``guestOsFeatures``: UEFI or not)."""
    if is_image(members):
        saved = members[0].get("instanceProperties", {}).get("disks") or []
        return next((d for d in saved if d.get("boot")), {})
    return next(m for m in members if manifest(m).get("root"))


def complete(members: list[dict[str, Any]]) -> bool:
    """Every disk the set was taken of has its snapshot."""
    if is_image(members):
        return True
    expected = (members[0].get("labels") or {}).get(MEMBERS, "")
    return expected.isdigit() and len(members) == int(expected)


def group(items: list[dict[str, Any]], provider: str, home: str) -> list[Snapshot]:
    """Snapshots by set, root disk first; sets stored in ``home`` first, then by name."""
    sets: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        set_id = (item.get("labels") or {}).get(SET)
        if set_id:
            sets.setdefault(set_id, []).append(item)
    snaps = [_snapshot(set_id, members, provider) for set_id, members in sets.items()]
    return sorted(snaps, key=lambda s: (s.region != home, s.name, s.id))


def _snapshot(set_id: str, members: list[dict[str, Any]], provider: str) -> Snapshot:
    members = sorted(members, key=lambda m: manifest(m).get("index", 0))
    items = disks(members)
    info = manifest(members[0])
    state = snapsets.state((_STATES.get(m.get("status", ""), SnapshotState.ERROR) for m in members),
                           complete=complete(members))
    tags: dict[str, str] = info.get("tags") or {}
    spec = snapsets.spec(info.get("vm"), info.get("type"), info.get("image"), tags, encryption_key=info.get("key"))
    locations = members[0].get("storageLocations") or [None]
    return Snapshot(
        id=set_id, name=tags.get(tagging.NAME, set_id), provider=provider, source_vm=info.get("vm", ""), state=state,
        created_at=min(datetime.fromisoformat(m["creationTimestamp"]) for m in members), region=locations[0],
        disks=tuple(DiskInfo(d["member"]["name"] if "member" in d else d["device"], float(d.get("size") or 0),
                             bool(d.get("root")), d.get("device")) for d in items),
        tags=tags, spec=spec, raw=members, copy_of=(members[0].get("labels") or {}).get(COPIED_FROM))
