"""VMs as files: a snapshot's standalone qcow2 copies and its manifest
written to a directory, and read back into any pool (on any host) as a
snapshot to restore. The manifest is written last on export and uploaded
last on import: whichever side was interrupted, nothing passes for complete."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cloudvm import tags as tagging
from cloudvm.errors import InvalidSpec, ProviderError
from cloudvm.model import Snapshot
from cloudvm_libvirt import snapshots
from cloudvm_libvirt.storage import Storage

FORMAT = "cloudvm-export/1"
MANIFEST = "manifest.json"
CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic(path: Path, write: Any) -> None:
    part = path.with_name(path.name + ".part")
    with part.open("wb") as out:
        write(out)
        out.flush()
        os.fsync(out.fileno())
    part.rename(path)


def write(storage: Storage, snapshot: Snapshot, directory: Path) -> Path:
    """The snapshot's disks as ``disk-N.qcow2`` and ``manifest.json`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).unlink(missing_ok=True)  # an older export here is incomplete until we finish
    disks = []
    for i, disk in enumerate(snapshot.raw["disks"]):
        target = directory / f"disk-{i}.qcow2"

        def fetch(out: BinaryIO, volume: str = disk["volume"]) -> None:
            if not storage.download(volume, out):
                raise ProviderError(f"snapshot {snapshot.name} lost its volume {volume}")
        _atomic(target, fetch)
        disks.append({"file": target.name, "role": disk["role"], "size": disk["size"], "sha256": _sha256(target)})
    manifest = {"format": FORMAT, "name": snapshot.raw["name"], "source_vm": snapshot.source_vm,
                "created": snapshot.raw["created"], "exported": datetime.now(UTC).isoformat(),
                "tags": {k: v for k, v in snapshot.tags.items() if not k.startswith(tagging.PREFIX)},
                "spec": snapshot.raw["spec"], "disks": disks}
    _atomic(directory / MANIFEST, lambda out: out.write(json.dumps(manifest, indent=2).encode()))
    return directory


def _manifest(directory: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        raise InvalidSpec("directory", f"{directory} has no {MANIFEST}: not a cloudvm export, or an unfinished "
                                       "one") from None
    if manifest.get("format") != FORMAT:
        raise InvalidSpec("directory", f"{directory / MANIFEST} is not a {FORMAT} manifest")
    for disk in manifest["disks"]:
        path = directory / disk["file"]
        if not path.is_file() or _sha256(path) != disk["sha256"]:
            raise ProviderError(f"{path} is missing or damaged: its checksum differs from the manifest's")
    return manifest


def read(storage: Storage, directory: Path, name: str, tags: dict[str, str]) -> dict[str, Any]:
    """Upload an export into the pool as snapshot ``name``; the snapshot manifest goes last."""
    exported = _manifest(directory)
    volumes = [snapshots.disk_name(name, i) for i in range(len(exported["disks"]))]
    try:
        for disk, volume in zip(exported["disks"], volumes, strict=True):
            with (directory / disk["file"]).open("rb") as f:
                storage.upload(volume, f, "qcow2")
        manifest = {"id": uuid.uuid4().hex, "name": name, "source_vm": exported["source_vm"], "source_id": "",
                    "created": exported["created"], "tags": {**exported["tags"], **tags}, "live": False,
                    "disks": [{"volume": v, "role": d["role"], "size": d["size"]}
                              for v, d in zip(volumes, exported["disks"], strict=True)],
                    "spec": exported["spec"]}
        storage.upload(snapshots.manifest_name(name), json.dumps(manifest).encode())
    except BaseException:
        for volume in volumes:
            storage.delete(volume)
        raise
    return manifest
