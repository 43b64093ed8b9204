"""VMs as files on libvirt: a snapshot's volumes downloaded as the export's qcow2 images, and an
export's images uploaded into the pool as a snapshot to restore; its manifest goes last, so an
upload cut short never passes for a snapshot."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from cloudvm.errors import ProviderError
from cloudvm.model import Snapshot
from cloudvm.portable import Manifest, Moved
from cloudvm_libvirt import snapshots
from cloudvm_libvirt.storage import Storage


def write_disk(storage: Storage, snapshot: Snapshot, index: int, target: Path) -> None:
    volume = snapshot.raw["disks"][index]["volume"]
    with target.open("wb") as out:
        if not storage.download(volume, out):
            raise ProviderError(f"snapshot {snapshot.name} lost its volume {volume}")


def read(storage: Storage, exported: Manifest, name: str, tags: dict[str, str], moved: Moved) -> dict[str, Any]:
    """Upload an export into the pool as snapshot ``name``; the snapshot manifest goes last."""
    volumes = [snapshots.disk_name(name, i) for i in range(len(exported.disks))]
    try:
        for disk, volume in zip(exported.disks, volumes, strict=True):
            path = exported.path(disk)
            with path.open("rb") as f:
                storage.upload(volume, f, "qcow2")
            moved.count(path.stat().st_size, 1, disk.size)
        manifest = {"id": uuid.uuid4().hex, "name": name, "source_vm": exported.source_vm, "source_id": "",
                    "created": exported.created, "tags": {**exported.tags, **tags}, "live": False,
                    "disks": [{"volume": v, "role": d.role, "size": d.size}
                              for v, d in zip(volumes, exported.disks, strict=True)],
                    "spec": exported.spec, "user": exported.login()}
        storage.upload(snapshots.manifest_name(name), json.dumps(manifest).encode())
    except BaseException:
        for volume in volumes:
            storage.delete(volume)
        raise
    return manifest
