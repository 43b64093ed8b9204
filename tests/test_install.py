"""cloudvm as users get it: the built packages installed into a fresh virtual environment (not
editable, no checkout on the path), the command and a lifecycle run from there.

Runs where ``CLOUDVM_DIST`` names the directory ``nox -s build`` filled."""

from __future__ import annotations

import os
import re
import subprocess
import venv
import zipfile
from pathlib import Path

import pytest

import cloudvm

DIST = os.environ.get("CLOUDVM_DIST")
pytestmark = [pytest.mark.skipif(not DIST, reason="CLOUDVM_DIST names no built packages (nox -s build)"),
              pytest.mark.timeout(1800)]  # the first installs every SDK into the new environment

# Every command of the installed ``cloudvm``, as the words that name it, from its own typer app.
COMMANDS = "from cloudvm.cli import commands\nfor words in commands(): print(' '.join(words))"

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
    subprocess.run([bindir / "pip", "install", "-q", "--find-links", dist, "cloudvm-sdk[aws,gcp,azure,libvirt,test]",
                    "cloudvm-aws[test]", "cloudvm-gcp[test]", "cloudvm-azure[test]"],
                   check=True, cwd=home, timeout=1200)
    return bindir


def run(bindir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """From outside the checkout, with nothing of it on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=bindir.parent, env=env,
                          timeout=300)


# What only a test backend holds: the fakes (with Azure's specs), the moto proxy's rules, the simulated limits,
# the conformance suite and the fault campaign.
TEST_BACKEND = re.compile(r"/fake/|/fake\.py$|/specs/|_rules\.py$|/simulated\.py$|/chaos\.py$|/chaos/|_testing/")


def wheel(name: str) -> list[str]:
    assert DIST
    with zipfile.ZipFile(Path(DIST) / f"{name}-{cloudvm.__version__}-py3-none-any.whl") as made:
        return made.namelist()


@pytest.mark.parametrize("name", ["cloudvm_libvirt", "cloudvm_aws", "cloudvm_gcp", "cloudvm_azure"])
def test_no_production_wheel_holds_a_test_backend(name: str) -> None:
    held = wheel(name)
    assert f"{name}/provider.py" in held and f"{name}/testing.py" in held  # the provider, and the import users write
    assert [path for path in held if TEST_BACKEND.search(path)] == []


def test_the_core_wheel_holds_no_fake() -> None:
    held = wheel("cloudvm_sdk")
    assert "cloudvm/testing/__init__.py" in held and "cloudvm/cloud.py" in held  # the core, and the import users write
    assert [path for path in held if TEST_BACKEND.search(path)] == []


def test_the_test_backends_are_wheels_of_their_own() -> None:
    assert {"cloudvm_testing/fake.py", "cloudvm_testing/conformance.py"} <= set(wheel("cloudvm_testing"))
    assert "cloudvm_aws_testing/ec2_rules.py" in wheel("cloudvm_aws_testing")
    assert "cloudvm_gcp_testing/fake/server.py" in wheel("cloudvm_gcp_testing")
    specs = [path for path in wheel("cloudvm_azure_testing") if path.endswith(".json") and "/specs/" in path]
    assert len(specs) > 20


def test_the_packages_are_the_installed_ones(installed: Path) -> None:
    where = run(installed, installed / "python", "-c",
                "import cloudvm, cloudvm_aws, cloudvm_gcp, cloudvm_azure, cloudvm_libvirt as l;"
                "import cloudvm.testing, cloudvm_gcp.testing, cloudvm_azure.testing, sys;"  # the lines users write
                "print(cloudvm.__file__, l.__file__, *(sys.modules[f'cloudvm{c}_testing'].__file__"
                " for c in ('', '_gcp', '_azure')))")
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
    assert "installed: aws, azure, gcp, libvirt" in missing.stderr and "[openstack]" not in missing.stderr


def test_a_lifecycle_against_the_installed_aws_backend(installed: Path) -> None:
    done = run(installed, installed / "python", "-c", LIFECYCLE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "running ['installed'] []"
