"""The Compute Engine client, loaded one service at a time.

``google.cloud.compute_v1``'s ``__init__`` imports all of its ~100 service
clients (1.3 s and 150 MB here); the provider uses ten. The package module is
registered without running that ``__init__``; it runs on the first attribute
lookup instead, so code that later uses ``google.cloud.compute_v1`` directly
still sees the whole package.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
from typing import Any

PACKAGE = "google.cloud.compute_v1"


class _Deferred(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and importlib.util.find_spec(f"{PACKAGE}.{name}") is not None:
            return importlib.import_module(f"{PACKAGE}.{name}")  # a submodule: no need for the rest
        if self.__dict__.get("_cloudvm_loaded"):
            raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")
        self.__dict__["_cloudvm_loaded"] = True
        spec = self.__spec__
        assert spec is not None and spec.loader is not None
        spec.loader.exec_module(self)
        return getattr(self, name)


def _register_package() -> None:
    if PACKAGE in sys.modules:
        return
    importlib.import_module("google.cloud")
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None:
        raise ImportError(f"{PACKAGE} is not installed (pip install google-cloud-compute)")
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _Deferred
    sys.modules[PACKAGE] = module


def client_class(service: str) -> Any:
    """``instances`` -> ``InstancesClient`` (``zone_operations`` -> ``ZoneOperationsClient``)."""
    _register_package()
    module = importlib.import_module(f"{PACKAGE}.services.{service}")
    return getattr(module, "".join(part.title() for part in service.split("_")) + "Client")


def message(name: str, body: dict[str, Any]) -> Any:
    """A request message from the API's own JSON (the spelling of Google's documentation)."""
    _register_package()
    module = importlib.import_module(f"{PACKAGE}.types.compute")
    return getattr(module, name).from_json(json.dumps(body))


def as_dict(msg: Any) -> dict[str, Any]:
    """A response message as the API's JSON."""
    out: dict[str, Any] = json.loads(type(msg).to_json(msg, use_integers_for_enums=False))
    return out


def rest(credentials: Any, endpoint: str | None, path: str, body: dict[str, Any], params: dict[str, str]
         ) -> dict[str, Any]:
    """A POST to the Compute Engine REST API itself, for a field the client library does not carry
    yet: ``Disk.sourceMachineImage`` (in the API's discovery document, not in google-cloud-compute
    1.57's ``Disk``). Errors come as the client library's exceptions, so ``mapped`` reads them."""
    import google.auth
    from google.api_core import exceptions
    from google.auth.transport.requests import AuthorizedSession

    if credentials is None:
        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    base = (endpoint or "https://compute.googleapis.com").rstrip("/")
    base = base if "://" in base else f"https://{base}"
    with AuthorizedSession(credentials) as session:  # type: ignore[no-untyped-call]
        reply = session.post(f"{base}/compute/v1/{path}", json=body, params=params, timeout=60)
    if reply.status_code >= 400:
        raise exceptions.from_http_response(reply)  # type: ignore[no-untyped-call]
    found: dict[str, Any] = reply.json()
    return found
