"""What only the AWS provider does, checked against the moto server."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from cloudvm_aws import catalog
from cloudvm_aws._errors import convert
from cloudvm_aws.testing import HARNESS, PERMISSIONS, REGION, FaultProxy, leftovers
from cloudvm_testing import host_key, restored_copy

import cloudvm
from cloudvm import errors, tags

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"


@pytest.fixture
def cloud(moto_url: str, tmp_path: Any) -> Iterator[cloudvm.Cloud]:
    with cloudvm.connect("aws", region=REGION, endpoint_url=moto_url, timeout=60, poll_interval=0.1,
                         known_hosts=tmp_path / "known_hosts") as c:
        yield c


@pytest.fixture
def ec2(moto_url: str) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=moto_url, **HARNESS)


def spec(name: str, **changes: Any) -> cloudvm.VMSpec:
    return cloudvm.VMSpec(**{"name": name, "size": cloudvm.Size(cpus=2, memory_gib=1), "image": "ubuntu-24.04",
                             "ssh": cloudvm.SSHAccess(user="ops", public_keys=[KEY]), **changes})


def test_a_shape_becomes_the_cheapest_fitting_type(cloud: cloudvm.Cloud, ec2: Any) -> None:
    chosen = cloud.resolve_size(cloudvm.Size(cpus=2, memory_gib=3))
    assert chosen.cpus >= 2 and chosen.memory_gib >= 3
    fitting = [t for page in ec2.get_paginator("describe_instance_types").paginate(Filters=[
        {"Name": "current-generation", "Values": ["true"]},
        {"Name": "processor-info.supported-architecture", "Values": ["x86_64"]}]) for t in page["InstanceTypes"]
        if t["VCpuInfo"]["DefaultVCpus"] >= 2 and t["MemoryInfo"]["SizeInMiB"] >= 3 * 1024]
    price = {t["InstanceType"]: catalog.price(t["InstanceType"], REGION) for t in fitting}
    assert price[chosen.type_name] == min(price.values()) < float("inf")
    assert cloud.resolve_size(cloudvm.Size(instance_type="m5.large")) == cloudvm.ResolvedSize(
        "m5.large", 2, 8.0)
    with pytest.raises(errors.InvalidSpec, match=r"size\.instance_type"):
        cloud.resolve_size(cloudvm.Size(instance_type="zz.huge"))


def test_aliases_find_the_publishers_images(cloud: cloudvm.Cloud, ec2: Any) -> None:
    for alias, (owner, _) in catalog.IMAGES.items():
        image = ec2.describe_images(ImageIds=[cloud.provider.resolve_image(alias)])["Images"][0]
        assert image["OwnerId"] == owner
    with pytest.raises(errors.InvalidSpec, match=r"unknown image 'centos-7'.*amazon-linux-2023"):
        cloud.create(spec("noimage", image="centos-7"))


def test_a_vm_goes_to_a_zone_that_offers_its_type_and_has_room(cloud: cloudvm.Cloud, ec2: Any,
                                                               moto_url: str) -> None:
    rare = cloud.create(spec("rare", size=cloudvm.Size(instance_type="trn1.2xlarge")))  # not in us-east-1a
    assert rare.zone and rare.zone != f"{REGION}a"
    cloud.delete(rare)
    with FaultProxy(moto_url) as proxy, cloudvm.connect("aws", region=REGION, endpoint_url=proxy.url, timeout=60,
                                                        poll_interval=0.1) as full:
        first = ec2.describe_subnets(Filters=[{"Name": "availability-zone", "Values": [f"{REGION}a"]},
                                              {"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
        proxy.inject("RunInstances", "error", code="InsufficientInstanceCapacity", status=500, times=100,
                     about=first["SubnetId"])
        moved = full.create(spec("moved"))
        assert moved.zone == f"{REGION}b"  # us-east-1a had no room for it
        assert [vm.name for vm in full.list()].count("moved") == 1
        full.delete(moved)
    assert leftovers(moto_url, "rare") == leftovers(moto_url, "moved") == []


def test_waiting_reads_each_volume_once_however_many_rounds(moto_url: str) -> None:
    with FaultProxy(moto_url) as seen, cloudvm.connect("aws", region=REGION, endpoint_url=seen.url, timeout=60,
                                                       poll_interval=0.05) as cloud:
        vms = cloud.create_many([spec(f"rounds-{i}", disks=[cloudvm.Disk(size_gib=1)]) for i in range(3)])
        cloud.wait(vms, "running")
        cloud.stop(vms)  # rounds of polling until all stopped
        rounds = seen.count("DescribeInstances")
        assert rounds >= 4 and seen.count("DescribeVolumes") <= 2  # volumes appear once, maybe in two rounds
        assert all(d.size_gib == 1 for vm in cloud.list() if vm.name.startswith("rounds-") for d in vm.disks[1:])
        cloud.delete(vms)
    assert leftovers(moto_url, "rounds") == []


def test_instances_take_imdsv2_only_and_volumes_are_encrypted(cloud: cloudvm.Cloud, ec2: Any) -> None:
    vm = cloud.create(spec("secure", disks=[cloudvm.Disk(size_gib=1)]))
    try:
        time.sleep(0.3)  # EC2 may not show an instance made a moment ago to every call yet
        options = ec2.describe_instances(InstanceIds=[vm.id])["Reservations"][0]["Instances"][0]["MetadataOptions"]
        assert options["HttpTokens"] == "required" and options["HttpPutResponseHopLimit"] == 2
        volumes = ec2.describe_volumes(VolumeIds=[d.id for d in vm.disks])["Volumes"]
        assert len(volumes) == 2 and all(v["Encrypted"] for v in volumes)
    finally:
        cloud.delete(vm)


def test_volumes_take_the_customer_managed_key_the_spec_names(cloud: cloudvm.Cloud, ec2: Any, moto_url: str) -> None:
    key = boto3.client("kms", region_name=REGION, endpoint_url=moto_url, **HARNESS).create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(errors.InvalidSpec, match="encryption_key: EBS takes a KMS key"):
        cloud.create(spec("bad-key", encryption_key="projects/p/locations/global/keyRings/r/cryptoKeys/k"))
    assert leftovers(moto_url, "bad-key") == []
    vm = cloud.create(spec("cmk", disks=[cloudvm.Disk(size_gib=1)], encryption_key=key))
    try:
        time.sleep(0.3)  # EC2 may not show an instance made a moment ago to every call yet
        volumes = ec2.describe_volumes(VolumeIds=[d.id for d in vm.disks])["Volumes"]
        assert [(v["Encrypted"], v.get("KmsKeyId")) for v in volumes] == [(True, key)] * 2
    finally:
        cloud.delete(vm)
    with pytest.raises(ClientError, match="InvalidParameterDependency"):  # EC2's rule, held by the test proxy
        ec2.run_instances(ImageId=ec2.describe_images(Owners=["099720109477"])["Images"][0]["ImageId"],
                          MinCount=1, MaxCount=1, BlockDeviceMappings=[
                              {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1, "KmsKeyId": key}}])


def test_logins_check_the_host_keys_the_console_printed(cloud: cloudvm.Cloud) -> None:
    vm = cloud.create(spec("keys"))
    try:
        assert "Linux version" in cloud.console_output(vm)
        assert cloud.host_keys(vm) == [host_key(vm.id)]
        options = " ".join(cloud.ssh_argv(vm))
        assert "StrictHostKeyChecking=yes" in options and f"UserKnownHostsFile={cloud.known_hosts.path}" in options
    finally:
        cloud.delete(vm)
    assert cloud.known_hosts.keys(vm) == []


def test_burstable_types_run_on_standard_credits(cloud: cloudvm.Cloud, ec2: Any) -> None:
    vm = cloud.create(spec("credits"))  # t3a.micro: unlimited unless told otherwise
    try:
        time.sleep(0.3)  # EC2 may not show an instance made a moment ago to every call yet
        found = ec2.describe_instance_credit_specifications(InstanceIds=[vm.id])["InstanceCreditSpecifications"]
        assert vm.size and vm.size.type_name.startswith("t3") and found[0]["CpuCredits"] == "standard"
    finally:
        cloud.delete(vm)


def test_plan_shows_the_resolved_type_without_creating(cloud: cloudvm.Cloud, ec2: Any) -> None:
    request = cloud.plan([spec("dry")])[0]
    assert request.size.type_name == "t3a.micro" and request.image.startswith("ami-")
    assert leftovers(cloud.provider.endpoint_url or "", "dry") == []


def test_launch_is_exactly_once_per_token(cloud: cloudvm.Cloud, moto_url: str) -> None:
    request = cloud.plan([spec("once")])[0]
    first = cloud.retry.call(lambda: cloud.provider.launch([request]), what="launch")  # its group may not show yet
    assert cloud.provider.launch([request]) == first  # a retry after a lost response
    assert [vm.name for vm in cloud.list()].count("once") == 1
    cloud.delete("once")
    again = cloud.create(spec("once"))  # the same name after a delete is a new VM
    assert again.id not in first and [vm.name for vm in cloud.list()].count("once") == 1
    cloud.delete(again)
    assert leftovers(moto_url, "once") == []


def test_what_ec2_refuses_is_refused_before_anything_is_made(cloud: cloudvm.Cloud, moto_url: str) -> None:
    script = "#!/bin/sh\n" + "echo padding\n" * 1250  # 16,260 characters: within the spec's own limit
    with pytest.raises(errors.InvalidSpec, match=r"user_data: EC2 takes 16384 bytes") as caught:
        cloud.create(spec("big-data", user_data=script))
    assert caught.value.field == "user_data" and leftovers(moto_url, "big-data") == []
    with pytest.raises(errors.InvalidSpec, match=r"tags: EC2 takes 50 tags"):
        cloud.create(spec("many-tags", tags={f"k{n}": "v" for n in range(45)}))
    with pytest.raises(errors.InvalidSpec, match=r"tags.aws:owner"):
        cloud.create(spec("reserved", tags={"aws:owner": "me"}))
    ssd = cloud.create(spec("small-ssd", disks=[cloudvm.Disk(size_gib=2, tier="ssd")]))  # 3,000 IOPS: the baseline
    try:
        assert ssd.disks[1].size_gib == 2
    finally:
        cloud.delete(ssd)


def test_more_ids_than_one_call_may_filter_by_are_asked_in_parts(cloud: cloudvm.Cloud, moto_url: str) -> None:
    vms = cloud.create_many([spec("wide-1"), spec("wide-2")])
    try:
        ghosts = [f"i-{n:017x}" for n in range(450)]  # the backend refuses more than 200 filter values a call
        found = cloud.provider.describe([*ghosts, *(vm.id for vm in vms)])
        assert sorted(vm.name for vm in found) == ["wide-1", "wide-2"] and all(vm.disks for vm in found)
        assert cloud.provider.describe_snapshots([f"set-{n}" for n in range(300)]) == []
        tokens = [f"token-{n}" for n in range(300)]
        assert cloud.provider.launch([]) == [] and not cloud.provider._existing(*tokens)
        cloud.provider.release([dataclasses.replace(vms[0], name=f"ghost-{n}") for n in range(250)])  # none there
    finally:
        cloud.delete(vms)
    assert leftovers(moto_url, "wide-1") == leftovers(moto_url, "wide-2") == []


def test_tags_group_ingress_public_ip_and_user_data(cloud: cloudvm.Cloud, ec2: Any, moto_url: str) -> None:
    network = cloudvm.Network(public_ip=True, ingress=[cloudvm.Ingress(port=22, cidr="10.0.0.0/8")])
    vm = cloud.create(spec("full", tags={"env": "ci"}, disks=[cloudvm.Disk(size_gib=2, tier="ssd")], network=network,
                           user_data="#!/bin/sh\necho hi\n"))
    try:
        assert vm.public_ips and vm.ssh_user == "ops" and vm.size and vm.size.type_name == "t3a.micro"
        volumes = ec2.describe_volumes(Filters=[{"Name": "tag:cloudvm-name", "Values": ["full"]}])["Volumes"]
        assert len(volumes) == 2 and all({"Key": "env", "Value": "ci"} in v["Tags"] for v in volumes)
        assert sorted(v["Size"] for v in volumes)[0] == 2
        group_ids = [g["GroupId"] for g in vm.raw["NetworkInterfaces"][0]["Groups"]]
        group = ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"][0]
        assert group["GroupName"] == "cloudvm-full" and {"Key": "env", "Value": "ci"} in group["Tags"]
        assert [(p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in group["IpPermissions"]] == [(22, "10.0.0.0/8")]
        raw = ec2.describe_instance_attribute(InstanceId=vm.id, Attribute="userData")["UserData"]["Value"]
        user_data = base64.b64decode(raw).decode()
        assert "#!/bin/sh\necho hi" in user_data and "name: ops" in user_data and KEY in user_data
    finally:
        cloud.delete(vm)
    assert leftovers(moto_url, "full") == []


def test_kept_disks_outlive_the_vm(cloud: cloudvm.Cloud, ec2: Any, moto_url: str) -> None:
    vm = cloud.create(spec("keeper", disks=[cloudvm.Disk(size_gib=1, keep=True), cloudvm.Disk(size_gib=1)]))
    cloud.delete(vm)
    kept = leftovers(moto_url, "keeper")
    assert len(kept) == 1 and kept[0].startswith("volume ")
    ec2.delete_volume(VolumeId=kept[0].split()[1])


def _own_image(ec2: Any) -> str:
    """An image of this account's own (not public, so in one region only): arm64, UEFI, TPM, IMDSv2."""
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    image: str = ec2.register_image(Name="own-arm64", Architecture="arm64", BootMode="uefi", TpmSupport="v2.0",
                                    ImdsSupport="v2.0", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                                    BlockDeviceMappings=[{"DeviceName": "/dev/xvda",
                                                          "Ebs": {"SnapshotId": snapshot}}])["ImageId"]
    return image


