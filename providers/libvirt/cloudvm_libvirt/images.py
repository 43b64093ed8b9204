"""Base images: a neutral alias, a local file or a pool volume becomes a
volume in the pool that VM root disks are copy-on-write overlays of.

Cloud images are downloaded once, checked against the checksum list their
publisher signs and publishes beside them, and cached on this host; the
tiny test image is built here from Debian packages.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cloudvm.errors import InvalidSpec, ProviderError, TransientError
from cloudvm_libvirt import tinyimage
from cloudvm_libvirt._lock import host_lock
from cloudvm_libvirt.storage import Storage

log = logging.getLogger("cloudvm.libvirt")
BASE_PREFIX = "cloudvm-base-"


@dataclass(frozen=True)
class CatalogEntry:
    """Where an alias's image comes from; ``build`` makes it locally instead."""

    url: str = ""
    sums_url: str = ""
    algorithm: str = "sha256"
    build: Callable[[Path], Path] | None = None


CATALOG: dict[str, CatalogEntry] = {
    "cloudvm-tiny": CatalogEntry(build=tinyimage.ensure),
    "debian-12": CatalogEntry(
        "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2",
        "https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS", "sha512"),
    "debian-13": CatalogEntry(
        "https://cloud.debian.org/images/cloud/trixie/latest/debian-13-generic-amd64.qcow2",
        "https://cloud.debian.org/images/cloud/trixie/latest/SHA512SUMS", "sha512"),
    "ubuntu-22.04": CatalogEntry(
        "https://cloud-images.ubuntu.com/jammy/current/jammy-server-cloudimg-amd64.img",
        "https://cloud-images.ubuntu.com/jammy/current/SHA256SUMS"),
    "ubuntu-24.04": CatalogEntry(
        "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
        "https://cloud-images.ubuntu.com/noble/current/SHA256SUMS"),
}


def cache_dir() -> Path:
    base = os.environ.get("CLOUDVM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cloudvm")
    return Path(base)


def image_format(path: Path) -> str:
    with path.open("rb") as f:
        return "qcow2" if f.read(4) == b"QFI\xfb" else "raw"


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def expected_digest(sums: str, filename: str) -> str:
    """The digest for ``filename`` in a ``SHA*SUMS`` list (``digest [*]name`` lines)."""
    for line in sums.splitlines():
        m = re.match(r"^([0-9a-f]{64,128})\s+\*?(\S+)$", line.strip())
        if m and m.group(2).rsplit("/", 1)[-1] == filename:
            return m.group(1)
    raise ProviderError(f"the checksum list has no entry for {filename}")


def download(entry: CatalogEntry, dest_dir: Path) -> Path:
    """Fetch and verify an image; a verified copy already here is reused.
    A network failure is transient (the core retries it); a wrong digest is not."""
    try:
        return _download(entry, dest_dir)
    except urllib.error.HTTPError as exc:
        cls = TransientError if exc.code >= 500 else ProviderError
        raise cls(f"downloading {exc.url}: HTTP {exc.code}", code=str(exc.code)) from exc
    except OSError as exc:
        raise TransientError(f"downloading {entry.url}: {exc}") from exc


def _download(entry: CatalogEntry, dest_dir: Path) -> Path:
    filename = entry.url.rsplit("/", 1)[-1]
    with urllib.request.urlopen(entry.sums_url, timeout=60) as resp:
        want = expected_digest(resp.read().decode(), filename)
    dest = dest_dir / f"{want[:16]}-{filename}"
    if dest.exists():
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(".part")
    log.info("downloading %s", entry.url)
    with urllib.request.urlopen(entry.url, timeout=60) as resp, part.open("wb") as out:
        shutil.copyfileobj(resp, out, 1 << 20)
    got = _digest(part, entry.algorithm)
    if got != want:
        part.unlink()
        raise ProviderError(f"{entry.url}: {entry.algorithm} {got} does not match the published {want}")
    part.rename(dest)
    return dest


def local_file(entry: CatalogEntry) -> Path:
    if entry.build is not None:
        return entry.build(cache_dir() / "images")
    return download(entry, cache_dir() / "images")


def import_file(storage: Storage, path: Path) -> str:
    """The pool volume holding this file's content (named by content hash).

    A lock on this host keeps a second process from using a volume the first
    is still uploading.
    """
    vol_name = f"{BASE_PREFIX}{_digest(path, 'sha256')[:16]}-{path.name}"
    with host_lock(cache_dir(), vol_name):
        vol = storage.lookup(vol_name)
        if vol is None:
            log.info("importing %s into pool %s", path, storage.name)
            with path.open("rb") as f:
                vol = storage.upload(vol_name, f, image_format(path))
    path_: str = vol.path()
    return path_


def resolve(storage: Storage, image: str) -> str:
    """Path of the base volume for an alias, a local file or a pool volume."""
    if image in CATALOG:
        return import_file(storage, local_file(CATALOG[image]))
    if os.path.isabs(image) and os.path.isfile(image):
        return import_file(storage, Path(image))
    vol = storage.lookup(image)
    if vol is not None:
        found: str = vol.path()
        return found
    raise InvalidSpec("image", f"unknown image {image!r}: not a known alias ({', '.join(sorted(CATALOG))}), "
                               f"an existing file or a volume in pool {storage.name!r}")
