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
