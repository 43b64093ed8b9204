"""Logging in to a VM with the system's OpenSSH client.

The CLI's ``ssh`` command, the examples and the conformance suite all build
their command line here, so host-key handling and options agree.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from cloudvm import hostkeys
from cloudvm.errors import CloudVMError
from cloudvm.hostkeys import HostKeyMismatch, KnownHosts
from cloudvm.model import VM

# Host keys are checked against the ones cloudvm learned from the VM's console
# (cloudvm.hostkeys), filed under the VM's alias rather than its address.
OPTIONS = (
    "-o", "StrictHostKeyChecking=yes", "-o", "CheckHostIP=no", "-o", "UpdateHostKeys=no",
    "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
)
REFUSED = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key verification failed")


def argv(vm: VM, known_hosts: KnownHosts, command: Sequence[str] = (), *, user: str | None = None,
         key_file: str | None = None) -> list[str]:
    """The ``ssh`` command line that logs in to ``vm`` (and runs ``command``), trusting only the
    host keys ``known_hosts`` holds for it."""
    if vm.address is None:
        raise CloudVMError(f"VM {vm.name} has no address yet (state: {vm.state.value})")
    login = user or vm.ssh_user
    if login is None:
        raise CloudVMError(f"VM {vm.name} was created without ssh access; pass a user")
    key = ["-i", os.path.expanduser(key_file)] if key_file else []
    trust = ["-o", f"UserKnownHostsFile={known_hosts.path}", "-o", f"HostKeyAlias={hostkeys.alias(vm)}"]
    return ["ssh", *OPTIONS, *trust, *key, f"{login}@{vm.address}", *command]


def run(vm: VM, known_hosts: KnownHosts, command: str, *, user: str | None = None, key_file: str | None = None,
        timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run one shell command on ``vm`` and capture its output; a host key other than the
    learned one raises ``HostKeyMismatch`` (nothing was sent to that host)."""
    done = subprocess.run(argv(vm, known_hosts, [command], user=user, key_file=key_file),
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode == 255 and any(sign in done.stderr for sign in REFUSED):
        raise HostKeyMismatch(
            f"{vm.name} ({vm.address}) answered with a host key other than the one cloudvm learned from its "
            f"console: refusing to log in. If the VM was rebuilt outside cloudvm, forget the old key with "
            f"`ssh-keygen -f {known_hosts.path} -R {hostkeys.alias(vm)}`")
    return done


def generate_keypair(directory: Path, name: str = "id_ed25519") -> tuple[Path, str]:
    """A new passphrase-less ed25519 key pair: (private key file, public key line)."""
    key = Path(directory) / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cloudvm", "-f", str(key)], check=True)
    return key, key.with_suffix(".pub").read_text().strip()


def key_type(line: str) -> tuple[str, int]:
    """An OpenSSH public key line's algorithm and size in bits (RSA: its modulus; others: 0), for the
    clouds that take some kinds of keys only."""
    algorithm, _, rest = line.strip().partition(" ")
    if algorithm != "ssh-rsa":
        return algorithm, 0
    blob = base64.b64decode(rest.split()[0] + "===")
    fields: list[bytes] = []
    at = 0
    while at + 4 <= len(blob) and len(fields) < 3:  # string "ssh-rsa", mpint e, mpint n
        size = int.from_bytes(blob[at:at + 4], "big")
        fields.append(blob[at + 4:at + 4 + size])
        at += 4 + size
    modulus = fields[2].lstrip(b"\0") if len(fields) == 3 else b""
    return algorithm, (len(modulus) * 8 - (8 - modulus[0].bit_length()) if modulus else 0)
