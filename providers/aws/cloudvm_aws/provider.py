"""The AWS provider: EC2 instances with EBS disks, one security group per VM,
and the login user injected through cloud-init (no key pairs to leak).

Retries: botocore's own are switched off (``total_max_attempts=1``) so the core's
policy is the only one and attempts never multiply; its errors are mapped in
``_errors`` with ``retryable`` set where a retry can help.

Exactly once: every ``RunInstances`` carries the core's token (with the
zone it tries) as ``ClientToken`` and as the ``cloudvm-token`` tag (applied
atomically at launch); a retried launch first looks the token up, so a lost
response never yields a second instance, on AWS or on endpoints that ignore
ClientToken.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from cloudvm import cloudinit, snapsets
from cloudvm import tags as tagging
from cloudvm.errors import AlreadyExists, CapacityUnavailable, InvalidSpec, TransientError
from cloudvm.model import VM, DiskInfo, ResolvedSize, Snapshot, VMState
from cloudvm.provider import Capability, LaunchRequest, Provider
from cloudvm.sizing import Offer
from cloudvm.spec import Ingress, Size, VMSpec
from cloudvm_aws import catalog, snapshots
from cloudvm_aws._errors import mapped

log = logging.getLogger("cloudvm.aws")
CLAIMED_TAG = "cloudvm-claimed"  # when a create last worked on the VM's name (its security group)
# How long a name claimed by a create that has not launched is honoured. A live create renews its claim
# on every attempt once it is half that old (the retry policy waits at most 30 s between attempts);
# a killed one stops renewing.
CLAIM_LEASE = 60.0
RELEASE_CALLS = 10
DEVICE_SOURCE = tagging.COPIED_FROM  # on each copied member: the member it copies
_STATES = {
    "pending": VMState.PENDING, "running": VMState.RUNNING, "stopping": VMState.STOPPING,
    "shutting-down": VMState.STOPPING, "stopped": VMState.STOPPED, "terminated": VMState.TERMINATED,
}
# Neutral tiers on EBS: gp3 at its baseline (3,000 IOPS, 125 MiB/s), or gp3 provisioned above it: 6,000
# IOPS and 250 MiB/s where the size allows, as gp3 takes at most 500 IOPS per GiB (so below 6 GiB the
# baseline is all there is): https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html
SSD_IOPS, SSD_MIBPS, GP3_BASELINE_IOPS, GP3_IOPS_PER_GIB = 6000, 250, 3000, 500


def _tier(tier: str, size_gib: int) -> dict[str, Any]:
    if tier != "ssd":
        return {"VolumeType": "gp3"}
    return {"VolumeType": "gp3", "Iops": max(GP3_BASELINE_IOPS, min(SSD_IOPS, GP3_IOPS_PER_GIB * size_gib)),
            "Throughput": SSD_MIBPS}
DATA_DEVICES = [f"/dev/sd{c}" for c in "fghijklmnopqrstu"]
USER_DATA_BYTES = 16384
MAX_TAGS, OWN_TAGS = 50, 12  # a resource's tags, and those cloudvm keeps for its own (system, backup, snapshot)


def _credits(instance_type: str) -> dict[str, Any]:
    """Burstable types (T2, T3, T3a, T4g) run on standard CPU credits: T3 and later default to unlimited,
    which bills every minute above the baseline (https://docs.aws.amazon.com/ec2/latest/instancetypes/
    burstable-performance-instances-unlimited-mode.html); a spec that wants more names a non-burstable type."""
    return {"CreditSpecification": {"CpuCredits": "standard"}} if instance_type.startswith("t") else {}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _tag_dict(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def _claim_age(group: dict[str, Any]) -> float:
    claimed = _tag_dict(group.get("Tags")).get(CLAIMED_TAG, "")
    return time.time() - int(claimed) if claimed.isdigit() else float("inf")


def _filters(tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]


# EC2 takes at most 200 filter values in one call, across its filters (FilterLimitExceeded beyond):
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html#query-filters
FILTER_VALUES = 200


def described(client: Any, method: str, key: str, filters: list[dict[str, Any]], name: str,
              values: Sequence[str], **arguments: Any) -> list[dict[str, Any]]:
    """The items (``key``: Reservations, Volumes, ...) of a describe call whose filter ``name`` takes
    ``values``, in as many calls as EC2's limit on filter values needs, each read to its last page."""
    room = FILTER_VALUES - sum(len(f["Values"]) for f in filters)
    items: list[dict[str, Any]] = []
    for start in range(0, len(values), room):
        chunk = [*filters, {"Name": name, "Values": list(values[start:start + room])}]
        for page in client.get_paginator(method).paginate(Filters=chunk, **arguments):
            items += page[key]
    return items


