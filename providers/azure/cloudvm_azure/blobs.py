"""Reading a blob through the SAS URI ARM hands out (boot diagnostics logs).

The URI carries its signature, which is a credential: it is never logged nor
put in an error.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request

from cloudvm.errors import ProviderError, TransientError


def _context(verify: str | bool) -> ssl.SSLContext:
    """TLS as the SDK clients were told: ``connection_verify`` is a CA bundle, or False for none."""
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def read_blob(uri: str, verify: str | bool, what: str) -> str:
    try:
        with urllib.request.urlopen(uri, context=_context(verify), timeout=60) as answer:
            text: str = answer.read().decode("utf-8", errors="replace")
            return text
    except urllib.error.HTTPError as exc:
        cls = TransientError if exc.code >= 500 else ProviderError
        raise cls(f"{what}: the storage service answered {exc.code} {exc.reason}", code=str(exc.code),
                  request_id=exc.headers.get("x-ms-request-id")) from None
    except OSError as exc:
        raise TransientError(f"{what}: {getattr(exc, 'reason', exc)}") from None
