"""Backups and disaster recovery on top of snapshots.

A backup is a snapshot set of one VM taken under a policy; its tags name the
policy, the VM and the period it belongs to, and the provider keeps the VM's
spec with it, so listing, pruning and restoring need nothing but the
provider. There is no daemon: ``run`` does what is due *now* and is meant to
be called from cron, a systemd timer or a CI schedule; running it twice in a
period takes one backup.

Retention is grandfather-father-son: the newest ``last`` backups, plus the
newest backup of each of the most recent ``hourly``/``daily``/``weekly``/
``monthly`` periods that have one. The newest backup of a VM is never
deleted, nor one whose DR copy has not finished.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cloudvm.cloud import Cloud
from cloudvm.errors import NotFound, Unsupported
from cloudvm.model import VM, Snapshot, SnapshotState
from cloudvm.provider import Capability
from cloudvm.spec import SpecModel, check_name
from cloudvm.yamlfile import YamlFile

POLICY = "cloudvm-policy"
SOURCE = "cloudvm-backup-of"
COPY_OF = "cloudvm-backup-copy-of"  # on a copy kept by another backend: the id of the backup it copies
PERIOD = "cloudvm-period"
# Bucket keys for each period kind, finest first; ISO weeks so a week never straddles two keys.
PERIODS = {"hourly": "%Y%m%d%H", "daily": "%Y%m%d", "weekly": "%G%V", "monthly": "%Y%m"}
Every = Literal["hourly", "daily", "weekly", "monthly"]


class Select(SpecModel):
    """Which VMs: all of ``tags`` match, and (when given) the name is one of ``names``."""

    tags: dict[str, str] = Field(default_factory=dict)
    names: tuple[str, ...] = ()


class Keep(SpecModel):
    last: int = Field(1, ge=1)
    hourly: int = Field(0, ge=0)
    daily: int = Field(0, ge=0)
    weekly: int = Field(0, ge=0)
    monthly: int = Field(0, ge=0)


class CopyTo(SpecModel):
    """A DR target: another region of the policy's own provider, or another backend (``provider``)
    at its location (``region``: a region, a zone, a libvirt URI) with the connect ``options`` it
    needs. Copies to another backend travel in the export format: a libvirt VM's backups can live in
    a cloud, a cloud VM's on-premises."""

    region: str | None = None
    provider: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _somewhere(self) -> CopyTo:
        if self.region is None and self.provider is None:
            raise ValueError("needs a region, or a provider (with its options)")
        return self

    @property
    def label(self) -> str:
        """How reports and ``drill(region=...)`` name it: ``us-west-2``, ``aws:us-east-1``, ``libvirt``."""
        return ":".join(part for part in (self.provider, self.region) if part)


class Policy(SpecModel):
    """``name``, ``select``, ``keep``, ``copy_to``; ``every`` is how often a backup is due
    (by default the finest period ``keep`` counts, daily when it counts none)."""

    name: str
    select: Select = Field(default_factory=Select)
    keep: Keep = Field(default_factory=Keep)
    copy_to: tuple[CopyTo, ...] = ()
    every: Every | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @property
    def period(self) -> Every:
        counted = [kind for kind in PERIODS if getattr(self.keep, kind)]
        return self.every or (counted[0] if counted else "daily")  # type: ignore[return-value]

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """A policy file (YAML or JSON), errors naming the field and line."""
        source = YamlFile(Path(path))
        return source.checked(lambda: cls(**source.data))


def _created(backup: Snapshot) -> datetime:
    return backup.created_at or datetime.fromtimestamp(0, UTC)


def retained(backups: Sequence[Snapshot], keep: Keep) -> set[str]:
    """Ids of the backups (of one VM, complete ones) the retention keeps."""
    ordered = sorted(backups, key=_created, reverse=True)
    kept = {b.id for b in ordered[:keep.last]}
    for kind, fmt in PERIODS.items():
        wanted, seen = getattr(keep, kind), set[str]()
        for backup in ordered:
            key = _created(backup).strftime(fmt)
            if key in seen:
                continue
            if len(seen) == wanted:
                break
            seen.add(key)
            kept.add(backup.id)
    return kept


