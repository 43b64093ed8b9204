"""Logging in to a VM with the system's OpenSSH client.

The CLI's ``ssh`` command, the examples and the conformance suite all build
their command line here, so host-key handling and options agree.
"""

from __future__ import annotations

import base64
import os
import select
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Jump:
    """A host the VMs are reached through: a hypervisor whose guests sit on its own private
    networks. Logins go through it as an SSH jump host and reachability is probed from it. Its own
    host key is checked against ``known_hosts`` (the user's, by default) unless ``verify`` is off."""

    host: str
    user: str | None = None
    port: int | None = None
    key_file: str | None = None
    known_hosts: str | None = None
    verify: bool = True
    command: str = "ssh"  # the OpenSSH client to run (a wrapper adding options of its own)

    def options(self) -> list[str]:
        """The options of the ``ssh`` connection to the jump host itself."""
        return ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
                "-o", f"StrictHostKeyChecking={'yes' if self.verify else 'no'}",
                *(["-o", f"UserKnownHostsFile={os.path.expanduser(self.known_hosts)}"] if self.known_hosts else []),
                *(["-p", str(self.port)] if self.port else []), *(["-l", self.user] if self.user else []),
                *(["-i", os.path.expanduser(self.key_file)] if self.key_file else [])]

    def proxy_command(self) -> str:
        return shlex.join([self.command, *self.options(), "-W", "%h:%p", self.host])

    def tcp_open(self, address: str, port: int = 22, timeout: float = 10.0) -> bool:
        """True when an SSH server greets from ``address:port`` as the jump host sees it."""
        with subprocess.Popen([self.command, *self.options(), "-W", f"{address}:{port}", self.host],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as forward:
            try:
                assert forward.stdout is not None
                ready, _, _ = select.select([forward.stdout], [], [], timeout)
                return bool(ready) and os.read(forward.stdout.fileno(), 4) == b"SSH-"
            finally:
                forward.kill()


def argv(vm: VM, known_hosts: KnownHosts, command: Sequence[str] = (), *, user: str | None = None,
         key_file: str | None = None, jump: Jump | None = None) -> list[str]:
    """The ``ssh`` command line that logs in to ``vm`` (and runs ``command``), trusting only the
    host keys ``known_hosts`` holds for it; through ``jump`` when its guests are reached that way."""
    if vm.address is None:
        raise CloudVMError(f"VM {vm.name} has no address yet (state: {vm.state.value})")
    login = user or vm.ssh_user
    if login is None:
        raise CloudVMError(f"VM {vm.name} was created without ssh access; pass a user")
    key = ["-i", os.path.expanduser(key_file)] if key_file else []
    trust = ["-o", f"UserKnownHostsFile={known_hosts.path}", "-o", f"HostKeyAlias={hostkeys.alias(vm)}"]
    via = ["-o", f"ProxyCommand={jump.proxy_command()}"] if jump else []
    return ["ssh", *OPTIONS, *trust, *via, *key, f"{login}@{vm.address}", *command]


def run(vm: VM, known_hosts: KnownHosts, command: str, *, user: str | None = None, key_file: str | None = None,
        timeout: float = 60.0, jump: Jump | None = None) -> subprocess.CompletedProcess[str]:
    """Run one shell command on ``vm`` and capture its output; a host key other than the
    learned one raises ``HostKeyMismatch`` (nothing was sent to that host)."""
    done = subprocess.run(argv(vm, known_hosts, [command], user=user, key_file=key_file, jump=jump),
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
