"""``Cloud``: the facade users call. It owns validation, resolution,
idempotency keys, retries, waiting and clean-up; the provider only translates.
"""

from __future__ import annotations

import builtins
import functools
import logging
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloudvm import fleets, portable, sizing, snapsets, ssh
from cloudvm import tags as tagging
from cloudvm.errors import InvalidSpec, NotFound, ProviderError, Timeout, Unsupported
from cloudvm.fanout import chunks, fan_out
from cloudvm.hostkeys import KnownHosts
from cloudvm.model import VM, ResolvedSize, Snapshot, SnapshotState
from cloudvm.operations import Operation, Started, first_error, started
from cloudvm.provider import Capability, LaunchRequest, Provider
from cloudvm.retry import RetryPolicy
from cloudvm.sizing import Offer
from cloudvm.spec import Size, VMSpec, check_name
from cloudvm.wait import Target, Waiter, tcp_open

log = logging.getLogger("cloudvm")
VMRef = VM | str
Wait = Target | None
# cloudvm's own tags for a VM: one mapping for the batch, or one per spec.
Owner = dict[str, str] | Callable[[VMSpec], dict[str, str]]
Listener = Callable[[VM], None]


def counted(specs: Sequence[VMSpec] | VMSpec, count: int | None) -> builtins.list[VMSpec]:
    """The specs of a batch: as given, or ``count`` copies of one spec, numbered from 1."""
    if isinstance(specs, VMSpec):
        if count is None or count < 1:
            raise InvalidSpec("count", f"how many VMs of {specs.name!r} to make: 1 or more, not {count}")
        return [specs.replace(name=f"{specs.name}-{i}") for i in range(1, count + 1)]
    if count is not None:
        raise InvalidSpec("count", "goes with one spec (create_many(spec, count=N)), not a list of them")
    return builtins.list(specs)


