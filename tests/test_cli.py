"""The cloudvm command end to end on libvirt: tables for people, JSON for
scripts, one line and exit 1 on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cloudvm import ssh

pytest.importorskip("cloudvm_libvirt")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloudvm", *args], capture_output=True, text=True, timeout=300)


def test_create_list_ssh_delete(tmp_path: Path) -> None:
    key, _ = ssh.generate_keypair(tmp_path)
    name = "cli-e2e"
    try:
        made = cli("-o", "json", "create", name, "--image", "cloudvm-tiny", "--cpus", "1", "--memory", "0.5",
                   "--user", "ops", "--key", f"{key}.pub", "--tag", "suite=cli", "--wait", "reachable")
        assert made.returncode == 0, made.stderr
        vm = json.loads(made.stdout)[0]
        assert vm["name"] == name and vm["state"] == "running" and vm["tags"]["suite"] == "cli"

        listed = cli("-o", "json", "list", "--tag", "suite=cli")
        assert [v["name"] for v in json.loads(listed.stdout)] == [name]
        table = cli("list", "--tag", "suite=cli")
        assert name in table.stdout and "running" in table.stdout

        login = cli("ssh", name, "-i", str(key), "hostname")
        assert login.returncode == 0 and login.stdout.strip() == name, login.stderr
    finally:
        gone = cli("delete", name)
    assert gone.returncode == 0, gone.stderr
    missing = cli("show", name)
    assert missing.returncode == 1
    expected = f"error: NotFound: no VM named '{name}' managed by cloudvm on libvirt"
    assert missing.stderr.strip().splitlines() == [expected]


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path) -> None:
    key, _ = ssh.generate_keypair(tmp_path)
    bad = cli("create", "Bad_Name", "--key", f"{key}.pub")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: InvalidSpec: name: must match")
    debug = cli("--debug", "create", "Bad_Name", "--key", f"{key}.pub")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_dry_run_resolves_without_creating(tmp_path: Path) -> None:
    key, _ = ssh.generate_keypair(tmp_path)
    planned = cli("create", "plan-only", "--image", "cloudvm-tiny", "--type", "small", "--key", f"{key}.pub",
                  "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["size"] == {"type_name": "small", "cpus": 1, "memory_gib": 1.0}
    assert "plan-only" not in cli("list").stdout


def test_features_the_provider_lacks_fail_before_anything_is_made(tmp_path: Path) -> None:
    key, _ = ssh.generate_keypair(tmp_path)
    done = cli("create", "open-port", "--image", "cloudvm-tiny", "--key", f"{key}.pub", "--ingress", "8080@10.0.0.0/8")
    assert done.returncode == 1
    assert done.stderr.startswith("error: Unsupported: open-port: provider 'libvirt' does not support ingress_rules")
    bad = cli("create", "bad-port", "--image", "cloudvm-tiny", "--key", f"{key}.pub", "--ingress", "http")
    assert bad.returncode == 1 and "--ingress: 'http' is not PORT" in bad.stderr
    assert "open-port" not in cli("list").stdout


def test_spot_is_planned_with_its_ceiling_and_refused_where_there_is_none(tmp_path: Path) -> None:
    key, _ = ssh.generate_keypair(tmp_path)
    testing = pytest.importorskip("cloudvm_gcp.testing")
    with testing.fake_compute_engine() as gce:
        planned = cli("-p", "gcp", "-O", "project=cli", "-O", f"api_endpoint={gce.url}", "create", "cheap",
                      "--cpus", "2", "--memory", "4", "--key", f"{key}.pub", "--spot", "--dry-run")
        assert planned.returncode == 0, planned.stderr
        spot = json.loads(planned.stdout)["spot"]
        assert spot["on_interruption"] == "delete" and spot["max_price"] is None and spot["on_demand_price"] > 0
        assert gce.count("instances.insert") == 0
    refused = cli("create", "cheap", "--image", "cloudvm-tiny", "--key", f"{key}.pub", "--max-price", "0.01")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: Unsupported: cheap: provider 'libvirt' does not support spot")
