"""An environment trial: ``up`` (again, by two clients at once, or by a ``cloudvm up`` killed
mid-way and run again) and ``down``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from cloudvm.envfile import Loaded
from cloudvm.environment import Environment
from cloudvm_testing.chaos.backend import Backend
from cloudvm_testing.chaos.checks import RETRY
from cloudvm_testing.chaos.plan import Trial


class Environmental:
    def __init__(self, trial: Trial, backend: Backend) -> None:
        self.trial, self.backend = trial, backend
        self._tmp = tempfile.TemporaryDirectory()
        self.path = _file(trial, backend, Path(self._tmp.name))
        self.killed = False  # a client was killed before it finished

    def close(self) -> None:
        self._tmp.cleanup()

    def _env(self) -> Environment:
        return Environment(Loaded(self.path), clouds={self.backend.name: self.backend.connect(RETRY)})

    def declare(self) -> list[str]:
        with self._env() as env:
            return [vm.name for vm in env.up()]

    def act(self) -> None:
        def up() -> None:
            with self._env() as env:
                env.up()
                if "again" in self.trial.steps:
                    env.up()
        if "killed" in self.trial.steps:
            self._killed()
        if "two-at-once" not in self.trial.steps:
            return up()
        errors: list[BaseException] = []

        def racing() -> None:
            try:
                up()
            except BaseException as exc:  # handed to the caller's thread
                errors.append(exc)
        threads = [threading.Thread(target=racing) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _killed(self) -> None:
        """``cloudvm up`` in a process of its own, killed (SIGKILL: no clean-up runs) at the trial's
        moment; the up that follows is the caller running it again."""
        client = subprocess.Popen([sys.executable, "-m", "cloudvm", "up", str(self.path)],
                                  env={**os.environ, "CLOUDVM_GUESTS": "0"}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            client.wait(self.trial.kill_after)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
            self.killed = True

    def clean(self) -> None:
        with self._env() as env:
            env.down()


def _file(trial: Trial, backend: Backend, directory: Path) -> Path:
    """The environment file: one group per spec, ``trial.count`` VMs each."""
    name = trial.specs[0].name.split("-")[0]
    groups = [{"name": spec.name.removeprefix(f"{name}-"), "count": trial.count,
               **spec.model_dump(mode="json", include={"size", "image", "disks", "network", "ssh"})}
              for spec in trial.specs]
    path = directory / "env.yaml"  # JSON is YAML
    provider = {"name": backend.name, **(backend.options or {})}
    path.write_text(json.dumps({"name": name, "provider": provider, "vms": groups}))
    return path
