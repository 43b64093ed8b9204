"""The contract a provider plug-in implements.

A provider translates and nothing more: it never sleeps, polls, retries or
starts threads (the core does all of that, once, for every provider). Work
the cloud goes on doing comes back as ``Operation`` handles the core waits
for (``progress`` says how far they are; ``cloudvm.operations``). Calls
are batch-first: one ``launch`` for many VMs, one ``describe`` for many ids;
where an API takes one VM a request, the provider says so (``batch_limits``,
``parallel_calls``) and the core sends the calls side by side.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cloudvm import hostkeys, operations
from cloudvm.errors import Unsupported
from cloudvm.fleets import Member
from cloudvm.model import VM, ResolvedSize, Snapshot, VMState
from cloudvm.operations import Operation, Outcome, Started
from cloudvm.portable import Manifest, Moved
from cloudvm.sizing import Offer
from cloudvm.spec import Size, VMSpec
from cloudvm.ssh import Jump


class Capability(enum.Enum):
    """Optional features; the core checks them before calling, the
    conformance suite skips by them."""

    SNAPSHOTS = "snapshots"
    COPY_SNAPSHOT = "copy_snapshot"
    INGRESS_RULES = "ingress_rules"
    PUBLIC_IP = "public_ip"
    DATA_DISKS = "data_disks"
    KEEP_DISKS = "keep_disks"
    SPOT = "spot"
    REACHABILITY = "reachability"
    CONSOLE_OUTPUT = "console_output"
    EXPORT = "export"  # a VM's disks written to files (cloudvm.portable)
    IMPORT = "import"  # files an export wrote made into a snapshot here, on any backend
    HOST_KEYS = "host_keys"  # the VM's SSH host keys, told over the provider's API
    ENCRYPTION_KEYS = "encryption_keys"  # disks encrypted with a key the user manages


@dataclass(frozen=True)
class LaunchRequest:
    """One VM to launch, everything already resolved by the core.

    ``token`` is the idempotency key: a retried launch with the same token
    must find the VM it already made instead of making another. ``fleet``: the VM's place in a
    counted fleet (``cloudvm.fleets``), which a provider with ``fleet_limit`` launches in one call.
    """

    spec: VMSpec
    size: ResolvedSize
    image: str
    token: str
    tags: dict[str, str]
    fleet: Member | None = None


class Provider(abc.ABC):
    """Base class of every provider; override what the capabilities promise."""

    name: ClassVar[str]
    # The connect() option that says where (region, zone, location, host URI): placements and DR use it.
    location_option: ClassVar[str] = "region"
    unsupported_why: ClassVar[dict[Capability, str]] = {}  # why a capability is missing, where the cloud says
    # A class attribute; an instance may narrow it (e.g. a test endpoint that runs no guests).
    capabilities: frozenset[Capability] = frozenset()
    # How the core spreads a batch over calls of ``launch``, ``terminate`` and ``release``: at most
    # ``batch_limits[method]`` VMs a call (a method not named takes the whole batch in one call),
    # ``parallel_calls[method]`` calls in flight at once (one when not named).
    batch_limits: ClassVar[Mapping[str, int]] = {}
    parallel_calls: Mapping[str, int] = {}  # read only: an instance sets its own
    # How many members of one counted fleet a ``launch`` call takes together (one request for all of
    # them); None: members go like any other VM.
    fleet_limit: ClassVar[int | None] = None
    # What a create makes before its VMs, a step at a time for the whole batch (Azure: security groups
    # and public IPs, then NICs): the core calls ``stage(name, part)`` for every part of the batch, waits
    # for all their operations, then goes on to the next stage and finally to ``launch``.
    launch_stages: ClassVar[tuple[str, ...]] = ()
    # The host its VMs are reached through (logins, reachability), when not directly: a remote
    # hypervisor whose guests sit on its own networks.
    jump: Jump | None = None
    # How long the operations a call started may take, and the longest pause between rounds of asking
    # about them (None: the core's poll interval; an instance may set its own, as its API asks).
    operation_timeout: float = 600.0
    operation_interval: float | None = None

    def unsupported_reason(self, spec: VMSpec) -> str | None:
        """Why this provider cannot honour ``spec``, or None; checked before any call."""
        needs = {
            Capability.INGRESS_RULES: bool(spec.network.ingress),
            Capability.PUBLIC_IP: spec.network.public_ip,
            Capability.DATA_DISKS: bool(spec.disks),
            Capability.KEEP_DISKS: any(d.keep for d in spec.disks),
            Capability.ENCRYPTION_KEYS: spec.encryption_key is not None,
            Capability.SPOT: spec.spot is not None,
        }
        missing = [cap.value for cap, needed in needs.items() if needed and cap not in self.capabilities]
        if missing:
            return f"provider {self.name!r} does not support {', '.join(missing)}"
        return None

    def check(self, spec: VMSpec) -> None:  # noqa: B027 - a provider adds the rules of its cloud
        """Raise ``InvalidSpec`` naming the field for what the cloud refuses though the spec allows it
        (sizes once encoded, reserved names, key types); checked before any call."""

    def require(self, capability: Capability) -> None:
        """Raise ``Unsupported`` unless the provider declares ``capability``."""
        if capability not in self.capabilities:
            why = self.unsupported_why.get(capability)
            raise Unsupported(f"provider {self.name!r} does not support {capability.value}"
                              + (f": {why}" if why else ""))

    @property
    def location(self) -> str | None:
        """The region (or host) this provider instance works in."""
        return None

    def offers(self) -> list[Offer] | None:
        """The machine types this location offers a VM of cloudvm's, priced where known: the core
        picks the cheapest that fits a shape (``Size(cpus=, memory_gib=)``). None where any shape
        is made to measure (``resolve_size`` then takes shapes too)."""
        return None

    @abc.abstractmethod
    def resolve_size(self, size: Size) -> ResolvedSize:
        """A named type (``size.instance_type``), checked; a shape only when ``offers`` is None."""

    @abc.abstractmethod
    def resolve_image(self, image: str) -> str: ...

    def prepare(self, requests: Sequence[LaunchRequest]) -> None:  # noqa: B027 - most providers need nothing
        """Make or look up what a batch shares (resource group, network, subnet) once, before the
        core spreads the batch over parallel ``launch`` calls that would otherwise race for it."""

    @abc.abstractmethod
    def launch(self, requests: Sequence[LaunchRequest]) -> list[str] | Started:
        """Create and boot the VMs; return their ids in request order, with the operations still
        making them (``Started``) where the cloud works on after answering: the core waits for them.

        A name already held by a VM with another token raises ``AlreadyExists``. What a create that
        failed made is removed by the core (its VMs) and ``abandon`` (the rest).
        """

    def stage(self, name: str, requests: Sequence[LaunchRequest]) -> list[Operation]:
        """Start one of ``launch_stages`` for these VMs; the operations still going. Idempotent: a
        retried stage finds what its first try made."""
        raise NotImplementedError(f"provider {self.name!r} declares no stage {name!r}")

    def progress(self, operations: Sequence[Operation]) -> dict[str, Outcome]:
        """Which of the operations are done, by id, each with the error it ended with (None: it
        succeeded); one call per scope, never a wait of the provider's own."""
        raise NotImplementedError(f"provider {self.name!r} started operations it cannot tell the progress of")

    def settle(self, started: Sequence[Operation]) -> dict[str, Outcome]:
        """Wait for the operations a step needs done before the next (the core's loop over
        ``progress``): for chains inside one call, such as disks made before the VM that takes them."""
        return operations.settle(lambda pending: self.progress(pending), started,
                                 timeout=self.operation_timeout, interval=self.operation_interval or 1.0)

    @abc.abstractmethod
    def describe(self, ids: Sequence[str] | None = None, tags: dict[str, str] | None = None) -> list[VM]:
        """The managed VMs with these ids (missing ones omitted) or these tags."""

    def states(self, ids: Sequence[str]) -> dict[str, VMState] | None:
        """Each VM's state (missing ones omitted) where the API tells it for less than ``describe``
        (EC2's instance status: a few fields, not the whole instance); the core's waiter polls with it
        and describes once at the end. None: no such call."""
        return None

    @abc.abstractmethod
    def start(self, ids: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def stop(self, ids: Sequence[str], *, force: bool = False) -> None: ...

    @abc.abstractmethod
    def reboot(self, ids: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def terminate(self, ids: Sequence[str]) -> None:
        """Delete the VMs and everything cloudvm created for them."""

    def release(self, vms: Sequence[VM]) -> None:  # noqa: B027 - most providers free everything in terminate
        """Free what could only go once the VMs were gone (e.g. security groups); called after
        the core saw them terminated. Must tolerate being called again."""

    def abandon(self, requests: Sequence[LaunchRequest]) -> None:  # noqa: B027 - most make nothing but VMs
        """These creates failed for good: remove what their tries made besides VMs (a security group
        made before a launch that was throttled, rules no VM holds), found again by token and spec.
        Their VMs are the core's business."""

    def snapshot(self, vm: VM, name: str, tags: dict[str, str]) -> Snapshot:
        raise Unsupported(f"provider {self.name!r} does not support snapshots")

    def describe_snapshots(self, ids: Sequence[str] | None = None,
                           tags: dict[str, str] | None = None) -> list[Snapshot]:
        raise Unsupported(f"provider {self.name!r} does not support snapshots")

    def restore(self, snapshot: Snapshot, request: LaunchRequest) -> str | Started:
        raise Unsupported(f"provider {self.name!r} does not support snapshots")

    def delete_snapshot(self, snapshot: Snapshot) -> None:
        raise Unsupported(f"provider {self.name!r} does not support snapshots")

    def copy_snapshot(self, snapshot: Snapshot, region: str) -> Snapshot:
        raise Unsupported(f"provider {self.name!r} does not support copying snapshots")

    def relocated(self, location: str) -> dict[str, str]:
        """The connect() options that put this provider at ``location`` (a DR region, a
        failover placement); a provider whose locations come in two grains maps between them."""
        return {self.location_option: location}

    def export_disk(self, snapshot: Snapshot, index: int, target: Path) -> None:
        """Write disk ``index`` of ``snapshot`` (root first) as a qcow2 image at ``target``."""
        raise Unsupported(f"provider {self.name!r} does not export VMs to files")

    def import_snapshot(self, manifest: Manifest, name: str, tags: dict[str, str], moved: Moved) -> Snapshot:
        """A snapshot ``name`` (``tags`` on it) of the exported disks, counting in ``moved`` what was
        sent; a failure leaves nothing behind. The core waits for it to be ready."""
        raise Unsupported(f"provider {self.name!r} does not import VMs from files")

    def orphans(self) -> list[str]:
        """cloudvm-made resources no VM uses any more (kept disks, helpers a killed create
        left), described for a person; listing only — deleting them is a decision."""
        return []

    def console_output(self, vm: VM) -> str:
        raise Unsupported(f"provider {self.name!r} does not capture console output")

    def host_keys(self, vm: VM) -> list[str]:
        """The SSH host keys the guest has published so far (none yet: an empty list), over a
        channel the provider's credentials protect: by default the serial console."""
        return hostkeys.from_console(self.console_output(vm))

    def close(self) -> None:  # noqa: B027 - most providers hold nothing to release
        """Release connections; the provider may be used again afterwards."""
