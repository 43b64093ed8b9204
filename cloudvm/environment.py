"""Dev/test environments: the VMs an environment file declares, reconciled
with what the providers hold. There is no state file: every VM carries the
environment's name, its expiry and a digest of its spec in tags, so ``plan``,
``up``, ``status`` and ``down`` work from any machine with the credentials,
and a run that was killed is finished by the next one.

With a ``placement`` list, a VM that a placement refuses for capacity or
quota is tried at the next one; where each VM landed, and why earlier
placements were skipped, is reported.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudvm.cloud import Cloud, Wait
from cloudvm.envfile import SPOT_SUFFIX, Loaded
from cloudvm.errors import AlreadyExists, CapacityUnavailable, QuotaExceeded
from cloudvm.model import VM, VMState
from cloudvm.registry import load
from cloudvm.spec import Spot, VMSpec

log = logging.getLogger("cloudvm.environment")
ENV = "cloudvm-env"
EXPIRES = "cloudvm-expires"  # Unix time; a label-safe spelling on every provider
DIGEST = "cloudvm-spec"
ROUNDS = 4  # reconcile rounds before giving up on a VM another run keeps taking


def digest(spec: VMSpec) -> str:
    """What the VM was made from; a different digest means the file changed under it. The name is
    the VM's identity, not part of what it is made from: the members of a ``count:`` share their
    digest, so they can go as one counted fleet."""
    return hashlib.sha256(spec.model_dump_json(exclude={"name"}).encode()).hexdigest()[:16]


Progress = Callable[[str, str], None]  # (VM's short name, what is happening to it)


def _silent(vm: str, what: str) -> None:
    """The default listener: progress goes to the log only."""
    log.debug("%s: %s", vm, what)


@dataclass(frozen=True)
class Action:
    """One step of a plan: ``create``, ``keep``, ``start``, ``replace``, ``drift`` (changed, kept
    unless replacing), ``delete`` (not in the file, with prune) or ``extra`` (not in the file, kept).
    ``where`` is the placement the VM is in, or the first one to try."""

    kind: str
    vm: str
    reason: str = ""
    where: str = ""
    spec: VMSpec | None = None
    current: VM | None = None


@dataclass
class Landing:
    """Where ``up`` put a VM, and why the placements before it were skipped."""

    where: str
    skipped: dict[str, str] = field(default_factory=dict)


class Environment:
    """``Environment.load("env.yaml")``, then ``plan()``, ``up()``, ``status()``, ``outputs()``, ``down()``."""

    def __init__(self, loaded: Loaded, clouds: dict[str, Cloud] | None = None) -> None:
        self.loaded = loaded
        self.name = loaded.model.name
        self.placements = self._placements()
        self.spot_at = {label for label in self.placements if label.endswith(SPOT_SUFFIX)}
        self._declared = {spec.name: spec for spec in loaded.specs.values()}
        self._clouds: dict[str, Cloud] = dict(clouds or {})
        self._stamp: int | None = None  # when this run of up() began: one expiry for the VMs it makes
        self.landed: dict[str, Landing] = {}

    @classmethod
    def load(cls, path: str | Path) -> Environment:
        return cls(Loaded(Path(path)))

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _placements(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Placement label -> (provider, connect options), in the order to try them."""
        base = dict(self.loaded.model.provider or {})
        name = base.pop("name", None)
        if not self.loaded.model.placement:
            return {str(name): (str(name), base)}
        out = {}
        for label in self.loaded.model.placement:
            provider, _, location = label.removesuffix(SPOT_SUFFIX).partition(":")
            options = dict(base) if provider == name else {}
            options[load(provider).location_option] = location
            out[label] = (provider, options)
        return out

    @property
    def places(self) -> builtins.list[str]:
        """The placements to look for VMs at: one label per location (``aws:us-east-1:spot`` and
        ``aws:us-east-1`` hold the same VMs)."""
        seen: dict[str, str] = {}
        for label in self.placements:
            seen.setdefault(label.removesuffix(SPOT_SUFFIX), label)
        return builtins.list(seen.values())

    def cloud(self, where: str | None = None) -> Cloud:
        """The connection to one placement (the first by default); a location's spot placement shares it."""
        label = (where or next(iter(self.placements))).removesuffix(SPOT_SUFFIX)
        if label not in self._clouds:
            from cloudvm import connect

            provider, options = self.placements.get(label) or self.placements[label + SPOT_SUFFIX]
            self._clouds[label] = connect(provider, **options)
        return self._clouds[label]

    def close(self) -> None:
        for cloud in self._clouds.values():
            cloud.close()

    def _short(self, vm: VM) -> str:
        return vm.name.removeprefix(f"{self.name}-")

    def _current(self) -> dict[str, tuple[str, VM]]:
        """Every managed VM at every placement, by name, with where it is."""
        found: dict[str, tuple[str, VM]] = {}
        for label in self.places:
            for vm in self.cloud(label).list():
                found.setdefault(vm.name, (label, vm))
        return found

    def plan(self, *, replace: bool = False, prune: bool = False) -> builtins.list[Action]:
        """What ``up`` would do, without doing it."""
        current = self._current()
        first = next(iter(self.placements))
        actions = []
        for short, spec in self.loaded.specs.items():
            where, vm = current.get(spec.name, (first, None))
            if vm is None:
                actions.append(Action("create", short, "declared, not there", where, spec))
            elif vm.tags.get(ENV) != self.name:
                raise AlreadyExists(f"{spec.name} exists at {where} but does not belong to environment {self.name!r}")
            elif vm.state is VMState.ERROR:
                actions.append(Action("replace", short, "failed", where, spec, vm))
            elif vm.interrupted:
                actions.append(Action("replace", short, f"interrupted: {vm.interrupted}", where, spec, vm))
            elif vm.tags.get(DIGEST) != digest(spec):
                actions.append(Action("replace" if replace else "drift", short, "changed in the file", where, spec, vm))
            elif vm.state in (VMState.STOPPED, VMState.STOPPING):
                actions.append(Action("start", short, f"{vm.state}", where, spec, vm))
            else:
                actions.append(Action("keep", short, f"{vm.state}", where, spec, vm))
        declared = {spec.name for spec in self.loaded.specs.values()}
        for name, (where, vm) in current.items():
            if vm.tags.get(ENV) == self.name and name not in declared:
                kind = "delete" if prune else "extra"
                actions.append(Action(kind, self._short(vm), "not in the file", where, current=vm))
        return actions

    def _owner(self, spec: VMSpec) -> dict[str, str]:
        """The tags that make a VM this environment's: its name, expiry and declaration digest."""
        owner = {ENV: self.name, DIGEST: digest(self._declared.get(spec.name, spec))}
        ttl = self.loaded.model.ttl_seconds
        if ttl:
            owner[EXPIRES] = str((self._stamp or int(time.time())) + ttl)
        return owner

    def _at(self, where: str, spec: VMSpec) -> VMSpec:
        """The spec as placement ``where`` takes it: on spot capacity at a ``:spot`` placement, on demand at
        the others of a list that names any (so a VM refused spot capacity lands on demand)."""
        if not self.spot_at:
            return spec
        if where in self.spot_at:
            return spec if spec.spot else spec.replace(spot=Spot())
        return spec.replace(spot=None) if spec.spot else spec

    def _each_place(self, actions: builtins.list[Action], tell: Progress, done: str,
                    act: Callable[[Cloud, builtins.list[VM]], Any]) -> None:
        """One batched call per placement for the VMs these actions touch."""
        by_place: dict[str, builtins.list[VM]] = {}
        for action in actions:
            if action.current is not None:
                by_place.setdefault(action.where, []).append(action.current)
        for where, vms in by_place.items():
            act(self.cloud(where), vms)
            for vm in vms:
                tell(self._short(vm), done)

    def up(self, *, replace: bool = False, prune: bool = False, wait: Wait = "running",
           progress: Progress | None = None) -> builtins.list[VM]:
        """Converge on the file: create what is missing, start what is stopped, replace what
        failed (or changed, with ``replace``), delete what is not declared (with ``prune``).
        ``progress(vm, what)`` hears each VM's steps as they happen."""
        tell = progress or _silent
        self._stamp = int(time.time())
        for _ in range(ROUNDS):
            actions = self.plan(replace=replace, prune=prune)
            for action in actions:
                tell(action.vm, f"{action.kind}: {action.reason}" if action.kind in ("drift", "extra") else action.kind)
            self._each_place([a for a in actions if a.kind in ("replace", "delete")], tell, "deleted",
                             lambda c, v: c.delete(v))
            self._each_place([a for a in actions if a.kind == "start"], tell, "starting",
                             lambda c, v: c.start(v, wait=False))
            try:
                self._create_all({a.vm: a.spec for a in actions if a.kind in ("create", "replace") and a.spec}, tell)
            except AlreadyExists:
                continue  # another run made one of them meanwhile: look again
            break
        else:
            raise AlreadyExists(f"environment {self.name!r} kept changing under this run")
        if wait is not None:
            for where in self.places:
                mine = self.cloud(where).list(tags={ENV: self.name})
                if mine:
                    self.cloud(where).wait(mine, wait, on_ready=lambda vm: tell(self._short(vm), str(wait)))
        return self.status()

    def _create_all(self, todo: dict[str, VMSpec], tell: Progress) -> None:
        """The whole batch in one call at the first placement; when that placement refuses
        some of it for capacity or quota, those VMs go one by one down the placement list."""
        if not todo:
            return
        first = next(iter(self.placements))
        for short in todo:
            tell(short, f"creating at {first}")
        try:
            self.cloud(first).create_many([self._at(first, spec) for spec in todo.values()], wait=None,
                                          keep_on_failure=True, owner=self._owner)
            made = {spec.name for spec in todo.values()}
        except (CapacityUnavailable, QuotaExceeded) as exc:
            log.warning("%s: %s refused part of the batch: %s", self.name, first, exc)
            made = {vm.name for vm in self.cloud(first).list(tags={ENV: self.name})}
        for short, spec in todo.items():
            if spec.name in made:
                self.landed[short] = Landing(first)
                tell(short, f"created at {first}")
            else:
                self._create(short, spec, tell)

    def _create(self, short: str, spec: VMSpec, tell: Progress) -> None:
        """At the first placement that has room; the others' refusals are kept in ``landed``."""
        skipped: dict[str, str] = {}
        for where in self.placements:
            tell(short, f"creating at {where}")
            try:
                self.cloud(where).create_many([self._at(where, spec)], wait=None, keep_on_failure=True,
                                              owner=self._owner)
            except (CapacityUnavailable, QuotaExceeded) as exc:
                skipped[where] = f"{type(exc).__name__}: {exc}"
                tell(short, f"skipped {where}: {skipped[where]}")
                log.warning("%s: %s skipped %s: %s", self.name, spec.name, where, skipped[where])
                continue
            self.landed[short] = Landing(where, skipped)
            tell(short, f"created at {where}" + (f" (skipped {', '.join(skipped)})" if skipped else ""))
            return
        raise CapacityUnavailable(f"{spec.name}: no placement had room: " +
                                  "; ".join(f"{w}: {why}" for w, why in skipped.items()))

    def status(self) -> builtins.list[VM]:
        return sorted((vm for where in self.places for vm in self.cloud(where).list(tags={ENV: self.name})),
                      key=lambda vm: vm.name)

    def outputs(self) -> dict[str, dict[str, Any]]:
        """Each VM's short name -> its address, state, user and placement, for the next pipeline step."""
        return {self._short(vm): {"address": vm.address, "private_ips": list(vm.private_ips),
                                  "public_ips": list(vm.public_ips), "state": str(vm.state), "user": vm.ssh_user,
                                  "placement": where}
                for where in self.places for vm in self.cloud(where).list(tags={ENV: self.name})}

    def down(self, *, progress: Progress | None = None) -> builtins.list[str]:
        """Delete every VM of the environment, everywhere; safe to run again after an interrupted one."""
        tell = progress or _silent
        gone = []
        for where in self.places:
            vms = self.cloud(where).list(tags={ENV: self.name})
            for vm in vms:
                tell(self._short(vm), f"deleting at {where}")
            if vms:
                self.cloud(where).delete(vms, on_gone=lambda vm: tell(self._short(vm), "deleted"))
            gone += [vm.name for vm in vms]
        return gone