def test_a_copy_deleted_from_home_is_gone_from_its_region(cloud: cloudvm.Cloud, moto_url: str) -> None:
    """Found by the fault campaign: a copy in us-west-2, deleted through the us-east-1 Cloud that made
    it, was reported deleted and stayed."""
    vm = cloud.create(spec("dr-gone"))
    snap = cloud.snapshot(vm, name="dr-gone-snap")
    copy = cloud.copy_snapshot(snap, region="us-west-2")
    cloud.delete(vm)
    cloud.delete_snapshot(copy)
    cloud.delete_snapshot(snap)
    with cloud.at("us-west-2") as west:
        assert west.list_snapshots() == []
    assert cloud.list_snapshots() == []


def test_copy_snapshot_to_another_region_and_restore_there(cloud: cloudvm.Cloud, ec2: Any, moto_url: str) -> None:
    image = _own_image(ec2)
    vm = cloud.create(spec("dr", image=image, size=cloudvm.Size(instance_type="t4g.micro"),
                           disks=[cloudvm.Disk(size_gib=1)]))
    snap = cloud.snapshot(vm, name="dr-snap", tags={"policy": "daily"})
    assert len(snap.disks) == 2 and snap.disks[0].root and snap.spec and snap.spec.size.instance_type == "t4g.micro"
    copy = cloud.copy_snapshot(snap, region="us-west-2")
    assert copy.region == "us-west-2" and copy.name == "dr-snap" and copy.id == snap.id
    assert cloud.copy_snapshot(snap, region="us-west-2").disks == copy.disks  # idempotent
    with FaultProxy(moto_url) as seen, cloudvm.connect("aws", region="us-west-2", endpoint_url=seen.url, timeout=60,
                                                       poll_interval=0.1) as west:
        assert [s.name for s in west.list_snapshots(tags={"policy": "daily"})] == ["dr-snap"]
        restored = west.restore("dr-snap", name="dr-west")  # the source image is not in this region
        assert restored.zone and restored.zone.startswith("us-west-2") and len(restored.disks) == 2
        registered = next(params for action, params in seen.requests if action == "RegisterImage")
        assert {k: registered[k] for k in ("Architecture", "BootMode", "TpmSupport", "ImdsSupport")} == {
            "Architecture": ["arm64"], "BootMode": ["uefi"], "TpmSupport": ["v2.0"], "ImdsSupport": ["v2.0"]}
        west.delete(restored)
        west.delete_snapshot("dr-snap")
        assert west.list_snapshots() == []
    cloud.delete(vm)
    cloud.delete_snapshot(snap)
    assert leftovers(moto_url, "dr") == [] and cloud.list_snapshots() == []


