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


def test_deploy_runs_unchanged_on_aws_against_moto() -> None:
    pytest.importorskip("cloudvm_aws")
    from cloudvm_aws.testing import CREDENTIALS, moto_server

    with moto_server() as url:
        env = {**os.environ, **CREDENTIALS, "CLOUDVM_PROVIDER": "aws", "AWS_ENDPOINT_URL": url, "CLOUDVM_GUESTS": "0",
               "CLOUDVM_NAME": "deploy-moto"}
        done = subprocess.run([sys.executable, str(EXAMPLES / "deploy.py")], env=env, capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"deploy-moto is up at {done.stdout.split()[4]}",
        "aws runs no guest behind this endpoint: SSH step skipped",
        "deploy-moto deleted",
    ]


def test_deploy_runs_unchanged_on_gcp_against_the_fake() -> None:
    pytest.importorskip("cloudvm_gcp")
    from cloudvm_gcp.testing import fake_compute_engine

    with fake_compute_engine() as gce:
        env = {**os.environ, "CLOUDVM_PROVIDER": "gcp", "GOOGLE_CLOUD_PROJECT": "demo", "CLOUDVM_GUESTS": "0",
               "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE": f"{gce.url}/compute/v1/", "CLOUDVM_NAME": "deploy-gce"}
        done = subprocess.run([sys.executable, str(EXAMPLES / "deploy.py")], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert gce.resources("demo") == []
    assert done.stdout.splitlines() == [
        f"deploy-gce is up at {done.stdout.split()[4]}",
        "gcp runs no guest behind this endpoint: SSH step skipped",
        "deploy-gce deleted",
    ]


def test_deploy_runs_on_azure_against_the_fake_with_only_connect_changed(tmp_path: Path) -> None:
    pytest.importorskip("cloudvm_azure")
    from cloudvm_azure.testing import fake_resource_manager

    script = (EXAMPLES / "deploy.py").read_text()
    original = 'cloudvm.connect(os.environ.get("CLOUDVM_PROVIDER", "libvirt"))'
    assert original in script
    with fake_resource_manager() as arm:
        options = {**arm.connect_options(), "credential": "cloudvm_azure.testing:FakeCredential", "guests": False}
        changed = tmp_path / "deploy.py"
        changed.write_text(script.replace(original, f'cloudvm.connect("azure", **{options!r})'))
        env = {**os.environ, "CLOUDVM_NAME": "deploy-az"}
        done = subprocess.run([sys.executable, str(changed)], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert arm.leftovers("deploy-az") == []
    assert done.stdout.splitlines() == [
        f"deploy-az is up at {done.stdout.split()[4]}",
        "azure runs no guest behind this endpoint: SSH step skipped",
        "deploy-az deleted",
    ]
