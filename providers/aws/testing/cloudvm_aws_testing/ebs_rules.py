"""The EBS direct APIs as EBS answers them, where moto differs; enforced by the test proxy:

- a block is 512 KiB (moto says 512 bytes), sent whole with the SHA-256 of its data
  (``ValidationException``, reasons ``INVALID_BLOCK``/``INVALID_CHECKSUM``;
  https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html), at an index
  inside the volume (``INVALID_BLOCK``);
- a snapshot started through the APIs is ``pending`` until it is completed (moto: ``completed``
  at once), and takes no blocks after that (``INVALID_SNAPSHOT``...);
- a snapshot holds its volume's data, and a volume made from a snapshot holds that snapshot's:
  moto keeps blocks only for snapshots the APIs wrote and its instances never write, so the
  blocks of a snapshot of a volume made from one are that one's
  (https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListSnapshotBlocks.html).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

BLOCK = 512 * 1024
GIB = 1 << 30
_BLOCK_PATH = re.compile(r"^/snapshots/(?P<id>snap-[0-9a-f]+)/blocks/(?P<index>\d+)")
_BLOCKS_PATH = re.compile(r"^/snapshots/(?P<id>snap-[0-9a-f]+)/blocks(?:\?|$)")
_COMPLETION = re.compile(r"^/snapshots/completion/(?P<id>snap-[0-9a-f]+)")

Ask = Callable[[str], bytes]  # an EC2 query string -> moto's answer


class Refused(Exception):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message, self.reason = message, reason

    def body(self) -> bytes:
        return json.dumps({"message": self.message, "reason": self.reason}).encode()


@dataclass
class DirectBlocks:
    started: dict[str, int] = field(default_factory=dict)  # snapshot id -> GiB, for those the APIs started
    open: set[str] = field(default_factory=set)  # started and not completed
    origins: dict[str, str] = field(default_factory=dict)  # snapshot id -> the started one whose blocks it holds
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check_put(self, path: str, headers: dict[str, str], body: bytes) -> None:
        found = _BLOCK_PATH.match(path)
        if not found:
            return
        snapshot, index = found.group("id"), int(found.group("index"))
        with self.lock:
            size, writable = self.started.get(snapshot), snapshot in self.open
        if size is None or not writable:
            raise Refused(f"The snapshot {snapshot} is not one being written", "INVALID_SNAPSHOT")
        if len(body) != BLOCK or int(_header(headers, "x-amz-data-length") or 0) != BLOCK:
            raise Refused(f"The block data length must be {BLOCK} bytes", "INVALID_BLOCK")
        if index >= size * GIB // BLOCK:
            raise Refused(f"Block index {index} is beyond the volume's {size} GiB", "INVALID_BLOCK")
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if _header(headers, "x-amz-checksum") != digest:
            raise Refused("The checksum does not match the block data", "INVALID_CHECKSUM")

    def answered(self, method: str, path: str, answer: bytes) -> bytes:
        """Remember what the APIs started and completed; tell moto's answers in EBS's terms."""
        if method == "POST" and path.split("?")[0] == "/snapshots":
            made = json.loads(answer)
            with self.lock:
                self.started[made["SnapshotId"]] = int(made["VolumeSize"])
                self.open.add(made["SnapshotId"])
        if (done := _COMPLETION.match(path)) is not None:
            with self.lock:
                self.open.discard(done.group("id"))
        if answer[:1] == b"{" and b'"BlockSize"' in answer:
            told = json.loads(answer)
            told["BlockSize"] = BLOCK
            return json.dumps(told).encode()
        return answer

    def routed(self, path: str, ask: Ask) -> str:
        """The path of a read of a snapshot's blocks, sent to the snapshot that holds them."""
        found = _BLOCK_PATH.match(path) or _BLOCKS_PATH.match(path)
        if not found:
            return path
        snapshot = found.group("id")
        origin = self._origin(snapshot, ask)
        return path.replace(snapshot, origin, 1)

    def _origin(self, snapshot: str, ask: Ask) -> str:
        with self.lock:
            if snapshot in self.started or snapshot in self.origins:
                return self.origins.get(snapshot, snapshot)
        seen, current = [snapshot], snapshot
        while current not in self.started:
            volume = _text(ask(f"Action=DescribeSnapshots&SnapshotId.1={current}"), "volumeId")
            source = _text(ask(f"Action=DescribeVolumes&VolumeId.1={volume}"), "snapshotId") if volume else ""
            if not source or source in seen:
                return snapshot  # no written blocks behind it: moto answers as it does
            seen.append(current := source)
        with self.lock:
            self.origins.update(dict.fromkeys(seen, current))
        return current

    def pending(self, answer: bytes) -> bytes:
        """DescribeSnapshots: a snapshot the APIs are still writing is pending."""
        with self.lock:
            writing = set(self.open)
        if not writing or b"snapshotSet" not in answer:
            return answer
        root = ET.fromstring(answer)
        namespace = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        ET.register_namespace("", namespace.strip("{}"))
        for item in root.findall(".//{*}snapshotSet/{*}item"):
            if item.findtext("{*}snapshotId") in writing:
                for tag, text in (("status", "pending"), ("progress", "0%")):
                    element = item.find(f"{{*}}{tag}")
                    if element is not None:
                        element.text = text
        out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return out


def action(method: str, path: str) -> str:
    """The API a REST call is, for faults aimed at it."""
    bare = path.split("?")[0]
    if _COMPLETION.match(bare):
        return "CompleteSnapshot"
    if _BLOCK_PATH.match(bare):
        return "PutSnapshotBlock" if method == "PUT" else "GetSnapshotBlock"
    if _BLOCKS_PATH.match(bare):
        return "ListSnapshotBlocks"
    return "StartSnapshot" if bare == "/snapshots" else "?"


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


def _text(answer: bytes, tag: str) -> str:
    if not answer:
        return ""
    found = ET.fromstring(answer).find(f".//{{*}}{tag}")
    return (found.text or "") if found is not None else ""
