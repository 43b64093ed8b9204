"""cloudvm's conformance suite against Azure, as the Resource Manager fake answers it."""

from cloudvm_testing.conformance import *  # noqa: F403
