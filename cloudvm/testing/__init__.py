"""Testing aids: an in-memory provider for fast tests of scripts and of the
core, and the conformance suite every real provider runs."""

from cloudvm.testing.fake import FakeProvider, host_key

__all__ = ["FakeProvider", "host_key"]
