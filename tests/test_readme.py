"""The README's tour and the documentation's examples run as written (with a throwaway key as
~/.ssh/id_ed25519)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import cloudvm
from cloudvm import backup
from tests.pages import block, clear

pytest.importorskip("cloudvm_libvirt")


@pytest.fixture
def tour_made() -> Iterator[None]:
    names = ("web-1", "web-1-restored", "web-2"), ("web-1-before-upgrade", "web-1-snap")
    clear(*names)
    yield
    clear(*names)


@pytest.fixture
def backup_made() -> Iterator[None]:
    names = ("db", "db-restored", "db-moved")
    clear(names)
    yield
    clear(names)


@pytest.mark.usefixtures("tour_made")
def test_python_tour(home: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-c", block("python", "A short tour")], env=home, capture_output=True,
                          text=True, timeout=540)
    assert done.returncode == 0, done.stderr
    assert "running" in done.stdout and "web-1-restored" in done.stdout


@pytest.mark.usefixtures("tour_made")
def test_cli_tour(home: dict[str, str]) -> None:
    done = subprocess.run(["sh", "-ec", block("sh", "CLI tour")], env=home, capture_output=True, text=True,
                          timeout=540)
    assert done.returncode == 0, done.stderr
    assert "web-1" in done.stdout and "Linux" in done.stdout and "cloudvm-tiny: boot finished" in done.stdout


@pytest.mark.parametrize(("package", "heading", "expected"), [
    ("cloudvm_gcp", "Offline, against the Compute Engine fake", "web running e2-medium ('10.128.0."),
    ("cloudvm_azure", "Offline, against the Resource Manager fake", "web running Standard_B2s ('10.42.0."),
])
def test_the_cloud_fakes_in_a_few_lines(package: str, heading: str, expected: str) -> None:
    pytest.importorskip(package)
    done = subprocess.run([sys.executable, "-c", block("python", heading)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(expected)


def test_the_environment_section_shows_the_example_file() -> None:
    import yaml

    example = Path(__file__).parent.parent / "examples" / "env.yaml"
    assert yaml.safe_load(block("yaml", "Dev/test environments")) == yaml.safe_load(example.read_text())


@pytest.mark.usefixtures("backup_made")
def test_the_backup_section(home: dict[str, str]) -> None:
    """Back up, change, drill, restore, export and import on real VMs; each login prints the file."""
    from cloudvm_libvirt.testing import leftovers

    done = subprocess.run(["sh", "-ec", block("sh", "Backups and DR")], env=home, capture_output=True,
                          text=True, timeout=540, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    said = done.stdout.splitlines()
    assert "taken: " in said and said.count("taken: ") == 1  # the second run took nothing
    assert "check_output: precious" in said and "passed: True" in said  # the drill restored the backup
    assert [line for line in said if line in ("precious", "changed")] == ["precious", "changed"]
    with cloudvm.connect("libvirt", network="cloudvm-test") as cloud:
        assert backup.backups(cloud, "nightly", "db") != []
        clear(("db", "db-restored", "db-moved"))
        assert backup.backups(cloud, "nightly", "db") == []
    assert leftovers("db") == leftovers("db-restored") == leftovers("db-moved", pool="elsewhere") == []


@pytest.fixture
def portable_made() -> Iterator[None]:
    names = ("app", "app-home")
    clear(names)
    yield
    clear(names)


@pytest.mark.usefixtures("portable_made")
def test_the_vms_as_files_section(home: dict[str, str], tmp_path: Path) -> None:
    """A libvirt VM with a file on it goes to AWS (moto behind the proxy) and comes home with it."""
    aws = pytest.importorskip("cloudvm_aws.testing")
    key = Path(home["HOME"]) / ".ssh" / "id_ed25519"
    spec = cloudvm.VMSpec(name="app", size=cloudvm.Size(cpus=1, memory_gib=0.5), image="cloudvm-tiny",
                          ssh=cloudvm.SSHAccess(user="ops", public_keys=[key.with_suffix(".pub").read_text()]),
                          disks=[cloudvm.Disk(size_gib=1)])
    with cloudvm.connect("libvirt", network="cloudvm-test") as cloud:
        cloud.ssh(cloud.create(spec, wait="reachable"), "echo precious > ~/data && sync", key_file=str(key))
    with aws.moto_proxy() as proxy:
        script = block("sh", "VMs as files").replace("/tmp/", f"{tmp_path}/").replace(
            "-O region=us-east-1", f"-O region=us-east-1 -O endpoint_url={proxy.url}")
        done = subprocess.run(["sh", "-ec", script], env={**home, **aws.CREDENTIALS}, capture_output=True, text=True,
                              timeout=540)
        assert done.returncode == 0, done.stderr
        assert re.search(r"sent \d+\.\d MiB for 2\.\d GiB of disks", done.stderr), done.stderr
        assert aws.leftovers(proxy.url, "app") == []
    with cloudvm.connect("libvirt", network="cloudvm-test") as cloud:
        assert cloud.ssh("app-home", "cat ~/data", key_file=str(key)).stdout.strip() == "precious"
