"""The EC2 rules moto lets through, held by the test backend as EC2 holds
them: each answered with EC2's own error, so code that breaks one fails here
as it would on a real account."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cloudvm_aws.testing import REGION, FaultProxy, moto_server


@pytest.fixture(scope="module")
def ec2() -> Iterator[Any]:
    with moto_server() as url:
        yield boto3.client("ec2", region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                           aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def ami(ec2: Any) -> str:
    image: str = ec2.describe_images(Owners=["099720109477"])["Images"][0]["ImageId"]
    return image


def refused(call: Any, **arguments: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**arguments)
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Code"], error["Message"]


def test_a_client_token_makes_a_launch_happen_once(ec2: Any, ami: str) -> None:
    first = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, ClientToken="once-1")
    again = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, ClientToken="once-1")
    assert again["Instances"][0]["InstanceId"] == first["Instances"][0]["InstanceId"]
    assert again["ReservationId"] == first["ReservationId"]
    code, _ = refused(ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.large",
                      ClientToken="once-1")
    assert code == "IdempotentParameterMismatch"
    other = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, ClientToken="once-2")
    assert other["Instances"][0]["InstanceId"] != first["Instances"][0]["InstanceId"]


def test_user_data_is_limited_to_16_kb_before_encoding(ec2: Any, ami: str) -> None:
    assert refused(ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, UserData="x" * 16385) == (
        "InvalidParameterValue", "User data is limited to 16384 bytes")
    assert ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, UserData="x" * 16384)["Instances"]


def test_a_spot_launch_terminates_unless_its_request_is_persistent(ec2: Any, ami: str) -> None:
    def market(**options: str) -> dict[str, Any]:
        return {"InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": options}}

    launch = {"ImageId": ami, "MinCount": 1, "MaxCount": 1}
    for options in ({"InstanceInterruptionBehavior": "stop"},
                    {"SpotInstanceType": "persistent", "InstanceInterruptionBehavior": "terminate"}):
        assert refused(ec2.run_instances, **launch, **market(**options))[0] == "InvalidParameterCombination"
    assert refused(ec2.run_instances, **launch, **market(MaxPrice="0.0005"))[0] == "InvalidParameterValue"
    made = ec2.run_instances(**launch, **market(SpotInstanceType="one-time", MaxPrice="0.05"))["Instances"][0]
    assert made["InstanceLifecycle"] == "spot"


def test_tags_are_held_to_ec2s_limits(ec2: Any) -> None:
    def group(name: str, tags: list[dict[str, str]]) -> Any:
        return ec2.create_security_group(GroupName=name, Description="tags", TagSpecifications=[
            {"ResourceType": "security-group", "Tags": tags}])

    assert refused(group, name="many", tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])[0] == (
        "TagLimitExceeded")
    assert "128" in refused(group, name="long-key", tags=[{"Key": "k" * 129, "Value": "v"}])[1]
    assert "256" in refused(group, name="long-value", tags=[{"Key": "k", "Value": "v" * 257}])[1]
    assert "aws:" in refused(group, name="reserved", tags=[{"Key": "aws:owner", "Value": "me"}])[1]
    made = group("fifty", [{"Key": f"k{i}", "Value": "v" * 256} for i in range(50)])["GroupId"]
    assert "128" in refused(ec2.create_tags, Resources=[made], Tags=[{"Key": "k" * 129, "Value": "v"}])[1]


def test_a_call_takes_at_most_200_filter_values(ec2: Any) -> None:
    ids = [f"i-{n:017x}" for n in range(201)]
    assert refused(ec2.describe_instances, Filters=[{"Name": "instance-id", "Values": ids}]) == (
        "FilterLimitExceeded", "The maximum number of filter values specified on a single call is 200")
    split = [{"Name": "instance-id", "Values": ids[:100]}, {"Name": "tag:x", "Values": ids[100:]}]
    assert refused(ec2.describe_instances, Filters=split)[0] == "FilterLimitExceeded"  # counted across filters
    assert ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": ids[:200]}])["Reservations"] == []


def test_gp3_iops_and_throughput_follow_the_size(ec2: Any) -> None:
    def volume(**arguments: Any) -> Any:
        return ec2.create_volume(AvailabilityZone=f"{REGION}a", VolumeType="gp3", **arguments)

    assert "ratio" in refused(volume, Size=2, Iops=6000)[1]  # 500 IOPS a GiB above the baseline
    assert "IOPS" in refused(volume, Size=100, Iops=20000)[1]
    assert "Throughput" in refused(volume, Size=100, Iops=3000, Throughput=1000)[1]
    assert volume(Size=2, Iops=3000)["Iops"] == 3000  # the baseline, whatever the size
    assert volume(Size=12, Iops=6000, Throughput=250)["Iops"] == 6000


def test_what_was_just_made_is_not_found_for_a_moment() -> None:
    with moto_server(rules=False) as moto, FaultProxy(moto, settle=1.0) as proxy:
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=proxy.url, aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        group = ec2.create_security_group(GroupName="fresh", Description="settling")["GroupId"]
        assert refused(ec2.authorize_security_group_ingress, GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]) == (
            "InvalidGroup.NotFound", f"The security group '{group}' does not exist")
        time.sleep(1.0)  # a moment later, it is there
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
