"""A fleet trial: ``create_many``, then what scripts do with VMs — stop, start, reboot, snapshot,
restore, copy to another region, backups and a restore from one, a delete."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cloudvm import backup
from cloudvm.model import VM, Snapshot
from cloudvm_testing.chaos.backend import Backend
from cloudvm_testing.chaos.checks import RETRY
from cloudvm_testing.chaos.plan import TAG, Trial


@dataclass
class Made:
    """What the workflow was handed back: what its clean-up removes."""

    vms: list[VM] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    policy: backup.Policy | None = None  # the backups taken


class Fleet:
    def __init__(self, trial: Trial, backend: Backend) -> None:
        self.trial, self.backend = trial, backend
        self.cloud = backend.connect(RETRY)
        self.made = Made()
        self.killed = False

    def close(self) -> None:
        self.cloud.close()

    def declare(self) -> list[str]:
        trial = self.trial
        self.made.vms = self.cloud.create_many(trial.specs[0] if trial.count else list(trial.specs), count=trial.count)
        return [vm.name for vm in self.made.vms]

    def act(self) -> None:
        cloud, made = self.cloud, self.made
        self.declare()
        for step in self.trial.steps:
            if step in ("stop", "start", "reboot") and made.vms:
                getattr(cloud, step)(made.vms)
            elif step == "snapshot" and made.vms:
                made.snapshots.append(cloud.snapshot(made.vms[0]))
            elif step == "restore" and made.snapshots:
                made.vms.append(cloud.restore(made.snapshots[0], name=f"{made.vms[0].name}-r"))
            elif step == "copy" and made.snapshots:
                made.snapshots.append(cloud.copy_snapshot(made.snapshots[0], region=self.backend.elsewhere))
            elif step in ("backup", "backup-again") and made.vms:
                made.policy = made.policy or self._policy()
                later = datetime.now(UTC) + timedelta(days=1 if step == "backup-again" else 0)
                backup.run(cloud, made.policy, now=later)
            elif step == "restore-backup" and made.policy:
                made.vms.append(backup.restore(cloud, made.vms[0].name, name=f"{made.vms[0].name}-b"))
            elif step == "delete-one" and made.vms:
                cloud.delete(made.vms[-1])
                made.vms.pop()

    def _policy(self) -> backup.Policy:
        """Every VM of the trial, its last backup kept, copied to another region."""
        tag = self.trial.specs[0].tags[TAG]
        return backup.Policy(name=tag, select=backup.Select(tags={TAG: tag}), keep=backup.Keep(last=1),
                             copy_to=(backup.CopyTo(region=self.backend.elsewhere),))

    def clean(self) -> None:
        cloud, made = self.cloud, self.made
        if made.vms:
            cloud.delete(made.vms)
            made.vms = []
        while made.snapshots:
            cloud.delete_snapshot(made.snapshots[-1])
            made.snapshots.pop()
        if made.policy:  # the policy's backups, here and their copies in the DR region
            for snap in backup.backups(cloud, made.policy.name, copies=True):
                cloud.delete_snapshot(snap)
            for target in made.policy.copy_to:
                with backup.reach(cloud, target) as there:
                    for snap in backup.backups(there, made.policy.name, copies=True):
                        there.delete_snapshot(snap)
            made.policy = None
