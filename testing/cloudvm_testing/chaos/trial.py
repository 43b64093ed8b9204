"""One trial: its workflow run under its faults, then what cloudvm promises checked against the
backend's own state."""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from cloudvm_testing.chaos import environments, fleets
from cloudvm_testing.chaos.backend import Backend
from cloudvm_testing.chaos.checks import Outcome, guarded
from cloudvm_testing.chaos.plan import Trial


class Workflow(Protocol):
    """What a trial does, and how its caller cleans up after it."""

    killed: bool  # a client of it was killed before it finished

    def act(self) -> None: ...

    def clean(self) -> None:
        """Remove what the workflow was handed back."""

    def declare(self) -> list[str]:
        """Make the workflow's VMs again; their names."""

    def close(self) -> None: ...


def run(trial: Trial, backend: Backend) -> Outcome:
    outcome = Outcome(trial)
    backend.clear()
    before = backend.held()
    for fault in trial.faults:
        backend.inject(fault)
    workflow: Workflow = (environments.Environmental if trial.kind == "environment" else fleets.Fleet)(trial, backend)
    try:
        finished = guarded(outcome, workflow.act)
        outcome.killed = workflow.killed
        outcome.duplicates = sorted(name for name, n in Counter(backend.vm_names()).items() if n > 1)
        cleaned = guarded(outcome, workflow.clean)
        outcome.struck = sum(f.times for f in trial.faults) - backend.unstruck()
        backend.clear()
        if not cleaned:  # the caller runs its clean-up again once the service is well
            guarded(outcome, workflow.clean)
        if not finished:  # declared again on a well service, the workflow's VMs are made, once each
            _converge(workflow, backend, outcome)
    finally:
        workflow.close()
    outcome.leaked = sorted(backend.held() - before)
    return outcome


def _converge(workflow: Workflow, backend: Backend, outcome: Outcome) -> None:
    wanted: list[str] = []
    if not guarded(outcome, lambda: wanted.extend(sorted(workflow.declare()))):
        outcome.not_converged.append(f"declared again, the VMs were not made: {outcome.failed[-1]}")
    alive = sorted(name for name in backend.vm_names() if name in wanted)
    if alive != wanted:
        outcome.not_converged.append(f"declared {wanted}, the backend holds {alive}")
    guarded(outcome, workflow.clean)
