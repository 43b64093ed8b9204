"""The README's tours run as written (with a throwaway key as ~/.ssh/id_ed25519)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cloudvm import ssh

pytest.importorskip("cloudvm_libvirt")
README = (Path(__file__).parent.parent / "README.md").read_text()


def block(language: str, heading: str) -> str:
    section = README.split(f"## {heading}", 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no {language} block under {heading}"
    return match.group(1)


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    (tmp_path / ".ssh").mkdir()
    ssh.generate_keypair(tmp_path / ".ssh")
    bindir = str(Path(sys.executable).parent)
    from cloudvm_libvirt.images import cache_dir

    # A throwaway home, but the image cache stays shared: no rebuilt image, no new base volume per run.
    return {**os.environ, "HOME": str(tmp_path), "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
            "CLOUDVM_CACHE": str(cache_dir())}


def test_python_tour(home: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-c", block("python", "Python tour")], env=home, capture_output=True,
                          text=True, timeout=540)
    assert done.returncode == 0, done.stderr
    assert "running" in done.stdout and "web-1-restored" in done.stdout


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


def test_the_backup_section(home: dict[str, str]) -> None:
    """Back up, change, drill, restore, export and import on real VMs; each login prints the file."""
    from cloudvm_libvirt.testing import leftovers

    import cloudvm
    from cloudvm import backup

    try:
        done = subprocess.run(["sh", "-ec", block("sh", "Backups and DR")], env=home, capture_output=True,
                              text=True, timeout=540, cwd=Path(__file__).parent.parent)
        assert done.returncode == 0, done.stderr
        said = done.stdout.splitlines()
        assert "taken: " in said and said.count("taken: ") == 1  # the second run took nothing
        assert "check_output: precious" in said and "passed: True" in said  # the drill restored the backup
        assert [line for line in said if line in ("precious", "changed")] == ["precious", "changed"]
    finally:
        with cloudvm.connect("libvirt", network="cloudvm-test") as cloud:
            cloud.delete([vm for vm in cloud.list() if vm.name in ("db", "db-restored", "db-moved")])
            for made in backup.backups(cloud, "nightly", "db"):
                cloud.delete_snapshot(made)
    assert leftovers("db") == leftovers("db-restored") == leftovers("db-moved", pool="elsewhere") == []
