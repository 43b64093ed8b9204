"""The NoCloud seed: an ISO 9660 volume labelled ``cidata`` holding
``user-data`` and ``meta-data`` (cloud-init's documented NoCloud layout),
built in Python so no ISO tool is needed on the host."""

from __future__ import annotations

import io

import pycdlib

from cloudvm import cloudinit
from cloudvm.spec import VMSpec


def build_iso(files: dict[str, str]) -> bytes:
    """An ISO with Joliet and Rock Ridge names, as genisoimage -J -r makes."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="cidata")
    for name, text in files.items():
        data = text.encode("utf-8")
        iso_name = "/" + name.replace("-", "").upper()[:8] + ".;1"
        iso.add_fp(io.BytesIO(data), len(data), iso_name, rr_name=name, joliet_path="/" + name)
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def nocloud_seed(spec: VMSpec, instance_id: str) -> bytes:
    return build_iso({
        "user-data": cloudinit.user_data(spec),
        "meta-data": cloudinit.meta_data(spec, instance_id),
    })
