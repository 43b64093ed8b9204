"""An in-memory provider with fault injection and a clock it is told.

It lets users unit-test their own scripts, and the core's tests check
retries, batching and clean-up without booting anything. All state belongs
to the instance; two fakes share nothing.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from cloudvm import tags as tagging
from cloudvm.errors import AlreadyExists, CloudVMError, InvalidSpec, NotFound
from cloudvm.hostkeys import console_block
from cloudvm.model import VM, DiskInfo, ResolvedSize, Snapshot, SnapshotState, VMState
from cloudvm.provider import Capability, LaunchRequest, Provider
from cloudvm.spec import Size


class FakeProvider(Provider):
    """``FakeProvider(boot_seconds=2, clock=lambda: now)``; faults via ``fail()``. ``calendar``
    dates what it creates (simulated days for retention tests)."""

    name = "fake"
    capabilities = frozenset({Capability.SNAPSHOTS, Capability.COPY_SNAPSHOT, Capability.DATA_DISKS,
                              Capability.PUBLIC_IP, Capability.INGRESS_RULES, Capability.KEEP_DISKS,
                              Capability.CONSOLE_OUTPUT, Capability.HOST_KEYS, Capability.SPOT})
    images = frozenset({"cloudvm-tiny", "debian-12", "ubuntu-24.04"})

    def __init__(self, *, boot_seconds: float = 0.0, clock: Callable[[], float] | None = None,
                 calendar: Callable[[], datetime] | None = None) -> None:
        self.boot_seconds = boot_seconds
        self.clock = clock or (lambda: 0.0)
        self.calendar = calendar or (lambda: datetime.now(UTC))
        self.keys_seconds = 0.0  # how long after booting the host keys show on the console
        self.copies_finish = True  # False: DR copies stay pending until it is set again
        self.vms: dict[str, VM] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.booted_at: dict[str, float] = {}
        self.calls: defaultdict[str, int] = defaultdict(int)
        self._faults: defaultdict[str, deque[CloudVMError]] = defaultdict(deque)
        self._ids = itertools.count(1)

    def fail(self, method: str, error: CloudVMError, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error``."""
        self._faults[method].extend([error] * times)

    def _enter(self, method: str) -> None:
        self.calls[method] += 1
        if self._faults[method]:
            raise self._faults[method].popleft()

    def resolve_size(self, size: Size) -> ResolvedSize:
        self._enter("resolve_size")
        if size.instance_type:
            return ResolvedSize(size.instance_type, 1, 1.0)
        assert size.cpus is not None and size.memory_gib is not None
        return ResolvedSize(f"fake-{size.cpus}-{size.memory_gib:g}", size.cpus, size.memory_gib)

    def resolve_image(self, image: str) -> str:
        self._enter("resolve_image")
        if image not in self.images:
            raise InvalidSpec("image", f"unknown image {image!r}; known: {', '.join(sorted(self.images))}")
        return f"img-{image}"

    def launch(self, requests: Sequence[LaunchRequest]) -> list[str]:
        ids = []
        for request in requests:
            ids.append(self._launch_one(request))
            self._enter("launch")  # a fault here strikes after the VM exists, like a lost response
        return ids

    def _launch_one(self, request: LaunchRequest) -> str:
        for vm in self.vms.values():
            if vm.name == request.spec.name:
                if vm.tags.get(tagging.TOKEN) == request.token:
                    return vm.id
                raise AlreadyExists(f"a VM named {vm.name!r} already exists")
        vm_id = f"vm-{next(self._ids)}"
        n = next(self._ids)
        self.vms[vm_id] = VM(
            id=vm_id, name=request.spec.name, provider=self.name, state=VMState.PENDING, size=request.size,
            image=request.spec.image, region="fake-1", private_ips=(f"10.0.0.{n % 250 + 1}",),
            disks=tuple(DiskInfo(f"{vm_id}-disk-{i}", d.size_gib) for i, d in enumerate(request.spec.disks)),
            tags=dict(request.tags), created_at=self.calendar(),
            ssh_user=request.spec.ssh.user if request.spec.ssh else None, spot=request.spec.spot is not None,
        )
        self.booted_at[vm_id] = self.clock()
        return vm_id

    def interrupt(self, vm_id: str, reason: str = "spot capacity reclaimed") -> None:
        """Take a spot VM back as a cloud does: stopped with its disks when it asked for that,
        otherwise terminated (and gone at the next describe after that, as deleted VMs go)."""
        vm = self.vms[vm_id]
        stops = vm.tags.get(tagging.SPOT) == "stop"
        self.vms[vm_id] = replace(vm, state=VMState.STOPPED if stops else VMState.TERMINATED, interrupted=reason)

    def describe(self, ids: Sequence[str] | None = None, tags: dict[str, str] | None = None) -> list[VM]:
        self._enter("describe")
        for vm_id, vm in self.vms.items():
            if vm.state is VMState.PENDING and self.clock() - self.booted_at[vm_id] >= self.boot_seconds:
                self.vms[vm_id] = replace(vm, state=VMState.RUNNING)
        chosen = [self.vms[i] for i in ids if i in self.vms] if ids is not None else list(self.vms.values())
        return [vm for vm in chosen if tagging.matches(vm.tags, tags)]

    def _set(self, ids: Sequence[str], state: VMState, method: str) -> None:
        self._enter(method)
        for vm_id in ids:
            if vm_id in self.vms:
                self.vms[vm_id] = replace(self.vms[vm_id], state=state)
                self.booted_at[vm_id] = self.clock()

    def start(self, ids: Sequence[str]) -> None:
        self._set(ids, VMState.PENDING, "start")

    def stop(self, ids: Sequence[str], *, force: bool = False) -> None:
        self._set(ids, VMState.STOPPED, "stop")

    def reboot(self, ids: Sequence[str]) -> None:
        self._set(ids, VMState.PENDING, "reboot")

    def terminate(self, ids: Sequence[str]) -> None:
        self._enter("terminate")
        for vm_id in ids:
            self.vms.pop(vm_id, None)

    def console_output(self, vm: VM) -> str:
        """The boot as a guest prints it: cloud-init's host keys once the VM has run for
        ``keys_seconds`` (they come late in a real first boot)."""
        self._enter("console_output")
        if vm.id not in self.vms:
            raise NotFound(f"no VM {vm.id}")
        text = f"{vm.name} booting\n"
        if self.clock() - self.booted_at[vm.id] >= self.boot_seconds + self.keys_seconds:
            text += console_block([host_key(vm.id)]) + f"{vm.name} login: "
        return text

    def snapshot(self, vm: VM, name: str, tags: dict[str, str]) -> Snapshot:
        self._enter("snapshot")
        if any(s.name == name for s in self.snapshots.values()):
            raise AlreadyExists(f"a snapshot named {name!r} already exists")
        snap = Snapshot(id=f"snap-{next(self._ids)}", name=name, provider=self.name, source_vm=vm.name,
                        created_at=self.calendar(), disks=vm.disks, tags=dict(tags), raw=vm)
        self.snapshots[snap.id] = snap
        return snap

    def describe_snapshots(self, ids: Sequence[str] | None = None,
                           tags: dict[str, str] | None = None) -> list[Snapshot]:
        self._enter("describe_snapshots")
        chosen = [s for i, s in self.snapshots.items() if ids is None or i in ids]
        return [replace(s, state=SnapshotState.READY) if s.copy_of and self.copies_finish else s
                for s in chosen if tagging.matches(s.tags, tags)]

    def copy_snapshot(self, snapshot: Snapshot, region: str) -> Snapshot:
        """One store holds every region: a copy is the snapshot again, marked as a copy."""
        self._enter("copy_snapshot")
        copy = replace(snapshot, id=f"{snapshot.id}-{region}", region=region, copy_of=snapshot.id,
                       state=SnapshotState.PENDING)
        self.snapshots.setdefault(copy.id, copy)
        return self.describe_snapshots([copy.id])[0]

    def restore(self, snapshot: Snapshot, request: LaunchRequest) -> str:
        return self._launch_one(request)

    def delete_snapshot(self, snapshot: Snapshot) -> None:
        self._enter("delete_snapshot")
        self.snapshots.pop(snapshot.id, None)


def host_key(seed: str) -> str:
    """A well-formed ed25519 public key line, the same for the same seed: the host key a test
    backend's guest prints for a VM."""
    kind = b"ssh-ed25519"
    blob = len(kind).to_bytes(4, "big") + kind + (32).to_bytes(4, "big") + hashlib.sha256(seed.encode()).digest()
    return f"ssh-ed25519 {base64.b64encode(blob).decode()}"
