"""The test backends live in a distribution of their own, ``cloudvm-aws-testing``,
so the production package carries none of them; this module keeps
``from cloudvm_aws.testing import ...`` working wherever they are installed."""

try:
    from cloudvm_aws_testing import *  # noqa: F403
except ModuleNotFoundError as missing:
    if missing.name != "cloudvm_aws_testing":
        raise
    raise ModuleNotFoundError("cloudvm_aws.testing needs the test backends: pip install 'cloudvm-aws[test]'",
                              name=missing.name) from None
