"""Names cloudvm derives for what it creates on Compute Engine (63
characters at most, the RFC 1035 rule), and request ids derived from the
core's tokens so that every retry of one create sends the same id."""

from __future__ import annotations

import hashlib
import uuid

_LIMIT = 63
_NAMESPACE = uuid.UUID("5b0a3c1e-8a4f-4c53-9d7e-0c1d2f3a4b5c")


def child(base: str, suffix: str) -> str:
    """``base + suffix``, with ``base`` shortened and a hash of it kept when too long."""
    if len(base) + len(suffix) <= _LIMIT:
        return base + suffix
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    return f"{base[:_LIMIT - len(suffix) - 9].rstrip('-')}-{digest}{suffix}"


INGRESS_PREFIX = "cloudvm-in-"


def ingress_tag(*parts: str) -> str:
    """The network tag of a set of ingress rules on a network (the same for the same set), which
    their firewall rules aim at and name themselves after."""
    return INGRESS_PREFIX + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def request_id(*parts: str) -> str:
    """A UUID (Compute Engine's requestId format) that is the same for the same parts."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))