@dataclass
class Report:
    """What a run did (or, with ``dry_run``, would do), by snapshot name."""

    taken: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)  # "name -> region"
    pruned: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)  # incomplete sets of interrupted runs
    kept: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # past retention, kept until their DR copy finishes
    dry_run: bool = False


def selected(cloud: Cloud, policy: Policy) -> list[VM]:
    vms = cloud.list(tags=dict(policy.select.tags))
    return [vm for vm in vms if not policy.select.names or vm.name in policy.select.names]


def backups(cloud: Cloud, policy: str | None = None, vm: str | None = None, *,
            copies: bool = False) -> list[Snapshot]:
    """Backups cloudvm took here, newest first (of one policy / one VM when given); DR
    copies too with ``copies`` (a provider may list them beside the originals)."""
    wanted = {POLICY: policy} if policy else {}
    found = [s for s in cloud.list_snapshots(tags=wanted) if POLICY in s.tags and (copies or _copy_of(s) is None)]
    return sorted((s for s in found if vm is None or s.tags.get(SOURCE) == vm), key=_created, reverse=True)


def _copy_of(snapshot: Snapshot) -> str | None:
    return snapshot.copy_of or snapshot.tags.get(COPY_OF)


def reach(cloud: Cloud, target: CopyTo) -> Cloud:
    """A connection to a DR target: ``cloud.at(region)`` for a region of its own provider, else the
    other backend at its location. Closed by the caller."""
    if target.provider in (None, cloud.provider.name) and not target.options and target.region:
        return cloud.at(target.region)
    from cloudvm import connect
    from cloudvm.registry import load

    provider = target.provider or cloud.provider.name
    where = {load(provider).location_option: target.region} if target.region else {}
    return connect(provider, **{**target.options, **where})


def _across(cloud: Cloud, target: CopyTo) -> bool:
    return target.provider not in (None, cloud.provider.name) or bool(target.options)


