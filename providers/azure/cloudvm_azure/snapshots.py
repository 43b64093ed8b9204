"""Snapshot sets on Azure: one managed snapshot per disk, tagged as one set;
the tags carry what a restore needs (the disk's place and SKU, the VM's size,
image and user), so nothing but the snapshots is needed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cloudvm import tags as tagging
from cloudvm.model import DiskInfo, Snapshot, SnapshotState
from cloudvm.spec import Size, VMSpec

SET = "cloudvm-snapshot"
MEMBERS = "cloudvm-members"
INDEX = "cloudvm-index"
ROOT = "cloudvm-root"
LUN = "cloudvm-lun"
SOURCE = "cloudvm-source"
TYPE = "cloudvm-type"
SKU = "cloudvm-sku"
COPIED_FROM = tagging.COPIED_FROM
IMAGE = "cloudvm-image"
OWN = frozenset({SET, MEMBERS, INDEX, ROOT, LUN, SOURCE, TYPE, SKU, COPIED_FROM, IMAGE, "cloudvm-user"})


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return dict(item.get("tags") or {})


def complete(members: list[dict[str, Any]]) -> bool:
    expected = _tags(members[0]).get(MEMBERS, "") if members else ""
    return expected.isdigit() and len(members) == int(expected)


def _state(item: dict[str, Any]) -> SnapshotState:
    props = item.get("properties") or {}
    provisioning = props.get("provisioningState")
    if provisioning == "Failed":
        return SnapshotState.ERROR
    copying = props.get("completionPercent")
    ready = provisioning == "Succeeded" and (copying is None or copying >= 100)
    return SnapshotState.READY if ready else SnapshotState.PENDING


def group(items: list[dict[str, Any]], provider: str, home: str) -> list[Snapshot]:
    """Snapshots by set, root disk first; sets stored in ``home`` first."""
    sets: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        if SET in _tags(item):
            sets.setdefault(_tags(item)[SET], []).append(item)
    found = [_snapshot(set_id, members, provider) for set_id, members in sets.items()]
    return sorted(found, key=lambda s: (s.region != home, s.name, s.id))


def _snapshot(set_id: str, members: list[dict[str, Any]], provider: str) -> Snapshot:
    members = sorted(members, key=lambda m: int(_tags(m).get(INDEX, "0")))
    tags = _tags(members[0])
    states = {_state(m) for m in members}
    state = SnapshotState.READY if complete(members) else SnapshotState.PENDING
    for worst in (SnapshotState.PENDING, SnapshotState.ERROR):
        if worst in states:
            state = worst
    key = (members[0]["properties"].get("encryption") or {}).get("diskEncryptionSetId")  # a snapshot keeps its disk's
    spec = VMSpec(name=tags[SOURCE], size=Size(instance_type=tags[TYPE]), image=tags[IMAGE],
                  tags=tagging.declared(tags), encryption_key=key) if tags.get(TYPE) else None
    return Snapshot(
        id=set_id, name=tags.get(tagging.NAME, set_id), provider=provider, source_vm=tags.get(SOURCE, ""), state=state,
        created_at=min((_when(m["properties"].get("timeCreated")) for m in members), default=None),
        region=members[0]["location"],
        disks=tuple(DiskInfo(m["name"], float(m["properties"].get("diskSizeGB") or 0), _tags(m).get(ROOT) == "true",
                             "os" if _tags(m).get(ROOT) == "true" else f"lun{_tags(m).get(LUN)}") for m in members),
        tags={k: v for k, v in tags.items() if k not in OWN}, spec=spec, raw=members, copy_of=tags.get(COPIED_FROM))


def _when(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
