"""botocore errors mapped onto cloudvm's, at the boundary and nowhere else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from cloudvm import errors

_BY_CODE: dict[str, type[errors.CloudVMError]] = {
    "RequestLimitExceeded": errors.Throttled,
    "Throttling": errors.Throttled,
    "InsufficientInstanceCapacity": errors.CapacityUnavailable,
    # spot: the price asked is below the market's, or the account's spot requests are at their limit
    "SpotMaxPriceTooLow": errors.CapacityUnavailable,
    "MaxSpotInstanceCountExceeded": errors.CapacityUnavailable,
    "InstanceLimitExceeded": errors.QuotaExceeded,
    "VcpuLimitExceeded": errors.QuotaExceeded,
    "VolumeLimitExceeded": errors.QuotaExceeded,
    "AuthFailure": errors.AuthenticationError,
    "InvalidClientTokenId": errors.AuthenticationError,
    "UnauthorizedOperation": errors.PermissionDenied,
    "InvalidInstanceID.NotFound": errors.NotFoundYet,
    "InvalidGroup.NotFound": errors.NotFoundYet,  # also just after its create: eventual consistency
    "InvalidAMIID.NotFound": errors.NotFound,
    "InvalidAMIID.Malformed": errors.NotFound,
    "InvalidGroup.Duplicate": errors.AlreadyExists,
    "DependencyViolation": errors.TransientError,  # a group still held by a terminating instance
    "InternalError": errors.TransientError,
    "InternalFailure": errors.TransientError,
    "ServiceUnavailable": errors.TransientError,
    "Unavailable": errors.TransientError,
}


def convert(exc: Exception, what: str) -> errors.CloudVMError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = err.get("Code", "")
        status = int(meta.get("HTTPStatusCode", 0) or 0)
        cls = _BY_CODE.get(code) or (errors.TransientError if status >= 500 else errors.ProviderError)
        retry_after = meta.get("HTTPHeaders", {}).get("retry-after")
        return cls(f"{what}: {err.get('Message') or code}", code=code or str(status),
                   request_id=meta.get("RequestId"),
                   retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None)
    if isinstance(exc, NoCredentialsError):
        return errors.AuthenticationError(f"{what}: no AWS credentials found (environment, profile or role)")
    return errors.TransientError(f"{what}: {exc}")


@contextmanager
def mapped(what: str) -> Iterator[None]:
    """Run boto3 calls, re-raising their errors as cloudvm errors."""
    try:
        yield
    except (ClientError, NoCredentialsError, EndpointConnectionError, ConnectionClosedError,
            ReadTimeoutError, ResponseParserError) as exc:  # a garbled answer (an HTML 5xx page) is transient
        raise convert(exc, what) from exc
