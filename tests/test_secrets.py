"""No secret reaches the output: every CLI command, run with ``-v --debug -o json`` against the AWS
test backend, with a canary in the user-data, the environment's user-data and the credentials."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudvm.cli import commands
from tests.backends import Backend, start

CANARY = f"canary{secrets.token_hex(8)}"


def registered() -> set[str]:
    """Every command the CLI runs (groups left out), sub-commands as ``group command``."""
    every = commands()
    return {" ".join(words) for words in every if not any(other[:len(words)] == words for other in every
                                                          if len(other) > len(words))}


@pytest.fixture(scope="module")
def aws() -> Iterator[Backend]:
    with start("aws") as backend:
        yield backend


def test_no_command_shows_a_secret(aws: Backend, tmp_path: Path) -> None:
    options = [f"{key}={value}" for key, value in aws.provider.items() if key not in ("name", "claim_lease")]
    environ = {**os.environ, **aws.environ, "AWS_SECRET_ACCESS_KEY": f"{CANARY}-secret-key",
               "AWS_SESSION_TOKEN": f"{CANARY}-session-token", "CLOUDVM_KNOWN_HOSTS": str(tmp_path / "known")}
    public = tmp_path / "key.pub"
    public.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops\n")
    script = tmp_path / "user-data.sh"
    script.write_text(f"#!/bin/sh\nexport TOKEN={CANARY}-user-data\n")
    (tmp_path / "db.sh").write_text(f"#!/bin/sh\nexport DB_PASSWORD={CANARY}-environment\n")
    env = tmp_path / "env.yaml"
    env.write_text(f"name: canary\nprovider: {json.dumps(aws.provider)}\n"
                   f"defaults: {{image: ubuntu-24.04, size: {{cpus: 2, memory_gib: 1}}, "
                   f"ssh: {{user: ops, public_keys: [{public}]}}}}\n"
                   f"vms: [{{name: db, user_data: {{file: db.sh}}}}]\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("name: canary\nselect: {tags: {backup: canary}}\nkeep: {last: 2}\n")
    ran: dict[str, subprocess.CompletedProcess[str]] = {}

    def cli(command: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "cloudvm", "-v", "--debug", "-o", "json", "-p", "aws",
                               *(a for o in options for a in ("-O", o)), *command.split(), *args],
                              capture_output=True, text=True, timeout=180, env=environ)
        ran.setdefault(command, done)
        assert CANARY not in done.stdout + done.stderr, f"`cloudvm {command}` showed a secret"
        return done

    made = cli("create", "canary-vm", "--image", "ubuntu-24.04", "--cpus", "2", "--memory", "1", "--key", str(public),
               "--user-data", str(script), "--tag", "backup=canary")
    assert made.returncode == 0, made.stderr
    try:
        for command, args in [("list", ()), ("show", ("canary-vm",)), ("console", ("canary-vm",)),
                              ("stop", ("canary-vm",)), ("start", ("canary-vm",)), ("reboot", ("canary-vm",)),
                              ("ssh", ("no-such-vm",)), ("snapshot", ("canary-vm", "--name", "canary-snap")),
                              ("snapshots", ()), ("restore", ("canary-snap", "--name", "canary-restored")),
                              ("delete-snapshot", ("canary-snap",)), ("export", ("canary-vm", str(tmp_path / "x"))),
                              ("import", (str(tmp_path / "x"),)), ("plan", (str(env),)), ("up", (str(env),)),
                              ("status", (str(env),)), ("outputs", (str(env),)), ("down", (str(env),)),
                              ("gc", ("--dry-run",)), ("backup run", (str(policy),)), ("backup list", ())]:
            cli(command, *args)
        taken = json.loads(ran["backup list"].stdout)
        assert taken, ran["backup run"].stderr
        cli("backup restore", taken[0]["name"], "--name", "canary-from-backup")
        cli("dr drill", str(policy))
        cli("backup delete", taken[0]["name"])
    finally:
        cli("delete", "canary-vm", "canary-restored", "canary-from-backup")
    assert registered() <= set(ran), f"commands the canary did not run: {registered() - set(ran)}"
    failed = {c for c, done in ran.items() if done.returncode != 0}
    assert failed <= {"ssh", "export", "import", "delete"}, {c: ran[c].stderr[-300:] for c in failed}
    assert aws.leftovers("canary") == []
