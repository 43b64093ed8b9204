"""cloudvm: create, use, back up and tear down VMs with the same code on
AWS, Azure, GCP and libvirt.

Importing this package is cheap: no provider or cloud SDK is imported until
``connect()`` asks for one.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from cloudvm import errors
    from cloudvm.cloud import Cloud
    from cloudvm.environment import Environment
    from cloudvm.errors import CloudVMError
    from cloudvm.model import VM, DiskInfo, ResolvedSize, Snapshot, SnapshotState, VMState
    from cloudvm.provider import Capability
    from cloudvm.retry import RetryPolicy
    from cloudvm.spec import Disk, Ingress, Network, Size, Spot, SSHAccess, VMSpec

# The release: the one place its number is written (every package of the project builds with it)
__version__ = "0.1.0"

# Public name -> the module that defines it, imported on first use (PEP 562): `import cloudvm`
# stays cheap for scripts that only need part of it, and pydantic loads with the first spec.
_LAZY = {
    "Cloud": "cloudvm.cloud", "CloudVMError": "cloudvm.errors", "Capability": "cloudvm.provider",
    "RetryPolicy": "cloudvm.retry", "Environment": "cloudvm.environment",
    **dict.fromkeys(("VM", "DiskInfo", "ResolvedSize", "Snapshot", "SnapshotState", "VMState"), "cloudvm.model"),
    **dict.fromkeys(("Disk", "Ingress", "Network", "Size", "Spot", "SSHAccess", "VMSpec"), "cloudvm.spec"),
}
__all__ = [
    "VM", "Capability", "Cloud", "CloudVMError", "Disk", "DiskInfo", "Environment", "Ingress", "Network",
    "ResolvedSize", "RetryPolicy", "SSHAccess", "Size", "Snapshot", "SnapshotState", "Spot", "VMSpec", "VMState",
    "__version__",
    "connect",
    "errors",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in ("errors", "backup", "ssh", "hostkeys", "gc", "testing"):
        return import_module(f"cloudvm.{name}")
    raise AttributeError(f"module 'cloudvm' has no attribute {name!r}")


def connect(provider: str, *, retry: RetryPolicy | None = None, timeout: float = 600.0, poll_interval: float = 1.0,
            known_hosts: str | Path | None = None, guests: bool | None = None, **options: Any) -> Cloud:
    """A ``Cloud`` for the named provider; ``options`` go to the provider
    (``uri=`` for libvirt, ``region=`` for the clouds, ...). ``known_hosts``: where the
    host keys learned from VMs' consoles are kept (default: ``cloudvm.hostkeys.default_path()``).
    ``guests=False`` (or ``CLOUDVM_GUESTS=0`` in the environment, for scripts run unchanged): the
    endpoint answers the API but runs no machine (moto, the project's fakes), so nothing waits for
    SSH or logs in. Said by the caller, as no endpoint URL tells it: a VPC endpoint or a private
    Resource Manager runs real VMs."""
    from cloudvm.cloud import Cloud
    from cloudvm.registry import load

    if guests is None:
        guests = os.environ.get("CLOUDVM_GUESTS", "1").strip().lower() not in ("0", "false", "no")
    return Cloud(load(provider)(**options), retry=retry, timeout=timeout, poll_interval=poll_interval,
                 known_hosts=known_hosts, guests=guests, origin=(provider, options))
