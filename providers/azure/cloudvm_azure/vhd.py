"""The footer that makes a disk's bytes a fixed VHD, the only format a managed disk is uploaded in
(https://learn.microsoft.com/azure/virtual-machines/linux/disks-upload-vhd-to-managed-disk-cli):
the data, a whole number of MiB, then these 512 bytes. Laid out as the Virtual Hard Disk Image
Format Specification says; the tests hold it to ``qemu-img``'s reading."""

from __future__ import annotations

import struct
import time
import uuid

SIZE = 512
COOKIE = b"conectix"
FIXED = 2
_EPOCH = 946684800  # 2000-01-01T00:00:00Z, where the footer's clock starts
_LAYOUT = ">8sIIQI4sI4sQQHBBII16sB427x"


def _geometry(size: int) -> tuple[int, int, int]:
    """Cylinders, heads and sectors per track, by the specification's algorithm."""
    sectors = min(size // 512, 65535 * 16 * 255)
    if sectors >= 65535 * 16 * 63:
        per_track, heads = 255, 16
    else:
        per_track = 17
        heads = max(4, (sectors // per_track + 1023) // 1024)
        if sectors // per_track >= heads * 1024 or heads > 16:
            per_track, heads = 31, 16
        if sectors // per_track >= heads * 1024:
            per_track, heads = 63, 16
    return sectors // per_track // heads, heads, per_track


def footer(size: int) -> bytes:
    """The footer of a fixed VHD holding ``size`` bytes of data."""
    # written as Hyper-V writes it ("win "): readers then take the size from the footer, not from the
    # cylinder/head/sector geometry, which cannot express every whole MiB
    head = (COOKIE, 2, 0x00010000, 0xFFFFFFFFFFFFFFFF, int(time.time()) - _EPOCH, b"win ", 0x000A0000, b"Wi2k",
            size, size, *_geometry(size), FIXED)
    tail = (uuid.uuid4().bytes, 0)
    unsigned = struct.pack(_LAYOUT, *head, 0, *tail)
    return struct.pack(_LAYOUT, *head, ~sum(unsigned) & 0xFFFFFFFF, *tail)


def problem(data: bytes, size: int) -> str | None:
    """What keeps ``data`` from being the footer of a fixed VHD of ``size`` bytes (None: nothing)."""
    if len(data) != SIZE or data[:8] != COOKIE:
        return "cookie"
    fields = struct.unpack(_LAYOUT, data)
    if fields[13] != FIXED:
        return "type"
    if fields[9] != size:
        return "size"
    return None