@pytest.mark.parametrize(("code", "status", "cls"), [
    ("RequestLimitExceeded", 503, errors.Throttled),
    ("InsufficientInstanceCapacity", 500, errors.CapacityUnavailable),
    ("InstanceLimitExceeded", 400, errors.QuotaExceeded),
    ("VcpuLimitExceeded", 400, errors.QuotaExceeded),
    ("AuthFailure", 401, errors.AuthenticationError),
    ("UnauthorizedOperation", 403, errors.PermissionDenied),
    ("InvalidInstanceID.NotFound", 400, errors.NotFoundYet),
    ("SomethingNew", 500, errors.TransientError),
    ("SomethingElse", 400, errors.ProviderError),
])
def test_error_codes_map_onto_cloudvm_errors(code: str, status: int, cls: type) -> None:
    exc = ClientError({"Error": {"Code": code, "Message": "m"},
                       "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "r-1"}}, "RunInstances")
    mapped = convert(exc, "launch")
    assert type(mapped) is cls and mapped.code == code and mapped.request_id == "r-1"
    assert mapped.retryable == (cls in (errors.Throttled, errors.TransientError, errors.NotFoundYet))


def test_system_tags_are_on_the_instance(cloud: cloudvm.Cloud) -> None:
    vm = cloud.create(spec("tagged"))
    try:
        assert vm.tags[tags.MANAGED] == "true" and vm.tags[tags.NAME] == "tagged" and tags.TOKEN in vm.tags
    finally:
        cloud.delete(vm)


def test_restore_uses_the_snapshot_layout(cloud: cloudvm.Cloud) -> None:
    vm = cloud.create(spec("layout", disks=[cloudvm.Disk(size_gib=3)]))
    try:
        with restored_copy(cloud, vm, "layout-2") as restored:
            assert [(d.root, d.size_gib) for d in restored.disks] == [(d.root, d.size_gib) for d in vm.disks]
            assert yaml.safe_dump(restored.tags) and restored.ssh_user == "ops"
    finally:
        cloud.delete(vm)


def test_the_cli_drives_aws_like_libvirt(moto_url: str, tmp_path: Any) -> None:
    import json
    import subprocess
    import sys

    (tmp_path / "key.pub").write_text(KEY)
    base = [sys.executable, "-m", "cloudvm", "-p", "aws", "-O", f"endpoint_url={moto_url}", "-o", "json"]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], capture_output=True, text=True, timeout=120)

    planned = cli("create", "cli-aws", "--image", "ubuntu-24.04", "--cpus", "2", "--memory", "1",
                  "--key", str(tmp_path / "key.pub"), "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["size"]["type_name"] == "t3a.micro"
    made = cli("create", "cli-aws", "--image", "ubuntu-24.04", "--cpus", "2", "--memory", "1",
               "--key", str(tmp_path / "key.pub"), "--ingress", "22", "--public-ip", "--tag", "suite=cli-aws")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)[0]["state"] == "running"
    assert [v["name"] for v in json.loads(cli("list", "--tag", "suite=cli-aws").stdout)] == ["cli-aws"]
    assert cli("delete", "cli-aws").returncode == 0
    assert leftovers(moto_url, "cli-aws") == []


