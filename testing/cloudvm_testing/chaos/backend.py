"""What the campaign needs of a backend: faults on its calls, and its own account of what it holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import cloudvm
from cloudvm.retry import RetryPolicy


@dataclass(frozen=True)
class Fault:
    """The next ``times`` calls of ``call`` (a backend's own name for an API call) meet ``kind``:
    ``drop`` (the work done, the answer lost), ``reset`` (the connection broken before the work),
    ``error`` (a 5xx), ``throttle`` (with the Retry-After the service sends, if it sends one),
    ``latency`` (a slow answer)."""

    kind: str
    call: str
    times: int = 1


class Backend(Protocol):
    name: str
    kinds: Sequence[str]  # the fault kinds it injects
    calls: Sequence[str]  # the calls faults strike
    image: str  # the image VMs are made of
    region: str  # where VMs are made
    elsewhere: str  # another region, for copies
    # connect() options an environment file can carry, for a client in a process of its own (one
    # killed mid-way); None where they cannot be written down (a credential object)
    options: dict[str, Any] | None

    def connect(self, retry: RetryPolicy) -> cloudvm.Cloud: ...

    def inject(self, fault: Fault) -> None: ...

    def unstruck(self) -> int:
        """How many of the faults injected have not struck yet."""

    def clear(self) -> None:
        """No fault left to strike."""

    def held(self) -> set[str]:
        """Everything the backend holds that a caller can make (``"kind id"``), read from its own
        state, not through cloudvm."""

    def vm_names(self) -> list[str]:
        """The name of every VM alive, once per VM."""
