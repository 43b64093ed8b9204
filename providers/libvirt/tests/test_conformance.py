"""cloudvm's conformance suite against real libvirt VMs."""

from cloudvm.testing.conformance import *  # noqa: F403
