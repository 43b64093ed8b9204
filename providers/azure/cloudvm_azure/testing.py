"""The test backends live in a distribution of their own, ``cloudvm-azure-testing``,
so the production package carries none of them; this module keeps
``from cloudvm_azure.testing import ...`` working wherever they are installed."""

try:
    from cloudvm_azure_testing import *  # noqa: F403
except ModuleNotFoundError as missing:
    if missing.name != "cloudvm_azure_testing":
        raise
    raise ModuleNotFoundError("cloudvm_azure.testing needs the test backends: pip install 'cloudvm-azure[test]'",
                              name=missing.name) from None
