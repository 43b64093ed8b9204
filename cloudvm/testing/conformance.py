"""``from cloudvm.testing.conformance import *``: the conformance suite, from ``cloudvm-testing``."""

from cloudvm_testing.conformance import *  # noqa: F403
