"""VMs as files, one format on every backend, so any export imports anywhere: each disk a
standalone qcow2 image, and ``manifest.json`` (the VM's spec, each disk's role, size and
SHA-256) written last, so that an export cut short never passes for complete. Clouds read and
write disks as blocks; ``qemu-img`` converts between those and the files through a sparse raw
file, a block at a time, never a disk in memory."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloudvm.errors import InvalidSpec, ProviderError
from cloudvm.spec import VMSpec

FORMAT = "cloudvm-export/1"
MANIFEST = "manifest.json"
CHUNK = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class Disk:
    file: str
    role: str  # root or data
    size: int  # bytes the guest sees
    sha256: str


@dataclass(frozen=True)
class Manifest:
    directory: Path
    name: str
    source_vm: str
    created: str
    tags: dict[str, str]
    spec: dict[str, Any]
    disks: tuple[Disk, ...]
    user: str | None = None  # the login user, where the spec lost its keys on the way (a cloud keeps none)

    def path(self, disk: Disk) -> Path:
        return self.directory / disk.file

    def vm_spec(self) -> VMSpec | None:
        return VMSpec(**self.spec) if self.spec else None

    def login(self) -> str | None:
        ssh = self.spec.get("ssh") or {}
        return ssh.get("user") or self.user


@dataclass
class Moved:
    """What a transfer sent or fetched: the blocks holding data, not the disks' sizes."""

    data: int = 0  # bytes
    blocks: int = 0
    of: int = 0  # the disks' sizes, for comparison

    def count(self, data: int, blocks: int, of: int) -> None:
        """A disk sent: ``data`` bytes in ``blocks`` pieces, for a disk of ``of`` bytes."""
        self.data, self.blocks, self.of = self.data + data, self.blocks + blocks, self.of + of


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _place(path: Path, fill: Callable[[Path], object]) -> None:
    """``path`` appears whole, on disk, or not at all: written aside, synced, then renamed."""
    part = path.with_name(path.name + ".part")
    fill(part)
    with part.open("rb+") as out:
        os.fsync(out.fileno())
    part.rename(path)


