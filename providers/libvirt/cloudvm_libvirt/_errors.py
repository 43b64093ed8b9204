"""libvirt errors mapped onto cloudvm's, at the boundary and nowhere else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import libvirt

from cloudvm import errors

_BY_CODE: dict[int, type[errors.CloudVMError]] = {
    libvirt.VIR_ERR_NO_DOMAIN: errors.NotFound,
    libvirt.VIR_ERR_NO_STORAGE_VOL: errors.NotFound,
    libvirt.VIR_ERR_NO_STORAGE_POOL: errors.NotFound,
    libvirt.VIR_ERR_NO_NETWORK: errors.NotFound,
    libvirt.VIR_ERR_STORAGE_VOL_EXIST: errors.AlreadyExists,
    libvirt.VIR_ERR_DOM_EXIST: errors.AlreadyExists,
    libvirt.VIR_ERR_AUTH_FAILED: errors.AuthenticationError,
    libvirt.VIR_ERR_AUTH_CANCELLED: errors.AuthenticationError,
    libvirt.VIR_ERR_ACCESS_DENIED: errors.PermissionDenied,
    libvirt.VIR_ERR_OPERATION_DENIED: errors.PermissionDenied,
    libvirt.VIR_ERR_NO_CONNECT: errors.ProviderError,
    libvirt.VIR_ERR_SYSTEM_ERROR: errors.ProviderError,
    libvirt.VIR_ERR_RPC: errors.TransientError,
    libvirt.VIR_ERR_AGENT_UNRESPONSIVE: errors.TransientError,
    libvirt.VIR_ERR_OPERATION_TIMEOUT: errors.TransientError,
    libvirt.VIR_ERR_INVALID_ARG: errors.InvalidSpec,
}


def convert(exc: libvirt.libvirtError, what: str) -> errors.CloudVMError:
    code = exc.get_error_code()
    message = f"{what}: {exc.get_error_message() or exc}"
    cls = _BY_CODE.get(code, errors.ProviderError)
    if cls is errors.InvalidSpec:
        return errors.InvalidSpec("", message)
    return cls(message, code=f"libvirt:{code}")


@contextmanager
def mapped(what: str) -> Iterator[None]:
    """Run libvirt calls, re-raising their errors as cloudvm errors."""
    try:
        yield
    except libvirt.libvirtError as exc:
        raise convert(exc, what) from exc
