"""The SSH host keys cloudvm trusts, learned over a channel it already trusts.

A new VM's first SSH answer proves nothing: anyone on the path can answer it.
cloud-init prints the guest's public host keys to the serial console
(its ``keys_to_console`` module:
https://cloudinit.readthedocs.io/en/latest/reference/modules.html#keys-to-console),
and every cloud returns that console through its authenticated API, so the
keys read there are the VM's own. cloudvm records them in a known-hosts file
of its own, under an alias naming the VM (not its address: clouds reuse
addresses), and logs in with strict checking; a key that changes afterwards
is refused.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from cloudvm.errors import CloudVMError, Timeout
from cloudvm.model import VM

BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
END = "-----END SSH HOST KEY KEYS-----"
KEY_TYPES = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|"
                       r"sk-ecdsa-sha2-nistp256@openssh\.com)$")


class HostKeyMismatch(CloudVMError):
    """The VM answered with a host key other than the one cloudvm learned from its console."""


def from_console(text: str) -> list[str]:
    """The host keys (``type base64`` lines) of the last complete block cloud-init printed.

    Consoles put prefixes before each line (``ec2: ``, timestamps): whatever stands before
    the BEGIN marker is taken off the lines that follow it.
    """
    found: list[str] = []
    block: list[str] | None = None
    prefix = ""
    for line in text.splitlines():
        if BEGIN in line:
            prefix, block = line[:line.index(BEGIN)], []
        elif block is not None and END in line:
            found, block = block, None
        elif block is not None:
            fields = line.removeprefix(prefix).split()
            if len(fields) >= 2 and KEY_TYPES.match(fields[0]) and _is_base64(fields[1]):
                block.append(f"{fields[0]} {fields[1]}")
    return found


def console_block(keys: Sequence[str]) -> str:
    """Host keys as cloud-init prints them on the console (for test backends that play a guest)."""
    return "\n".join([BEGIN, *keys, END]) + "\n"


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def alias(vm: VM) -> str:
    """The name a VM's keys are filed under: readable, and unique per provider and VM id."""
    digest = hashlib.sha256(f"{vm.provider}\0{vm.id}".encode()).hexdigest()[:16]
    return f"{re.sub(r'[^A-Za-z0-9-]', '-', vm.name)}.{digest}.cloudvm"


def default_path() -> Path:
    """``$CLOUDVM_KNOWN_HOSTS``, else ``known_hosts`` in cloudvm's configuration directory."""
    if os.environ.get("CLOUDVM_KNOWN_HOSTS"):
        return Path(os.environ["CLOUDVM_KNOWN_HOSTS"]).expanduser()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "cloudvm" / "known_hosts"


class KnownHosts:
    """An OpenSSH known-hosts file holding only VMs cloudvm learned, one alias per VM."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_path()

    def keys(self, vm: VM) -> list[str]:
        name = alias(vm)
        return [key for host, key in self._entries() if host == name]

    def record(self, vm: VM, keys: Sequence[str]) -> None:
        name = alias(vm)
        with self._locked():
            kept = [(host, key) for host, key in self._entries() if host != name]
            self._write([*kept, *((name, key) for key in keys)])

    def forget(self, vms: Sequence[VM]) -> None:
        names = {alias(vm) for vm in vms}
        if not self.path.exists():
            return
        with self._locked():
            self._write([(host, key) for host, key in self._entries() if host not in names])

    def learn(self, vm: VM, published: Callable[[], list[str]], timeout: float, sleep: Callable[[float], None],
              clock: Callable[[], float], interval: float = 2.0) -> None:
        """Ask until the VM has published its host keys (cloud-init prints them late in the first
        boot), and file them."""
        deadline = clock() + timeout
        while not (keys := published()):
            if clock() >= deadline:
                raise Timeout(f"{vm.name} published no SSH host keys within {timeout:.0f}s; cloudvm logs in only "
                              "to hosts whose keys the provider told it (the image needs cloud-init's "
                              "keys_to_console, on by default, or the cloud's guest agent)")
            sleep(interval)
        self.record(vm, keys)

    def _entries(self) -> list[tuple[str, str]]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [(host, key) for host, _, key in (line.partition(" ") for line in lines if line.strip())]

    def _write(self, entries: Sequence[tuple[str, str]]) -> None:
        staged = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        staged.write_text("".join(f"{host} {key}\n" for host, key in entries))
        staged.chmod(0o600)
        os.replace(staged, self.path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
