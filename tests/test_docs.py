"""Every code block on the site and the README is an example the suite runs or checks: each is
claimed here by the test that does, and a block no test claims fails. This file runs the ones the
README's tests (test_readme.py) do not."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import cloudvm
from cloudvm import backup
from tests.backends import start
from tests.pages import ROOT, block, blocks, clear

# (page, heading, place under the heading) -> the test that runs (or, where it needs an account or a
# tool the suite has not, checks) the block
RUN_BY = {
    ("README.md", "Two commands", 0): "test_docs.py::test_the_two_commands",
    ("README.md", "A short tour", 0): "test_readme.py::test_python_tour",
    ("docs/backups.md", "Backups and DR", 0): "test_readme.py::test_the_backup_section",
    ("docs/backups.md", "VMs as files", 0): "test_readme.py::test_the_vms_as_files_section",
    ("docs/contributing.md", "Layout", 0): "test_docs.py::test_the_layout_names_what_is_there",
    ("docs/contributing.md", "Development environment", 0): "test_docs.py::test_the_development_environment",
    ("docs/cookbook.md", "An environment per pull request", 0): "test_docs.py::test_the_cookbook",
    ("docs/cookbook.md", "Nightly backups from cron", 0): "test_docs.py::test_the_cookbook",
    ("docs/cookbook.md", "A DR drill in CI", 0): "test_docs.py::test_the_cookbook",
    ("docs/environments.md", "Dev/test environments", 0): "test_docs.py::test_the_environment_commands",
    ("docs/environments.md", "Dev/test environments", 1):
        "test_readme.py::test_the_environment_section_shows_the_example_file",
    ("docs/getting-started.md", "CLI tour", 0): "test_readme.py::test_cli_tour",
    ("docs/migrating.md", "Coming from boto3", 0): "test_docs.py::test_the_migration_examples",
    ("docs/migrating.md", "Coming from boto3", 1): "test_docs.py::test_the_migration_examples",
    ("docs/migrating.md", "Coming from Libcloud", 0): "test_docs.py::test_the_migration_examples",
    ("docs/permissions.md", "Permissions", 0): "test_docs.py::test_the_permission_documents_named",
    ("docs/providers/aws.md", "AWS", 0): "test_docs.py::test_connecting_to_an_account",
    ("docs/providers/azure.md", "Azure", 0): "test_docs.py::test_connecting_to_an_account",
    ("docs/providers/azure.md", "Offline, against the Resource Manager fake", 0):
        "test_readme.py::test_the_cloud_fakes_in_a_few_lines",
    ("docs/providers/gcp.md", "GCP", 0): "test_docs.py::test_connecting_to_an_account",
    ("docs/providers/gcp.md", "Offline, against the Compute Engine fake", 0):
        "test_readme.py::test_the_cloud_fakes_in_a_few_lines",
    ("docs/providers/libvirt.md", "libvirt hosts", 0): "test_docs.py::test_the_remote_host_commands",
    ("docs/reliability.md", "Reliability", 0): "test_docs.py::test_the_campaign_commands",
}


def test_every_block_is_claimed_by_a_test_that_exists() -> None:
    found = {(page, heading, place) for page, heading, place, _, _ in blocks()}
    assert found == set(RUN_BY)
    for claim in set(RUN_BY.values()):
        module, test = claim.split("::")
        tree = ast.parse((ROOT / "tests" / module).read_text())
        assert test in {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}, claim


def text(page: str, heading: str, place: int = 0) -> str:
    return next(body for p, h, n, _, body in blocks() if (p, h, n) == (page, heading, place))


def commands(script: str) -> list[str]:
    """A shell block's commands, comments and blank lines left out."""
    return [line.split("  #")[0].strip() for line in script.splitlines() if line.strip() and not line.startswith("#")]


