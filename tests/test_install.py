"""cloudvm as users get it: the built packages installed into a fresh virtual environment (not
editable, no checkout on the path), the command and a lifecycle run from there.

Runs where ``CLOUDVM_DIST`` names the directory ``nox -s build`` filled."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

import cloudvm

DIST = os.environ.get("CLOUDVM_DIST")
pytestmark = [pytest.mark.skipif(not DIST, reason="CLOUDVM_DIST names no built packages (nox -s build)"),
              pytest.mark.timeout(1800)]  # the first installs every SDK into the new environment

# Every command of the installed ``cloudvm``, as the words that name it, from its own typer app.
COMMANDS = """
import typer.main
from cloudvm.cli import app

def walk(command, path=()):
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, (*path, name))

for words in walk(typer.main.get_command(app)):
    print(" ".join(words))
"""

# A lifecycle through the installed command against the installed AWS test backend.
LIFECYCLE = """
import json, os, subprocess, sys, tempfile
from pathlib import Path
from cloudvm import ssh
from cloudvm_aws.testing import CREDENTIALS, REGION, moto_server

command = str(Path(sys.executable).parent / "cloudvm")
key, _ = ssh.generate_keypair(Path(tempfile.mkdtemp()))
with moto_server() as url:
    env = {**os.environ, **CREDENTIALS, "CLOUDVM_GUESTS": "0"}
    def run(*args):
        done = subprocess.run([command, "-p", "aws", "-O", f"region={REGION}", "-O", f"endpoint_url={url}",
                               "-o", "json", *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None
    made = run("create", "installed", "--cpus", "1", "--memory", "1", "--image", "ubuntu-24.04", "--wait", "running",
               "--user", "ops", "--key", f"{key}.pub")
    listed = run("list")
    run("delete", "installed")
    print(made[0]["state"], [vm["name"] for vm in listed], run("list"))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The environment's bin directory, every package installed from the built files."""
    assert DIST
    dist = Path(DIST).resolve()
    home = tmp_path_factory.mktemp("installed")
    venv.create(home / "env", with_pip=True)
    bindir = home / "env" / "bin"
    core = dist / f"cloudvm-{cloudvm.__version__}-py3-none-any.whl"
    # The core as its wheel file: PyPI's "cloudvm" is another project's, never to be picked instead.
    subprocess.run([bindir / "pip", "install", "-q", "--find-links", dist, f"{core}[aws,gcp,azure,libvirt]",
                    "cloudvm-aws[test]"], check=True, cwd=home, timeout=1200)
    return bindir


def run(bindir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """From outside the checkout, with nothing of it on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=bindir.parent, env=env,
                          timeout=300)


def test_the_packages_are_the_installed_ones(installed: Path) -> None:
    where = run(installed, installed / "python", "-c",
                "import cloudvm, cloudvm_aws, cloudvm_gcp, cloudvm_azure, cloudvm_libvirt as l;"
                "print(cloudvm.__file__, l.__file__)")
    assert where.returncode == 0, where.stderr
    assert all(path.startswith(str(installed.parent / "lib")) for path in where.stdout.split()), where.stdout


def test_version(installed: Path) -> None:
    shown = run(installed, installed / "cloudvm", "--version")
    assert shown.returncode == 0 and shown.stdout == f"cloudvm {cloudvm.__version__}\n", shown.stderr


def test_every_help_renders(installed: Path) -> None:
    listed = run(installed, installed / "python", "-c", COMMANDS)
    assert listed.returncode == 0, listed.stderr
    every = [line.split() for line in listed.stdout.splitlines()]
    assert len(every) > 20 and ["backup", "run"] in every
    for words in every:
        shown = run(installed, installed / "cloudvm", *words, "--help")
        assert shown.returncode == 0 and shown.stderr == "", (words, shown.stderr)
        assert f"Usage: cloudvm {' '.join(words)}".strip() in " ".join(shown.stdout.split())


def test_the_providers_are_found(installed: Path) -> None:
    missing = run(installed, installed / "cloudvm", "-p", "openstack", "list")
    assert missing.returncode == 1
    assert "installed: aws, azure, gcp, libvirt" in missing.stderr and "cloudvm[openstack]" not in missing.stderr


def test_a_lifecycle_against_the_installed_aws_backend(installed: Path) -> None:
    done = run(installed, installed / "python", "-c", LIFECYCLE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "running ['installed'] []"