def write(directory: Path, *, name: str, source_vm: str, created: str, tags: dict[str, str],
          spec: VMSpec | None, disks: Iterable[tuple[str, int, Callable[[Path], None]]],
          user: str | None = None) -> Path:
    """An export of ``disks`` (role, size in bytes, a function writing the qcow2 image to a path)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).unlink(missing_ok=True)  # an older export here is incomplete until this one ends
    written = []
    for i, (role, size, fill) in enumerate(disks):
        target = directory / f"disk-{i}.qcow2"
        _place(target, fill)
        if (held := image_size(target)) != size:  # a backend's listing and its bytes disagree
            raise ProviderError(f"{target.name} holds a {held}-byte disk where the {role} disk is listed at "
                                f"{size} bytes")
        written.append({"file": target.name, "role": role, "size": size, "sha256": sha256(target)})
    manifest = {"format": FORMAT, "name": name, "source_vm": source_vm, "created": created,
                "exported": datetime.now(UTC).isoformat(), "tags": tags,
                "spec": spec.model_dump(mode="json", exclude_none=True) if spec else {}, "disks": written,
                **({"user": user} if user else {})}
    _place(directory / MANIFEST, lambda part: part.write_text(json.dumps(manifest, indent=2)))
    return directory


def read(directory: str | Path, *, check: bool = True) -> Manifest:
    """The export in ``directory``, every disk checked against its checksum (unless ``check`` is
    False: the manifest alone): an unfinished, foreign or damaged export is refused before anything
    is made of it."""
    directory = Path(directory)
    try:
        found: dict[str, Any] = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        raise InvalidSpec("directory", f"{directory} has no {MANIFEST}: not a cloudvm export, or an unfinished "
                                       "one") from None
    except (OSError, ValueError) as exc:
        raise InvalidSpec("directory", f"{directory / MANIFEST} cannot be read: {exc}") from None
    if found.get("format") != FORMAT:
        raise InvalidSpec("directory", f"{directory / MANIFEST} is not a {FORMAT} manifest")
    disks = tuple(Disk(d["file"], d["role"], int(d["size"]), d["sha256"]) for d in found["disks"])
    for disk in disks if check else ():
        path = directory / disk.file
        if not path.is_file() or sha256(path) != disk.sha256:
            raise InvalidSpec("directory", f"{path} is missing or damaged: its checksum differs from the manifest's")
    return Manifest(directory, found["name"], found["source_vm"], found["created"], dict(found.get("tags") or {}),
                    dict(found.get("spec") or {}), disks, found.get("user"))


# -- disks as blocks -------------------------------------------------------------------------------


def _qemu_img(*args: str) -> str:
    try:
        done = subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise InvalidSpec("qemu-img", "qemu-img is needed to convert disk images (Debian: qemu-utils)") from None
    except subprocess.CalledProcessError as exc:
        raise InvalidSpec("disk image", f"qemu-img {args[0]} failed: {exc.stderr.strip()}") from None
    return done.stdout


def image_size(image: Path) -> int:
    """The size of the disk an image holds."""
    return int(json.loads(_qemu_img("info", "--output=json", str(image)))["virtual-size"])


def to_raw(image: Path, raw: Path) -> None:
    """The disk an image holds as a sparse raw file."""
    _qemu_img("convert", "-O", "raw", str(image), str(raw))


def head(image: Path, size: int) -> bytes:
    """The first ``size`` bytes of the disk an image holds."""
    with _scratch() as raw:
        _qemu_img("dd", "-O", "raw", "bs=512", f"count={size // 512}", f"if={image}", f"of={raw}")
        return raw.read_bytes()


@contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cloudvm-disk-") as tmp:
        yield Path(tmp) / "disk.raw"


def blocks(image: Path, block_size: int) -> Iterator[tuple[int, bytes]]:
    """The blocks of a disk image that hold data, by index (all-zero blocks left out): the image
    is expanded into a sparse raw file, whose holes are skipped without reading them."""
    with _scratch() as raw:
        to_raw(image, raw)
        with raw.open("rb") as f:
            fd, end, offset = f.fileno(), os.fstat(f.fileno()).st_size, 0
            while offset < end:
                try:
                    offset = os.lseek(fd, offset, os.SEEK_DATA)
                except OSError:  # no data after offset
                    return
                index = offset // block_size
                f.seek(index * block_size)
                data = f.read(block_size)
                offset = (index + 1) * block_size
                if data.strip(b"\0"):
                    yield index, data.ljust(block_size, b"\0")


def assemble(target: Path, size: int, fetched: Iterable[tuple[int, bytes]], block_size: int) -> None:
    """A qcow2 image at ``target`` of a disk of ``size`` bytes from its blocks that hold data."""
    with _scratch() as raw:
        with raw.open("wb") as f:
            f.truncate(size)
            for index, data in fetched:
                f.seek(index * block_size)
                f.write(data)
        _qemu_img("convert", "-O", "qcow2", str(raw), str(target))


_ESP = bytes.fromhex("28732ac11ff8d211ba4b00a0c93ec93b")  # EFI System Partition, as stored
_BIOS_BOOT = bytes.fromhex("4861682149646f6e744e656564454649")  # BIOS boot partition (GRUB on GPT)


def firmware(image: Path, sector: int = 512) -> str:
    """How the disk boots, from its partition table (what a cloud must be told when it makes an
    image of it: a UEFI-only disk does not boot under BIOS, nor the reverse): ``uefi`` for a GPT
    with an EFI System Partition, ``both`` when it also holds a BIOS boot partition, else ``bios``."""
    first = head(image, 34 * sector)
    header = first[sector:2 * sector]
    if header[:8] != b"EFI PART":
        return "bios"
    entries, count, size = (int.from_bytes(header[a:b], "little") for a, b in ((72, 80), (80, 84), (84, 88)))
    kinds = {first[at:at + 16] for at in range(entries * sector, entries * sector + count * size, size)
             if at + 16 <= len(first)}
    if _ESP not in kinds:
        return "bios"
    return "both" if _BIOS_BOOT in kinds else "uefi"
