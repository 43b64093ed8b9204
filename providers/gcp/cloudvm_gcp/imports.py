"""VMs as files into Compute Engine. Each disk of an export goes as an archive in the layout Google
documents (``disk.raw``, a whole number of GiB, sparse, in an OLDGNU tar, gzip-compressed:
https://cloud.google.com/compute/docs/import/import-existing-image) to the Cloud Storage bucket the
user names, becomes an image (``images.insert`` with ``rawDisk.source``), and from that a snapshot
like those of a DR copy; the archive and the image go once the snapshot is made. Compute Engine
has no API that reads a disk's bytes, so nothing is exported from it."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path
from typing import Any

from cloudvm import portable
from cloudvm.errors import InvalidSpec

UNEXPORTABLE = ("Compute Engine has no API that reads a disk's bytes (images export only through Cloud Build "
                "jobs): a GCP VM cannot be exported to files")


def archive(image: Path, into: Path) -> Path:
    """The disk image as ``into/disk.tar.gz``, holes kept as holes (the raw file is removed)."""
    into.mkdir(parents=True, exist_ok=True)
    raw = into / "disk.raw"
    portable.to_raw(image, raw)
    os.truncate(raw, math.ceil(raw.stat().st_size / portable.GIB) * portable.GIB)
    out = into / "disk.tar.gz"
    try:
        subprocess.run(["tar", "--format=oldgnu", "-Sczf", str(out), "-C", str(into), "disk.raw"], check=True,
                       capture_output=True)
    except FileNotFoundError:
        raise InvalidSpec("tar", "GNU tar is needed to pack a disk for Compute Engine") from None
    finally:
        raw.unlink()
    return out


def bucket(client: Any, name: str | None) -> Any:
    if not name:
        raise InvalidSpec("staging_bucket", "Compute Engine makes images from archives in Cloud Storage: "
                                            "connect('gcp', staging_bucket=BUCKET) names a bucket cloudvm may write "
                                            "to (its archives are deleted once the images are made)")
    return client.bucket(name)


def source(bucket_name: str, obj: str) -> str:
    return f"https://storage.googleapis.com/{bucket_name}/{obj}"
