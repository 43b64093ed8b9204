"""VMs as files on AWS through the EBS direct APIs: an export's disks written straight into
snapshots (``StartSnapshot``, the blocks that hold data in parallel, ``CompleteSnapshot``), and a
snapshot's blocks read back (``ListSnapshotBlocks``, ``GetSnapshotBlock``). No S3 bucket and no
VM Import role: https://docs.aws.amazon.com/ebs/latest/userguide/ebs-accessing-snapshot.html"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from cloudvm import portable
from cloudvm.errors import TransientError
from cloudvm.portable import Moved
from cloudvm_aws._errors import mapped
from cloudvm_aws.groups import tag_list

# Every block is 512 KiB, sent whole with its SHA-256: https://docs.aws.amazon.com/ebs/latest/APIReference/
# API_PutSnapshotBlock.html; the APIs take a few hundred requests a second per snapshot, so a few at once.
BLOCK = 512 * 1024
PARALLEL = 8


def checksum(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _bounded(pool: ThreadPoolExecutor, calls: Iterable[Any]) -> None:
    """Run the calls ``PARALLEL`` at a time, at most twice that many blocks in memory; the first
    failure stops the rest."""
    pending: set[Future[Any]] = set()
    for call in calls:
        if len(pending) >= 2 * PARALLEL:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
        pending.add(pool.submit(call))
    for future in pending:
        future.result()


def put(ebs: Any, image: Path, size: int, tags: dict[str, str], token: str, moved: Moved) -> str:
    """A snapshot holding the disk image (of ``size`` bytes): only the blocks with data are sent."""
    with mapped("start snapshot"):
        snapshot_id: str = ebs.start_snapshot(VolumeSize=math.ceil(size / portable.GIB), Tags=tag_list(tags),
                                              ClientToken=token, Description="cloudvm import")["SnapshotId"]
    sent = Moved()

    def block(index: int, data: bytes) -> Any:
        def send() -> None:
            with mapped(f"put block {index} of {snapshot_id}"):
                ebs.put_snapshot_block(SnapshotId=snapshot_id, BlockIndex=index, BlockData=data,
                                       DataLength=len(data), Checksum=checksum(data), ChecksumAlgorithm="SHA256")
        sent.add(data)
        return send

    with ThreadPoolExecutor(PARALLEL) as pool:
        _bounded(pool, (block(index, data) for index, data in portable.blocks(image, BLOCK)))
    with mapped(f"complete snapshot {snapshot_id}"):
        ebs.complete_snapshot(SnapshotId=snapshot_id, ChangedBlocksCount=sent.blocks)
    moved.data, moved.blocks, moved.of = moved.data + sent.data, moved.blocks + sent.blocks, moved.of + size
    return snapshot_id


def _listed(ebs: Any, snapshot_id: str) -> Iterator[tuple[int, str]]:
    token: dict[str, str] = {}
    while True:
        with mapped(f"list blocks of {snapshot_id}"):
            page = ebs.list_snapshot_blocks(SnapshotId=snapshot_id, MaxResults=10000, **token)
        yield from ((b["BlockIndex"], b["BlockToken"]) for b in page.get("Blocks", []))
        if not page.get("NextToken"):
            return
        token = {"NextToken": page["NextToken"]}


def get(ebs: Any, snapshot_id: str, size: int, target: Path) -> None:
    """The snapshot's disk as a qcow2 image at ``target``, fetched a block at a time (blocks that
    were never written are not listed, and stay holes)."""
    def fetched() -> Iterator[tuple[int, bytes]]:
        with ThreadPoolExecutor(PARALLEL) as pool:
            window: list[tuple[int, Future[bytes]]] = []
            for index, token in _listed(ebs, snapshot_id):
                window.append((index, pool.submit(_block, ebs, snapshot_id, index, token)))
                if len(window) >= 2 * PARALLEL:
                    index, future = window.pop(0)
                    yield index, future.result()
            yield from ((index, future.result()) for index, future in window)

    portable.assemble(target, size, fetched(), BLOCK)


def _block(ebs: Any, snapshot_id: str, index: int, token: str) -> bytes:
    with mapped(f"get block {index} of {snapshot_id}"):
        answer = ebs.get_snapshot_block(SnapshotId=snapshot_id, BlockIndex=index, BlockToken=token)
        data: bytes = answer["BlockData"].read()
    if answer.get("Checksum") and checksum(data) != answer["Checksum"]:
        raise TransientError(f"block {index} of {snapshot_id} arrived damaged (checksum differs)")
    return data
