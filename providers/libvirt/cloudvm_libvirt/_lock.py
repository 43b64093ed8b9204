"""One process at a time on this host, for work others must not see half done."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def host_lock(directory: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock named ``name`` (released when the block ends or the process dies)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