def sh(script: str, env: dict[str, str], cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["sh", "-ec", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done


def test_the_two_commands(home: dict[str, str]) -> None:
    """The second is what CI runs; the first, the demo, runs here as its session runs it."""
    demo, suite = commands(block("sh", "Two commands"))
    assert suite == (ROOT / ".ci" / "run").read_text().splitlines()[-1]
    assert demo.endswith("python3 -m nox -s demo")
    assert '"python", "examples/demo.py"' in (ROOT / "noxfile.py").read_text()
    done = subprocess.run([sys.executable, "examples/demo.py"], env=home, cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "hello from user-data" in done.stdout


def test_the_layout_names_what_is_there() -> None:
    parent, named = Path(), []
    for line in text("docs/contributing.md", "Layout").splitlines():
        path = line.split()[0] if line.strip() else ""
        if path.endswith("/") and not line.startswith(" "):
            parent = Path(path)
            named.append(parent)
        elif path.endswith("/"):
            named.append(parent / path)
    assert all((ROOT / path).is_dir() for path in named), named
    projects = {path.parent.relative_to(ROOT) for path in ROOT.glob("providers/**/pyproject.toml")}
    assert projects <= set(named)  # every package has its line


def test_the_development_environment() -> None:
    """Every project of the repository installed editable, none that is not there (installing is what
    the suite's own environment did)."""
    script = text("docs/contributing.md", "Development environment").replace("\\\n", " ")
    words = shlex.split(script)
    editable = {words[i + 1].split("[")[0] for i, word in enumerate(words) if word == "-e"}
    projects = {str(path.parent.relative_to(ROOT)) for path in ROOT.glob("**/pyproject.toml")
                if ".nox" not in path.parts}
    assert editable == projects
    assert (ROOT / "providers/libvirt/host-setup.sh").exists()


def test_the_permission_documents_named() -> None:
    """The commands need an account and the clouds' CLIs; what they read is checked: each document
    exists and is the kind its command takes."""
    named = re.findall(r"(?:file://|--file=|@)(providers/\S+)", text("docs/permissions.md", "Permissions"))
    assert len(named) == 3
    for path in named:
        loaded = yaml.safe_load((ROOT / path).read_text())  # JSON is YAML
        assert set(loaded) & {"Statement", "includedPermissions", "Actions"}, path


@pytest.mark.parametrize("name", ["aws", "gcp", "azure"])
def test_connecting_to_an_account(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's ``connect()`` line as written; only where it goes (the test backend's endpoint and
    credentials) is added, and what it connected to answers."""
    snippet = text(f"docs/providers/{name}.md", name.upper() if name != "azure" else "Azure")
    with start(name) as backend:
        given = {k: v for k, v in backend.provider.items() if k != "name"}

        def connect(provider: str, **options: Any) -> cloudvm.Cloud:
            return cloudvm.connect(provider, **{**given, **options, **where(name, given)})

        scope: dict[str, Any] = {"cloudvm": type("module", (), {"connect": staticmethod(connect)})}
        exec(snippet, scope)
        with scope["cloud"] as cloud:
            assert cloud.list() == []
            assert cloud.provider.name == name


def where(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """The options that point a real account's connect() at the test backend instead."""
    keys = {"aws": ("endpoint_url",), "gcp": ("api_endpoint",), "azure": ("credential", "base_url", "connection_verify",
                                                                        "subscription_id")}[name]
    return {k: v for k, v in given.items() if k in keys or k == "guests"}


def test_the_migration_examples(tmp_path: Path) -> None:
    """boto3's script, cloudvm's and Libcloud's, each against moto through the EC2 rules' proxy: boto3 and
    cloudvm as written (boto3 reads the endpoint from ``AWS_ENDPOINT_URL``), Libcloud given the
    proxy's address and keys in place of the page's (keys no policy holds: cloudvm's policies are not
    Libcloud's)."""
    from urllib.parse import urlsplit

    from cloudvm_aws.testing import CREDENTIALS, HARNESS, leftovers, moto_proxy

    page = "docs/migrating.md"
    with moto_proxy() as proxy:
        env = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": proxy.url}
        at = urlsplit(proxy.url)
        libcloud = text(page, "Coming from Libcloud").replace(
            '("AKIA...", "secret", region="us-east-1")',
            f'("{HARNESS["aws_access_key_id"]}", "{HARNESS["aws_secret_access_key"]}", region="us-east-1", '
            f'host="{at.hostname}", port={at.port}, secure=False, signature_version="4")')
        scripts = {"boto3": text(page, "Coming from boto3", 0), "cloudvm": text(page, "Coming from boto3", 1),
                   "libcloud": libcloud}
        for who, script in scripts.items():
            done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            assert done.stdout.splitlines()[-1] == f"{who}: made and deleted 3"
        assert [leftovers(proxy.url, f"web-{i}") for i in (1, 2, 3)] == [[], [], []]


def test_the_remote_host_commands(home: dict[str, str]) -> None:
    """Against the second libvirt host; the image is the test image, there being no internet here to fetch
    Debian's from."""
    from cloudvm_libvirt.testing import leftovers, options, second_host

    remote = second_host()
    script = text("docs/providers/libvirt.md", "libvirt hosts")
    script = script.replace("qemu+ssh://ops@hv1.example.net/system", remote).replace(
        "--image debian-12", "--image cloudvm-tiny --cpus 1 --memory 0.5")
    env = {**home, "CLOUDVM_LIBVIRT_NETWORK": options()["network"]}
    try:
        done = sh(script, env)
        assert " up " in done.stdout and "load average" in done.stdout
    finally:
        subprocess.run(["cloudvm", "-O", f"uri={remote}", "delete", "web-1"], env=env, capture_output=True,
                       timeout=300, check=False)
    assert leftovers("web-1", uri=remote) == []


def test_the_campaign_commands() -> None:
    """The full run's arguments are the campaign's; the replay runs (one trial on the Azure fake)."""
    from cloudvm_testing.chaos.__main__ import parser

    assert '"python", "-m", "cloudvm_testing.chaos"' in (ROOT / "noxfile.py").read_text()
    full, replay = (shlex.split(line.split(" -- ")[1]) for line in commands(text("docs/reliability.md", "Reliability")))
    assert parser().parse_args(full).trials >= 1000
    done = subprocess.run([sys.executable, "-m", "cloudvm_testing.chaos", *replay], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "chaos: 1 trials, 0 duplicates, 0 leaked, 0 untyped errors, 0 not converged"


@pytest.fixture
def environment_made() -> Iterator[None]:
    names = ("demo-web-1", "demo-web-2", "demo-db", "pr-42-web-1", "pr-42-web-2", "pr-42-db", "db")
    clear(names)
    yield
    clear(names)


@pytest.mark.usefixtures("environment_made")
def test_the_environment_commands(home: dict[str, str]) -> None:
    """On libvirt as written; ``gc`` against the Compute Engine fake."""
    with start("gcp") as gcp:
        script = text("docs/environments.md", "Dev/test environments").replace(
            "-O project=my-project", f"-O project=my-project -O api_endpoint={gcp.provider['api_endpoint']}")
        done = sh(script, home)
    outputs = json.loads(re.search(r"^\{.*?^\}$", done.stdout, re.S | re.M).group(0))  # type: ignore[union-attr]
    assert sorted(outputs) == ["db", "web-1", "web-2"] and all(vm["address"] for vm in outputs.values())
    with cloudvm.connect("libvirt", network="cloudvm-test") as cloud:
        assert [vm.name for vm in cloud.list() if vm.name.startswith("demo-")] == []


def workflow(page: str, heading: str, event: str, env: dict[str, str], cwd: Path) -> list[str]:
    """A GitHub Actions workflow's ``run`` steps for ``event`` (pull_request's action), in order,
    each in a shell as the runner runs them; what each printed."""
    flow = yaml.safe_load(text(page, heading))
    said = []
    for job in flow["jobs"].values():
        for step in job["steps"]:
            condition = step.get("if", "true").replace("github.event.action", repr(event))
            if "run" not in step or step["run"].startswith("pip install") or not eval(condition, {}, {"true": True}):
                continue
            said.append(sh(step["run"], {**env, **{k: "42" for k in job.get("env", {})}}, cwd=cwd).stdout)
    return said


@pytest.mark.usefixtures("environment_made")
def test_the_cookbook(home: dict[str, str], tmp_path: Path) -> None:
    """The three recipes on real VMs, in a checkout's copy of the example files."""
    for example in ("env.yaml", "db-init.sh", "backup.yaml"):
        (tmp_path / example).write_text((ROOT / "examples" / example).read_text())
    page = "docs/cookbook.md"
    opened = workflow(page, "An environment per pull request", "opened", home, tmp_path)
    assert opened[-1].strip() == "['db', 'web-1', 'web-2']"
    with cloudvm.connect("libvirt", network="cloudvm-test") as cloud:
        assert sorted(vm.name for vm in cloud.list() if vm.name.startswith("pr-42-")) == [
            "pr-42-db", "pr-42-web-1", "pr-42-web-2"]
    workflow(page, "An environment per pull request", "closed", home, tmp_path)
    with cloudvm.connect("libvirt", network="cloudvm-test") as cloud:
        assert [vm.name for vm in cloud.list() if vm.name.startswith("pr-42-")] == []
        key = (Path(home["HOME"]) / ".ssh" / "id_ed25519.pub").read_text()
        cloud.create(cloudvm.VMSpec(name="db", size=cloudvm.Size(cpus=1, memory_gib=0.5), image="cloudvm-tiny",
                                    ssh=cloudvm.SSHAccess(user="ops", public_keys=[key]),
                                    tags={"backup": "nightly"}), wait="reachable")
    nightly = sh(text(page, "Nightly backups from cron"), home, cwd=tmp_path).stdout
    assert "dry_run: True" in nightly and len(re.findall(r"^taken: db-", nightly, re.M)) == 2  # would take, took
    with cloudvm.connect("libvirt", network="cloudvm-test") as cloud:
        assert len(backup.backups(cloud, "nightly", "db")) == 1  # the dry run took nothing
    drilled = workflow(page, "A DR drill in CI", "schedule", home, tmp_path)
    assert "passed: True" in drilled[0] and "load average" in drilled[0]
