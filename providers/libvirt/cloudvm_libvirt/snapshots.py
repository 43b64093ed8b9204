"""Snapshots on libvirt: a JSON manifest volume beside one standalone qcow2
copy per disk, all in the pool, so they outlive the VM as cloud snapshots do.

A running VM is copied by a push-mode backup job (QEMU writes every disk as
of one instant while the guest runs on: crash-consistent, like EBS); a
stopped one by cloning its volumes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

import libvirt

from cloudvm.model import DiskInfo, Snapshot, SnapshotState
from cloudvm.spec import VMSpec

SUFFIX = ".snap.json"
GIB = 1024**3


def manifest_name(snapshot: str) -> str:
    return snapshot + SUFFIX


def disk_name(snapshot: str, index: int) -> str:
    return f"{snapshot}.snap-{index}.qcow2"


def backup_xml(domain_xml: str, target_paths: list[str]) -> str:
    """A push backup of every virtio disk (in order) to ``target_paths``; the seed CD-ROM is skipped."""
    root = ET.Element("domainbackup", mode="push")
    disks = ET.SubElement(root, "disks")
    dom = ET.fromstring(domain_xml)
    devs = [t.get("dev", "") for t in dom.findall("./devices/disk[@device='disk']/target")]
    for dev, path in zip(devs, target_paths, strict=True):
        disk = ET.SubElement(disks, "disk", name=dev, type="file")
        ET.SubElement(disk, "target", file=path)
        ET.SubElement(disk, "driver", type="qcow2")
    for t in dom.findall("./devices/disk[@device='cdrom']/target"):
        ET.SubElement(disks, "disk", name=t.get("dev", ""), backup="no")
    return ET.tostring(root, encoding="unicode")


def state(manifest: dict[str, Any], present: set[str], source: libvirt.virDomain | None) -> SnapshotState:
    """Ready once every copy exists and the source's backup job is over (and did not fail)."""
    if not all(d["volume"] in present for d in manifest["disks"]):
        return SnapshotState.PENDING if manifest["live"] else SnapshotState.ERROR
    if not manifest["live"] or source is None or not source.isActive():
        return SnapshotState.READY
    if source.jobInfo()[0] not in (libvirt.VIR_DOMAIN_JOB_NONE, libvirt.VIR_DOMAIN_JOB_COMPLETED):
        return SnapshotState.PENDING
    last = source.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    return SnapshotState.ERROR if last.get("type") == libvirt.VIR_DOMAIN_JOB_FAILED else SnapshotState.READY


def to_snapshot(manifest: dict[str, Any], snapshot_state: SnapshotState, provider: str, region: str) -> Snapshot:
    return Snapshot(
        id=manifest["id"], name=manifest["name"], provider=provider, source_vm=manifest["source_vm"],
        created_at=datetime.fromisoformat(manifest["created"]), region=region, state=snapshot_state,
        disks=tuple(DiskInfo(d["volume"], d["size"] / GIB, d["role"] == "root") for d in manifest["disks"]),
        tags=dict(manifest["tags"]), spec=VMSpec(**manifest["spec"]) if manifest["spec"] else None,
        raw=manifest, user=((manifest["spec"] or {}).get("ssh") or {}).get("user") or manifest.get("user"),
    )
