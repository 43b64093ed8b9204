"""cloudvm's conformance suite against EC2, as a moto server answers it."""

from cloudvm_testing.conformance import *  # noqa: F403
