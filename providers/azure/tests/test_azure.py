"""What a user of the Azure provider relies on, checked through the official
management clients against the fake: sizes, images, the resource chain of a
VM and its removal, networks, snapshots and their copies, error mapping."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cloudvm_azure import catalog
from cloudvm_azure.testing import HARNESS, RESOURCE_GROUP, SUBSCRIPTION, FakeCredential, FakeResourceManager
from cloudvm_azure_testing.fake.catalog import VM_SIZES
from cloudvm_testing import host_key, restored_copy

import cloudvm
from cloudvm import errors, hostkeys, tags
from cloudvm.retry import NO_RETRY

MakeVM = Callable[..., cloudvm.VMSpec]


def raw(arm: FakeResourceManager, kind: str, name: str) -> dict[str, Any]:
    """A resource exactly as the fake holds it."""
    return next(r for r in arm.resources() if r["type"].endswith(f"/{kind}") and r["name"] == name)


def test_a_shape_becomes_the_cheapest_fitting_size(cloud: cloudvm.Cloud) -> None:
    chosen = cloud.resolve_size(cloudvm.Size(cpus=2, memory_gib=3))
    fitting = {n: catalog.price(n, "eastus") for n, (c, m, _, _) in VM_SIZES.items() if c >= 2 and m >= 3072}
    assert fitting[chosen.type_name] == min(fitting.values()) < float("inf")
    assert cloud.resolve_size(cloudvm.Size(instance_type="Standard_D4s_v3")) == cloudvm.ResolvedSize(
        "Standard_D4s_v3", 4, 16.0)
    with pytest.raises(errors.InvalidSpec, match=r"size\.instance_type.*Standard_Z9"):
        cloud.resolve_size(cloudvm.Size(instance_type="Standard_Z9"))


def _key(private: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                             serialization.PublicFormat.OpenSSH).decode()


def test_what_azure_refuses_is_refused_before_anything_is_made(cloud: cloudvm.Cloud, arm: FakeResourceManager,
                                                               make_vm: MakeVM) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    fine = _key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    short = _key(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    ecdsa = _key(ec.generate_private_key(ec.SECP256R1()))
    for changes, field in [({"ssh": cloudvm.SSHAccess(user="guest", public_keys=[fine])}, "ssh.user"),
                           ({"ssh": cloudvm.SSHAccess(user="ops", public_keys=[fine, short])},
                            r"ssh.public_keys\[1\]"),
                           ({"ssh": cloudvm.SSHAccess(user="ops", public_keys=[ecdsa])}, r"ssh.public_keys\[0\]")]:
        with pytest.raises(errors.InvalidSpec, match=field):
            cloud.create(make_vm("refused", **changes))
    assert arm.leftovers("refused") == []
    cloud.delete(cloud.create(make_vm("rsa-2048", ssh=cloudvm.SSHAccess(user="ops", public_keys=[fine]))))


def test_sizes_the_subscription_may_not_use_are_never_chosen(arm: FakeResourceManager) -> None:
    with cloudvm.connect("azure", **arm.connect_options(), timeout=60, poll_interval=0.1) as first:
        usual = first.resolve_size(cloudvm.Size(cpus=2, memory_gib=3))
    arm.restrict(usual.type_name)
    with cloudvm.connect("azure", **arm.connect_options(), timeout=60, poll_interval=0.1) as cloud:
        other = cloud.resolve_size(cloudvm.Size(cpus=2, memory_gib=3))
        assert other.type_name != usual.type_name and other.cpus >= 2 and other.memory_gib >= 3
        with pytest.raises(errors.InvalidSpec, match=r"not available to this subscription.*NotAvailableForSubscr"):
            cloud.resolve_size(cloudvm.Size(instance_type=usual.type_name))


def test_trusted_launch_where_the_image_allows_and_restores_keep_it(cloud: cloudvm.Cloud, arm: FakeResourceManager,
                                                                    make_vm: MakeVM) -> None:
    trusted = cloud.create(make_vm("trusted", disks=[cloudvm.Disk(size_gib=1)]))
    legacy = cloud.create(make_vm("legacy", image="Debian:debian-12:12:latest"))  # generation 1: BIOS
    try:
        assert raw(arm, "virtualMachines", "trusted")["properties"]["securityProfile"] == {
            "securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}
        assert "securityProfile" not in raw(arm, "virtualMachines", "legacy")["properties"]
        with restored_copy(cloud, trusted, "trusted-again"):  # its OS disk is a Trusted Launch disk
            assert raw(arm, "virtualMachines", "trusted-again")["properties"]["securityProfile"]["securityType"] == \
                "TrustedLaunch"
    finally:
        cloud.delete([trusted, legacy])


def test_disks_take_the_customer_managed_key_the_spec_names(cloud: cloudvm.Cloud, arm: FakeResourceManager,
                                                            make_vm: MakeVM) -> None:
    key = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/keys/providers/Microsoft.Compute/diskEncryptionSets/cmk"
    with pytest.raises(errors.InvalidSpec, match=r"encryption_key.*disk encryption set"):
        cloud.create(make_vm("bad-key", encryption_key="arn:aws:kms:us-east-1:123456789012:key/x"))
    assert arm.leftovers("bad-key") == []
    vm = cloud.create(make_vm("cmk", disks=[cloudvm.Disk(size_gib=1)], encryption_key=key))
    plain = cloud.create(make_vm("pmk"))
    try:
        def encryption(vm: cloudvm.VM) -> list[dict[str, str]]:
            return [raw(arm, "disks", d.id.rsplit("/", 1)[-1])["properties"]["encryption"] for d in vm.disks]
        assert encryption(vm) == [{"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": key}] * 2
        assert encryption(plain) == [{"type": "EncryptionAtRestWithPlatformKey"}]
        with restored_copy(cloud, vm, "cmk-again") as restored:
            assert [e["type"] for e in encryption(restored)] == ["EncryptionAtRestWithCustomerKey"] * 2
    finally:
        cloud.delete([vm, plain])


def test_host_keys_come_from_the_boot_diagnostics_serial_log(cloud: cloudvm.Cloud, arm: FakeResourceManager,
                                                             make_vm: MakeVM) -> None:
    vm = cloud.create(make_vm("keys"))
    try:
        machine = raw(arm, "virtualMachines", "keys")
        assert machine["properties"]["diagnosticsProfile"] == {"bootDiagnostics": {"enabled": True}}  # managed
        assert cloud.host_keys(vm) == [host_key(machine["properties"]["vmId"])]
        assert "Linux version" in cloud.console_output(vm)
        assert f"HostKeyAlias={hostkeys.alias(vm)}" in " ".join(cloud.ssh_argv(vm))
        uris = arm.request("POST", f"{machine['id']}/retrieveBootDiagnosticsData?api-version=2024-03-01")[2]
        forged = uris["serialConsoleLogBlobUri"].replace("sig=", "sig=x")
        with pytest.raises(urllib.error.HTTPError) as denied:  # the signature is the only key to the blob
            urllib.request.urlopen(forged, context=ssl.create_default_context(cafile=arm.ca_file))
        assert denied.value.code == 403
    finally:
        cloud.delete(vm)
    assert cloud.known_hosts.keys(vm) == []


def test_an_image_sold_under_a_plan_names_it(cloud: cloudvm.Cloud, arm: FakeResourceManager, make_vm: MakeVM) -> None:
    vm = cloud.create(make_vm("planned", image="rocky-9"))
    try:
        assert raw(arm, "virtualMachines", "planned")["plan"] == {"name": "9-base", "product": "rockylinux-x86_64",
                                                                  "publisher": "resf"}
    finally:
        cloud.delete(vm)


def test_aliases_become_marketplace_urns(cloud: cloudvm.Cloud) -> None:
    for alias, urn in catalog.IMAGES.items():
        assert cloud.provider.resolve_image(alias) == urn
    assert cloud.provider.resolve_image("Debian:debian-12:12:0.20261105.1800") == "Debian:debian-12:12:0.20261105.1800"
    with pytest.raises(errors.InvalidSpec, match=r"no image Debian:debian-12:12:9\.9"):
        cloud.provider.resolve_image("Debian:debian-12:12:9.9")
    with pytest.raises(errors.InvalidSpec, match=r"unknown image 'centos-7'.*ubuntu-24\.04"):
        cloud.provider.resolve_image("centos-7")


def test_a_vm_is_a_tagged_chain_that_goes_away_whole(cloud: cloudvm.Cloud, arm: FakeResourceManager,
                                                     make_vm: MakeVM) -> None:
    network = cloudvm.Network(public_ip=True, ingress=[cloudvm.Ingress(port=22, cidr="10.0.0.0/8"),
                                                       cloudvm.Ingress(port=8000, to_port=8080)])
    vm = cloud.create(make_vm("chain", tags={"team": "qa"}, network=network, user_data="#!/bin/sh\necho hi\n",
                              disks=[cloudvm.Disk(size_gib=2, tier="ssd")]))
    try:
        assert vm.public_ips and vm.private_ips and vm.ssh_user == "ops" and vm.tags["team"] == "qa"
        for kind, name in [("networkSecurityGroups", "chain-nsg"), ("publicIPAddresses", "chain-ip"),
                           ("networkInterfaces", "chain-nic"), ("disks", "chain-osdisk"), ("disks", "chain-data-0")]:
            found = raw(arm, kind, name)
            assert found["tags"][tags.MANAGED] == "true" and found["tags"][tags.NAME] == "chain", kind
        rules = raw(arm, "networkSecurityGroups", "chain-nsg")["properties"]["securityRules"]
        assert [(r["properties"]["sourceAddressPrefix"], r["properties"]["destinationPortRange"]) for r in rules] == [
            ("10.0.0.0/8", "22"), ("0.0.0.0/0", "8000-8080")]
        assert raw(arm, "disks", "chain-data-0")["sku"]["name"] == "Premium_LRS"
        linux = vm.raw["properties"]["osProfile"]["linuxConfiguration"]
        assert linux["disablePasswordAuthentication"] is True
        assert linux["ssh"]["publicKeys"][0]["keyData"].startswith("ssh-ed25519 ")
        assert "customData" not in vm.raw["properties"]["osProfile"]  # Azure never gives it back
    finally:
        cloud.delete(vm)
    assert arm.leftovers("chain") == []


def test_custom_data_carries_the_sdk_user_and_the_users_script(cloud: cloudvm.Cloud, arm: FakeResourceManager,
                                                                make_vm: MakeVM) -> None:
    seen: list[dict[str, Any]] = []
    provider: Any = cloud.provider
    original = provider._vm_body
    provider._vm_body = lambda request: seen.append(original(request)) or seen[-1]
    vm = cloud.create(make_vm("custom", user_data="#!/bin/sh\necho hi\n"))
    cloud.delete(vm)
    text = base64.b64decode(seen[0]["osProfile"]["customData"]).decode()
    assert "#!/bin/sh\necho hi" in text and "name: ops" in text


def test_kept_disks_outlive_the_vm(cloud: cloudvm.Cloud, arm: FakeResourceManager, make_vm: MakeVM) -> None:
    vm = cloud.create(make_vm("keeper", disks=[cloudvm.Disk(size_gib=1, keep=True), cloudvm.Disk(size_gib=1)]))
    cloud.delete(vm)
    assert arm.leftovers("keeper") == ["disks keeper-data-0"]
    assert raw(arm, "disks", "keeper-data-0")["properties"]["diskState"] == "Unattached"
    with arm.fake.arm.lock:
        arm.fake.arm.remove(raw(arm, "disks", "keeper-data-0")["id"])


def test_the_network_goes_with_the_last_vm(cloud: cloudvm.Cloud, arm: FakeResourceManager, make_vm: MakeVM) -> None:
    first, second = cloud.create_many([make_vm("net-a"), make_vm("net-b")])
    cloud.delete(first)
    assert [r for r in arm.resources() if r["name"] == "cloudvm-vnet-eastus"]
    cloud.delete(second)
    assert not [r for r in arm.resources() if r["name"] == "cloudvm-vnet-eastus"]


def test_a_named_network(cloud: cloudvm.Cloud, arm: FakeResourceManager, make_vm: MakeVM) -> None:
    net: Any = cloud.provider
    net._check([net._begin("vnet", "lab", {
        "location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["172.20.0.0/16"]},
                                             "subnets": [{"name": "apps", "properties": {
                                                 "addressPrefix": "172.20.1.0/24"}}]}})])
    vm = cloud.create(make_vm("in-lab", network=cloudvm.Network(name="lab/apps")))
    try:
        assert vm.private_ips[0].startswith("172.20.1.")
    finally:
        cloud.delete(vm)
    with pytest.raises(errors.InvalidSpec, match=r"network\.name.*'nowhere'"):
        cloud.create(make_vm("no-net", network=cloudvm.Network(name="nowhere")))
    assert arm.leftovers("no-net") == [] and [r for r in arm.resources() if r["name"] == "lab"]


def test_waiting_on_many_vms_does_not_cost_a_request_per_vm(cloud: cloudvm.Cloud, arm: FakeResourceManager,
                                                            make_vm: MakeVM) -> None:
    before = arm.count("GET virtualMachines")
    vms = cloud.create_many([make_vm(f"fleet-{i}") for i in range(6)])
    per_poll = arm.count("GET virtualMachines") - before
    cloud.delete(vms)
    assert per_poll <= 6 + (arm.timing.boot / 0.1) + 6  # one existence check each, then one list per poll


def test_snapshot_copy_to_another_region_and_restore_there(cloud: cloudvm.Cloud, arm: FakeResourceManager,
                                                           make_vm: MakeVM) -> None:
    vm = cloud.create(make_vm("dr", disks=[cloudvm.Disk(size_gib=3, tier="ssd")]))
    snap = cloud.snapshot(vm, name="dr-snap", tags={"policy": "daily"})
    assert [(d.root, d.size_gib) for d in snap.disks] == [(True, 30.0), (False, 3.0)]
    # both disks at one instant: one crash-consistent restore point of the VM, not a snapshot per disk
    taken = [r for r in arm.resources() if r["type"].endswith("/restorePoints")]
    assert [(p["name"], p["properties"]["consistencyMode"]) for p in taken] == [("dr-snap", "CrashConsistent")]
    assert [r for r in arm.resources() if r["type"].endswith("/snapshots")] == []
    copy = cloud.copy_snapshot(snap, region="westus2")
    assert copy.region == "westus2" and copy.name == "dr-snap"
    west = cloudvm.connect("azure", **arm.connect_options(location="westus2"), timeout=60, poll_interval=0.1)
    with west:
        copy = west.waiter.snapshots_ready([copy.id], 30)[0]  # CopyStart finishes in the background
        assert west.get_snapshot("dr-snap").id == copy.id  # the copy in this region comes first
        with pytest.raises(errors.ProviderError, match="stored in eastus"):
            west.restore(snap, name="dr-wrong")
        restored = west.restore(copy, name="dr-west")
        assert restored.region == "westus2" and [(d.root, d.size_gib) for d in restored.disks] == [
            (True, 30.0), (False, 3.0)]
        assert raw(arm, "disks", "dr-west-data-0")["sku"]["name"] == "Premium_LRS" and restored.ssh_user == "ops"
        west.delete(restored)
        west.delete_snapshot(copy)
    cloud.delete(vm)
    cloud.delete_snapshot(snap)
    assert cloud.list_snapshots() == []
    assert arm.leftovers("dr") == [] and arm.leftovers("dr-west") == [] and arm.leftovers("dr-snap") == []


@pytest.mark.parametrize(("fault", "details", "cls", "code"), [
    ("allocation", {}, errors.CapacityUnavailable, "AllocationFailed"),
    ("throttle", {}, errors.Throttled, "TooManyRequests"),
    ("error", {"status": 503, "code": "ServiceUnavailable"}, errors.TransientError, "ServiceUnavailable"),
    ("error", {"status": 409, "code": "QuotaExceeded"}, errors.QuotaExceeded, "QuotaExceeded"),
    ("error", {"status": 409, "code": "SkuNotAvailable"}, errors.CapacityUnavailable, "SkuNotAvailable"),
    ("error", {"status": 403, "code": "AuthorizationFailed"}, errors.PermissionDenied, "AuthorizationFailed"),
    ("error", {"status": 401, "code": "InvalidAuthenticationToken"}, errors.AuthenticationError,
     "InvalidAuthenticationToken"),
])
def test_arm_errors_become_cloudvm_errors(arm: FakeResourceManager, make_vm: MakeVM, fault: str,
                                          details: dict[str, Any], cls: type, code: str) -> None:
    name = f"err-{code.lower()}"[:40]
    arm.inject("PUT", "virtualMachines", fault, **details)
    with cloudvm.connect("azure", **arm.connect_options(), retry=NO_RETRY, timeout=30,
                         poll_interval=0.1) as cloud, pytest.raises(cls) as err:
        cloud.create(make_vm(name, network=cloudvm.Network(public_ip=True, ingress=[cloudvm.Ingress(port=22)])))
    assert type(err.value) is cls and err.value.code == code
    assert arm.leftovers(name) == []


def test_plan_creates_nothing(cloud: cloudvm.Cloud, arm: FakeResourceManager, make_vm: MakeVM) -> None:
    puts = arm.count("PUT virtualMachines")
    request = cloud.plan([make_vm("dry")])[0]
    assert request.size.cpus >= 2 and request.image == catalog.IMAGES["ubuntu-24.04"]
    assert arm.count("PUT virtualMachines") == puts and arm.leftovers("dry") == []


def test_the_cli_drives_azure_like_the_others(arm: FakeResourceManager, tmp_path: Path, make_vm: MakeVM) -> None:
    (tmp_path / "key.pub").write_text(make_vm("x").ssh.public_keys[0])  # type: ignore[union-attr]
    options = {**arm.connect_options(), "credential": "cloudvm_azure.testing:FakeCredential"}
    base = [sys.executable, "-m", "cloudvm", "-p", "azure", "-o", "json",
            *[arg for k, v in options.items() for arg in ("-O", f"{k}={v}")]]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], capture_output=True, text=True, timeout=120)

    made = cli("create", "cli-az", "--image", "debian-12", "--cpus", "1", "--memory", "1",
               "--key", str(tmp_path / "key.pub"), "--ingress", "22", "--public-ip", "--tag", "suite=cli-az")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)[0]["state"] == "running"
    assert [v["name"] for v in json.loads(cli("list", "--tag", "suite=cli-az").stdout)] == ["cli-az"]
    assert cli("delete", "cli-az").returncode == 0
    assert arm.leftovers("cli-az") == []


def test_a_custom_image_by_resource_id(cloud: cloudvm.Cloud, arm: FakeResourceManager, make_vm: MakeVM) -> None:
    base = cloud.create(make_vm("golden"))
    from azure.mgmt.compute import ComputeManagementClient

    images = ComputeManagementClient(FakeCredential(HARNESS), SUBSCRIPTION, base_url=arm.url,
                                     connection_verify=arm.ca_file).images  # the image's owner, not cloudvm
    image_id = images.begin_create_or_update(RESOURCE_GROUP, "golden-image", {
        "location": "eastus", "properties": {"storageProfile": {"osDisk": {
            "osType": "Linux", "osState": "Generalized",
            "managedDisk": {"id": base.raw["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]}}}}}
    ).result().id
    vm = cloud.create(make_vm("from-golden", image=image_id))
    try:
        assert vm.image == image_id and vm.raw["properties"]["storageProfile"]["imageReference"]["id"] == image_id
    finally:
        cloud.delete([vm, base])
        images.begin_delete(RESOURCE_GROUP, "golden-image").result()
    assert arm.leftovers("from-golden") == [] and arm.leftovers("golden") == []


def test_low_rate_limit_headroom_is_logged(cloud: cloudvm.Cloud, arm: FakeResourceManager,
                                          caplog: pytest.LogCaptureFixture) -> None:
    arm.fake.reads = 12
    with caplog.at_level("DEBUG", logger="cloudvm.azure"):
        cloud.list()
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warned and "x-ms-ratelimit-remaining-subscription-reads" in warned[0].getMessage()
    arm.fake.reads = 11999
