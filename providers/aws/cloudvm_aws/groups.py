"""Security groups: the firewall of a VM (or of a chunk of a counted fleet) and the lock on its name.

Group names are unique per VPC and creating one is atomic, so the group is also the lock: of two
creates of one name, one gets it. A group carries the create's token and a claim time; a create that
finds its own group (a try before it was throttled or lost its answer) renews the claim and goes on, so
nothing is kept in memory between tries. A claim not renewed for ``lease`` seconds belongs to a create
that was killed, and the next create of the name takes the group over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from cloudvm import retry
from cloudvm import tags as tagging
from cloudvm.errors import AlreadyExists, TransientError
from cloudvm.spec import Ingress
from cloudvm_aws._errors import mapped

CLAIMED_TAG = "cloudvm-claimed"  # when a create last worked on the group's names
# How long a name claimed by a create that has not launched is honoured. A live create renews its claim
# on every attempt (the retry policy waits at most 30 s between attempts); a killed one stops renewing.
CLAIM_LEASE = 60.0


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_dict(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def claim_age(group: dict[str, Any]) -> float:
    claimed = tag_dict(group.get("Tags")).get(CLAIMED_TAG, "")
    return time.time() - int(claimed) if claimed.isdigit() else float("inf")


class Lock:
    """One group: ``name`` in ``vpc_id``, made for the create whose token and tags it carries;
    ``held`` tells which of its VM names an instance already carries (then the name is taken for good)."""

    def __init__(self, ec2: Any, name: str, vpc_id: str, tags: dict[str, str], lease: float,
                 held: Callable[[], list[str]]) -> None:
        self.ec2, self.name, self.vpc_id, self.tags, self.lease, self.held = ec2, name, vpc_id, tags, lease, held

    def take(self, ingress: Sequence[Ingress]) -> str:
        """The group id, made or claimed now, with the rules in it (added again if a try failed
        between making the group and adding them)."""
        group_id = self._make()
        authorize(self.ec2, group_id, ingress)
        return group_id

    def _make(self) -> str:
        if retry.attempt() > 1:  # an earlier try may have made it: look before asking for another
            found = self._find()
            if found:
                return self._claimed(found)
        claim = {**self.tags, CLAIMED_TAG: str(int(time.time()))}
        try:
            with mapped(f"security group {self.name}"):
                group_id: str = self.ec2.create_security_group(
                    GroupName=self.name, Description=f"cloudvm: {self.name.removeprefix('cloudvm-')}",
                    VpcId=self.vpc_id, TagSpecifications=[{"ResourceType": "security-group",
                                                           "Tags": tag_list(claim)}])["GroupId"]
        except AlreadyExists:  # taken: by an earlier try of ours, a VM, or another create
            found = self._find()
            if not found:
                raise TransientError(f"security group {self.name} is being deleted") from None
            return self._claimed(found)
        return group_id

    def _find(self) -> dict[str, Any] | None:
        with mapped(f"security group {self.name}"):
            found = self.ec2.describe_security_groups(Filters=[
                {"Name": "group-name", "Values": [self.name]}, {"Name": "vpc-id", "Values": [self.vpc_id]}])
        return found["SecurityGroups"][0] if found["SecurityGroups"] else None

    def _claimed(self, group: dict[str, Any]) -> str:
        """The name is taken: by this create's earlier try (renew the claim and go on), by a VM
        (AlreadyExists), or by a create that has not launched — wait for it, or, once its
        claim has lapsed (it was killed), take the name over."""
        group_id: str = group["GroupId"]
        ours = tag_dict(group.get("Tags")).get(tagging.TOKEN) == self.tags.get(tagging.TOKEN)
        held = [] if ours else self.held()
        if held:
            raise AlreadyExists(f"{', '.join(held)} already exist(s) (holding security group {group['GroupName']})")
        age = claim_age(group)
        if not ours and age <= self.lease:
            raise TransientError(f"{self.name.removeprefix('cloudvm-')!r} is being created by another run (claimed "
                                 f"{age:.0f}s ago); waiting for it to launch, or for its claim to lapse after "
                                 f"{self.lease:.0f}s", retry_after=min(self.lease - age + 1, 15.0))
        with mapped(f"security group {group['GroupName']}"):
            if not ours:  # left by a create that was killed before it launched
                self.ec2.delete_security_group(GroupId=group_id)
                return self._make()
            if age > self.lease / 2:  # renewed well before it could lapse
                self.ec2.create_tags(Resources=[group_id],
                                     Tags=[{"Key": CLAIMED_TAG, "Value": str(int(time.time()))}])
        return group_id


def authorize(ec2: Any, group_id: str, ingress: Sequence[Ingress]) -> None:
    """Add the rules; ones already there (from an earlier try) are fine."""
    for rule in ingress:
        cidr = {"Ipv6Ranges": [{"CidrIpv6": rule.cidr}]} if ":" in rule.cidr else {"IpRanges": [{"CidrIp": rule.cidr}]}
        with mapped(f"allow {rule.port} into {group_id}"):
            try:
                ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[{
                    "IpProtocol": rule.protocol, "FromPort": rule.port, "ToPort": rule.to_port or rule.port, **cidr}])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "InvalidPermission.Duplicate":
                    raise


def delete(ec2: Any, group_ids: Sequence[str]) -> None:
    """EC2 refuses to delete a group an instance still holds (DependencyViolation: retried,
    as a terminated instance's interface lets go of it a little later); one gone already is fine."""
    for group_id in group_ids:
        with mapped(f"delete security group {group_id}"):
            try:
                ec2.delete_security_group(GroupId=group_id)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "InvalidGroup.NotFound":
                    raise
