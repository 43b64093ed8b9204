"""The examples users copy must run as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("cloudvm_libvirt")
EXAMPLES = Path(__file__).parent.parent / "examples"


def test_deploy_runs_unchanged_on_libvirt() -> None:
    env = {**os.environ, "CLOUDVM_PROVIDER": "libvirt", "CLOUDVM_IMAGE": "cloudvm-tiny", "CLOUDVM_NAME": "deploy-e2e"}
    done = subprocess.run([sys.executable, str(EXAMPLES / "deploy.py")], env=env, capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("deploy-e2e is up at ")
    assert lines[1].startswith("Linux ") and lines[2] == "deploy-e2e" and lines[-1] == "deploy-e2e deleted"
