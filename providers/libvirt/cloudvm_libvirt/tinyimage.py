"""The cloudvm-tiny image: built from Debian packages by ``tiny/build.sh``
and cached under a name that changes whenever the build recipe does."""

from __future__ import annotations

import hashlib
import logging
import subprocess
from importlib.resources import files
from pathlib import Path

from cloudvm.errors import ProviderError
from cloudvm_libvirt._lock import host_lock

log = logging.getLogger("cloudvm.libvirt")


def recipe_digest() -> str:
    """A hash over the build script and every guest file it copies."""
    h = hashlib.sha256()
    root = Path(str(files("cloudvm_libvirt") / "tiny"))
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def ensure(cache: Path) -> Path:
    """The built image, building it first if this recipe was never built here."""
    out = cache / f"cloudvm-tiny-{recipe_digest()}.qcow2"
    if out.exists():
        return out
    with host_lock(cache, "tiny"):  # one build at a time across processes
        if not out.exists():
            script = Path(str(files("cloudvm_libvirt") / "tiny" / "build.sh"))
            log.info("building the cloudvm-tiny image (once)")
            done = subprocess.run(["sh", str(script), str(out)], capture_output=True, text=True)
            if done.returncode != 0:
                raise ProviderError(f"building cloudvm-tiny failed: {done.stderr.strip()[-2000:]}")
    return out
