"""Servers the tests run in their own process (moto, the Cloud Storage emulator): on a free
loopback port, waited for until they answer, stopped on exit."""

from __future__ import annotations

import socket
import ssl
import subprocess
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
            context: ssl.SSLContext | None = None) -> Iterator[None]:
    """Run ``argv`` until the context ends, entering once ``probe`` (a URL; over TLS trusting
    ``context``) answers, whatever the status."""
    proc = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(probe, timeout=1, context=context).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{what} did not start")
        yield
    finally:
        proc.terminate()
        proc.wait(10)
