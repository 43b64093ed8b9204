"""cloudvm: create, use, back up and tear down VMs with the same code on
AWS, Azure, GCP and libvirt.

Importing this package is cheap: no provider or cloud SDK is imported until
``connect()`` asks for one.
"""

from __future__ import annotations

from typing import Any

from cloudvm import errors
from cloudvm.cloud import Cloud
from cloudvm.errors import CloudVMError
from cloudvm.model import VM, DiskInfo, ResolvedSize, Snapshot, SnapshotState, VMState
from cloudvm.provider import Capability
from cloudvm.retry import RetryPolicy
from cloudvm.spec import Disk, Ingress, Network, Size, SSHAccess, VMSpec

__all__ = [
    "VM", "Capability", "Cloud", "CloudVMError", "Disk", "DiskInfo", "Ingress", "Network", "ResolvedSize",
    "RetryPolicy", "SSHAccess", "Size", "Snapshot", "SnapshotState", "VMSpec", "VMState", "connect", "errors",
    "Environment",
]


def __getattr__(name: str) -> Any:
    if name == "Environment":  # imported on first use: it reads YAML, which plain SDK use does not need
        from cloudvm.environment import Environment

        return Environment
    raise AttributeError(f"module 'cloudvm' has no attribute {name!r}")


def connect(provider: str, *, retry: RetryPolicy | None = None, timeout: float = 600.0, poll_interval: float = 1.0,
            **options: Any) -> Cloud:
    """A ``Cloud`` for the named provider; ``options`` go to the provider
    (``uri=`` for libvirt, ``region=`` for the clouds, ...)."""
    from cloudvm.registry import load

    return Cloud(load(provider)(**options), retry=retry, timeout=timeout, poll_interval=poll_interval,
                 origin=(provider, options))
