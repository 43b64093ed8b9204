"""cloudvm's libvirt provider (``cloudvm.connect("libvirt", ...)``)."""

from cloudvm_libvirt.provider import LibvirtProvider

__all__ = ["LibvirtProvider"]
