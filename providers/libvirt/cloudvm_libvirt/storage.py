"""Volumes in one libvirt storage pool: base images, VM disks, seeds and
snapshots all live there, so a remote libvirt host works like a local one."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from typing import BinaryIO
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import libvirt

from cloudvm_libvirt._errors import mapped

GIB = 1024**3
log = logging.getLogger("cloudvm.libvirt")


def _found(what: str, find: Callable[[], libvirt.virStorageVol]) -> libvirt.virStorageVol | None:
    """The volume ``find`` looks up, or None when there is none."""
    with mapped(f"volume {what}"):
        try:
            return find()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
                return None
            raise


def _vol_xml(name: str, capacity: int, fmt: str, backing: tuple[str, str] | None = None) -> str:
    back = ""
    if backing:
        back = f"<backingStore><path>{escape(backing[0])}</path><format type='{backing[1]}'/></backingStore>"
    return (
        f"<volume><name>{escape(name)}</name><capacity unit='bytes'>{capacity}</capacity>"
        f"<target><format type='{fmt}'/></target>{back}</volume>"
    )


class Storage:
    """The pool cloudvm keeps its volumes in, created on first use."""

    def __init__(self, conn: Callable[[], libvirt.virConnect], name: str, path: str, *, build: bool = True) -> None:
        self._conn = conn
        self.name = name
        self.path = path
        self.build = build  # False: the directory is libvirt's own (it exists; its modes stay as they are)
        self._pool: libvirt.virStoragePool | None = None
        self._target: str | None = None

    def forget(self) -> None:
        """Drop cached handles (the connection they belong to was closed)."""
        self._pool = self._target = None

    def path_of(self, volume: str) -> str:
        """Where a volume of this name lives (or will) on the libvirt host."""
        if self._target is None:
            self._target = ET.fromstring(self.pool().XMLDesc(0)).findtext("./target/path", self.path)
        return os.path.join(self._target, volume)

    def pool(self) -> libvirt.virStoragePool:
        if self._pool is None:
            conn = self._conn()
            with mapped(f"storage pool {self.name}"):
                pool: libvirt.virStoragePool | None
                try:
                    pool = conn.storagePoolLookupByName(self.name)
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_POOL:
                        raise
                    pool = self._over_path(conn)
                if pool is None:  # libvirt keeps one pool per directory: make one only where there is none
                    xml = (f"<pool type='dir'><name>{escape(self.name)}</name>"
                           f"<target><path>{escape(self.path)}</path></target></pool>")
                    pool = conn.storagePoolDefineXML(xml, 0)
                    if self.build:
                        pool.build(0)
                    try:
                        pool.setAutostart(1)
                    except libvirt.libvirtError:  # another client defined it at the same moment, and set it
                        if not pool.autostart():
                            raise
                if not pool.isActive():
                    pool.create(0)
            self._pool = pool
        return self._pool

    def _over_path(self, conn: libvirt.virConnect) -> libvirt.virStoragePool | None:
        """The pool already defined over this directory, if one is."""
        for pool in conn.listAllStoragePools(0):
            if ET.fromstring(pool.XMLDesc(0)).findtext("./target/path") == self.path.rstrip("/"):
                return pool
        return None

    def lookup(self, name: str) -> libvirt.virStorageVol | None:
        return _found(name, lambda: self.pool().storageVolLookupByName(name))

    def _at(self, path: str) -> libvirt.virStorageVol | None:
        return _found(path, lambda: self._conn().storageVolLookupByPath(path))

    def refresh(self) -> None:
        """Learn of files made in the pool's directory by others (virtlogd); a refresh refused while
        the pool has jobs running is skipped: the next one sees them."""
        try:
            self.pool().refresh(0)
        except libvirt.libvirtError:
            log.debug("pool %s not refreshed now", self.name)

    def names(self) -> list[str]:
        self.refresh()
        with mapped("list volumes"):
            return list(self.pool().listVolumes())

    def create(self, name: str, capacity: int, fmt: str = "qcow2",
               backing: tuple[str, str] | None = None) -> libvirt.virStorageVol:
        with mapped(f"create volume {name}"):
            return self.pool().createXML(_vol_xml(name, capacity, fmt, backing), 0)

    def clone(self, name: str, source: libvirt.virStorageVol) -> libvirt.virStorageVol:
        """A standalone copy (backing chain flattened), independent of its source."""
        capacity = source.info()[1]
        with mapped(f"copy volume {source.name()} to {name}"):
            return self.pool().createXMLFrom(_vol_xml(name, capacity, "qcow2"), source, 0)

    def upload(self, name: str, data: bytes | BinaryIO, fmt: str = "raw") -> libvirt.virStorageVol:
        """A new volume holding ``data``, sent over libvirt's stream API."""
        fileobj = io.BytesIO(data) if isinstance(data, bytes) else data
        size = fileobj.seek(0, os.SEEK_END)
        fileobj.seek(0)
        vol = self.create(name, size, fmt)
        try:
            with mapped(f"upload volume {name}"):
                stream = self._conn().newStream(0)
                vol.upload(stream, 0, size, 0)
                stream.sendAll(lambda _s, n, f: f.read(n), fileobj)
                stream.finish()
        except BaseException:
            self.delete(name)
            raise
        return vol

    def read(self, name: str) -> bytes:
        out = io.BytesIO()
        return out.getvalue() if self.download(name, out) else b""

    def download(self, name: str, out: BinaryIO) -> bool:
        """The volume's file, as stored, written to ``out`` over libvirt's stream API (so a
        remote host works too); False when there is no such volume."""
        vol = self.lookup(name)
        if vol is None:
            return False
        with mapped(f"download volume {name}"):
            stream = self._conn().newStream(0)
            vol.download(stream, 0, 0, 0)  # length 0: the whole file
            stream.recvAll(lambda _s, buf, o: o.write(buf), out)
            stream.finish()
        return True

    def delete(self, name: str, path: str | None = None) -> None:
        """Delete the volume ``name`` of this pool (or the one at ``path``, in whichever pool)."""
        vol = self._at(path) if path else self.lookup(name)
        if vol is not None:
            with mapped(f"delete volume {name}"):
                try:
                    vol.delete(0)
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
                        raise
