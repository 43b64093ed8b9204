"""Provider discovery: a name maps to a class, found through the
``cloudvm.providers`` entry-point group (so a third-party package adds a
provider by declaring one) or registered in-process.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, entry_points, metadata
from typing import TYPE_CHECKING

from cloudvm.errors import CloudVMError

if TYPE_CHECKING:
    from cloudvm.provider import Provider

GROUP = "cloudvm.providers"
DISTRIBUTION = "cloudvm-sdk"  # the core's name on an index (it is imported as cloudvm)
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
        raise CloudVMError(_missing(name))
    cls: type[Provider] = found[0].load()
    return cls


def extras() -> list[str]:
    """The providers cloudvm's own extras install (``pip install 'cloudvm-sdk[aws]'``)."""
    try:
        offered = metadata(DISTRIBUTION).get_all("Provides-Extra") or []
    except PackageNotFoundError:  # a checkout on the path, not installed
        return []
    return sorted(set(offered) - {"all", "test", "dev"})


def testing_missing(missing: ModuleNotFoundError, shim: str, project: str) -> ModuleNotFoundError:
    """What ``shim`` (``cloudvm.testing``, ``cloudvm_aws.testing``, ...) raises when the package it
    re-exports (``cloudvm_testing``, ...) is absent: the extra of ``project`` that installs it, not a
    module name nobody wrote."""
    if missing.name != shim.replace(".", "_"):
        return missing
    return ModuleNotFoundError(f"{shim} needs the test backends: pip install '{project}[test]'", name=missing.name)


def _missing(name: str) -> str:
    installed = ", ".join(available()) or "none"
    offered = extras()
    hint = (f"install it with: pip install '{DISTRIBUTION}[{name}]'" if name in offered
            else f"the extras that add one: {', '.join(offered) or 'none'} (pip install '{DISTRIBUTION}[EXTRA]'); "
                 "another package may add it under the entry-point group " + GROUP)
    return f"no cloudvm provider named {name!r} is installed (installed: {installed}); {hint}"
