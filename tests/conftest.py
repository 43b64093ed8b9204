"""Fixtures shared by the core's end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