class Runner:
    """One run of a policy on one cloud; DR targets are reached through ``reach``."""

    def __init__(self, cloud: Cloud, policy: Policy, *, now: datetime | None = None, dry_run: bool = False,
                 stale_after: float = 3600.0, dr: Mapping[str, Cloud] | None = None) -> None:
        self.cloud, self.policy, self.dry_run = cloud, policy, dry_run
        self.now = now or datetime.now(UTC)
        self.stale_after = stale_after
        self.report = Report(dry_run=dry_run)
        self._given = dict(dr or {})
        self._dr: dict[str, Cloud] = {}
        self._listed: dict[str, dict[str, Snapshot]] = {}  # target -> copies there, by the id they copy
        for target in policy.copy_to:
            cloud.provider.require(Capability.EXPORT if _across(cloud, target) else Capability.COPY_SNAPSHOT)

    def dr(self, target: CopyTo) -> Cloud:
        label = target.label
        if label in self._given:
            return self._given[label]
        if label not in self._dr:
            self._dr[label] = reach(self.cloud, target)
        return self._dr[label]

    def close(self) -> None:
        for cloud in self._dr.values():
            cloud.close()

    def run(self) -> Report:
        try:
            self._clean()
            self._take()
            self._copy_and_prune()
        finally:
            self.close()
        return self.report

    def _clean(self) -> None:
        """Sets a run left incomplete: failed ones, and pending ones too old to be in progress."""
        for backup in backups(self.cloud, self.policy.name):
            age = (self.now - _created(backup)).total_seconds()
            if backup.state is SnapshotState.ERROR or (backup.state is SnapshotState.PENDING
                                                       and age > self.stale_after):
                self.report.cleaned.append(backup.name)
                if not self.dry_run:
                    self.cloud.delete_snapshot(backup)

    def _take(self) -> None:
        period = self.now.strftime(PERIODS[self.policy.period])
        done = {(b.tags.get(SOURCE), b.tags.get(PERIOD)) for b in backups(self.cloud, self.policy.name)
                if b.name not in self.report.cleaned}
        for vm in selected(self.cloud, self.policy):
            if (vm.name, period) in done:
                continue
            # the policy's mark: a snapshot taken in the same second, or another policy's backup, is named apart
            mark = hashlib.sha256(self.policy.name.encode()).hexdigest()[:4]
            name = f"{vm.name[:42].rstrip('-')}-{self.now:%Y%m%d-%H%M%S}-{mark}"
            self.report.taken.append(name)
            if not self.dry_run:
                self.cloud.snapshot(vm, name=name, tags={POLICY: self.policy.name, SOURCE: vm.name, PERIOD: period})

    def _copy_and_prune(self) -> None:
        complete = [b for b in backups(self.cloud, self.policy.name) if b.state is SnapshotState.READY]
        by_vm: dict[str, list[Snapshot]] = {}
        for backup in complete:
            by_vm.setdefault(backup.tags.get(SOURCE, backup.source_vm), []).append(backup)
        for group in by_vm.values():
            keep = retained(group, self.policy.keep)
            for backup in group:
                copies_done = self._copies(backup) if backup.id in keep else self._copies_finished(backup)
                if backup.id in keep:
                    self.report.kept.append(backup.name)
                elif not copies_done:
                    self.report.held.append(backup.name)
                else:
                    self._delete(backup)

    def _copies(self, backup: Snapshot) -> bool:
        """Make sure each DR region has a copy; True once all are complete."""
        finished = True
        for target in self.policy.copy_to:
            copy = self._copy_in(backup, target)
            if copy is None:
                self.report.copied.append(f"{backup.name} -> {target.label}")
                if self.dry_run:
                    finished = False
                    continue
                copy = self._copy(backup, target)
                self._listed[target.label][backup.id] = copy
            finished = finished and copy.state is SnapshotState.READY
        return finished

    def _copy(self, backup: Snapshot, target: CopyTo) -> Snapshot:
        if not _across(self.cloud, target):
            return self.cloud.copy_snapshot(backup, region=str(target.region))
        kept = {k: backup.tags[k] for k in (POLICY, SOURCE, PERIOD) if k in backup.tags}
        return self.cloud.copy_across(backup, self.dr(target), tags={**kept, COPY_OF: backup.id})

    def _copies_finished(self, backup: Snapshot) -> bool:
        return all((copy := self._copy_in(backup, t)) is None or copy.state is SnapshotState.READY
                   for t in self.policy.copy_to)

    def _copy_in(self, backup: Snapshot, target: CopyTo) -> Snapshot | None:
        """The backup's copy at ``target``, from one listing of it per run."""
        if target.label not in self._listed:
            across = _across(self.cloud, target)
            self._listed[target.label] = {
                copied: s for s in backups(self.dr(target), self.policy.name, copies=True)
                if (copied := _copy_of(s)) and (across or s.region == target.region)}
        return self._listed[target.label].get(backup.id)

    def _delete(self, backup: Snapshot) -> None:
        self.report.pruned.append(backup.name)
        if self.dry_run:
            return
        for target in self.policy.copy_to:  # the copies go with the backup they copy
            copy = self._copy_in(backup, target)
            if copy is not None:
                self.dr(target).delete_snapshot(copy)
        self.cloud.delete_snapshot(backup)


def run(cloud: Cloud, policy: Policy, *, now: datetime | None = None, dry_run: bool = False,
        dr: Mapping[str, Cloud] | None = None) -> Report:
    """Take the backups due now, copy them to the DR targets, prune what retention drops.
    DR targets are reached with ``reach`` unless ``dr`` maps their labels to connections
    (other credentials, say)."""
    return Runner(cloud, policy, now=now, dry_run=dry_run, dr=dr).run()


