"""What providers report back: plain immutable records."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloudvm.spec import VMSpec


class VMState(enum.StrEnum):
    """One lifecycle vocabulary for every provider."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    TERMINATED = "terminated"
    ERROR = "error"


class SnapshotState(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    ERROR = "error"


@dataclass(frozen=True)
class ResolvedSize:
    """The concrete machine a ``Size`` became."""

    type_name: str
    cpus: int
    memory_gib: float


@dataclass(frozen=True)
class DiskInfo:
    """One disk attached to a VM, root first."""

    id: str
    size_gib: float
    root: bool = False
    device: str | None = None


@dataclass(frozen=True)
class VM:
    """A VM as the provider sees it now; ``raw`` is the provider's own object."""

    id: str
    name: str
    provider: str
    state: VMState
    size: ResolvedSize | None = None
    image: str | None = None
    region: str | None = None
    zone: str | None = None
    private_ips: tuple[str, ...] = ()
    public_ips: tuple[str, ...] = ()
    disks: tuple[DiskInfo, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    ssh_user: str | None = None
    spot: bool = False  # runs on spare capacity the cloud may take back
    interrupted: str | None = None  # the cloud took it back: its reason (the VM is stopped or gone)
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def address(self) -> str | None:
        """Where a client on this side reaches the VM: public first, else private."""
        return next(iter(self.public_ips or self.private_ips), None)


@dataclass(frozen=True)
class Snapshot:
    """A point-in-time copy of every disk of one VM."""

    id: str
    name: str
    provider: str
    source_vm: str
    state: SnapshotState = SnapshotState.READY
    created_at: datetime | None = None
    region: str | None = None
    disks: tuple[DiskInfo, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    spec: VMSpec | None = field(default=None, repr=False)
    copy_of: str | None = None  # a DR copy: the id of the snapshot it copies
    user: str | None = None  # the source VM's login user, where the provider records it
    raw: Any = field(default=None, repr=False, compare=False)
