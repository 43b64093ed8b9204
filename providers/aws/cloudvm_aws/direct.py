"""VMs as files on AWS through the EBS direct APIs: an export's disks written straight into
snapshots (``StartSnapshot``, the blocks that hold data in parallel, ``CompleteSnapshot``), and a
snapshot's blocks read back (``ListSnapshotBlocks``, ``GetSnapshotBlock``). No S3 bucket and no
VM Import role: https://docs.aws.amazon.com/ebs/latest/userguide/ebs-accessing-snapshot.html"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cloudvm import portable
from cloudvm.errors import TransientError
from cloudvm.fanout import each, windows
from cloudvm.portable import Moved
from cloudvm_aws._errors import mapped
from cloudvm_aws.groups import tag_list

# Every block is 512 KiB, sent whole with its SHA-256: https://docs.aws.amazon.com/ebs/latest/APIReference/
# API_PutSnapshotBlock.html; the APIs take a few hundred requests a second per snapshot, so a few at once.
BLOCK = 512 * 1024
PARALLEL = 8
WINDOW = 8 * PARALLEL  # blocks in memory at once (32 MiB)
LISTED = 10000  # block tokens a ListSnapshotBlocks page holds at most


def checksum(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def put(ebs: Any, image: Path, size: int, tags: dict[str, str], token: str, moved: Moved) -> str:
    """A snapshot holding the disk image (of ``size`` bytes): only the blocks with data are sent."""
    with mapped("start snapshot"):
        snapshot_id: str = ebs.start_snapshot(VolumeSize=math.ceil(size / portable.GIB), Tags=tag_list(tags),
                                              ClientToken=token, Description="cloudvm import")["SnapshotId"]
    sent: list[int] = []

    def send(block: tuple[int, bytes]) -> int:
        index, data = block
        with mapped(f"put block {index} of {snapshot_id}"):
            ebs.put_snapshot_block(SnapshotId=snapshot_id, BlockIndex=index, BlockData=data, DataLength=len(data),
                                   Checksum=checksum(data), ChecksumAlgorithm="SHA256")
        return len(data)

    for window in windows(portable.blocks(image, BLOCK), WINDOW):
        sent += each(window, send, parallel=PARALLEL)
    with mapped(f"complete snapshot {snapshot_id}"):
        ebs.complete_snapshot(SnapshotId=snapshot_id, ChangedBlocksCount=len(sent))
    moved.count(sum(sent), len(sent), size)
    return snapshot_id


def _listed(ebs: Any, snapshot_id: str) -> Iterator[tuple[int, str]]:
    """The blocks the snapshot holds, page by page: a page names up to 10,000, and the first tells
    the volume's size, so how many pages there can be."""
    page = _page(ebs, snapshot_id, {})
    for _ in range(max(1, math.ceil(int(page.get("VolumeSize") or 0) * portable.GIB / BLOCK / LISTED))):
        yield from ((b["BlockIndex"], b["BlockToken"]) for b in page.get("Blocks", []))
        if not page.get("NextToken"):
            return
        page = _page(ebs, snapshot_id, {"NextToken": page["NextToken"]})


def _page(ebs: Any, snapshot_id: str, token: dict[str, str]) -> dict[str, Any]:
    with mapped(f"list blocks of {snapshot_id}"):
        found: dict[str, Any] = ebs.list_snapshot_blocks(SnapshotId=snapshot_id, MaxResults=LISTED, **token)
    return found


def get(ebs: Any, snapshot_id: str, size: int, target: Path) -> None:
    """The snapshot's disk as a qcow2 image at ``target``, fetched a window of blocks at a time
    (blocks never written are not listed, and stay holes)."""
    def fetched() -> Iterator[tuple[int, bytes]]:
        for window in windows(_listed(ebs, snapshot_id), WINDOW):
            yield from each(window, lambda listed: (listed[0], _block(ebs, snapshot_id, *listed)),
                            parallel=PARALLEL)

    portable.assemble(target, size, fetched(), BLOCK)


def _block(ebs: Any, snapshot_id: str, index: int, token: str) -> bytes:
    with mapped(f"get block {index} of {snapshot_id}"):
        answer = ebs.get_snapshot_block(SnapshotId=snapshot_id, BlockIndex=index, BlockToken=token)
        data: bytes = answer["BlockData"].read()
    if answer.get("Checksum") and checksum(data) != answer["Checksum"]:
        raise TransientError(f"block {index} of {snapshot_id} arrived damaged (checksum differs)")
    return data
