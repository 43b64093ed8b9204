"""A seeded fault campaign: whole workflows drawn at random, run against a backend that injects
faults, and the backend's own state checked after each for what cloudvm promises — no two VMs
with one name, nothing left behind, only typed errors, convergence.

``python -m cloudvm_testing.chaos --trials N --seed S --backends aws,gcp,azure`` (``nox -s chaos``).
A backend is registered by its provider's package: ``cloudvm_<name>.chaos.backend()``."""

from cloudvm_testing.chaos.backend import Backend, Fault
from cloudvm_testing.chaos.checks import Outcome
from cloudvm_testing.chaos.plan import Trial, draw
from cloudvm_testing.chaos.trial import run

__all__ = ["Backend", "Fault", "Outcome", "Trial", "draw", "run"]
