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
    assert "cloudvm[openstack]" not in message  # no such extra: never offered


def test_a_provider_that_has_an_extra_is_offered_it() -> None:
    from cloudvm import registry

    assert "pip install 'cloudvm[azure]'" in registry._missing("azure")
