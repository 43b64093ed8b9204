"""A trial drawn from its seed: the VMs to make, what to do with them, and the faults to meet on
the way. The same seed draws the same trial, so a failing one is replayed exactly."""

from __future__ import annotations

import random
from dataclasses import dataclass

import cloudvm
from cloudvm_testing.chaos.backend import Backend, Fault

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl chaos@cloudvm"
STEPS = ("stop", "start", "reboot", "snapshot", "restore", "copy", "backup", "backup-again", "restore-backup",
         "delete-one")
TAG = "chaos"  # every VM carries its trial's: the backup policy selects by it
# up once more; two clients bringing it up together; a client killed mid-way (then up again)
ENVIRONMENT_STEPS = ("again", "two-at-once", "killed")


@dataclass(frozen=True)
class Trial:
    seed: int
    backend: str
    kind: str  # "fleet": create_many and what follows; "environment": up and down
    specs: tuple[cloudvm.VMSpec, ...]  # an environment's groups
    count: int | None  # a counted fleet of the one spec; in an environment, each group's count
    steps: tuple[str, ...]
    faults: tuple[Fault, ...]

    @property
    def kill_after(self) -> float:
        """When a client of the trial is killed, in seconds after it starts."""
        return random.Random(self.seed).uniform(0.3, 3.0)

    def __str__(self) -> str:
        made = f"{self.count} x {self.specs[0].name}" if self.count else ", ".join(s.name for s in self.specs)
        if self.kind == "environment":
            made = f"environment {self.specs[0].name.split('-')[0]}: {made}"
        faults = ", ".join(f"{f.kind} {f.call} x{f.times}" for f in self.faults) or "none"
        return f"{self.backend} #{self.seed}: create {made}; {' '.join(self.steps) or '-'}; faults: {faults}"


def seeds(seed: int, trials: int) -> list[int]:
    """The trials' own seeds: each replays alone."""
    chooser = random.Random(seed)
    return [chooser.randrange(1, 2**31) for _ in range(trials)]


def draw(seed: int, backend: Backend, image: str) -> Trial:
    rng = random.Random(seed)
    prefix = f"x{seed % 10**8:08d}"
    if rng.random() < 0.3:
        groups = tuple(_spec(rng, f"{prefix}-g{i}", image) for i in range(rng.randint(1, 2)))
        steps = tuple(step for step in ENVIRONMENT_STEPS if rng.random() < 0.4
                      and (step != "killed" or backend.options is not None))
        return Trial(seed, backend.name, "environment", groups, rng.randint(1, 2), steps, _faults(rng, backend))
    count = rng.choice([None, None, 2, 3])
    specs = tuple(_spec(rng, f"{prefix}-{i}" if not count else prefix, image)
                  for i in range(1 if count else rng.randint(1, 3)))
    steps = tuple(step for step in STEPS if rng.random() < 0.35)
    return Trial(seed, backend.name, "fleet", specs, count, steps, _faults(rng, backend))


def _faults(rng: random.Random, backend: Backend) -> tuple[Fault, ...]:
    return tuple(_fault(rng, backend) for _ in range(rng.randint(1, 4)))


def _spec(rng: random.Random, name: str, image: str) -> cloudvm.VMSpec:
    ingress = [cloudvm.Ingress(port=rng.choice([22, 80, 443]), cidr="10.0.0.0/8")] if rng.random() < 0.4 else []
    return cloudvm.VMSpec(
        name=name, size=cloudvm.Size(cpus=rng.choice([1, 2]), memory_gib=rng.choice([1, 2])), image=image,
        disks=[cloudvm.Disk(size_gib=rng.randint(1, 4)) for _ in range(rng.randint(0, 2))],
        network=cloudvm.Network(public_ip=rng.random() < 0.3, ingress=ingress), tags={TAG: name.split("-")[0]},
        ssh=cloudvm.SSHAccess(user="ops", public_keys=[KEY]))


def _fault(rng: random.Random, backend: Backend) -> Fault:
    kind = rng.choice(list(backend.kinds))
    times = rng.randint(1, 6) if kind == "throttle" else rng.randint(1, 2)
    return Fault(kind, rng.choice(list(backend.calls)), times)