def test_a_name_claimed_by_a_killed_create_is_taken_over_once_its_claim_lapses(
        ec2: Any, moto_url: str, caplog: pytest.LogCaptureFixture) -> None:
    from cloudvm_aws.groups import CLAIMED_TAG

    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]

    def leave_group(name: str, age: float) -> None:  # as a create killed after claiming the name
        import time

        ec2.create_security_group(GroupName=f"cloudvm-{name}", Description="x", VpcId=vpc, TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [
                {"Key": tags.MANAGED, "Value": "true"}, {"Key": tags.TOKEN, "Value": "killed"},
                {"Key": CLAIMED_TAG, "Value": str(int(time.time() - age))}]}])

    with cloudvm.connect("aws", region=REGION, endpoint_url=moto_url, claim_lease=4, poll_interval=0.2) as cloud:
        leave_group("orphan-old", 30)  # lapsed: taken over at once
        cloud.delete(cloud.create(spec("orphan-old")))
        assert leftovers(moto_url, "orphan-old") == [] and "being created by another run" not in caplog.text
        leave_group("orphan-new", 0)  # may be a create still running elsewhere: waited for, then taken over
        cloud.delete(cloud.create(spec("orphan-new")))
        assert "'orphan-new' is being created by another run" in caplog.text
        assert leftovers(moto_url, "orphan-new") == []


def test_cloudvm_runs_on_the_shipped_policies_and_nothing_more(moto_url: str, ec2: Any) -> None:
    """moto enforces IAM for the whole suite: cloudvm's identity holds only providers/aws/cloudvm_aws/permissions."""
    as_cloudvm = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url)  # the environment's identity
    as_cloudvm.describe_instances()  # in vms.json
    with pytest.raises(ClientError) as denied:
        as_cloudvm.create_vpc(CidrBlock="10.9.0.0/16")  # in no shipped policy
    assert denied.value.response["Error"]["Code"] in ("AccessDenied", "UnauthorizedOperation")
    assert ec2.describe_vpcs()["Vpcs"]  # the harness's identity may do anything
    for path in PERMISSIONS.glob("*.json"):
        for statement in json.loads(path.read_text())["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), f"{path.name}: a wildcard action"
