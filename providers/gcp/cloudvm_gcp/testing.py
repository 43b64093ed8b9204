"""The test backends live in a distribution of their own, ``cloudvm-gcp-testing``,
so the production package carries none of them; this module keeps
``from cloudvm_gcp.testing import ...`` working wherever they are installed."""

try:
    from cloudvm_gcp_testing import *  # noqa: F403
except ModuleNotFoundError as missing:
    if missing.name != "cloudvm_gcp_testing":
        raise
    raise ModuleNotFoundError("cloudvm_gcp.testing needs the test backends: pip install 'cloudvm-gcp[test]'",
                              name=missing.name) from None
