"""Garbage collection: environments past their expiry are deleted, and
resources cloudvm made that no VM uses any more are listed. Run it from cron
or CI (``cloudvm gc``); there is no daemon."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from cloudvm.cloud import Cloud
from cloudvm.environment import ENV, EXPIRES
from cloudvm.model import VM


@dataclass
class Sweep:
    """What a sweep found: expired VMs by environment, and orphaned resources (described)."""

    expired: dict[str, list[VM]] = field(default_factory=dict)
    orphans: list[str] = field(default_factory=list)


def expired(cloud: Cloud, now: float | None = None) -> dict[str, list[VM]]:
    """Environment name -> its VMs, for environments whose expiry has passed."""
    clock = time.time() if now is None else now
    found: dict[str, list[VM]] = {}
    for vm in cloud.list():
        stamp = vm.tags.get(EXPIRES, "")
        if ENV in vm.tags and stamp.isdigit() and int(stamp) < clock:
            found.setdefault(vm.tags[ENV], []).append(vm)
    return found


def sweep(cloud: Cloud, *, dry_run: bool = False, now: float | None = None) -> Sweep:
    """Delete expired environments (unless ``dry_run``) and list orphans."""
    result = Sweep(expired(cloud, now))
    if not dry_run:
        for vms in result.expired.values():
            cloud.delete(vms)
    result.orphans = cloud.provider.orphans()
    return result
