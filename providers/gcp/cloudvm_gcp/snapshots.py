"""Snapshot sets on Compute Engine: one global snapshot per disk, sharing a
``cloudvm-snapshot`` label; each member's description carries a JSON
manifest (source VM, machine type, image, user, Cloud KMS key, the disk's place and tier,
the exact tags) so a restore needs nothing but the snapshots themselves."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cloudvm import tags as tagging
from cloudvm.model import DiskInfo, Snapshot, SnapshotState
from cloudvm.spec import Size, VMSpec

SET = "cloudvm-snapshot"
MEMBERS = "cloudvm-members"
COPIED_FROM = tagging.COPIED_FROM
_STATES = {"CREATING": SnapshotState.PENDING, "UPLOADING": SnapshotState.PENDING, "READY": SnapshotState.READY,
           "DELETING": SnapshotState.PENDING, "FAILED": SnapshotState.ERROR}


def manifest(item: dict[str, Any]) -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads(item.get("description") or "{}")
    except ValueError:
        return {}
    return found


def complete(members: list[dict[str, Any]]) -> bool:
    """Every disk the set was taken of has its snapshot."""
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
    info = manifest(members[0])
    states = {_STATES.get(m.get("status", ""), SnapshotState.ERROR) for m in members}
    state = SnapshotState.READY if complete(members) else SnapshotState.PENDING
    for worst in (SnapshotState.PENDING, SnapshotState.ERROR):
        if worst in states:
            state = worst
    tags: dict[str, str] = info.get("tags") or {}
    spec = VMSpec(name=info["vm"], size=Size(instance_type=info["type"]), image=info["image"],
                  tags=tagging.declared(tags), encryption_key=info.get("key")) if info.get("type") and info.get(
                      "image") else None
    locations = members[0].get("storageLocations") or [None]
    return Snapshot(
        id=set_id, name=tags.get(tagging.NAME, set_id), provider=provider, source_vm=info.get("vm", ""), state=state,
        created_at=min(datetime.fromisoformat(m["creationTimestamp"]) for m in members), region=locations[0],
        disks=tuple(DiskInfo(m["name"], float(m.get("diskSizeGb", 0)), bool(manifest(m).get("root")),
                             manifest(m).get("device")) for m in members),
        tags=tags, spec=spec, raw=members, copy_of=(members[0].get("labels") or {}).get(COPIED_FROM))
