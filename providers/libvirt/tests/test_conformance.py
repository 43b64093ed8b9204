"""cloudvm's conformance suite against real libvirt VMs."""

from cloudvm_testing.conformance import *  # noqa: F403
