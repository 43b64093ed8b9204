"""Google API errors, failed operations and transport failures mapped onto
cloudvm's errors, at the boundary and nowhere else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google.api_core import exceptions as api
from google.auth import exceptions as auth
from requests import exceptions as http

from cloudvm import errors

_BY_REASON: dict[str, type[errors.CloudVMError]] = {
    "rateLimitExceeded": errors.Throttled,
    "userRateLimitExceeded": errors.Throttled,
    "quotaExceeded": errors.QuotaExceeded,
    "alreadyExists": errors.AlreadyExists,
    "notFound": errors.NotFound,
    "resourceNotReady": errors.TransientError,
    "resourceInUseByAnotherResource": errors.TransientError,  # e.g. a firewall while its VM is going
    "conditionNotMet": errors.TransientError,  # a fingerprint changed under us: read again, retry
    "backendError": errors.TransientError,
    "forbidden": errors.PermissionDenied,
    "insufficientPermissions": errors.PermissionDenied,
    "authError": errors.AuthenticationError,
}
_BY_STATUS: dict[int, type[errors.CloudVMError]] = {
    401: errors.AuthenticationError, 403: errors.PermissionDenied, 404: errors.NotFound,
    409: errors.AlreadyExists, 429: errors.Throttled,
}
_BY_OPERATION_CODE: dict[str, type[errors.CloudVMError]] = {
    "QUOTA_EXCEEDED": errors.QuotaExceeded,
    "RESOURCE_ALREADY_EXISTS": errors.AlreadyExists,
    "RESOURCE_NOT_FOUND": errors.NotFound,
    "RESOURCE_NOT_READY": errors.TransientError,
    "RESOURCE_OPERATION_RATE_EXCEEDED": errors.Throttled,
    "RATE_LIMIT_EXCEEDED": errors.Throttled,
}


def convert(exc: Exception, what: str) -> errors.CloudVMError:
    if isinstance(exc, api.GoogleAPICallError):
        status = int(exc.code or 0)
        reason = next((e.get("reason", "") for e in exc.errors or [] if isinstance(e, dict)), "") or exc.reason or ""
        cls = _BY_REASON.get(reason) or _BY_STATUS.get(status) or (
            errors.TransientError if status >= 500 else errors.ProviderError)
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("Retry-After", "") if response is not None else ""
        return cls(f"{what}: {exc.message}", code=reason or str(status),
                   retry_after=float(retry_after) if retry_after.replace(".", "", 1).isdigit() else None)
    if isinstance(exc, auth.InvalidOperation):  # a 401 made the client refresh credentials that cannot be
        return errors.AuthenticationError(f"{what}: the endpoint refused the credentials: {exc}", code="unauthorized")
    if isinstance(exc, auth.DefaultCredentialsError):
        return errors.AuthenticationError(f"{what}: no Google credentials found (GOOGLE_APPLICATION_CREDENTIALS, "
                                          "gcloud auth application-default login, or a service account)")
    if isinstance(exc, auth.RefreshError):
        return errors.AuthenticationError(f"{what}: Google credentials were refused: {exc}")
    return errors.TransientError(f"{what}: {exc}")


def operation_error(op: dict[str, Any], what: str) -> errors.CloudVMError | None:
    """The error a finished operation ended with, if any."""
    failures = (op.get("error") or {}).get("errors") or []
    if not failures:
        return None
    code = failures[0].get("code", "")
    cls = _BY_OPERATION_CODE.get(code)
    if cls is None:
        status = int(op.get("httpErrorStatusCode") or 0)
        cls = (errors.CapacityUnavailable if code.startswith("ZONE_RESOURCE_POOL_EXHAUSTED")
               else errors.TransientError if status >= 500 else errors.ProviderError)
    return cls(f"{what}: {failures[0].get('message') or code}", code=code)


@contextmanager
def mapped(what: str) -> Iterator[None]:
    """Run client calls, re-raising their errors as cloudvm errors."""
    try:
        yield
    except (api.GoogleAPICallError, auth.GoogleAuthError, http.ConnectionError, http.Timeout) as exc:
        raise convert(exc, what) from exc
