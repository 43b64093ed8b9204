"""The testing aids (``FakeProvider``, the conformance suite, the fault campaign) live in a
distribution of their own, ``cloudvm-testing``, so a production install carries no fake; this
package keeps ``from cloudvm.testing import FakeProvider`` working wherever it is installed."""

from cloudvm.registry import DISTRIBUTION, testing_missing

try:
    from cloudvm_testing import *  # noqa: F403
except ModuleNotFoundError as missing:
    raise testing_missing(missing, __name__, DISTRIBUTION) from None