class Cloud:
    """One provider, seen through the same API as every other."""

    def __init__(
        self,
        provider: Provider,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 600.0,
        poll_interval: float = 1.0,
        known_hosts: KnownHosts | str | Path | None = None,
        guests: bool = True,
        origin: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        self.provider = provider
        self.guests = guests
        self.origin = origin  # how connect() made it: the provider's name and options
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        # guests behind a jump host (a remote hypervisor's private network) are probed from it
        probe = provider.jump.tcp_open if provider.jump else tcp_open
        self.waiter = Waiter(provider, self.retry, interval=poll_interval, probe=probe)
        if provider.operation_interval is None:  # the provider's own chains wait at the caller's pace too
            provider.operation_interval = poll_interval
        self.known_hosts = known_hosts if isinstance(known_hosts, KnownHosts) else KnownHosts(known_hosts)
        self._sizes: dict[Size, ResolvedSize] = {}
        self._images: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Cloud({self.provider.name!r})"

    def __enter__(self) -> Cloud:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.provider.close()

    def at(self, location: str) -> Cloud:
        """The same provider, options and credentials somewhere else (a DR region, a
        failover zone, another libvirt host): a new connection, closed by the caller."""
        if self.origin is None:
            raise Unsupported("this Cloud was not made by cloudvm.connect(); connect to the other location yourself")
        from cloudvm import connect

        name, options = self.origin
        return connect(name, retry=self.retry, timeout=self.timeout, poll_interval=self.waiter.interval,
                       known_hosts=self.known_hosts.path, guests=self.guests,
                       **{**options, **self.provider.relocated(location)})

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What the provider offers here; no logins where no guest runs (``connect(guests=False)``)."""
        offered = self.provider.capabilities
        return offered if self.guests else offered - {Capability.REACHABILITY}

    def _check_wait(self, target: Wait) -> None:
        if target == "reachable" and Capability.REACHABILITY not in self.capabilities:
            raise Unsupported(f"{self.provider.name}: no guest runs behind this endpoint to reach over SSH; "
                              "wait for running")

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        return self.retry.call(fn, what=f"{self.provider.name}.{what}")

    def _spread(self, what: str, items: Sequence[Any], call: Callable[[builtins.list[Any]], Any],
                parts: builtins.list[builtins.list[Any]] | None = None) -> builtins.list[Any]:
        """``call`` over the provider's chunks of ``items`` (or the ``parts`` given), as many at once as
        it takes, each chunk retried on its own (a throttled chunk does not send the others again)."""
        return fan_out(parts or chunks(items, self.provider.batch_limits.get(what)),
                       lambda part: self._call(what, lambda: call(part)),
                       parallel=self.provider.parallel_calls.get(what, 1))

    # -- creating ---------------------------------------------------------

    def plan(self, specs: Sequence[VMSpec], *, owner: Owner | None = None,
             resolve_images: bool = True) -> builtins.list[LaunchRequest]:
        """Validate and resolve without creating anything (a dry run). ``owner``: tags cloudvm
        itself adds (``cloudvm-`` keys, e.g. the environment a VM belongs to). ``resolve_images=False``:
        the images stay as the specs name them (a restore boots from its snapshot, and the image it
        was made from may not exist where it is restored)."""
        owned = {spec.name: (owner(spec) if callable(owner) else owner) or {} for spec in specs}
        if any(not k.startswith(tagging.PREFIX) for tags in owned.values() for k in tags):
            raise InvalidSpec("owner", f"owner tags are cloudvm's own: keys start with {tagging.PREFIX!r}")
        names = [s.name for s in specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidSpec("name", f"used more than once in one batch: {', '.join(dupes)}")
        for spec in specs:
            reason = self.provider.unsupported_reason(spec)
            if reason:
                raise Unsupported(f"{spec.name}: {reason}")
            self.provider.check(spec)
        return fleets.mark([self._request(spec, owned[spec.name], resolve_images) for spec in specs])

    def _request(self, spec: VMSpec, owner: dict[str, str], resolve_image: bool = True) -> LaunchRequest:
        if spec.size not in self._sizes:
            self._sizes[spec.size] = self.resolve_size(spec.size)
        if resolve_image and spec.image not in self._images:
            self._images[spec.image] = self._call("resolve_image", lambda: self.provider.resolve_image(spec.image))
        token = uuid.uuid4().hex[:16]
        return LaunchRequest(
            spec=spec,
            size=self._sizes[spec.size],
            image=self._images[spec.image] if resolve_image else spec.image,
            token=token,
            tags={**spec.tags, **owner, **tagging.system_tags(spec.name, token),
                  **({tagging.SPOT: spec.spot.on_interruption} if spec.spot else {})},
        )

    @functools.cached_property
    def _offers(self) -> builtins.list[Offer] | None:
        """The types on offer here, priced: read once, on the first shape to resolve."""
        offers: builtins.list[Offer] | None = self._call("offers", self.provider.offers)
        return offers

    def on_demand_price(self, size: ResolvedSize) -> float | None:
        """The hourly on-demand price of ``size`` here, where the provider lists prices: what a spot
        VM without a ``max_price`` pays at most."""
        offer = next((o for o in self._offers or [] if o.size.type_name == size.type_name), None)
        return offer.price if offer is not None and offer.price != float("inf") else None

    def resolve_size(self, size: Size) -> ResolvedSize:
        """What ``size`` becomes here: a named type as the provider checks it, a shape as the cheapest
        type on offer that fits (``InvalidSpec`` when none does)."""
        if not size.instance_type and self._offers is not None:
            assert size.cpus is not None and size.memory_gib is not None
            best = sizing.cheapest(self._offers, size.cpus, size.memory_gib)
            if best is None:
                where = f" in {self.provider.location}" if self.provider.location else ""
                raise InvalidSpec("size", f"no machine type {self.provider.name} offers{where} has "
                                          f"{size.cpus} vCPUs and {size.memory_gib:g} GiB")
            return best
        resolved: ResolvedSize = self._call("resolve_size", lambda: self.provider.resolve_size(size))
        return resolved

    def create(self, spec: VMSpec, *, wait: Wait = "running", timeout: float | None = None,
               keep_on_failure: bool = False) -> VM:
        """Create one VM and, by default, wait until it runs (``wait="reachable"``: until SSH answers)."""
        return self.create_many([spec], wait=wait, timeout=timeout, keep_on_failure=keep_on_failure)[0]

    def create_many(self, specs: Sequence[VMSpec] | VMSpec, *, count: int | None = None, wait: Wait = "running",
                    timeout: float | None = None, keep_on_failure: bool = False,
                    owner: Owner | None = None) -> builtins.list[VM]:
        """Create a batch in as few provider calls as the API allows and wait for all of it at once.
        ``create_many(spec, count=N)``: N VMs alike, named ``{spec.name}-1`` ... ``{spec.name}-N`` (the
        names environments give ``count:``), returned in that order.

        All or nothing: if any VM fails, every VM of the batch is removed
        (unless ``keep_on_failure``) and the error is raised.
        """
        requests = self.plan(counted(specs, count), owner=owner)
        return self._launch(requests, self.provider.launch, wait, timeout, keep_on_failure)

    def _launch(self, requests: builtins.list[LaunchRequest], launch: Callable[[builtins.list[LaunchRequest]], Any],
                wait: Wait, timeout: float | None, keep_on_failure: bool) -> builtins.list[VM]:
        self._check_wait(wait)
        for r in requests:
            log.info("creating %s (%s, %s) on %s", r.spec.name, r.size.type_name, r.image, self.provider.name)
        try:
            self._call("prepare", lambda: self.provider.prepare(requests))
            parts = fleets.parts(requests, self.provider.batch_limits.get("launch"), self.provider.fleet_limit)
            for stage in self.provider.launch_stages:
                self._finish(self._spread("launch", requests, functools.partial(self.provider.stage, stage), parts))
            began: builtins.list[Started] = self._spread("launch", requests, lambda part: [started(launch(part))],
                                                         parts)
            ids = [i for part in began for i in part.ids]
            self._finish([op for part in began for op in part.operations])
            if wait is None:
                return self._describe(ids)
            return self.waiter.until(ids, wait, timeout or self.timeout)
        except BaseException:
            self._discard(requests, keep_vms=keep_on_failure)
            raise

    def _finish(self, started: Sequence[Operation]) -> None:
        """Wait for what a batch's launch calls left running, all together; the first failure is raised."""
        if started:
            error = first_error(started, self.waiter.settle(started, self.provider.operation_timeout))
            if error is not None:
                raise error

    def _discard(self, requests: Sequence[LaunchRequest], keep_vms: bool) -> None:
        """Remove whatever a failed create made, found again by its tokens (its VMs unless kept)."""
        tokens = {r.token for r in requests}
        try:
            mine = [] if keep_vms else [vm for vm in self.provider.describe(tags={tagging.MANAGED: "true"})
                                        if vm.tags.get(tagging.TOKEN) in tokens]
            if mine:
                log.warning("removing %s after a failed create", ", ".join(vm.name for vm in mine))
                self._remove(mine, self.timeout)
            self.provider.abandon(requests)
        except Exception:  # the original error matters more
            log.exception("clean-up after a failed create did not finish")

    # -- finding ------------------------------------------------------------

    def _describe(self, ids: Sequence[str]) -> builtins.list[VM]:
        found = {vm.id: vm for vm in self._call("describe", lambda: self.provider.describe(ids))}
        return [found[i] for i in ids if i in found]

    def list(self, tags: dict[str, str] | None = None) -> builtins.list[VM]:
        """The VMs cloudvm manages here, optionally only those with these tags."""
        wanted = {**(tags or {}), tagging.MANAGED: "true"}
        vms: builtins.list[VM] = self._call("describe", lambda: self.provider.describe(tags=wanted))
        return sorted(vms, key=lambda vm: vm.name)

    def get(self, ref: VMRef) -> VM:
        """A VM by name or id, as it is now."""
        return self._resolve([ref])[0]

    def _resolve(self, refs: Sequence[VMRef]) -> builtins.list[VM]:
        by_name = {vm.name: vm for vm in self.list()} if any(isinstance(r, str) for r in refs) else {}
        out = []
        for ref in refs:
            if isinstance(ref, VM):
                out.append(ref)
            elif ref in by_name:
                out.append(by_name[ref])
            else:
                found = self._describe([ref])
                if not found:
                    raise NotFound(f"no VM named {ref!r} managed by cloudvm on {self.provider.name}")
                out.append(found[0])
        return out

    # -- lifecycle --------------------------------------------------------

    def wait(self, refs: VMRef | Sequence[VMRef], until: Target = "running",
             timeout: float | None = None, on_ready: Listener | None = None) -> builtins.list[VM]:
        """Block until every VM reaches ``until`` (running, reachable, stopped, terminated);
        ``on_ready(vm)`` hears of each as it gets there."""
        self._check_wait(until)
        ids = [vm.id for vm in self._each(refs)]
        def hear(_id: str, vm: VM | None) -> None:
            if on_ready and vm:
                on_ready(vm)

        return self.waiter.until(ids, until, timeout or self.timeout, hear)

    def _each(self, refs: VMRef | Sequence[VMRef]) -> builtins.list[VM]:
        return self._resolve([refs] if isinstance(refs, (VM, str)) else list(refs))

    def _act(self, refs: VMRef | Sequence[VMRef], what: str, action: Callable[[builtins.list[str]], None],
             target: Target, wait: bool) -> builtins.list[VM]:
        vms = self._each(refs)
        ids = [vm.id for vm in vms]
        if not ids:
            return []
        log.info("%s %s", what, ", ".join(vm.name for vm in vms))
        self._spread(what, ids, action)
        return self.waiter.until(ids, target, self.timeout) if wait else self._describe(ids)

    def start(self, refs: VMRef | Sequence[VMRef], *, wait: bool = True) -> builtins.list[VM]:
        return self._act(refs, "start", self.provider.start, "running", wait)

    def stop(self, refs: VMRef | Sequence[VMRef], *, wait: bool = True, grace: float = 60.0) -> builtins.list[VM]:
        """Shut down cleanly; power off whatever has not stopped after ``grace`` seconds."""
        vms = self._act(refs, "stop", self.provider.stop, "stopped", wait=False)
        if not wait:
            return vms
        ids = [vm.id for vm in vms]
        try:
            return self.waiter.until(ids, "stopped", grace)
        except Timeout:
            log.warning("clean shutdown took over %.0fs; powering off", grace)
            self._spread("stop", ids, lambda part: self.provider.stop(part, force=True))
            return self.waiter.until(ids, "stopped", self.timeout)

    def reboot(self, refs: VMRef | Sequence[VMRef], *, wait: bool = True) -> builtins.list[VM]:
        return self._act(refs, "reboot", self.provider.reboot, "running", wait)

    def delete(self, refs: VMRef | Sequence[VMRef], *, wait: bool = True, on_gone: Listener | None = None) -> None:
        """Delete VMs and everything cloudvm created for them (helpers that outlive an
        instance, such as security groups, only when ``wait``)."""
        vms = self._each(refs)
        log.info("delete %s", ", ".join(vm.name for vm in vms))
        if wait:
            self._remove(vms, self.timeout, on_gone)
        elif vms:
            self._spread("terminate", [vm.id for vm in vms], self.provider.terminate)

    def _remove(self, vms: Sequence[VM], timeout: float, on_gone: Listener | None = None) -> None:
        ids = [vm.id for vm in vms]
        if not ids:
            return
        self._spread("terminate", ids, self.provider.terminate)
        by_id = {vm.id: vm for vm in vms}
        self.waiter.until(ids, "terminated", timeout, on_gone and (lambda vm_id, _: on_gone(by_id[vm_id])))
        self.known_hosts.forget(vms)
        self._spread("release", vms, self.provider.release)

    def console_output(self, ref: VMRef) -> str:
        """What the VM printed on its serial console (why it did not come up)."""
        self.provider.require(Capability.CONSOLE_OUTPUT)
        vm = self.get(ref)
        text: str = self._call("console_output", lambda: self.provider.console_output(vm))
        return text

    # -- logging in ---------------------------------------------------------

    def ssh_argv(self, ref: VMRef, command: Sequence[str] = (), *, user: str | None = None,
                 key_file: str | None = None, timeout: float | None = None) -> builtins.list[str]:
        """The ``ssh`` command line that logs in to the VM, trusting only the host keys it printed on
        its serial console (read until they show, up to ``timeout``)."""
        return ssh.argv(self._trusted(ref, timeout), self.known_hosts, command, user=user, key_file=key_file,
                        jump=self.provider.jump)

    def ssh(self, ref: VMRef, command: str, *, user: str | None = None, key_file: str | None = None,
            timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run one shell command on the VM over SSH, its host key checked; ``HostKeyMismatch``
        when the VM answers with another key than it printed."""
        return ssh.run(self._trusted(ref), self.known_hosts, command, user=user, key_file=key_file, timeout=timeout,
                       jump=self.provider.jump)

    def _trusted(self, ref: VMRef, timeout: float | None = None) -> VM:
        """The VM as it is now, its host keys on file."""
        vm = self.get(ref)
        self.host_keys(vm, timeout=timeout)
        return vm

    def host_keys(self, ref: VMRef, *, timeout: float | None = None) -> builtins.list[str]:
        """The VM's SSH host keys as cloudvm trusts them: on file, or learned from its console now."""
        vm = ref if isinstance(ref, VM) else self.get(ref)
        if not self.known_hosts.keys(vm):
            if Capability.HOST_KEYS not in self.capabilities:
                raise Unsupported(f"{self.provider.name} does not tell a VM's SSH host keys (no serial console), so "
                                  f"cloudvm cannot check them; file keys you got another way with "
                                  f"cloud.known_hosts.record()")
            self.known_hosts.learn(vm, lambda: self._call("host_keys", lambda: self.provider.host_keys(vm)),
                                   timeout or self.timeout, self.waiter.sleep, self.waiter.clock)
        return self.known_hosts.keys(vm)

    # -- snapshots --------------------------------------------------------

    def snapshot(self, ref: VMRef, *, name: str | None = None, tags: dict[str, str] | None = None,
                 wait: bool = True) -> Snapshot:
        """A crash-consistent copy of every disk of the VM."""
        self.provider.require(Capability.SNAPSHOTS)
        vm = self.get(ref)
        token = uuid.uuid4().hex[:16]
        # a default name carries a piece of the token: two snapshots of a VM within a second differ
        name = name or f"{vm.name[:42].rstrip('-')}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{token[:4]}"
        check_name(name)
        all_tags = {**(tags or {}), **tagging.system_tags(name, token)}
        log.info("snapshotting %s as %s", vm.name, name)
        snap: Snapshot = self._call("snapshot", lambda: self.provider.snapshot(vm, name, all_tags))
        if wait and snap.state is not SnapshotState.READY:
            snap = self.waiter.snapshots_ready([snap.id], self.timeout)[0]
        return snap

    def list_snapshots(self, tags: dict[str, str] | None = None) -> builtins.list[Snapshot]:
        self.provider.require(Capability.SNAPSHOTS)
        wanted = {**(tags or {}), tagging.MANAGED: "true"}
        snaps: builtins.list[Snapshot] = self._call(
            "describe_snapshots", lambda: self.provider.describe_snapshots(tags=wanted))
        return sorted(snaps, key=lambda s: s.name)

    def get_snapshot(self, ref: Snapshot | str) -> Snapshot:
        if isinstance(ref, Snapshot):
            return ref
        for snap in self.list_snapshots():
            if ref in (snap.name, snap.id):
                found: Snapshot = snap
                return found
        raise NotFound(f"no snapshot named {ref!r} managed by cloudvm on {self.provider.name}")

    def restore(self, ref: Snapshot | str, *, name: str, wait: Wait = "running", timeout: float | None = None,
                spec: VMSpec | None = None, **changes: Any) -> VM:
        """A new VM whose disks start from the snapshot; ``changes`` override the source VM's spec."""
        snap = self.get_snapshot(ref)
        if snap.state is not SnapshotState.READY:
            raise ProviderError(f"snapshot {snap.name} is {snap.state.value}: not every disk's copy is complete, "
                                "so it cannot be restored")
        base = spec or snap.spec
        if base is None:
            raise InvalidSpec("spec", "this snapshot does not record its VM's spec; pass spec=")
        request = self.plan([base.replace(name=name, **changes)], resolve_images=False)[0]
        return self._launch([request], lambda _: self.provider.restore(snap, request), wait, timeout, False)[0]

    def delete_snapshot(self, ref: Snapshot | str) -> None:
        snap = self.get_snapshot(ref)
        log.info("deleting snapshot %s", snap.name)
        self._call("delete_snapshot", lambda: self.provider.delete_snapshot(snap))

    def copy_snapshot(self, ref: Snapshot | str, *, region: str) -> Snapshot:
        self.provider.require(Capability.COPY_SNAPSHOT)
        snap = self.get_snapshot(ref)
        copied: Snapshot = self._call("copy_snapshot", lambda: self.provider.copy_snapshot(snap, region))
        return copied

    # -- VMs as files -------------------------------------------------------

    def export(self, ref: VMRef | Snapshot, directory: str | Path) -> Path:
        """A self-contained copy of a VM (standalone qcow2 disks and a manifest, written last) in
        ``directory``, from a crash-consistent snapshot taken while it runs on, or from ``ref``
        when it is a snapshot; any backend imports it (``import_vm``)."""
        self.provider.require(Capability.EXPORT)
        if isinstance(ref, Snapshot):
            return self._export(ref, Path(directory))
        vm = self.get(ref)
        snap = self.snapshot(vm, name=f"{vm.name[:40].rstrip('-')}-export-{uuid.uuid4().hex[:8]}")
        try:
            return self._export(snap, Path(directory), vm)
        finally:
            self.delete_snapshot(snap)

    def _export(self, snap: Snapshot, directory: Path, vm: VM | None = None) -> Path:
        log.info("exporting %s to %s", snap.source_vm or snap.name, directory)
        disks = [("root" if disk.root else "data", round(disk.size_gib * portable.GIB),
                  functools.partial(self.provider.export_disk, snap, i)) for i, disk in enumerate(snap.disks)]
        spec = self._portable(snap.spec, vm)
        created = (snap.created_at or datetime.now(UTC)).isoformat()
        written: Path = self._call("export", lambda: portable.write(
            directory, name=snap.name, source_vm=snap.source_vm, created=created,
            tags={k: v for k, v in snap.tags.items() if not k.startswith(tagging.PREFIX)}, spec=spec, disks=disks,
            user=snap.user or (vm.ssh_user if vm else None)))
        return written

    def _portable(self, spec: VMSpec | None, vm: VM | None) -> VMSpec | None:
        """The spec an export carries: its size as cpus and memory, which every backend maps onto
        its own machines (an instance type means nothing on another cloud)."""
        if spec is None or spec.size.instance_type is None:
            return spec
        resolved = vm.size if vm and vm.size else self.resolve_size(spec.size)
        return spec.replace(size=Size(cpus=resolved.cpus, memory_gib=resolved.memory_gib))

    def import_vm(self, directory: str | Path, *, name: str | None = None, wait: Wait = "running",
                  moved: portable.Moved | None = None, **changes: Any) -> VM:
        """The VM an ``export`` wrote (on this backend or any other), made here under its old name
        unless ``name``; ``changes`` override its spec (``ssh=``, ``size=``), ``moved`` counts what
        was sent. The export is checked whole before anything is made."""
        manifest = self._manifest(directory)
        spec = manifest.vm_spec()
        target = name or (spec.name if spec else manifest.source_vm)
        check_name(target)
        snap = self._import(manifest, f"import-{uuid.uuid4().hex[:16]}", {}, moved)
        try:
            return self.restore(snap, name=target, wait=wait, spec=spec or snap.spec, **changes)
        finally:
            self.delete_snapshot(snap)

    def import_snapshot(self, directory: str | Path, *, name: str, tags: dict[str, str] | None = None,
                        moved: portable.Moved | None = None) -> Snapshot:
        """The export in ``directory`` kept here as snapshot ``name``, to restore later (a DR copy
        from another backend)."""
        check_name(name)
        return self._import(self._manifest(directory), name, tags or {}, moved)

    def copy_across(self, ref: Snapshot | str, target: Cloud, *, tags: dict[str, str] | None = None,
                    moved: portable.Moved | None = None) -> Snapshot:
        """A copy of the snapshot on another backend, through the export format in a scratch
        directory (``TMPDIR``: it holds the disks' data for the while)."""
        snap = self.get_snapshot(ref)
        target.provider.require(Capability.IMPORT)
        with tempfile.TemporaryDirectory(prefix="cloudvm-copy-") as scratch:
            self.export(snap, scratch)
            return target.import_snapshot(scratch, name=snap.name, tags=tags, moved=moved)

    def _manifest(self, directory: str | Path) -> portable.Manifest:
        self.provider.require(Capability.IMPORT)
        return portable.read(directory)

    def _import(self, manifest: portable.Manifest, name: str, tags: dict[str, str],
                moved: portable.Moved | None) -> Snapshot:
        spec = manifest.vm_spec()  # the machine it maps to here, in the snapshot's own words (for a restore)
        machine = {snapsets.TYPE: self.resolve_size(spec.size).type_name, snapsets.IMAGE: spec.image} if spec else {}
        tags = {**tags, **machine, **tagging.system_tags(name, uuid.uuid4().hex[:16])}
        count = moved if moved is not None else portable.Moved()
        snap: Snapshot = self._call("import", lambda: self.provider.import_snapshot(manifest, name, tags, count))
        log.info("imported %s: %.1f MiB sent for %.1f GiB of disks", manifest.name, count.data / 2**20,
                 count.of / portable.GIB)
        if snap.state is not SnapshotState.READY:
            snap = self.waiter.snapshots_ready([snap.id], self.timeout)[0]
        return snap
