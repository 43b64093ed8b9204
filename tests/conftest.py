"""Fixtures shared by the core's end-to-end tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudvm import ssh
from tests.backends import CLOUDS, Backend, start


@pytest.fixture(scope="module", params=CLOUDS)
def cloud(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each cloud test backend in turn (moto, the Compute Engine and Resource Manager fakes)."""
    with start(request.param) as backend:
        yield backend


@pytest.fixture(autouse=True, scope="session")
def known_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Host keys learned by the CLI and the examples go to a file of this run, not the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLOUDVM_KNOWN_HOSTS", str(tmp_path_factory.mktemp("trust") / "known_hosts"))
        yield


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """The environment of a page's commands: a throwaway home with a key as ~/.ssh/id_ed25519, this
    environment's ``cloudvm`` on the path."""
    (tmp_path / ".ssh").mkdir()
    ssh.generate_keypair(tmp_path / ".ssh")
    bindir = str(Path(sys.executable).parent)
    from cloudvm_libvirt.images import cache_dir

    # A throwaway home, but the image cache stays shared: no rebuilt image, no new base volume per run.
    return {**os.environ, "HOME": str(tmp_path), "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
            "CLOUDVM_CACHE": str(cache_dir())}
