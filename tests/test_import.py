"""``import cloudvm`` stays light: no provider or SDK until connect()."""

import subprocess
import sys

HEAVY = ("libvirt", "boto3", "botocore", "google", "azure", "typer", "rich", "pycdlib", "cloudvm_libvirt")


def test_import_cloudvm_loads_no_provider_or_sdk() -> None:
    code = "import sys, cloudvm; print(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                 .stdout.split())
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_unknown_provider_names_the_installed_ones_and_the_extras_that_exist() -> None:
    import pytest

    import cloudvm

    with pytest.raises(cloudvm.CloudVMError) as raised:
        cloudvm.connect("openstack")
    message = str(raised.value)
    assert "no cloudvm provider named 'openstack'" in message and "installed: " in message and "libvirt" in message
    assert "the extras that add one: aws, azure, gcp, libvirt" in message
    assert "[openstack]" not in message  # no such extra: never offered


def test_a_provider_that_has_an_extra_is_offered_it() -> None:
    from cloudvm import registry

    assert "pip install 'cloudvm-sdk[azure]'" in registry._missing("azure")


def test_the_test_backends_are_a_separate_install_and_say_so() -> None:
    """``cloudvm.testing`` and ``cloudvm_<cloud>.testing`` are the testing distributions where they are
    installed; where they are not, the import error names the extra that installs them."""
    code = """
import sys
for shim, package in (("cloudvm.testing", "cloudvm_testing"), *((f"cloudvm_{c}.testing", f"cloudvm_{c}_testing")
                                                                 for c in ("aws", "gcp", "azure"))):
    sys.modules[package] = None  # as if its distribution were not installed
    try:
        __import__(shim)
    except ModuleNotFoundError as missing:
        print(missing)
"""
    told = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert told.splitlines() == [
        "cloudvm.testing needs the test backends: pip install 'cloudvm-sdk[test]'",
        *(f"cloudvm_{cloud}.testing needs the test backends: pip install 'cloudvm-{cloud}[test]'"
          for cloud in ("aws", "gcp", "azure"))]


def test_the_import_lines_users_write_still_work() -> None:
    import cloudvm_aws_testing
    import cloudvm_azure_testing
    import cloudvm_gcp_testing
    import cloudvm_testing
    import cloudvm_testing.conformance
    from cloudvm_aws.testing import FaultProxy, moto_server
    from cloudvm_azure.testing import FakeCredential, fake_resource_manager
    from cloudvm_gcp.testing import fake_compute_engine, gce_fake

    from cloudvm.testing import FakeProvider
    from cloudvm.testing.conformance import Target, test_lifecycle_snapshot_and_restore

    assert FakeProvider is cloudvm_testing.FakeProvider and Target is cloudvm_testing.conformance.Target
    assert test_lifecycle_snapshot_and_restore is cloudvm_testing.conformance.test_lifecycle_snapshot_and_restore
    assert moto_server is cloudvm_aws_testing.moto_server and FaultProxy is cloudvm_aws_testing.FaultProxy
    assert fake_compute_engine is cloudvm_gcp_testing.fake_compute_engine and gce_fake is cloudvm_gcp_testing.gce_fake
    assert FakeCredential is cloudvm_azure_testing.FakeCredential
    assert fake_resource_manager is cloudvm_azure_testing.fake_resource_manager
