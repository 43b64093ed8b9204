"""Testing aids: an in-memory provider for fast tests of scripts and of the
core, the conformance suite every real provider runs, and helpers for both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from cloudvm_testing.fake import FakeProvider, host_key

if TYPE_CHECKING:
    from cloudvm.cloud import Cloud
    from cloudvm.model import VM

__all__ = ["FakeProvider", "host_key", "restored_copy"]


@contextmanager
def restored_copy(cloud: Cloud, vm: VM, name: str) -> Iterator[VM]:
    """A VM restored from a new snapshot of ``vm``, for what a restore must keep; the VM and the
    snapshot are deleted afterwards."""
    snap = cloud.snapshot(vm, name=f"{name}-snap")
    try:
        restored = cloud.restore(snap, name=name)
        try:
            yield restored
        finally:
            cloud.delete(restored)
    finally:
        cloud.delete_snapshot(snap)
