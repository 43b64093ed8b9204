"""Dev/test environments: the VMs an environment file declares, reconciled
with what the provider holds. There is no state file: every VM carries the
environment's name, its expiry and a digest of its spec in tags, so ``plan``,
``up``, ``status`` and ``down`` work from any machine with the credentials,
and a run that was killed is finished by the next one."""

from __future__ import annotations

import builtins
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudvm.cloud import Cloud, Wait
from cloudvm.envfile import Loaded
from cloudvm.errors import AlreadyExists
from cloudvm.model import VM, VMState
from cloudvm.spec import VMSpec

log = logging.getLogger("cloudvm.environment")
ENV = "cloudvm-env"
EXPIRES = "cloudvm-expires"  # Unix time; a label-safe spelling on every provider
DIGEST = "cloudvm-spec"
ROUNDS = 4  # reconcile rounds before giving up on a VM another run keeps taking


def digest(spec: VMSpec) -> str:
    """What the VM was made from; a different digest means the file changed under it."""
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Action:
    """One step of a plan: ``create``, ``keep``, ``start``, ``replace``, ``drift`` (changed, kept
    unless replacing), ``delete`` (not in the file, with prune) or ``extra`` (not in the file, kept)."""

    kind: str
    vm: str
    reason: str = ""
    spec: VMSpec | None = None
    current: VM | None = None


class Environment:
    """``Environment.load("env.yaml")``, then ``plan()``, ``up()``, ``status()``, ``outputs()``, ``down()``."""

    def __init__(self, loaded: Loaded, cloud: Cloud | None = None) -> None:
        self.loaded = loaded
        self.name = loaded.model.name
        self._cloud = cloud

    @classmethod
    def load(cls, path: str | Path, cloud: Cloud | None = None) -> Environment:
        return cls(Loaded(Path(path)), cloud)

    @property
    def cloud(self) -> Cloud:
        if self._cloud is None:
            from cloudvm import connect

            options = dict(self.loaded.model.provider or {})
            self._cloud = connect(options.pop("name"), **options)
        return self._cloud

    def close(self) -> None:
        if self._cloud is not None:
            self._cloud.close()

    def _short(self, vm: VM) -> str:
        return vm.name.removeprefix(f"{self.name}-")

    def _current(self) -> dict[str, VM]:
        return {vm.name: vm for vm in self.cloud.list()}

    def plan(self, *, replace: bool = False, prune: bool = False) -> builtins.list[Action]:
        """What ``up`` would do, without doing it."""
        current = self._current()
        actions = []
        for short, spec in self.loaded.specs.items():
            vm = current.get(spec.name)
            if vm is None:
                actions.append(Action("create", short, "declared, not there", spec))
            elif vm.tags.get(ENV) != self.name:
                raise AlreadyExists(f"{spec.name} exists but does not belong to environment {self.name!r}")
            elif vm.state is VMState.ERROR:
                actions.append(Action("replace", short, "failed", spec, vm))
            elif vm.tags.get(DIGEST) != digest(spec):
                actions.append(Action("replace" if replace else "drift", short, "changed in the file", spec, vm))
            elif vm.state in (VMState.STOPPED, VMState.STOPPING):
                actions.append(Action("start", short, f"{vm.state}", spec, vm))
            else:
                actions.append(Action("keep", short, f"{vm.state}", spec, vm))
        declared = {spec.name for spec in self.loaded.specs.values()}
        for vm in current.values():
            if vm.tags.get(ENV) == self.name and vm.name not in declared:
                kind = "delete" if prune else "extra"
                actions.append(Action(kind, self._short(vm), "not in the file", current=vm))
        return actions

    def _owner(self, spec: VMSpec) -> dict[str, str]:
        owner = {ENV: self.name, DIGEST: digest(spec)}
        ttl = self.loaded.model.ttl_seconds
        if ttl:
            owner[EXPIRES] = str(int(time.time()) + ttl)
        return owner

    def up(self, *, replace: bool = False, prune: bool = False, wait: Wait = "running") -> builtins.list[VM]:
        """Converge on the file: create what is missing, start what is stopped, replace what
        failed (or changed, with ``replace``), delete what is not declared (with ``prune``)."""
        for _ in range(ROUNDS):
            actions = self.plan(replace=replace, prune=prune)
            going = [a.current for a in actions if a.kind in ("replace", "delete") and a.current]
            if going:
                self.cloud.delete(going)
            made = [a.spec for a in actions if a.kind in ("create", "replace") and a.spec]
            stopped = [a.current for a in actions if a.kind == "start" and a.current]
            if stopped:
                self.cloud.start(stopped, wait=False)
            try:
                for spec in made:  # one call per VM: each carries its own digest
                    log.info("%s: creating %s", self.name, spec.name)
                    self.cloud.create_many([spec], wait=None, keep_on_failure=True, owner=self._owner(spec))
            except AlreadyExists:
                continue  # another run made it meanwhile: look again
            break
        else:
            raise AlreadyExists(f"environment {self.name!r} kept changing under this run")
        vms = self.status()
        if wait is not None and vms:
            vms = self.cloud.wait(vms, wait)
        return vms

    def status(self) -> builtins.list[VM]:
        return self.cloud.list(tags={ENV: self.name})

    def outputs(self) -> dict[str, dict[str, Any]]:
        """Each VM's short name -> its address and state, for the next step of a pipeline."""
        return {self._short(vm): {"address": vm.address, "private_ips": list(vm.private_ips),
                                  "public_ips": list(vm.public_ips), "state": str(vm.state), "user": vm.ssh_user}
                for vm in self.status()}

    def down(self) -> builtins.list[str]:
        """Delete every VM of the environment; safe to run again after an interrupted one."""
        vms = self.status()
        if vms:
            self.cloud.delete(vms)
        return [vm.name for vm in vms]
