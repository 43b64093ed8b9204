"""EBS snapshot sets: one ``CreateSnapshots`` call covers every volume of an
instance at one instant; the set shares a ``cloudvm-snapshot`` tag, and each
member records its device so a restore rebuilds the same layout."""

from __future__ import annotations

from typing import Any

from cloudvm import snapsets
from cloudvm import tags as tagging
from cloudvm.model import DiskInfo, Snapshot, SnapshotState
from cloudvm.snapsets import DEVICE, ROOT, SET, SOURCE, TYPE

BOOT_ATTRIBUTES = ("Architecture", "BootMode", "TpmSupport", "ImdsSupport")


def boot_tag(image: dict[str, Any]) -> str:
    return ",".join(f"{k}={image[k]}" for k in BOOT_ATTRIBUTES if image.get(k))


def boot_attributes(tag: str) -> dict[str, str]:
    """RegisterImage's arguments for a restore: as the source image had them, x86_64 if unknown."""
    return {"Architecture": "x86_64", **dict(item.split("=", 1) for item in tag.split(",") if "=" in item)}
_STATES = {"pending": SnapshotState.PENDING, "completed": SnapshotState.READY, "error": SnapshotState.ERROR}


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags") or []}


def group(items: list[dict[str, Any]], provider: str, region: str) -> list[Snapshot]:
    """EC2 snapshots, one Snapshot per set, root disk first."""
    sets: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        set_id = _tags(item).get(SET)
        if set_id:
            sets.setdefault(set_id, []).append(item)
    return [_snapshot(set_id, members, provider, region) for set_id, members in sorted(sets.items())]


def _snapshot(set_id: str, members: list[dict[str, Any]], provider: str, region: str) -> Snapshot:
    tags = _tags(members[0])
    root = tags.get(ROOT)
    members = sorted(members, key=lambda m: (_tags(m).get(DEVICE) != root, _tags(m).get(DEVICE, "")))
    state = snapsets.state(_STATES.get(m["State"], SnapshotState.ERROR) for m in members)
    disks = tuple(DiskInfo(m["SnapshotId"], float(m["VolumeSize"]), _tags(m).get(DEVICE) == root,
                           _tags(m).get(DEVICE)) for m in members)
    return Snapshot(id=set_id, name=tags.get(tagging.NAME, set_id), provider=provider, source_vm=tags.get(SOURCE, ""),
                    state=state, created_at=min(m["StartTime"] for m in members), region=region, disks=disks,
                    tags=snapsets.shown(tags), spec=snapsets.spec(tags.get(SOURCE), tags.get(TYPE),
                                                                   tags.get(snapsets.IMAGE), tags),
                    raw=members, copy_of=set_id if tagging.COPIED_FROM in tags else None, user=tags.get(snapsets.USER))
