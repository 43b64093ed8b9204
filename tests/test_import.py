"""``import cloudvm`` stays light: no provider or SDK until connect()."""

import subprocess
import sys

HEAVY = ("libvirt", "boto3", "botocore", "google", "azure", "typer", "rich", "pycdlib", "cloudvm_libvirt")


def test_import_cloudvm_loads_no_provider_or_sdk() -> None:
    code = "import sys, cloudvm; print(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                 .stdout.split())
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_unknown_provider_names_the_installed_ones() -> None:
    import pytest

    import cloudvm

    with pytest.raises(cloudvm.CloudVMError, match=r"no cloudvm provider named 'nope'.*libvirt.*pip install"):
        cloudvm.connect("nope")
