"""The test backends live in a distribution of their own, ``cloudvm-aws-testing``,
so the production package carries none of them; this module keeps
``from cloudvm_aws.testing import ...`` working wherever they are installed."""

from cloudvm.registry import testing_missing

try:
    from cloudvm_aws_testing import *  # noqa: F403
except ModuleNotFoundError as missing:
    raise testing_missing(missing, __name__, "cloudvm-aws") from None
