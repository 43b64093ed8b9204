"""The errors every provider maps its SDK's failures onto.

Callers branch on the class, the core's retry policy on ``retryable``; nobody
matches on message text.
"""

from __future__ import annotations


class CloudVMError(Exception):
    """Base of every error cloudvm raises."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        extra = [f"{k}={v}" for k, v in (("code", self.code), ("request_id", self.request_id)) if v]
        return f"{self.message} ({', '.join(extra)})" if extra else self.message


class InvalidSpec(CloudVMError, ValueError):
    """The request is wrong; raised before anything is created."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


class NotFound(CloudVMError):
    """The named VM, snapshot or image does not exist."""


class NotFoundYet(NotFound):
    """Just created, not yet visible: eventual consistency, worth a retry."""

    retryable = True


class AlreadyExists(CloudVMError):
    """Another resource already holds the name."""


class QuotaExceeded(CloudVMError):
    """An account or project limit stops the request."""


class CapacityUnavailable(CloudVMError):
    """The provider has no capacity for the request right now."""


class Throttled(CloudVMError):
    """The API asked us to slow down."""

    retryable = True


class TransientError(CloudVMError):
    """A 5xx or a dropped connection: the same call may well succeed."""

    retryable = True


class AuthenticationError(CloudVMError):
    """Credentials are missing, wrong or expired, or the endpoint refuses us."""


class PermissionDenied(CloudVMError):
    """Credentials are valid but lack the right."""


class Timeout(CloudVMError):
    """A wait or an overall retry deadline ran out."""


class Unsupported(CloudVMError):
    """The provider does not offer what the request needs."""


class ProviderError(CloudVMError):
    """Anything else the provider reported; keeps its code and request id."""
