"""The AWS provider under test: boto3 against a moto server over HTTP."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

import pytest
from cloudvm_aws.testing import CREDENTIALS, REGION, leftovers, moto_server
from cloudvm_testing.conformance import Target

import cloudvm


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    os.environ.update(CREDENTIALS)
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def conformance_target(moto_url: str) -> Target:
    return Target(provider="aws", options={"region": REGION, "endpoint_url": moto_url, "guests": False},
                  image="ubuntu-24.04",
                  size=cloudvm.Size(cpus=2, memory_gib=1), leftovers=functools.partial(leftovers, moto_url),
                  timeout=60)