def find(cloud: Cloud, ref: str, region: str | None = None) -> Snapshot:
    """A backup by name or id, or a VM's name for its newest complete backup: the copy in
    ``region`` when given, else the original."""
    every = backups(cloud, copies=True)
    found = [b for b in every if ref in (b.name, b.id)] or [
        b for b in every if b.tags.get(SOURCE) == ref and b.state is SnapshotState.READY]
    found.sort(key=lambda b: (b.region != region) if region else (b.copy_of is not None))  # stable: newest first
    if not found:
        raise NotFound(f"no backup named {ref!r} on {cloud.provider.name}" + (f" in {region}" if region else ""))
    return found[0]


def restore(cloud: Cloud, ref: str, *, name: str | None = None, region: str | None = None,
            wait: Literal["running", "reachable"] = "running") -> VM:
    """A new VM from the backup (its copy in ``region`` when given), with the spec it recorded."""
    where = cloud.at(region) if region else cloud
    try:
        backup = find(where, ref, region)
        return where.restore(backup, name=name or f"{backup.tags.get(SOURCE, backup.source_vm)}-restored",
                             wait=wait)
    finally:
        if where is not cloud:
            where.close()


def delete(cloud: Cloud, ref: str) -> None:
    cloud.delete_snapshot(find(cloud, ref))


@dataclass
class Drill:
    """A restore proven: RPO is the backup's age, RTO the time to a reachable (or running) VM."""

    backup: str
    region: str
    vm: str
    rpo_seconds: float
    rto_seconds: float
    reached: str
    check: str | None = None
    check_exit: int | None = None
    check_output: str = ""

    @property
    def passed(self) -> bool:
        return self.check_exit in (None, 0)


def _drilled_at(cloud: Cloud, source: Policy | str, region: str | None) -> tuple[Cloud, str | None]:
    """Where a drill restores, and the region its backups must be in there (None: any)."""
    targets = {t.label: t for t in source.copy_to} if isinstance(source, Policy) else {}
    target = targets.get(region or "")
    if target is not None and _across(cloud, target):
        return reach(cloud, target), None
    return (cloud.at(region) if region else cloud), region


def drill(cloud: Cloud, source: Policy | str, *, region: str | None = None, check: str | None = None,
          key_file: str | None = None, name: str | None = None, user: str | None = None) -> Drill:
    """Restore the newest complete backup (of a policy, or the one named) in ``region`` (a DR
    target's label: another backend, for a policy that copies there), wait until it answers, run
    ``check`` over SSH (as ``user``, else the backup's), report RPO/RTO, and remove the drill's VM."""
    where, within = _drilled_at(cloud, source, region)
    try:
        if isinstance(source, Policy):
            done = [b for b in backups(where, source.name, copies=True) if b.state is SnapshotState.READY
                    and (within is None or b.region == within)]
            if not done:
                raise NotFound(f"policy {source.name!r} has no complete backup in {region or 'this region'}")
            backup = done[0]
        else:
            backup = find(where, source, region)
        reachable = Capability.REACHABILITY in where.capabilities
        if check and not reachable:
            raise Unsupported(f"{where.provider.name}: this endpoint runs no guests to check over SSH")
        started = time.monotonic()
        vm = where.restore(backup, name=name or f"drill-{backup.name}"[:63].rstrip("-"),
                           wait="reachable" if reachable else "running")
        try:
            report = Drill(backup.name, region or (where.provider.location or ""), vm.name,
                           rpo_seconds=(datetime.now(UTC) - _created(backup)).total_seconds(),
                           rto_seconds=time.monotonic() - started, reached="reachable" if reachable else "running",
                           check=check)
            if check:
                done_check = where.ssh(vm, check, user=user or backup.user, key_file=key_file)
                report.check_exit, report.check_output = done_check.returncode, done_check.stdout + done_check.stderr
            return report
        finally:
            where.delete(vm)
    finally:
        if where is not cloud:
            where.close()
