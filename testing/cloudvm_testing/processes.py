"""Servers the tests run in their own process (moto, the Cloud Storage emulator): on a free
loopback port, waited for until they answer, stopped on exit."""

from __future__ import annotations

import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(argv: Sequence[str], probe: str, what: str, env: Mapping[str, str] | None = None,
            context: ssl.SSLContext | None = None, within: float = 90.0) -> Iterator[None]:
    """Run ``argv`` until the context ends, entering once ``probe`` (a URL; over TLS trusting
    ``context``) answers, whatever the status, ``within`` seconds (a loaded machine starts a
    Node.js or Java emulator slowly); if it ends first, what it said is in the error."""
    with tempfile.TemporaryFile() as said:
        proc = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, stdout=said, stderr=said)
        try:
            deadline = time.monotonic() + within
            while True:
                try:
                    urllib.request.urlopen(probe, timeout=2, context=context).close()
                    break
                except urllib.error.HTTPError:
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        said.seek(0)
                        tail = said.read()[-2000:].decode(errors="replace")
                        raise RuntimeError(f"{what} did not start (exit {proc.poll()}): {tail}") from None
                    time.sleep(0.1)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:  # busy past its grace (a loaded machine): no test waits on it
                proc.kill()
                proc.wait()
