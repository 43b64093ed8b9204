"""The libvirt provider: VMs on a local or remote libvirt host, with root
disks as qcow2 overlays of a base image, a NoCloud seed for cloud-init, and
all state in the domains' own metadata and the pool's volumes."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse
from xml.etree import ElementTree as ET

import libvirt

from cloudvm import tags as tagging
from cloudvm.errors import AlreadyExists, AuthenticationError, InvalidSpec, NotFound, ProviderError
from cloudvm.model import VM, DiskInfo, ResolvedSize, Snapshot, SnapshotState, VMState
from cloudvm.portable import Manifest, Moved
from cloudvm.provider import Capability, LaunchRequest, Provider
from cloudvm.spec import Size
from cloudvm.ssh import Jump
from cloudvm_libvirt import capacity, export, images, snapshots
from cloudvm_libvirt._errors import mapped
from cloudvm_libvirt.domain import NS, Meta, Volume, domain_xml, macs, networks, volume_paths
from cloudvm_libvirt.seed import nocloud_seed
from cloudvm_libvirt.storage import GIB, Storage

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors arrive as exceptions

SIZES = {"tiny": (1, 0.5), "small": (1, 1.0), "medium": (2, 2.0), "large": (2, 4.0), "xlarge": (4, 8.0)}
_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: VMState.PENDING,
    libvirt.VIR_DOMAIN_RUNNING: VMState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: VMState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: VMState.RUNNING,  # only briefly, by us; a crash pauses with its own reason
    libvirt.VIR_DOMAIN_SHUTDOWN: VMState.STOPPING,
    libvirt.VIR_DOMAIN_SHUTOFF: VMState.STOPPED,
    libvirt.VIR_DOMAIN_CRASHED: VMState.ERROR,
    libvirt.VIR_DOMAIN_PMSUSPENDED: VMState.STOPPED,
}
_PAUSED_BROKEN = {libvirt.VIR_DOMAIN_PAUSED_IOERROR, libvirt.VIR_DOMAIN_PAUSED_CRASHED}


def jump_for(uri: str) -> Jump | None:
    """The hypervisor of an SSH URI as a jump host, with the URI's user, port, key, known hosts and
    ssh command (https://libvirt.org/uri.html#ssh-transport); None for a local or TLS connection."""
    parts = urlparse(uri)
    if parts.scheme.partition("+")[2] not in ("ssh", "libssh", "libssh2") or not parts.hostname:
        return None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return Jump(parts.hostname, parts.username, parts.port, query.get("keyfile"), query.get("known_hosts"),
                verify=query.get("no_verify") != "1", command=query.get("command", "ssh"))


class LibvirtProvider(Provider):
    """``cloudvm.connect("libvirt", uri=..., network=..., pool=..., domain_type=...)``.

    ``uri``, ``network`` and ``domain_type`` default to the environment
    variables ``CLOUDVM_LIBVIRT_URI``, ``CLOUDVM_LIBVIRT_NETWORK`` and
    ``CLOUDVM_LIBVIRT_DOMAIN_TYPE``, then to ``qemu:///system``, ``default`` and
    ``auto`` (KVM when libvirt offers it; set ``qemu`` where /dev/kvm is
    present but broken). On a host reached over SSH (``qemu+ssh://``,
    ``qemu+libssh://``) the guests are reached through that host as an SSH jump
    host; ``jump_host=False`` when they are routed to the client instead.
    """

    name = "libvirt"
    location_option = "uri"
    capabilities = frozenset({Capability.SNAPSHOTS, Capability.DATA_DISKS, Capability.KEEP_DISKS,
                              Capability.REACHABILITY, Capability.CONSOLE_OUTPUT, Capability.HOST_KEYS,
                              Capability.EXPORT, Capability.IMPORT})

    def __init__(self, uri: str | None = None, *, network: str | None = None, pool: str = "cloudvm",
                 pool_path: str = "/var/lib/libvirt/images/cloudvm", domain_type: str | None = None,
                 console_dir: str = "/var/log/libvirt/qemu", jump_host: bool | str = True) -> None:
        self.uri = uri or os.environ.get("CLOUDVM_LIBVIRT_URI", "qemu:///system")
        through = jump_host if isinstance(jump_host, bool) else jump_host.lower() not in ("false", "no", "0", "off")
        self.jump = jump_for(self.uri) if through else None
        self.network = network or os.environ.get("CLOUDVM_LIBVIRT_NETWORK", "default")
        self.domain_type = domain_type or os.environ.get("CLOUDVM_LIBVIRT_DOMAIN_TYPE", "auto")
        if self.domain_type not in ("auto", "kvm", "qemu"):
            raise InvalidSpec("domain_type", "must be auto, kvm or qemu")
        self.console_dir = console_dir
        self._conn: libvirt.virConnect | None = None
        self.storage = Storage(self.conn, pool, pool_path)
        # The console logs virtlogd writes on the host, read and removed as the volumes of a pool over
        # their directory: through the connection, so a remote host's consoles are read as a local one's.
        self.consoles = Storage(self.conn, f"{pool}-consoles", console_dir, build=False)

    # -- connection ---------------------------------------------------------

    def conn(self) -> libvirt.virConnect:
        if self._conn is None:
            try:
                self._conn = libvirt.open(self.uri)
            except libvirt.libvirtError as exc:
                cls = AuthenticationError if exc.get_error_code() in (
                    libvirt.VIR_ERR_AUTH_FAILED, libvirt.VIR_ERR_AUTH_CANCELLED) else ProviderError
                raise cls(f"cannot connect to libvirt at {self.uri}: {exc.get_error_message()}; is the daemon "
                          "running? (start it with 'systemctl start libvirtd', or 'libvirtd -d' "
                          "and 'virtlogd -d' where there is no systemd)") from exc
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self.storage.forget()

    @property
    def location(self) -> str:
        return urlparse(self.uri).hostname or socket.gethostname()

    def _virt_type(self) -> str:
        if self.domain_type != "auto":
            return self.domain_type
        caps = ET.fromstring(self.conn().getCapabilities())
        return "kvm" if caps.find("./guest/arch[@name='x86_64']/domain[@type='kvm']") is not None else "qemu"

    # -- resolution -----------------------------------------------------------

    def resolve_size(self, size: Size) -> ResolvedSize:
        if size.instance_type:
            if size.instance_type not in SIZES:
                raise InvalidSpec("size.instance_type", f"unknown libvirt size {size.instance_type!r}; "
                                  f"known: {', '.join(SIZES)} (or give cpus and memory_gib)")
            cpus, mem = SIZES[size.instance_type]
            return ResolvedSize(size.instance_type, cpus, mem)
        assert size.cpus is not None and size.memory_gib is not None
        return ResolvedSize(f"{size.cpus}cpu-{size.memory_gib:g}gib", size.cpus, size.memory_gib)

    def resolve_image(self, image: str) -> str:
        return images.resolve(self.storage, image)

    # -- lookups ----------------------------------------------------------------

    def _lookup(self, name: str) -> libvirt.virDomain | None:
        try:
            return self.conn().lookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    @staticmethod
    def _meta(dom: libvirt.virDomain) -> Meta | None:
        try:
            return Meta.from_xml(dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS, 0))
        except libvirt.libvirtError:
            return None  # not ours

    @staticmethod
    def _console_name(name: str) -> str:
        return f"cloudvm-{name}-console.log"

    def _network(self, name: str) -> str:
        with mapped(f"network {name}"):
            try:
                net = self.conn().networkLookupByName(name)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_NETWORK:
                    raise
                known = ", ".join(self.conn().listNetworks() + self.conn().listDefinedNetworks()) or "none"
                raise InvalidSpec("network.name", f"libvirt has no network {name!r} (known: {known})") from None
            if not net.isActive():
                net.create()
        return name

    # -- launching -----------------------------------------------------------

    def launch(self, requests: Sequence[LaunchRequest]) -> list[str]:
        """The batch, once the host has room for the VMs not made yet (a retry's are)."""
        new = [r for r in requests if self._lookup(r.spec.name) is None]
        self.storage.refresh()  # what others made since, unless another process's job holds the pool
        with mapped("check the host's capacity"):
            capacity.check(self.conn(), self.storage.pool(), new, [self._root_bytes(r) for r in new], self.uri)
        return [self._launch(r, self._fresh_disks(r)) for r in requests]

    def _root_bytes(self, request: LaunchRequest) -> int:
        """The root disk's size: the base image's, or the spec's when larger."""
        base_bytes: int = self.conn().storageVolLookupByPath(request.image).info()[1]
        return max(base_bytes, (request.spec.root_disk_gib or 0) * GIB)

    def _fresh_disks(self, request: LaunchRequest) -> list[tuple[Volume, Callable[[str], Any]]]:
        """Root overlay of the base image, then empty data disks."""
        name = request.spec.name
        base = self.conn().storageVolLookupByPath(request.image)
        base_fmt = ET.fromstring(base.XMLDesc(0)).find("./target/format")
        backing = (request.image, base_fmt.get("type", "qcow2") if base_fmt is not None else "qcow2")
        root_bytes = self._root_bytes(request)
        disks: list[tuple[Volume, Callable[[str], Any]]] = [
            (Volume.root(name), partial(self.storage.create, capacity=root_bytes, backing=backing))]
        for i, disk in enumerate(request.spec.disks):
            disks.append((Volume.data(name, i, disk.keep),
                          partial(self.storage.create, capacity=disk.size_gib * GIB)))
        return disks

    def _launch(self, request: LaunchRequest, disks: list[tuple[Volume, Callable[[str], Any]]]) -> str:
        spec = request.spec
        existing = self._lookup(spec.name)
        if existing is not None:
            meta = self._meta(existing)
            if meta is None or meta.token != request.token:
                raise AlreadyExists(f"a VM named {spec.name!r} already exists on {self.uri}")
            with mapped(f"start {spec.name}"):
                if not existing.isActive():
                    existing.create()
            uuid_: str = existing.UUIDString()
            return uuid_  # a retry of our own launch: exactly once
        seed = Volume.seed(spec.name)
        meta = Meta(name=spec.name, token=request.token, image=spec.image, size_type=request.size.type_name,
                    created=datetime.now(UTC), tags=request.tags,
                    volumes=(*(v for v, _ in disks), seed), spec=spec)
        xml = domain_xml(request, meta, domain_type=self._virt_type(),
                         network=self._network(spec.network.name or self.network),
                         disk_paths=[self.storage.path_of(v.name) for v, _ in disks],
                         seed_path=self.storage.path_of(seed.name),
                         console_log=self.consoles.path_of(self._console_name(spec.name)))
        dom = self._define(spec.name, xml)
        try:
            for vol, make in disks:
                self.storage.delete(vol.name)  # an orphan of a crashed create under the name we now hold
                make(vol.name)
            self.storage.delete(seed.name)
            self.storage.upload(seed.name, nocloud_seed(spec, f"i-{uuid.uuid4().hex[:16]}"))
            with mapped(f"start {spec.name}"):
                dom.create()
        except BaseException:
            self.consoles.refresh()
            self._remove(dom, meta)
            raise
        uuid_ = dom.UUIDString()
        return uuid_

    def _define(self, name: str, xml: str) -> libvirt.virDomain:
        try:
            return self.conn().defineXML(xml)
        except libvirt.libvirtError as exc:
            if self._lookup(name) is not None:  # another process took the name first
                raise AlreadyExists(f"a VM named {name!r} already exists on {self.uri}") from exc
            with mapped(f"define {name}"):
                raise

    def _remove(self, dom: libvirt.virDomain, meta: Meta) -> None:
        """Power off, delete volumes (kept data disks excepted), then the definition:
        in that order, so an interrupted delete can simply be repeated."""
        with mapped(f"delete {meta.name}"):
            if dom.isActive():
                dom.destroy()
            paths = volume_paths(dom.XMLDesc(0))  # the VM's pool, which need not be this provider's
            for vol in meta.volumes:
                if not vol.keep:
                    self.storage.delete(vol.name, paths.get(vol.name))
            dom.undefine()
        self.consoles.delete(self._console_name(meta.name))  # known to the pool: the caller refreshed it

    # -- describing ------------------------------------------------------------

    def _leases(self, nets: set[str]) -> dict[str, str]:
        """MAC -> IPv4 address, newest lease first, one call per network."""
        found: dict[str, tuple[int, str]] = {}
        for net_name in nets:
            try:
                leases = self.conn().networkLookupByName(net_name).DHCPLeases()
            except libvirt.libvirtError:
                continue
            for lease in leases:
                if lease.get("type") != libvirt.VIR_IP_ADDR_TYPE_IPV4:
                    continue
                mac, expiry = lease["mac"].lower(), int(lease.get("expirytime", 0))
                if mac not in found or expiry > found[mac][0]:
                    found[mac] = (expiry, lease["ipaddr"])
        return {mac: ip for mac, (_, ip) in found.items()}

    def _domains(self, ids: Sequence[str] | None) -> list[libvirt.virDomain]:
        if ids is None:
            with mapped("list domains"):
                return list(self.conn().listAllDomains(0))
        doms = []
        for vm_id in ids:
            try:
                doms.append(self.conn().lookupByUUIDString(vm_id))
            except libvirt.libvirtError as exc:
                if exc.get_error_code() not in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_INVALID_ARG):
                    raise
        return doms

    def describe(self, ids: Sequence[str] | None = None, tags: dict[str, str] | None = None) -> list[VM]:
        managed = []
        for dom in self._domains(ids):
            meta = self._meta(dom)
            if meta is not None and tagging.matches(meta.tags, tags):
                managed.append((dom, meta, dom.XMLDesc(0)))
        leases = self._leases({n for _, _, xml in managed for n in networks(xml)})
        return [self._vm(dom, meta, xml, leases) for dom, meta, xml in managed]

    def _vm(self, dom: libvirt.virDomain, meta: Meta, xml: str, leases: dict[str, str]) -> VM:
        state, reason = dom.state()
        vm_state = _STATES.get(state, VMState.ERROR)
        if state == libvirt.VIR_DOMAIN_PAUSED and reason in _PAUSED_BROKEN:
            vm_state = VMState.ERROR
        info = dom.info()
        running = vm_state is VMState.RUNNING
        disks = [DiskInfo(vol.name, self._capacity(vol.name) / GIB, vol.role == "root")
                 for vol in meta.volumes if vol.role in ("root", "data")]
        return VM(
            id=dom.UUIDString(), name=meta.name, provider=self.name, state=vm_state,
            size=ResolvedSize(meta.size_type, info[3], info[1] / (1024 * 1024)),
            image=meta.image, region=self.location,
            private_ips=tuple(ip for m in macs(xml) if running and (ip := leases.get(m.lower()))),
            disks=tuple(disks), tags=dict(meta.tags), created_at=meta.created,
            ssh_user=meta.spec.ssh.user if meta.spec and meta.spec.ssh else None, raw=dom,
        )

    def _capacity(self, volume: str) -> int:
        found = self.storage.lookup(volume)
        return int(found.info()[1]) if found else 0

    # -- lifecycle -----------------------------------------------------------

    def _each(self, ids: Sequence[str], what: str, action: Callable[[libvirt.virDomain], Any]) -> None:
        for dom in self._domains(ids):
            with mapped(f"{what} {dom.name()}"):
                action(dom)

    def start(self, ids: Sequence[str]) -> None:
        self._each(ids, "start", lambda d: d.isActive() or d.create())

    def stop(self, ids: Sequence[str], *, force: bool = False) -> None:
        self._each(ids, "stop", lambda d: d.isActive() and (d.destroy() if force else d.shutdown()))

    def reboot(self, ids: Sequence[str]) -> None:
        self._each(ids, "reboot", lambda d: d.reboot(0))

    def terminate(self, ids: Sequence[str]) -> None:
        self.consoles.refresh()  # once for the batch: the console logs virtlogd made become volumes
        for dom in self._domains(ids):
            meta = self._meta(dom)
            if meta is not None:
                self._remove(dom, meta)

    def console_output(self, vm: VM) -> str:
        self.consoles.refresh()  # virtlogd made the file: the pool learns of it
        return self.consoles.read(self._console_name(vm.name)).decode("utf-8", errors="replace")

    # -- snapshots -------------------------------------------------------------

    def export_disk(self, snapshot: Snapshot, index: int, target: Path) -> None:
        export.write_disk(self.storage, snapshot, index, target)

    def import_snapshot(self, manifest: Manifest, name: str, tags: dict[str, str], moved: Moved) -> Snapshot:
        made = export.read(self.storage, manifest, name, tags, moved)
        return snapshots.to_snapshot(made, SnapshotState.READY, self.name, self.location)

    def orphans(self) -> list[str]:
        """Volumes named as cloudvm names a VM's disks that no domain holds: kept data disks of
        deleted VMs, or pieces of a create killed before it defined its domain."""
        metas = [self._meta(dom) for dom in self._domains(None)]
        held = {vol.name for meta in metas if meta for vol in meta.volumes}
        return [f"volume {name} in pool {self.storage.name} ({self._capacity(name) / GIB:g} GiB, no VM uses it)"
                for name in self.storage.names() if Volume.parse(name) and name not in held]

    def _dom(self, vm_id: str) -> libvirt.virDomain:
        doms = self._domains([vm_id])
        if not doms:
            raise NotFound(f"no VM with id {vm_id} on {self.uri}")
        return doms[0]

    def snapshot(self, vm: VM, name: str, tags: dict[str, str]) -> Snapshot:
        manifest_name = snapshots.manifest_name(name)
        if self.storage.lookup(manifest_name) is not None:
            earlier = json.loads(self.storage.read(manifest_name) or b"{}")
            if earlier.get("tags", {}).get(tagging.TOKEN) == tags.get(tagging.TOKEN):
                return snapshots.to_snapshot(earlier, SnapshotState.PENDING, self.name, self.location)
            raise AlreadyExists(f"a snapshot named {name!r} already exists in pool {self.storage.name!r}")
        dom = self._dom(vm.id)
        meta = self._meta(dom)
        assert meta is not None
        sources = [v for v in meta.volumes if v.role in ("root", "data")]
        targets = [snapshots.disk_name(name, i) for i in range(len(sources))]
        live = bool(dom.isActive())
        manifest = {
            "id": uuid.uuid4().hex, "name": name, "source_vm": meta.name, "source_id": vm.id,
            "created": datetime.now(UTC).isoformat(), "tags": tags, "live": live,
            "disks": [{"volume": t, "role": s.role, "size": self._capacity(s.name)}
                      for s, t in zip(sources, targets, strict=True)],
            "spec": json.loads(meta.spec.model_dump_json()) if meta.spec else None,
        }
        try:
            self.storage.upload(manifest_name, json.dumps(manifest).encode())
            if live:
                xml = snapshots.backup_xml(dom.XMLDesc(0), [self.storage.path_of(t) for t in targets])
                with mapped(f"snapshot {vm.name}"):
                    dom.backupBegin(xml, None, 0)
            else:
                for src, target in zip(sources, targets, strict=True):
                    source_vol = self.storage.lookup(src.name)
                    assert source_vol is not None
                    self.storage.clone(target, source_vol)
        except BaseException:
            for target in targets:
                self.storage.delete(target)
            self.storage.delete(manifest_name)
            raise
        return snapshots.to_snapshot(manifest, SnapshotState.PENDING, self.name, self.location)

    def describe_snapshots(self, ids: Sequence[str] | None = None,
                           tags: dict[str, str] | None = None) -> list[Snapshot]:
        names = set(self.storage.names())
        out = []
        for vol_name in sorted(n for n in names if n.endswith(snapshots.SUFFIX)):
            manifest = json.loads(self.storage.read(vol_name) or b"null")
            if not manifest or (ids is not None and manifest["id"] not in ids):
                continue
            if tagging.matches(manifest["tags"], tags):
                source = next(iter(self._domains([manifest["source_id"]])), None)
                out.append(snapshots.to_snapshot(manifest, snapshots.state(manifest, names, source),
                                                 self.name, self.location))
        return out

    def restore(self, snapshot: Snapshot, request: LaunchRequest) -> str:
        name = request.spec.name
        self.storage.names()  # refresh: backup files were written by QEMU, not through the pool
        disks: list[tuple[Volume, Callable[[str], Any]]] = []
        for i, disk in enumerate(snapshot.raw["disks"]):  # root first, then data disks in order
            source = self.storage.lookup(disk["volume"])
            if source is None:
                raise NotFound(f"snapshot {snapshot.name} lost its volume {disk['volume']}")
            vol = Volume.root(name) if disk["role"] == "root" else Volume.data(name, i - 1)
            disks.append((vol, partial(self.storage.clone, source=source)))
        return self._launch(request, disks)

    def delete_snapshot(self, snapshot: Snapshot) -> None:
        for disk in snapshot.raw["disks"]:
            self.storage.delete(disk["volume"])
        self.storage.delete(snapshots.manifest_name(snapshot.name))
