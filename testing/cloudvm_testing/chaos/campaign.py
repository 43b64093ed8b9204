"""A campaign: a backend per worker (started afresh every ``BATCH`` trials), its trials run one
after another, what broke reported with the command that replays it."""

from __future__ import annotations

import functools
import importlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from cloudvm_testing.chaos.checks import Outcome
from cloudvm_testing.chaos.plan import draw, seeds
from cloudvm_testing.chaos.trial import run

# Trials per start of a backend: an emulator keeps what was deleted (moto lists terminated instances
# for good), so on one started for a thousand trials every call grows slower (AWS, 3 workers: moto's
# CPU went from 5 to 13 times the clients' within 90 minutes).
BATCH = 50


def campaign(name: str, trial_seeds: list[int], verbose: bool = False,
             say: Callable[[str], None] | None = None) -> list[Outcome]:
    """Every trial on one backend, started afresh every ``BATCH`` trials; ``say`` hears about each
    that failed (and each that passed, if ``verbose``), and how far the campaign is."""
    say = say or functools.partial(print, flush=True)
    outcomes: list[Outcome] = []
    for start in range(0, len(trial_seeds), BATCH):
        outcomes += _batch(name, trial_seeds[start:start + BATCH], verbose, say)
        if len(trial_seeds) > BATCH:
            say(f"     {name}: {len(outcomes)} of {len(trial_seeds)} trials, {sum(not o.ok for o in outcomes)} failed")
    return outcomes


def _batch(name: str, trial_seeds: list[int], verbose: bool, say: Callable[[str], None]) -> list[Outcome]:
    outcomes = []
    with importlib.import_module(f"cloudvm_{name}_testing.chaos").backend() as backend:
        for seed in trial_seeds:
            trial = draw(seed, backend, backend.image)
            started = time.monotonic()
            outcome = run(trial, backend)
            outcomes.append(outcome)
            if verbose or not outcome.ok:
                say(f"{'ok  ' if outcome.ok else 'FAIL'} {trial} ({time.monotonic() - started:.1f} s)")
            if not outcome.ok:
                for problem in (*outcome.duplicates, *outcome.leaked, *outcome.untyped, *outcome.not_converged):
                    say(f"     {problem}")
                say(f"     replay: nox -s chaos -- --backends {name} --trial {seed}")
    return outcomes


def campaigns(names: list[str], trial_seeds: list[int], jobs: int = 1, verbose: bool = False) -> list[Outcome]:
    """Every backend's trials, split over ``jobs`` worker processes per backend, each with a backend of its own
    (a trial mostly waits on its backend, so workers overlap well even on few cores); the outcomes
    come back in the order of the seeds."""
    if jobs <= 1:
        return [outcome for name in names for outcome in campaign(name, trial_seeds, verbose)]
    parts = [(name, trial_seeds[i::jobs]) for name in names for i in range(jobs) if trial_seeds[i::jobs]]
    with ProcessPoolExecutor(len(parts), mp_context=get_context("spawn")) as pool:
        done = list(pool.map(_part, parts, [verbose] * len(parts)))
    order = {seed: i for i, seed in enumerate(trial_seeds)}
    outcomes = [outcome for part in done for outcome in part]
    return sorted(outcomes, key=lambda o: (names.index(o.trial.backend), order[o.trial.seed]))


def _part(part: tuple[str, list[int]], verbose: bool) -> list[Outcome]:
    quiet(verbose)
    return campaign(*part, verbose=verbose)


def quiet(verbose: bool) -> None:
    """Retries are expected in a campaign: only what reaches the caller counts."""
    logging.basicConfig(level=logging.WARNING if verbose else logging.CRITICAL, format="     %(message)s")


def short_run(name: str, trials: int = 10, seed: int = 2026) -> None:
    """A suite's campaign on one backend: fails with every broken promise and how to replay it."""
    heard: list[str] = []
    outcomes = campaign(name, seeds(seed, trials), say=heard.append)
    assert all(o.ok for o in outcomes), "\n".join([*heard, summary(outcomes)])


def summary(outcomes: list[Outcome]) -> str:
    counts = [sum(len(getattr(o, what)) for o in outcomes)
              for what in ("duplicates", "leaked", "untyped", "not_converged")]
    struck = sum(o.struck for o in outcomes)
    failed = sum(bool(o.failed) for o in outcomes)
    killed = sum(o.killed for o in outcomes)
    return (f"chaos: {struck} faults struck, {killed} clients killed mid-way; {failed} trials saw a typed error\n"
            f"chaos: {len(outcomes)} trials, {counts[0]} duplicates, {counts[1]} leaked, {counts[2]} untyped errors, "
            f"{counts[3]} not converged")

