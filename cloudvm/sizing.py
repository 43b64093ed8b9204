"""The cheapest fitting size, one rule for every cloud: a provider lists what its location
offers and what each costs, the core picks. Unpriced types rank after every priced one (a
price table that misses a region or a new family must not make it the first choice)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from cloudvm.model import ResolvedSize


@dataclass(frozen=True)
class Offer:
    """A machine type on offer here, and its hourly price (``inf``: not known)."""

    size: ResolvedSize
    price: float = math.inf


def cheapest(offers: Iterable[Offer], cpus: int, memory_gib: float) -> ResolvedSize | None:
    """The cheapest offer with at least ``cpus`` and ``memory_gib``; among equals the smallest,
    then by name (the same answer on every run)."""
    fitting = [o for o in offers if o.size.cpus >= cpus and o.size.memory_gib >= memory_gib]
    best = min(fitting, key=lambda o: (o.price, o.size.cpus, o.size.memory_gib, o.size.type_name), default=None)
    return best.size if best else None
