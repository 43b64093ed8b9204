"""Domain XML: what a ``LaunchRequest`` becomes, and the cloudvm metadata
element read back from it (tags, volumes, spec), so libvirt itself holds
all state."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from xml.etree import ElementTree as ET

from cloudvm.provider import LaunchRequest
from cloudvm.spec import VMSpec

NS = "urn:cloudvm:libvirt:1"
PREFIX = "cloudvm"
ET.register_namespace(PREFIX, NS)
DISK_NAMES = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Volume:
    name: str
    role: str  # root, data, seed
    keep: bool = False

    @classmethod
    def root(cls, vm: str) -> Volume:
        return cls(f"{vm}-root.qcow2", "root")

    @classmethod
    def data(cls, vm: str, index: int, keep: bool = False) -> Volume:
        return cls(f"{vm}-data-{index}.qcow2", "data", keep)

    @classmethod
    def seed(cls, vm: str) -> Volume:
        return cls(f"{vm}-seed.iso", "seed")

    @classmethod
    def parse(cls, name: str) -> Volume | None:
        """The volume a name denotes, if it is named as a VM's volumes are."""
        found = _VOLUME_NAME.fullmatch(name)
        return cls(name, found.lastgroup or "") if found else None


_VOLUME_NAME = re.compile(r"(?P<vm>.+)-(?:(?P<root>root)\.qcow2|(?P<data>data)-\d+\.qcow2|(?P<seed>seed)\.iso)")


@dataclass(frozen=True)
class Meta:
    """cloudvm's record inside the domain's <metadata> element."""

    name: str
    token: str
    image: str
    size_type: str
    created: datetime
    tags: dict[str, str]
    volumes: tuple[Volume, ...]
    spec: VMSpec | None = field(default=None, repr=False)

    def to_xml(self) -> str:
        vm = ET.Element(f"{{{NS}}}vm", name=self.name, token=self.token, image=self.image,
                        size=self.size_type, created=self.created.isoformat())
        for key, value in self.tags.items():
            ET.SubElement(vm, f"{{{NS}}}tag", key=key, value=value)
        for vol in self.volumes:
            ET.SubElement(vm, f"{{{NS}}}volume", name=vol.name, role=vol.role, keep=str(vol.keep).lower())
        if self.spec is not None:
            ET.SubElement(vm, f"{{{NS}}}spec").text = self.spec.model_dump_json()
        return ET.tostring(vm, encoding="unicode")

    @classmethod
    def from_xml(cls, text: str) -> Meta:
        vm = ET.fromstring(text)
        for el in vm.iter():
            el.tag = el.tag.rsplit("}", 1)[-1]
        spec = vm.find("spec")
        return cls(
            name=vm.get("name", ""),
            token=vm.get("token", ""),
            image=vm.get("image", ""),
            size_type=vm.get("size", ""),
            created=datetime.fromisoformat(vm.get("created", "1970-01-01T00:00:00+00:00")),
            tags={t.get("key", ""): t.get("value", "") for t in vm.findall("tag")},
            volumes=tuple(Volume(v.get("name", ""), v.get("role", ""), v.get("keep") == "true")
                          for v in vm.findall("volume")),
            spec=_spec(json.loads(spec.text)) if spec is not None and spec.text else None,
        )


def _spec(data: dict[str, object]) -> VMSpec:
    """The spec a domain was made from; fields a later cloudvm added are left out, so a host shared by
    two versions stays readable to the older one."""
    return VMSpec(**{k: v for k, v in data.items() if k in VMSpec.model_fields})


def _disk(devices: ET.Element, path: str, target: str, *, fmt: str = "qcow2", cdrom: bool = False) -> None:
    disk = ET.SubElement(devices, "disk", type="file", device="cdrom" if cdrom else "disk")
    ET.SubElement(disk, "driver", name="qemu", type=fmt)
    ET.SubElement(disk, "source", file=path)
    ET.SubElement(disk, "target", dev=target, bus="sata" if cdrom else "virtio")
    if cdrom:
        ET.SubElement(disk, "readonly")


def domain_xml(request: LaunchRequest, meta: Meta, *, domain_type: str, network: str,
               disk_paths: list[str], seed_path: str, console_log: str) -> str:
    """The persistent definition of one VM: virtio disks, the seed as a
    SATA CD-ROM, one NIC on ``network``, serial console logged to a file."""
    dom = ET.Element("domain", type=domain_type)
    ET.SubElement(dom, "name").text = request.spec.name
    ET.SubElement(dom, "metadata").append(ET.fromstring(meta.to_xml()))
    ET.SubElement(dom, "memory", unit="MiB").text = str(int(request.size.memory_gib * 1024))
    ET.SubElement(dom, "vcpu").text = str(request.size.cpus)
    os_ = ET.SubElement(dom, "os")
    ET.SubElement(os_, "type", arch="x86_64", machine="q35").text = "hvm"
    ET.SubElement(os_, "boot", dev="hd")
    features = ET.SubElement(dom, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    ET.SubElement(dom, "cpu", mode="host-passthrough" if domain_type == "kvm" else "maximum")
    ET.SubElement(dom, "on_poweroff").text = "destroy"
    ET.SubElement(dom, "on_reboot").text = "restart"
    ET.SubElement(dom, "on_crash").text = "destroy"
    devices = ET.SubElement(dom, "devices")
    for i, path in enumerate(disk_paths):
        _disk(devices, path, f"vd{DISK_NAMES[i]}")
    _disk(devices, seed_path, "sda", fmt="raw", cdrom=True)
    nic = ET.SubElement(devices, "interface", type="network")
    ET.SubElement(nic, "source", network=network)
    ET.SubElement(nic, "model", type="virtio")
    serial = ET.SubElement(devices, "serial", type="pty")
    ET.SubElement(serial, "log", file=console_log, append="off")
    ET.SubElement(devices, "console", type="pty")
    rng = ET.SubElement(devices, "rng", model="virtio")
    ET.SubElement(rng, "backend", model="random").text = "/dev/urandom"
    return ET.tostring(dom, encoding="unicode")


def macs(xml: str) -> list[str]:
    """The MAC addresses of a domain's interfaces, in order."""
    return [m.get("address", "") for m in ET.fromstring(xml).findall("./devices/interface/mac")]


def volume_paths(xml: str) -> dict[str, str]:
    """Volume file name -> path, for every disk and CD-ROM of a domain (whichever pool holds it)."""
    found = (s.get("file", "") for s in ET.fromstring(xml).findall("./devices/disk/source"))
    return {path.rsplit("/", 1)[-1]: path for path in found if path}


def networks(xml: str) -> list[str]:
    return [s.get("network", "") for s in ET.fromstring(xml).findall("./devices/interface/source")]
