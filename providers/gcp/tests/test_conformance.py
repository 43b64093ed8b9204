"""cloudvm's conformance suite against Compute Engine, as the fake answers it."""

from cloudvm_testing.conformance import *  # noqa: F403
