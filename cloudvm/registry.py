"""Provider discovery: a name maps to a class, found through the
``cloudvm.providers`` entry-point group (so a third-party package adds a
provider by declaring one) or registered in-process.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from cloudvm.errors import CloudVMError

if TYPE_CHECKING:
    from cloudvm.provider import Provider

GROUP = "cloudvm.providers"
_registered: dict[str, type[Provider]] = {}


def register(name: str, cls: type[Provider]) -> None:
    """Make ``cls`` available as ``name`` in this process (tests, plug-ins under development)."""
    _registered[name] = cls


def available() -> list[str]:
    """Every provider name this installation knows."""
    return sorted(set(_registered) | {ep.name for ep in entry_points(group=GROUP)})


def load(name: str) -> type[Provider]:
    """The provider class for ``name``; its SDK is imported only now."""
    if name in _registered:
        return _registered[name]
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        known = ", ".join(available()) or "none"
        raise CloudVMError(
            f"no cloudvm provider named {name!r} is installed (known: {known}); "
            f"install it with: pip install 'cloudvm[{name}]'"
        )
    cls: type[Provider] = found[0].load()
    return cls
