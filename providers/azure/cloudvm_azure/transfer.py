"""A disk's bytes to and from the page blob behind a managed disk's access URI (``grantAccess``):
the 4 MiB ranges that hold data written in parallel, then the fixed-VHD footer; read back through
the blob's page ranges, so a sparse disk moves as its data
(https://learn.microsoft.com/azure/virtual-machines/linux/disks-upload-vhd-to-managed-disk-cli).

The access URI carries its signature, a credential: it is never logged nor put in an error."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobClient

from cloudvm import portable
from cloudvm.fanout import each, windows
from cloudvm.portable import Moved
from cloudvm_azure import vhd
from cloudvm_azure._errors import mapped

MIB = 1 << 20
# A Put Page carries at most 4 MiB: https://learn.microsoft.com/rest/api/storageservices/put-page
BLOCK = 4 * MIB
PARALLEL = 8
WINDOW = 2 * PARALLEL  # blocks in memory at once (64 MiB)


def upload_size(size: int) -> int:
    """What a disk of ``size`` bytes is created for: its data grown to whole MiB, and the footer."""
    return math.ceil(size / MIB) * MIB + vhd.SIZE


def _blob(uri: str, verify: str | bool | None) -> BlobClient:
    if verify is None:
        return BlobClient.from_blob_url(uri)
    return BlobClient.from_blob_url(uri, connection_verify=verify)


def upload(uri: str, image: Path, size: int, verify: str | bool | None, moved: Moved) -> None:
    """The image (a disk of ``size`` bytes) into the blob: its blocks that hold data, then the footer."""
    blob, data_size = _blob(uri, verify), upload_size(size) - vhd.SIZE

    def send(block: tuple[int, bytes]) -> int:
        index, data = block
        start, data = _pages(data[:data_size - index * BLOCK])
        with mapped(f"upload block {index}"):
            blob.upload_page(data, offset=index * BLOCK + start, length=len(data))
        return len(data)

    sent = [n for window in windows(portable.blocks(image, BLOCK), WINDOW) for n in each(window, send,
                                                                                          parallel=PARALLEL)]
    with mapped("upload the VHD footer"):
        blob.upload_page(vhd.footer(data_size), offset=data_size, length=vhd.SIZE)
    moved.count(sum(sent) + vhd.SIZE, len(sent) + 1, size)


def _pages(data: bytes) -> tuple[int, bytes]:
    """The 512-byte pages of a block from its first to its last that holds data (and where they start):
    a page blob keeps what is not written as zeros, so the zeros around them need not travel."""
    start = (len(data) - len(data.lstrip(b"\0"))) // vhd.SIZE * vhd.SIZE
    end = -(-len(data.rstrip(b"\0")) // vhd.SIZE) * vhd.SIZE
    return start, data[start:end]


def download(uri: str, target: Path, size: int, verify: str | bool | None) -> None:
    """The blob's disk as a qcow2 image of ``size`` bytes (the size Azure lists, in whole GiB where
    the blob holds less) at ``target``: only the ranges that hold data are read."""
    blob = _blob(uri, verify)
    with mapped("read the disk's size"):
        held = int(blob.get_blob_properties().size) - vhd.SIZE
    with mapped("list the disk's data"):
        ranges = [(int(r.start or 0), int(r.end or 0)) for r in blob.list_page_ranges()
                  if not getattr(r, "cleared", False)]
    indexes = sorted({i for start, end in ranges if start < held for i in range(start // BLOCK,
                                                                                min(end, held - 1) // BLOCK + 1)})

    def fetch(index: int) -> tuple[int, bytes]:
        with mapped(f"download block {index}"):
            data: bytes = blob.download_blob(offset=index * BLOCK, length=min(BLOCK, held - index * BLOCK)).readall()
        return index, data

    def fetched() -> Iterator[tuple[int, bytes]]:
        for window in windows(indexes, WINDOW):
            yield from each(window, fetch, parallel=PARALLEL)

    portable.assemble(target, max(size, held), fetched(), BLOCK)


def access_uri(answer: Any) -> str:
    """The URI a ``grantAccess`` answered with."""
    uri: str = answer.access_sas
    return uri