class AWSProvider(Provider):
    """``cloudvm.connect("aws", region="us-east-1", profile=None, endpoint_url=None)``.

    Credentials come from boto3's chain (environment, profile, instance role).
    ``endpoint_url`` (or boto3's ``AWS_ENDPOINT_URL``) points the client elsewhere: a VPC
    endpoint, moto, LocalStack (``connect(..., guests=False)`` says no guest runs there).
    """

    name = "aws"
    capabilities = frozenset({
        Capability.SNAPSHOTS, Capability.COPY_SNAPSHOT, Capability.INGRESS_RULES, Capability.PUBLIC_IP,
        Capability.DATA_DISKS, Capability.KEEP_DISKS, Capability.REACHABILITY, Capability.CONSOLE_OUTPUT,
        Capability.HOST_KEYS, Capability.ENCRYPTION_KEYS,
    })
    # A VM is launched by its own RunInstances (EC2 applies a call's tags, names included, to every
    # instance it makes) and a few launches in flight keep up with that action's token bucket (refilled
    # at 2 a second, a call taking about a second); security groups go a few a call, in the far larger
    # bucket of mutating actions.
    batch_limits: ClassVar[Mapping[str, int]] = {"launch": 1, "release": 5}

    def __init__(self, region: str = "us-east-1", *, profile: str | None = None, endpoint_url: str | None = None,
                 subnet_id: str | None = None, claim_lease: float = CLAIM_LEASE, concurrency: int = 4) -> None:
        self.region = region
        self.parallel_calls = {"launch": max(1, int(concurrency)), "release": RELEASE_CALLS}
        self.claim_lease = float(claim_lease)
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.subnet_id = subnet_id
        self._client: Any = None
        self._types: dict[str, ResolvedSize] = {}
        self._roots: dict[str, tuple[str, int]] = {}  # image id -> (root device, size in GiB)
        self._subnet_lists: dict[str | None, list[dict[str, Any]]] = {}  # what a VM names -> its subnets
        self._offered: dict[str, set[str]] = {}  # instance type -> the zones offering it
        self._volume_sizes: dict[str, int] = {}  # volume id -> GiB (cloudvm resizes no volume)
        self._sent: set[str] = set()  # launch tokens sent: a second try first looks for what the first made
        self._groups: dict[str, tuple[str, float, bool]] = {}  # token -> its group, when claimed, rules in

    @property
    def ec2(self) -> Any:
        if self._client is None:
            self._client = self._new_client(self.region)
        return self._client

    def _new_client(self, region: str) -> Any:
        session = boto3.Session(profile_name=self.profile, region_name=region)
        return session.client("ec2", endpoint_url=self.endpoint_url,
                              config=Config(retries={"mode": "standard", "total_max_attempts": 1}))

    def close(self) -> None:
        self._client = None

    @property
    def location(self) -> str:
        return self.region

    # -- resolution -----------------------------------------------------------

    def _remember(self, info: dict[str, Any]) -> ResolvedSize:
        size = ResolvedSize(info["InstanceType"], info["VCpuInfo"]["DefaultVCpus"],
                            info["MemoryInfo"]["SizeInMiB"] / 1024)
        self._types[size.type_name] = size
        return size

    def _describe_types(self, names: list[str]) -> None:
        missing = [n for n in names if n not in self._types]
        if missing:
            with mapped("describe instance types"):
                for info in self.ec2.describe_instance_types(InstanceTypes=missing)["InstanceTypes"]:
                    self._remember(info)

    def check(self, spec: VMSpec) -> None:
        """EC2's limits: 16 KB of user data as sent (cloudvm's cloud-config and the user's, wrapped in
        MIME, before base64; https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html), and
        tags (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html#tag-restrictions)."""
        sent = len(cloudinit.user_data(spec).encode())
        if sent > USER_DATA_BYTES:
            raise InvalidSpec("user_data", f"EC2 takes {USER_DATA_BYTES} bytes of user data; with cloudvm's "
                                           f"cloud-config it comes to {sent} bytes")
        if len(spec.tags) > MAX_TAGS - OWN_TAGS:
            raise InvalidSpec("tags", f"EC2 takes {MAX_TAGS} tags a resource, {OWN_TAGS} of them cloudvm's own: "
                                      f"at most {MAX_TAGS - OWN_TAGS}, not {len(spec.tags)}")
        for key, value in spec.tags.items():
            if key.lower().startswith("aws:") or len(key) > 128 or len(value) > 256:
                raise InvalidSpec(f"tags.{key[:40]}", "EC2 refuses keys starting with 'aws:', keys over 128 and "
                                                     "values over 256 characters")
        if spec.encryption_key and not catalog.KMS_KEY.match(spec.encryption_key):
            raise InvalidSpec("encryption_key", "EBS takes a KMS key by id, ARN, alias/NAME or alias ARN")

    def resolve_size(self, size: Size) -> ResolvedSize:
        assert size.instance_type is not None  # shapes are matched by the core against offers()
        try:
            self._describe_types([size.instance_type])
        except Exception as exc:
            raise InvalidSpec("size.instance_type", f"EC2 has no instance type {size.instance_type!r}") from exc
        return self._types[size.instance_type]

    def offers(self) -> list[Offer]:
        """Current-generation x86_64 types some zone of the region offers (offerings differ by
        zone: a type no zone offers is no choice), priced from libcloud's table."""
        filters = [{"Name": "current-generation", "Values": ["true"]},
                   {"Name": "processor-info.supported-architecture", "Values": ["x86_64"]}]
        with mapped("describe instance types"):
            pages = self.ec2.get_paginator("describe_instance_types").paginate(Filters=filters)
            types = [t for page in pages for t in page["InstanceTypes"]]
            offers = described(self.ec2, "describe_instance_type_offerings", "InstanceTypeOfferings", [],
                               "instance-type", [t["InstanceType"] for t in types], LocationType="availability-zone")
        for offer in offers:
            self._offered.setdefault(offer["InstanceType"], set()).add(offer["Location"])
        return [Offer(self._remember(t), catalog.price(t["InstanceType"], self.region))
                for t in types if t["InstanceType"] in self._offered]

    def resolve_image(self, image: str) -> str:
        if image.startswith("ami-"):
            with mapped(f"describe image {image}"):
                found = self.ec2.describe_images(ImageIds=[image])["Images"]
        elif image in catalog.IMAGES:
            owner, pattern = catalog.IMAGES[image]
            with mapped(f"find image {image}"):
                found = self.ec2.describe_images(Owners=[owner], Filters=[
                    {"Name": "name", "Values": [pattern]}, {"Name": "architecture", "Values": ["x86_64"]},
                    {"Name": "state", "Values": ["available"]}])["Images"]
        else:
            raise InvalidSpec("image", f"unknown image {image!r}: not an ami-... id nor a known alias "
                                       f"({', '.join(sorted(catalog.IMAGES))})")
        if not found:
            raise InvalidSpec("image", f"no AMI for {image!r} in {self.region}")
        newest = max(found, key=lambda i: i.get("CreationDate", ""))
        root = newest.get("RootDeviceName", "/dev/xvda")
        size = next((m["Ebs"].get("VolumeSize", 8) for m in newest.get("BlockDeviceMappings", [])
                     if m.get("DeviceName") == root and "Ebs" in m), 8)
        self._roots[newest["ImageId"]] = (root, size)
        image_id: str = newest["ImageId"]
        return image_id

    # -- launching ------------------------------------------------------------

    def prepare(self, requests: Sequence[LaunchRequest]) -> None:
        for request in requests:
            self._subnets(request.spec, request.size.type_name)

    def _subnets(self, spec: VMSpec, instance_type: str) -> list[dict[str, Any]]:
        """Where a VM may go: the subnet it names, or the default subnets of the zones that offer its
        type (offerings differ by zone), looked up once per connection (a fleet shares them)."""
        wanted = spec.network.name or self.subnet_id
        if wanted not in self._subnet_lists:
            self._subnet_lists[wanted] = self._find_subnets(wanted)
        if wanted:
            return self._subnet_lists[wanted]
        zones = self._zones(instance_type)
        offered = [s for s in self._subnet_lists[wanted] if s["AvailabilityZone"] in zones]
        if not offered:
            raise InvalidSpec("size", f"no zone of {self.region} with a default subnet offers {instance_type}")
        return offered

    def _zones(self, instance_type: str) -> set[str]:
        if instance_type not in self._offered:
            with mapped(f"zones offering {instance_type}"):
                pages = self.ec2.get_paginator("describe_instance_type_offerings").paginate(
                    LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [instance_type]}])
                self._offered[instance_type] = {o["Location"] for page in pages for o in page["InstanceTypeOfferings"]}
        return self._offered[instance_type]

    def _find_subnets(self, wanted: str | None) -> list[dict[str, Any]]:
        with mapped("find subnet"):
            if wanted:
                found = self.ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": [wanted]}])["Subnets"]
                if not found:
                    raise InvalidSpec("network.name", f"no subnet {wanted!r} in {self.region}")
            else:
                vpcs = self.ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
                if not vpcs:
                    raise InvalidSpec("network.name", f"{self.region} has no default VPC; name a subnet")
                found = self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]},
                                                           {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        return sorted(found, key=lambda s: s["AvailabilityZone"])

    def _group(self, request: LaunchRequest, vpc_id: str) -> str:
        """The group this create claimed on a try moments ago (a launch throttled or lost on the
        way), or one made or claimed now; with the spec's rules in it (added again if a try failed
        between making the group and adding them)."""
        held = self._groups.get(request.token)
        if held and time.time() - held[1] < self.claim_lease / 2:
            group_id, claimed, ready = held
        else:
            group_id, claimed, ready = self._security_group(request, vpc_id), time.time(), False
        self._groups[request.token] = (group_id, claimed, ready)
        if not ready:
            self._authorize(group_id, request.spec.network.ingress)  # a group just made may not be found yet
            self._groups[request.token] = (group_id, claimed, True)
        return group_id

    def _security_group(self, request: LaunchRequest, vpc_id: str) -> str:
        """The VM's own group, made once with the spec's ingress rules and tags.

        Group names are unique per VPC and creating one is atomic, so the group
        is also the VM name's lock: of two creates of one name, one gets it.
        """
        name = f"cloudvm-{request.spec.name}"
        claim = {**request.tags, CLAIMED_TAG: str(int(time.time()))}
        try:
            with mapped(f"security group {name}"):
                group_id: str = self.ec2.create_security_group(
                    GroupName=name, Description=f"cloudvm: {request.spec.name}", VpcId=vpc_id,
                    TagSpecifications=[{"ResourceType": "security-group", "Tags": _tag_list(claim)}],
                )["GroupId"]
        except AlreadyExists:  # taken: by an earlier try of ours, a VM, or another create
            with mapped(f"security group {name}"):
                found = self.ec2.describe_security_groups(Filters=[
                    {"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc_id]}])
            if not found["SecurityGroups"]:
                raise TransientError(f"security group {name} is being deleted") from None
            return self._claimed(request, found["SecurityGroups"][0])
        return group_id

    def _claimed(self, request: LaunchRequest, group: dict[str, Any]) -> str:
        """The name is taken: by this create's earlier try (renew the claim and go on), by a VM
        (AlreadyExists), or by a create that has not launched — wait for it, or, once its
        claim has lapsed (it was killed), take the name over."""
        group_id: str = group["GroupId"]
        ours = _tag_dict(group.get("Tags")).get(tagging.TOKEN) == request.token
        if not ours and self._held(request.spec.name):
            raise AlreadyExists(f"a VM named {request.spec.name!r} already exists in {self.region} "
                                f"(it holds security group {group['GroupName']})")
        age = _claim_age(group)
        if not ours and age <= self.claim_lease:
            raise TransientError(f"{request.spec.name!r} is being created by another run (claimed {age:.0f}s ago);"
                                 f" waiting for it to launch, or for its claim to lapse after "
                                 f"{self.claim_lease:.0f}s", retry_after=min(self.claim_lease - age + 1, 15.0))
        with mapped(f"security group {group['GroupName']}"):
            if not ours:  # left by a create that was killed before it launched
                self.ec2.delete_security_group(GroupId=group_id)
                return self._security_group(request, group["VpcId"])
            self.ec2.create_tags(Resources=[group_id], Tags=[{"Key": CLAIMED_TAG, "Value": str(int(time.time()))}])
        return group_id

    def _held(self, name: str) -> bool:
        """Whether an instance carries the VM name (whatever group it holds)."""
        with mapped(f"instances named {name}"):
            return bool(self.ec2.describe_instances(Filters=[
                {"Name": f"tag:{tagging.NAME}", "Values": [name]},
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
            ])["Reservations"])

    def _authorize(self, group_id: str, ingress: Sequence[Ingress]) -> None:
        """Add the rules; ones already there (from an earlier try) are fine."""
        for rule in ingress:
            cidr = {"Ipv6Ranges": [{"CidrIpv6": rule.cidr}]} if ":" in rule.cidr else {
                "IpRanges": [{"CidrIp": rule.cidr}]}
            with mapped(f"allow {rule.port} into {group_id}"):
                try:
                    self.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[{
                        "IpProtocol": rule.protocol, "FromPort": rule.port, "ToPort": rule.to_port or rule.port,
                        **cidr}])
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "InvalidPermission.Duplicate":
                        raise

    def _block_devices(self, request: LaunchRequest) -> list[dict[str, Any]]:
        """The root disk at the image's size or the spec's, then the data disks."""
        spec = request.spec
        if request.image not in self._roots:
            self.resolve_image(request.image)
        device, size = self._roots[request.image]
        devices: list[dict[str, Any]] = [{"DeviceName": device, "Ebs": {
            "VolumeSize": max(size, spec.root_disk_gib or 0), "DeleteOnTermination": True, "VolumeType": "gp3",
            **_encrypted(spec)}}]
        for device, disk in zip(DATA_DEVICES, spec.disks, strict=False):
            devices.append({"DeviceName": device, "Ebs": {"VolumeSize": disk.size_gib,
                                                         "DeleteOnTermination": not disk.keep, **_encrypted(spec),
                                                         **_tier(disk.tier, disk.size_gib)}})
        return devices

    def _existing(self, *tokens: str) -> dict[str, str]:
        """Token -> instance, for instances already launched with these tokens (one call for a batch)."""
        with mapped("find instances by token"):
            reservations = described(self.ec2, "describe_instances", "Reservations", [
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}],
                f"tag:{tagging.TOKEN}", tokens)
            return {_tag_dict(i.get("Tags"))[tagging.TOKEN]: i["InstanceId"]
                    for r in reservations for i in r["Instances"]}

    def launch(self, requests: Sequence[LaunchRequest]) -> list[str]:
        # A token sent before and now tagged on an instance is a retry after a lost response.
        again = [r.token for r in requests if r.token in self._sent]
        done = self._existing(*again) if again else {}
        self._sent.update(r.token for r in requests)
        return [done.get(r.token) or self._launch(r, r.image, self._block_devices(r)) for r in requests]

    def _launch(self, request: LaunchRequest, image_id: str, devices: list[dict[str, Any]],
                user: str | None = None) -> str:
        """Launch in the first zone that has room: a zone out of capacity for the type
        (InsufficientInstanceCapacity) passes the VM to the next one that offers it."""
        spec = request.spec
        subnets = self._subnets(spec, request.size.type_name)
        user = spec.ssh.user if spec.ssh else user
        tags = {**request.tags, "Name": spec.name, **({tagging.USER: user} if user else {})}
        group_id = self._group(request, subnets[0]["VpcId"])
        try:
            for subnet, following in itertools.pairwise(subnets):
                try:
                    return self._run(request, image_id, devices, tags, subnet, group_id)
                except CapacityUnavailable:
                    log.info("%s: no capacity for %s in %s, trying %s", spec.name, request.size.type_name,
                             subnet["AvailabilityZone"], following["AvailabilityZone"])
            return self._run(request, image_id, devices, tags, subnets[-1], group_id)
        except Exception as exc:
            if not getattr(exc, "retryable", False) and not self._existing(request.token):  # the group is ours
                self._groups.pop(request.token, None)
                self._delete_groups([group_id])
            raise  # a throttled or dropped launch keeps its group for the next try; abandon() if none comes

    def _run(self, request: LaunchRequest, image_id: str, devices: list[dict[str, Any]], tags: dict[str, str],
             subnet: dict[str, Any], group_id: str) -> str:
        spec, zone = request.spec, subnet["AvailabilityZone"]
        with mapped(f"launch {spec.name} in {zone}"):
            reply = self.ec2.run_instances(
                ImageId=image_id, InstanceType=request.size.type_name, MinCount=1, MaxCount=1,
                ClientToken=f"{request.token}-{zone}", UserData=cloudinit.user_data(spec),
                BlockDeviceMappings=devices,
                NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet["SubnetId"], "Groups": [group_id],
                                    "AssociatePublicIpAddress": spec.network.public_ip}],
                TagSpecifications=[{"ResourceType": kind, "Tags": _tag_list(tags)} for kind in ("instance", "volume")],
                **_credits(request.size.type_name),
                # IMDSv2 only (a token first: no credentials for a server-side request forgery), two hops
                # so containers on the VM reach it too:
                # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-options.html
                MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
            )
        self._groups.pop(request.token, None)
        instance_id: str = reply["Instances"][0]["InstanceId"]
        return instance_id

    def abandon(self, tokens: Sequence[str]) -> None:
        """Delete the groups kept for launches that were never tried again."""
        kept = {t: self._groups.pop(t)[0] for t in tokens if t in self._groups}
        if kept:
            launched = self._existing(*kept)
            self._delete_groups([group for token, group in kept.items() if token not in launched])

    # -- describing -------------------------------------------------------------

    def describe(self, ids: Sequence[str] | None = None, tags: dict[str, str] | None = None) -> list[VM]:
        filters = _filters({tagging.MANAGED: "true", **(tags or {})})
        if ids is not None:
            wanted = ("instance-id", list(ids))
        else:
            wanted = ("instance-state-name", ["pending", "running", "stopping", "stopped", "shutting-down"])
        with mapped("describe instances"):
            instances = [i for r in described(self.ec2, "describe_instances", "Reservations", filters, *wanted)
                         for i in r["Instances"]]
        self._describe_types(sorted({i["InstanceType"] for i in instances}))
        self._describe_volumes([m["Ebs"]["VolumeId"] for i in instances for m in i.get("BlockDeviceMappings", [])])
        return [self._vm(i, self._volume_sizes) for i in instances]

    def _describe_volumes(self, ids: list[str]) -> None:
        """Sizes of volumes not seen yet: a fleet polled until it runs asks once, not every round."""
        missing = [v for v in ids if v not in self._volume_sizes]
        if missing:
            with mapped("describe volumes"):
                for volume in described(self.ec2, "describe_volumes", "Volumes", [], "volume-id", missing):
                    self._volume_sizes[volume["VolumeId"]] = volume["Size"]

    def _vm(self, inst: dict[str, Any], sizes: dict[str, int]) -> VM:
        tags = _tag_dict(inst.get("Tags"))
        root = inst.get("RootDeviceName")
        return VM(
            id=inst["InstanceId"], name=tags.get(tagging.NAME, inst["InstanceId"]), provider=self.name,
            state=_STATES.get(inst["State"]["Name"], VMState.ERROR), size=self._types.get(inst["InstanceType"]),
            image=inst.get("ImageId"), region=self.region, zone=inst.get("Placement", {}).get("AvailabilityZone"),
            private_ips=tuple(ip for ip in [inst.get("PrivateIpAddress")] if ip),
            public_ips=tuple(ip for ip in [inst.get("PublicIpAddress")] if ip),
            disks=tuple(DiskInfo(m["Ebs"]["VolumeId"], float(sizes.get(m["Ebs"]["VolumeId"], 0)),
                                 m["DeviceName"] == root, m["DeviceName"])
                        for m in inst.get("BlockDeviceMappings", [])),
            tags={k: v for k, v in tags.items() if k not in ("Name", tagging.USER)},
            created_at=inst.get("LaunchTime"), ssh_user=tags.get(tagging.USER), raw=inst,
        )

    # -- lifecycle ----------------------------------------------------------------

    def start(self, ids: Sequence[str]) -> None:
        with mapped("start instances"):
            self.ec2.start_instances(InstanceIds=list(ids))

    def stop(self, ids: Sequence[str], *, force: bool = False) -> None:
        with mapped("stop instances"):
            self.ec2.stop_instances(InstanceIds=list(ids), Force=force)

    def reboot(self, ids: Sequence[str]) -> None:
        with mapped("reboot instances"):
            self.ec2.reboot_instances(InstanceIds=list(ids))

    def terminate(self, ids: Sequence[str]) -> None:
        with mapped("terminate instances"):
            self.ec2.terminate_instances(InstanceIds=list(ids))

    def release(self, vms: Sequence[VM]) -> None:
        """Delete the security groups of terminated VMs once nothing uses them."""
        names = [f"cloudvm-{vm.name}" for vm in vms]
        with mapped("find security groups"):
            groups = described(self.ec2, "describe_security_groups", "SecurityGroups",
                               _filters({tagging.MANAGED: "true"}), "group-name", names)
        self._delete_groups([g["GroupId"] for g in groups])

    def _delete_groups(self, group_ids: list[str]) -> None:
        """EC2 refuses to delete a group an instance still holds (DependencyViolation: retried,
        as a terminated instance's interface lets go of it a little later)."""
        for group_id in group_ids:
            with mapped(f"delete security group {group_id}"):
                self.ec2.delete_security_group(GroupId=group_id)

    def orphans(self) -> list[str]:
        """cloudvm's security groups no instance uses, and its volumes nothing has attached."""
        managed = _filters({tagging.MANAGED: "true"})
        with mapped("list orphans"):
            pages = self.ec2.get_paginator("describe_instances").paginate(Filters=[
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])
            used = {g["GroupId"] for page in pages for r in page["Reservations"] for i in r["Instances"]
                    for g in [*i.get("SecurityGroups", []), *(g for n in i.get("NetworkInterfaces", [])
                                                               for g in n.get("Groups", []))]}
            groups = self.ec2.describe_security_groups(Filters=managed)["SecurityGroups"]
            volumes = self.ec2.describe_volumes(Filters=[*managed, {"Name": "status", "Values": ["available"]}])
        found = [f"security group {g['GroupName']} in {self.region} ({g['GroupId']}, no instance uses it)"
                 for g in groups if g["GroupId"] not in used]
        return found + [f"volume {_tag_dict(v.get('Tags')).get(tagging.NAME, '')} in {self.region} "
                        f"({v['VolumeId']}, {v['Size']} GiB, unattached)" for v in volumes["Volumes"]]

    def console_output(self, vm: VM) -> str:
        with mapped(f"console output of {vm.name}"):
            text: str = self.ec2.get_console_output(InstanceId=vm.id, Latest=True).get("Output", "")
        return text  # EC2 sends it base64-encoded; botocore decodes it

    # -- snapshots ------------------------------------------------------------------

    def _snapshot_items(self, filters: list[dict[str, Any]], client: Any = None, sets: Sequence[str] = ()
                        ) -> list[dict[str, Any]]:
        """Snapshots cloudvm made that match ``filters`` (and belong to one of ``sets``, if named)."""
        with mapped("describe snapshots"):
            if sets:
                return described(client or self.ec2, "describe_snapshots", "Snapshots", filters,
                                 f"tag:{snapsets.SET}", sets, OwnerIds=["self"])
            pages = (client or self.ec2).get_paginator("describe_snapshots").paginate(
                OwnerIds=["self"], Filters=filters)
            return [item for page in pages for item in page["Snapshots"]]

    def snapshot(self, vm: VM, name: str, tags: dict[str, str]) -> Snapshot:
        """One CreateSnapshots call for every volume; a retry with the same token
        finishes the set it already made instead of making another."""
        made = self._snapshot_items(_filters({tagging.NAME: name, tagging.MANAGED: "true"}))
        if made and _tag_dict(made[0].get("Tags")).get(tagging.TOKEN) != tags.get(tagging.TOKEN):
            raise AlreadyExists(f"a snapshot named {name!r} already exists in {self.region}")
        inst = vm.raw if isinstance(vm.raw, dict) else {}
        if not made:
            own = {**snapsets.about(vm, uuid.uuid4().hex), snapsets.TYPE: inst.get("InstanceType", ""),
                   snapsets.ROOT: inst.get("RootDeviceName", ""), snapsets.BOOT: self._boot(vm)}
            with mapped(f"snapshot {vm.name}"):
                made = self.ec2.create_snapshots(
                    InstanceSpecification={"InstanceId": vm.id, "ExcludeBootVolume": False},
                    TagSpecifications=[{"ResourceType": "snapshot", "Tags": _tag_list({**tags, **own})}],
                    Description=f"cloudvm snapshot {name} of {vm.name}")["Snapshots"]
        devices = {m["Ebs"]["VolumeId"]: m["DeviceName"] for m in inst.get("BlockDeviceMappings", [])}
        for item in made:  # which disk each copy is, for the restore
            if snapsets.DEVICE not in _tag_dict(item.get("Tags")):
                with mapped(f"tag snapshot {item['SnapshotId']}"):
                    self.ec2.create_tags(Resources=[item["SnapshotId"]],
                                         Tags=[{"Key": snapsets.DEVICE, "Value": devices.get(item["VolumeId"], "")}])
        set_id = _tag_dict(made[0].get("Tags")).get(snapsets.SET) or ""
        return self.describe_snapshots([set_id])[0]

    def _boot(self, vm: VM) -> str:
        """The source image's architecture, boot mode, TPM and IMDS support, which a restore's image
        must carry again (an arm64 or UEFI-only VM boots from nothing else)."""
        with mapped(f"describe image {vm.image}"):
            found = self.ec2.describe_images(ImageIds=[vm.image])["Images"] if vm.image else []
        if found:
            return snapshots.boot_tag(found[0])
        with mapped(f"describe instance type of {vm.name}"):
            info = self.ec2.describe_instance_types(InstanceTypes=[vm.raw["InstanceType"]])["InstanceTypes"][0]
        supported = info["ProcessorInfo"]["SupportedArchitectures"]
        return snapshots.boot_tag({"Architecture": "x86_64" if "x86_64" in supported else supported[0]})

    def describe_snapshots(self, ids: Sequence[str] | None = None,
                           tags: dict[str, str] | None = None) -> list[Snapshot]:
        if ids is not None and not ids:
            return []
        filters = _filters({tagging.MANAGED: "true", **(tags or {})})
        return snapshots.group(self._snapshot_items(filters, sets=ids or ()), self.name, self.region)

    def restore(self, snapshot: Snapshot, request: LaunchRequest) -> str:
        """Register an AMI whose root is the root snapshot, launch it with the data
        disks made from theirs, then drop the AMI (the snapshots stay)."""
        existing = self._existing(request.token)
        if existing:
            return existing[request.token]
        root = next(d for d in snapshot.disks if d.root)
        ami_name = f"cloudvm-restore-{request.spec.name}-{request.token}"
        ebs: list[dict[str, Any]] = [{"SnapshotId": d.id, "DeleteOnTermination": True, "VolumeType": "gp3"}
                                     for d in snapshot.disks]
        devices = [{"DeviceName": d.device, "Ebs": {**e, **_encrypted(request.spec)}}
                   for d, e in zip(snapshot.disks, ebs, strict=True)]
        raw = snapshot.raw[0] if snapshot.raw else {}
        boot = snapshots.boot_attributes(_tag_dict(raw.get("Tags")).get(snapsets.BOOT, ""))
        with mapped(f"register image for {request.spec.name}"):
            found = self.ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [ami_name]}])
            image_id = found["Images"][0]["ImageId"] if found["Images"] else self.ec2.register_image(
                Name=ami_name, RootDeviceName=root.device,
                BlockDeviceMappings=[{"DeviceName": root.device, "Ebs": ebs[0]}],  # the launch encrypts
                VirtualizationType="hvm", EnaSupport=True, **boot)["ImageId"]
        try:
            user = _tag_dict(raw.get("Tags")).get(tagging.USER)
            return self._launch(request, image_id, devices, user=user)
        finally:
            with mapped(f"deregister image {image_id}"):
                self.ec2.deregister_image(ImageId=image_id)

    def delete_snapshot(self, snapshot: Snapshot) -> None:
        for disk in snapshot.disks:
            with mapped(f"delete snapshot {disk.id}"):
                try:
                    self.ec2.delete_snapshot(SnapshotId=disk.id)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "InvalidSnapshot.NotFound":
                        raise

    def copy_snapshot(self, snapshot: Snapshot, region: str) -> Snapshot:
        """Copy every member of the set to ``region`` (disaster recovery); idempotent per set."""
        target = self._new_client(region)
        in_target = self._snapshot_items(_filters({snapsets.SET: snapshot.id}), target)
        done = {_tag_dict(i.get("Tags")).get(DEVICE_SOURCE) for i in in_target}
        for member in snapshot.raw:
            if member["SnapshotId"] in done:
                continue
            tags = {**_tag_dict(member.get("Tags")), DEVICE_SOURCE: member["SnapshotId"]}
            with mapped(f"copy snapshot {member['SnapshotId']} to {region}"):
                target.copy_snapshot(SourceRegion=self.region, SourceSnapshotId=member["SnapshotId"],
                                     Description=member.get("Description", ""),
                                     TagSpecifications=[{"ResourceType": "snapshot", "Tags": _tag_list(tags)}])
        return snapshots.group(self._snapshot_items(_filters({snapsets.SET: snapshot.id}), target),
                               self.name, region)[0]


def _encrypted(spec: VMSpec) -> dict[str, Any]:
    """Every EBS volume encrypted: with the spec's KMS key, else the account's default EBS key."""
    return {"Encrypted": True, **({"KmsKeyId": spec.encryption_key} if spec.encryption_key else {})}
