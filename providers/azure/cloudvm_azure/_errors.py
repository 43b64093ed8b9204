"""Azure errors mapped onto cloudvm's, at the boundary and nowhere else."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from azure.core import exceptions as az

from cloudvm import errors

log = logging.getLogger("cloudvm.azure")
_BY_CODE: dict[str, type[errors.CloudVMError]] = {
    "TooManyRequests": errors.Throttled,
    "AllocationFailed": errors.CapacityUnavailable,
    "ZonalAllocationFailed": errors.CapacityUnavailable,
    "OverconstrainedAllocationRequest": errors.CapacityUnavailable,
    "SkuNotAvailable": errors.CapacityUnavailable,
    "QuotaExceeded": errors.QuotaExceeded,
    "AuthenticationFailed": errors.AuthenticationError,
    "InvalidAuthenticationToken": errors.AuthenticationError,
    "ExpiredAuthenticationToken": errors.AuthenticationError,
    "AuthorizationFailed": errors.PermissionDenied,
    "ResourceNotFound": errors.NotFound,
    "ResourceGroupNotFound": errors.NotFound,
    "NotFound": errors.NotFound,
    "PreconditionFailed": errors.AlreadyExists,
    "NicInUse": errors.TransientError,  # its VM is still going
    "InUseNetworkSecurityGroupCannotBeDeleted": errors.TransientError,
    "PublicIPAddressCannotBeDeleted": errors.TransientError,
    "InUseSubnetCannotBeDeleted": errors.TransientError,
    "AnotherOperationInProgress": errors.TransientError,
    "RetryableError": errors.TransientError,
    "InternalServerError": errors.TransientError,
}
_BY_STATUS: dict[int, type[errors.CloudVMError]] = {
    401: errors.AuthenticationError, 403: errors.PermissionDenied, 404: errors.NotFound, 409: errors.ProviderError,
    412: errors.AlreadyExists, 429: errors.Throttled,
}


def convert(exc: Exception, what: str) -> errors.CloudVMError:
    if isinstance(exc, az.ClientAuthenticationError) and not isinstance(exc, az.HttpResponseError):
        return errors.AuthenticationError(f"{what}: {exc.message}")
    if isinstance(exc, az.HttpResponseError):
        status = int(exc.status_code or 0)
        code = (exc.error.code if exc.error else None) or ""
        message = (exc.error.message if exc.error else None) or exc.reason or str(status)
        cls = _BY_CODE.get(code) or _BY_STATUS.get(status) or (
            errors.TransientError if status >= 500 else errors.ProviderError)
        if code == "OperationNotAllowed" and "quota" in message.lower():
            cls = errors.QuotaExceeded
        headers: Any = exc.response.headers if exc.response is not None else {}  # type: ignore[attr-defined]
        retry_after = headers.get("Retry-After", "")
        return cls(f"{what}: {message}", code=code or str(status), request_id=headers.get("x-ms-request-id"),
                   retry_after=_seconds(retry_after))
    if isinstance(exc, az.ClientAuthenticationError):
        return errors.AuthenticationError(f"{what}: {exc.message}")
    return errors.TransientError(f"{what}: {exc}")


def from_code(code: str, message: str, what: str) -> errors.CloudVMError:
    """An error an operation reported by its code alone (no HTTP status to go by)."""
    return _BY_CODE.get(code, errors.ProviderError)(f"{what}: {message}", code=code)


@contextmanager
def mapped(what: str) -> Iterator[None]:
    """Run client calls, re-raising their errors as cloudvm errors."""
    try:
        yield
    except (az.HttpResponseError, az.ServiceRequestError, az.ServiceResponseError,
            az.ClientAuthenticationError) as exc:
        raise convert(exc, what) from exc


def note_rate_limits(response: Any) -> None:
    """Read ARM's remaining-request headers: logged, and a warning when they run low."""
    headers = response.http_response.headers
    for key, value in headers.items():
        if key.lower().startswith("x-ms-ratelimit-remaining-") and value.split(",")[0].split(";")[-1].isdigit():
            left = int(value.split(",")[0].split(";")[-1])
            (log.warning if left < 20 else log.debug)("%s: %s", key, value)


def _seconds(value: str) -> float | None:
    """Retry-After in seconds (ARM sends whole seconds; anything numeric is honoured)."""
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None
