"""Helpers for testing against libvirt: connection options from the
environment, a check that nothing of a VM or snapshot is left, and the host's
libvirt served over SSH as a remote hypervisor is."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import libvirt


def options() -> dict[str, str]:
    """Provider options for tests: the isolated test network, software emulation."""
    return {
        "uri": os.environ.get("CLOUDVM_LIBVIRT_URI", "qemu:///system"),
        "network": os.environ.get("CLOUDVM_LIBVIRT_NETWORK", "cloudvm-test"),
        "domain_type": os.environ.get("CLOUDVM_LIBVIRT_DOMAIN_TYPE", "qemu"),
    }


def leftovers(name: str, uri: str | None = None, pool: str = "cloudvm") -> list[str]:
    """Every domain or pool volume still named after the VM or snapshot ``name``."""
    conn = libvirt.open(uri or options()["uri"])
    try:
        found = [f"domain {d.name()}" for d in conn.listAllDomains(0) if d.name() == name]
        vols = conn.storagePoolLookupByName(pool)
        vols.refresh(0)
        found += [f"volume {v}" for v in vols.listVolumes() if v.startswith((f"{name}-", f"{name}."))]
        for each in conn.listAllStoragePools(0):  # the console log, in the pool over libvirt's log directory
            each.refresh(0)
            found += [f"console log {v}" for v in each.listVolumes() if v == f"cloudvm-{name}-console.log"]
        return found
    finally:
        conn.close()


@contextmanager
def ssh_hypervisor(host: str = "127.0.0.1") -> Iterator[str]:
    """This host's libvirt behind an OpenSSH server of its own (its own host key, a key pair made
    for the run, root logins by key only), as a remote hypervisor is reached: yields the
    ``qemu+ssh://`` URI. Its ``command`` is ssh trusting that server's key and nothing else
    (a known hosts file of the run's own: the user's is left alone)."""
    with tempfile.TemporaryDirectory(prefix="cloudvm-hv-") as tmp:
        d = Path(tmp)
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
        (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        (d / "sshd_config").write_text(
            f"ListenAddress {host}\nPort {port}\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "AllowTcpForwarding yes\n")
        algorithm, key = (d / "host_key.pub").read_text().split()[:2]
        (d / "known_hosts").write_text(f"[{host}]:{port} {algorithm} {key}\n")
        (d / "ssh").write_text(f"#!/bin/sh\nexec ssh -o UserKnownHostsFile={d / 'known_hosts'} "
                               "-o StrictHostKeyChecking=yes \"$@\"\n")
        (d / "ssh").chmod(0o755)
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        server = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection((host, port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            yield f"qemu+ssh://root@{host}:{port}/system?keyfile={d / 'client_key'}&command={d / 'ssh'}"
        finally:
            server.terminate()
            server.wait(timeout=10)
