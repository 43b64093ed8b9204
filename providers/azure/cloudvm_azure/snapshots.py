"""Snapshot sets on Azure: a VM restore point, which captures every managed disk of the VM at one
instant, so the set is crash-consistent across disks
(https://learn.microsoft.com/azure/virtual-machines/virtual-machines-create-restore-points).
Each set is a restore point collection holding one restore point; the collection's tags carry
what a restore needs beyond the restore point's own record of the VM (the image, the user, the
set's identity), so nothing but the collection is needed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cloudvm import snapsets
from cloudvm import tags as tagging
from cloudvm.model import DiskInfo, Snapshot, SnapshotState
from cloudvm.snapsets import COPIED_FROM, IMAGE, SET, SOURCE, TYPE


def tags_of(item: dict[str, Any]) -> dict[str, str]:
    return dict(item.get("tags") or {})


def point(collection: dict[str, Any]) -> dict[str, Any] | None:
    """The set's restore point (None until it has been asked for)."""
    points = (collection.get("properties") or {}).get("restorePoints") or []
    return points[0] if points else None


def disks(collection: dict[str, Any]) -> list[dict[str, Any]]:
    """The restore point's record of each disk, the OS disk first (``lun`` None for it)."""
    found = point(collection)
    storage = ((found or {}).get("properties") or {}).get("sourceMetadata", {}).get("storageProfile") or {}
    if not storage.get("osDisk"):
        return []
    return [{**storage["osDisk"], "lun": None}, *(storage.get("dataDisks") or [])]


def security_type(collection: dict[str, Any]) -> str | None:
    """The security type of the VM the set was taken of (its OS disk keeps it: Trusted Launch)."""
    metadata = ((point(collection) or {}).get("properties") or {}).get("sourceMetadata") or {}
    found: str | None = (metadata.get("securityProfile") or {}).get("securityType")
    return found


def _state(collection: dict[str, Any]) -> SnapshotState:
    found = point(collection)
    props = (found or {}).get("properties") or {}
    if props.get("provisioningState") == "Failed":
        return SnapshotState.ERROR
    copies = ((props.get("instanceView") or {}).get("diskRestorePoints")) or []
    replicated = all((c.get("replicationStatus") or {}).get("completionPercent", 100) >= 100 for c in copies)
    ready = props.get("provisioningState") == "Succeeded" and replicated
    return SnapshotState.READY if ready else SnapshotState.PENDING


def group(collections: list[dict[str, Any]], provider: str, home: str) -> list[Snapshot]:
    """One snapshot per collection of a set; sets stored in ``home`` first."""
    found = [_snapshot(c, provider) for c in collections if SET in tags_of(c)]
    return sorted(found, key=lambda s: (s.region != home, s.name, s.id))


def _snapshot(collection: dict[str, Any], provider: str) -> Snapshot:
    tags = tags_of(collection)
    props = (point(collection) or {}).get("properties") or {}
    metadata = props.get("sourceMetadata") or {}
    vm_type = tags.get(TYPE) or (metadata.get("hardwareProfile") or {}).get("vmSize")
    members = disks(collection)
    key = next((_key(d) for d in members if d["lun"] is None), None)
    spec = snapsets.spec(tags.get(SOURCE), vm_type, tags.get(IMAGE), tags, encryption_key=key)
    return Snapshot(
        id=tags[SET], name=tags.get(tagging.NAME, tags[SET]), provider=provider, source_vm=tags.get(SOURCE, ""),
        state=_state(collection), created_at=_when(props.get("timeCreated")), region=collection["location"],
        disks=tuple(DiskInfo(d["diskRestorePoint"]["id"].rsplit("/", 1)[1], float(d.get("diskSizeGB") or 0),
                             d["lun"] is None, "os" if d["lun"] is None else f"lun{d['lun']}") for d in members),
        tags=snapsets.shown(tags), spec=spec, raw=collection,
        copy_of=tags.get(COPIED_FROM))


def _key(disk: dict[str, Any]) -> str | None:
    """The disk encryption set a disk restore point is encrypted with (a snapshot keeps its disk's)."""
    encryption = (disk.get("diskRestorePoint") or {}).get("encryption") or {}
    found: str | None = (encryption.get("diskEncryptionSet") or {}).get("id")
    return found


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
