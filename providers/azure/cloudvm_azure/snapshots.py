"""Snapshot sets on Azure: a VM restore point, which captures every managed disk of the VM at one
instant, so the set is crash-consistent across disks
(https://learn.microsoft.com/azure/virtual-machines/virtual-machines-create-restore-points).
Each set is a restore point collection holding one restore point; the collection's tags carry
what a restore needs beyond the restore point's own record of the VM (the image, the user, the
set's identity), so nothing but the collection is needed.

A set imported from files has no VM to take a restore point of: it is a managed snapshot per
disk, each tagged with the set, the device it copies and how many members the set has; such a
set is held as ``{"members": [...]}``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cloudvm import snapsets
from cloudvm import tags as tagging
from cloudvm.model import DiskInfo, Snapshot, SnapshotState
from cloudvm.snapsets import COPIED_FROM, DEVICE, IMAGE, MEMBERS, SET, SOURCE, TYPE


def tags_of(item: dict[str, Any]) -> dict[str, str]:
    return dict(item.get("tags") or {})


def _device_order(member: dict[str, Any]) -> tuple[int, int]:
    device = tags_of(member).get(DEVICE, "os")
    return (0, 0) if device == "os" else (1, int(device.removeprefix("lun") or 0))


def point(collection: dict[str, Any]) -> dict[str, Any] | None:
    """The set's restore point (None until it has been asked for)."""
    points = (collection.get("properties") or {}).get("restorePoints") or []
    return points[0] if points else None


def disks(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Each disk of the set, the OS disk first (``lun`` None for it): what a disk is made back from
    (``source``, with ``option``), its size in GiB, its SKU and encryption set if known."""
    if "members" in raw:
        return [{"lun": None if tags_of(m).get(DEVICE, "os") == "os" else int(tags_of(m)[DEVICE][3:]),
                 "source": m["id"], "option": "Copy", "size": _gib(m["properties"]),
                 "sku": None, "key": (m["properties"].get("encryption") or {}).get("diskEncryptionSetId")}
                for m in sorted(raw["members"], key=_device_order)]
    found = point(raw)
    storage = ((found or {}).get("properties") or {}).get("sourceMetadata", {}).get("storageProfile") or {}
    if not storage.get("osDisk"):
        return []
    return [{"lun": d["lun"], "source": d["diskRestorePoint"]["id"], "option": "Restore",
             "size": float(d.get("diskSizeGB") or 0), "sku": (d.get("managedDisk") or {}).get("storageAccountType"),
             "key": _key(d)} for d in [{**storage["osDisk"], "lun": None}, *(storage.get("dataDisks") or [])]]


def _gib(props: dict[str, Any]) -> float:
    """A snapshot's size: to the byte where Azure says it (an uploaded disk's is not whole GiB)."""
    return int(props["diskSizeBytes"]) / 2**30 if props.get("diskSizeBytes") else float(props.get("diskSizeGB") or 0)


def security_type(collection: dict[str, Any]) -> str | None:
    """The security type of the VM the set was taken of (its OS disk keeps it: Trusted Launch)."""
    metadata = ((point(collection) or {}).get("properties") or {}).get("sourceMetadata") or {}
    found: str | None = (metadata.get("securityProfile") or {}).get("securityType")
    return found


def _state(raw: dict[str, Any]) -> SnapshotState:
    if "members" in raw:
        members = raw["members"]
        ready = [m for m in members if (m.get("properties") or {}).get("provisioningState") == "Succeeded"
                 and (m["properties"].get("completionPercent") is None or m["properties"]["completionPercent"] >= 100)]
        wanted = int(tags_of(members[0]).get(MEMBERS) or len(members))
        failed = any(m["properties"].get("provisioningState") == "Failed" for m in members)
        return SnapshotState.ERROR if failed else SnapshotState.READY if len(ready) == wanted else SnapshotState.PENDING
    found = point(raw)
    props = (found or {}).get("properties") or {}
    if props.get("provisioningState") == "Failed":
        return SnapshotState.ERROR
    copies = ((props.get("instanceView") or {}).get("diskRestorePoints")) or []
    replicated = all((c.get("replicationStatus") or {}).get("completionPercent", 100) >= 100 for c in copies)
    done = props.get("provisioningState") == "Succeeded" and replicated
    return SnapshotState.READY if done else SnapshotState.PENDING


def group(collections: list[dict[str, Any]], members: list[dict[str, Any]], provider: str,
          home: str) -> list[Snapshot]:
    """One snapshot per collection of a set, and per set of managed snapshots; sets stored in
    ``home`` first."""
    sets: dict[str, list[dict[str, Any]]] = {}
    for member in members:
        sets.setdefault(tags_of(member)[SET], []).append(member)
    found = [_snapshot(c, provider) for c in collections if SET in tags_of(c)]
    found += [_snapshot({"members": held, "location": held[0]["location"], "tags": tags_of(held[0])}, provider)
              for held in sets.values()]
    return sorted(found, key=lambda s: (s.region != home, s.name, s.id))


def _snapshot(raw: dict[str, Any], provider: str) -> Snapshot:
    tags = tags_of(raw)
    props = (point(raw) or {}).get("properties") or (raw.get("members") or [{}])[0].get("properties") or {}
    metadata = props.get("sourceMetadata") or {}
    vm_type = tags.get(TYPE) or (metadata.get("hardwareProfile") or {}).get("vmSize")
    members = disks(raw)
    key = next((d["key"] for d in members if d["lun"] is None), None)
    spec = snapsets.spec(tags.get(SOURCE), vm_type, tags.get(IMAGE), tags, encryption_key=key)
    return Snapshot(
        id=tags[SET], name=tags.get(tagging.NAME, tags[SET]), provider=provider, source_vm=tags.get(SOURCE, ""),
        state=_state(raw), created_at=_when(props.get("timeCreated")), region=raw["location"],
        disks=tuple(DiskInfo(d["source"].rsplit("/", 1)[1], d["size"], d["lun"] is None,
                             "os" if d["lun"] is None else f"lun{d['lun']}") for d in members),
        tags=snapsets.shown(tags), spec=spec, raw=raw,
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
