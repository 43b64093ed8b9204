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
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from cloudvm import cloudinit, fleets, portable, snapsets
from cloudvm import tags as tagging
from cloudvm.errors import AlreadyExists, CapacityUnavailable, InvalidSpec
from cloudvm.model import VM, DiskInfo, ResolvedSize, Snapshot, VMState
from cloudvm.portable import Manifest, Moved
from cloudvm.provider import Capability, LaunchRequest, Provider
from cloudvm.sizing import Offer
from cloudvm.spec import Size, VMSpec
from cloudvm_aws import catalog, direct, groups, snapshots
from cloudvm_aws._errors import mapped
from cloudvm_aws.groups import CLAIM_LEASE, tag_dict, tag_list

log = logging.getLogger("cloudvm.aws")
# How a chunk of a counted fleet is told on its instances, which share their tags (one RunInstances):
# the fleet's name and token, the number of the chunk's first member, and the chunk's security group.
FLEET, FLEET_TOKEN, FIRST, GROUP = "cloudvm-fleet", "cloudvm-fleet-token", "cloudvm-fleet-first", "cloudvm-group"
STATUS_IDS = 100
FLEET_CHUNK = 100  # members a RunInstances launches: a zone out of room for some passes the chunk on whole
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
SPOT_INTERRUPTED = "Server.SpotInstanceTermination"
ROOT_DEVICE = "/dev/sda1"  # an imported disk's, as Ubuntu's images have it
BOOT_MODES = {"bios": "legacy-bios", "uefi": "uefi", "both": "uefi-preferred"}  # RegisterImage's BootMode
MAX_TAGS, OWN_TAGS = 50, 12  # a resource's tags, and those cloudvm keeps for its own (system, backup, snapshot)


def _credits(instance_type: str) -> dict[str, Any]:
    """Burstable types (T2, T3, T3a, T4g) run on standard CPU credits: T3 and later default to unlimited,
    which bills every minute above the baseline (https://docs.aws.amazon.com/ec2/latest/instancetypes/
    burstable-performance-instances-unlimited-mode.html); a spec that wants more names a non-burstable type."""
    return {"CreditSpecification": {"CpuCredits": "standard"}} if instance_type.startswith("t") else {}


def _market(spec: VMSpec) -> dict[str, Any]:
    """A one-time spot request in the launch itself, terminated when EC2 takes it back
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_SpotMarketOptions.html); no
    ``MaxPrice``: up to the on-demand price."""
    if spec.spot is None:
        return {}
    price = {"MaxPrice": f"{spec.spot.max_price:g}"} if spec.spot.max_price else {}
    return {"InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": {
        "SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate", **price}}}


def _interruption(inst: dict[str, Any]) -> str | None:
    """Why EC2 took a spot instance back, from its state reason
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-interruptions.html)."""
    reason = inst.get("StateReason") or {}
    return reason.get("Message") or reason["Code"] if reason.get("Code") == SPOT_INTERRUPTED else None


def _listed(instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Live instances, and the spot instances EC2 took back that nothing of their name replaced yet and
    cloudvm has not deleted: listed, so that a user sees the interruption (EC2 shows a terminated
    instance for about an hour) rather than a VM that vanished."""
    live = {identity(i)[0] for i in instances if i["State"]["Name"] != "terminated"}
    return [i for i in instances if i["State"]["Name"] != "terminated" or (_interruption(i)
                                                                            and identity(i)[0] not in live)]


def identity(inst: dict[str, Any]) -> tuple[str, str | None]:
    """An instance's VM name and token: its own tags, or its place in a fleet's chunk."""
    tags = tag_dict(inst.get("Tags"))
    if FLEET in tags and tags.get(FIRST, "").isdigit():
        number = int(tags[FIRST]) + int(inst.get("AmiLaunchIndex", 0))
        return fleets.member_name(tags[FLEET], number), fleets.member_token(tags.get(FLEET_TOKEN, ""), number)
    return tags.get(tagging.NAME, inst["InstanceId"]), tags.get(tagging.TOKEN)


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


# A botocore session reads a service's model (megabytes of JSON, half a second) the first time it
# makes a client: one loader for the process reads it once, not once per provider, region or copy.
_MODELS = botocore.loaders.create_loader()


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
        Capability.HOST_KEYS, Capability.ENCRYPTION_KEYS, Capability.SPOT, Capability.EXPORT,
        Capability.IMPORT,
    })
    # A named VM is launched by its own RunInstances (EC2 applies a call's tags, names included, to every
    # instance it makes), a counted fleet's chunk by one (``fleet_limit``); a few launches in flight keep
    # up with that action's token bucket (refilled at 2 a second, a call taking about a second); security
    # groups go a few a call, in the far larger bucket of mutating actions.
    batch_limits: ClassVar[Mapping[str, int]] = {"launch": 1, "release": 5}
    fleet_limit = FLEET_CHUNK

    def __init__(self, region: str = "us-east-1", *, profile: str | None = None, endpoint_url: str | None = None,
                 subnet_id: str | None = None, claim_lease: float = CLAIM_LEASE, concurrency: int = 4) -> None:
        self.region = region
        self.parallel_calls = {"launch": max(1, int(concurrency)), "release": RELEASE_CALLS}
        self.claim_lease = float(claim_lease)
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.subnet_id = subnet_id
        self._client: Any = None
        self._ebs: Any = None
        self._types: dict[str, ResolvedSize] = {}
        self._roots: dict[str, tuple[str, int]] = {}  # image id -> (root device, size in GiB)
        self._subnet_lists: dict[str | None, list[dict[str, Any]]] = {}  # what a VM names -> its subnets
        self._offered: dict[str, set[str]] = {}  # instance type -> the zones offering it
        self._volume_sizes: dict[str, int] = {}  # volume id -> GiB (cloudvm resizes no volume)

    @property
    def ec2(self) -> Any:
        if self._client is None:
            self._client = self._new_client(self.region)
        return self._client

    @property
    def ebs(self) -> Any:
        """The EBS direct APIs: a snapshot's blocks, for VMs as files."""
        if self._ebs is None:
            self._ebs = self._new_client(self.region, "ebs")
        return self._ebs

    def _new_client(self, region: str, service: str = "ec2") -> Any:
        core = botocore.session.get_session()
        core.register_component("data_loader", _MODELS)
        session = boto3.Session(botocore_session=core, profile_name=self.profile, region_name=region)
        return session.client(service, endpoint_url=self.endpoint_url,
                              config=Config(retries={"mode": "standard", "total_max_attempts": 1}))

    def close(self) -> None:
        self._client = self._ebs = None

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
        if spec.spot and spec.spot.on_interruption == "stop":  # stop needs a persistent request, which
            # outlives its instance (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/interruption-behavior.html)
            raise InvalidSpec("spot.on_interruption", "cloudvm launches EC2 spot VMs as one-time requests, which "
                                                      "are terminated when interrupted: use 'delete'")

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
        """The subnets, and no numbered name (a fleet's member, or a VM named like one) held already: a
        member's name is on no tag of its own, so the group that locks a name cannot tell it."""
        for request in requests:
            self._subnets(request.spec, request.size.type_name)
        counted = [r for r in requests if fleets.numbered(r.spec.name)]
        taken = self._holders([r.spec.name for r in counted], {r.token for r in counted}) if counted else []
        if taken:
            raise AlreadyExists(f"{', '.join(taken)} already exist(s) in {self.region}")

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
            return {tag_dict(i.get("Tags"))[tagging.TOKEN]: i["InstanceId"]
                    for r in reservations for i in r["Instances"]}

    def launch(self, requests: Sequence[LaunchRequest]) -> list[str]:
        """A named VM a call; a chunk of a counted fleet in one RunInstances (the core sends them so).
        Exactly once: a retry sends the same ClientToken, and EC2 answers with what the first try made
        (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html)."""
        if requests and requests[0].fleet is not None:
            return self._launch_fleet(requests)
        return [self._launch(r, r.image, self._block_devices(r)) for r in requests]

    def _launch(self, request: LaunchRequest, image_id: str, devices: list[dict[str, Any]],
                user: str | None = None) -> str:
        spec = request.spec
        user = spec.ssh.user if spec.ssh else user
        group = f"cloudvm-{spec.name}"
        tags = {**request.tags, "Name": spec.name, GROUP: group, **({tagging.USER: user} if user else {})}
        run = self._run_arguments(request, image_id, devices, tags, cloudinit.user_data(spec))
        return self._place(request, 1, request.token, group, request.tags, run)[0]

    def _launch_fleet(self, requests: Sequence[LaunchRequest]) -> list[str]:
        """One RunInstances with MinCount = MaxCount for the chunk: the instances share its tags, user data
        and security group; each member's name is the chunk's first number plus its launch index
        (``AmiLaunchIndex``), which also gives the guest its hostname (cloud-init's instance data)."""
        first = requests[0]
        member = first.fleet
        assert member is not None
        low, high = member.number, member.number + len(requests) - 1
        chunk = f"{member.fleet}-{low}..{high}"  # no VM name holds dots
        token = fleets.member_token(member.token, low)  # the chunk's: its first member's
        shared = {k: v for k, v in first.tags.items() if k not in (tagging.NAME, tagging.TOKEN)}
        user = first.spec.ssh.user if first.spec.ssh else None
        tags = {**shared, FLEET: member.fleet, FLEET_TOKEN: member.token, FIRST: str(low), GROUP: f"cloudvm-{chunk}",
                "Name": chunk, **({tagging.USER: user} if user else {})}
        hostname = f"{member.fleet}-{{{{ ds.meta_data.ami_launch_index | int + {low} }}}}"
        run = self._run_arguments(first, first.image, self._block_devices(first), tags,
                                  cloudinit.user_data(first.spec, hostname))
        return self._place(first, len(requests), token, f"cloudvm-{chunk}", {**shared, tagging.TOKEN: token}, run)

    def _run_arguments(self, request: LaunchRequest, image_id: str, devices: list[dict[str, Any]],
                       tags: dict[str, str], user_data: str) -> dict[str, Any]:
        return {
            "ImageId": image_id, "InstanceType": request.size.type_name, "UserData": user_data,
            "BlockDeviceMappings": devices,
            "TagSpecifications": [{"ResourceType": kind, "Tags": tag_list(tags)} for kind in ("instance", "volume")],
            **_credits(request.size.type_name), **_market(request.spec),
            # IMDSv2 only (a token first: no credentials for a server-side request forgery), two hops
            # so containers on the VM reach it too:
            # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-options.html
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
        }

    def _place(self, request: LaunchRequest, count: int, token: str, group: str, group_tags: dict[str, str],
               run: dict[str, Any]) -> list[str]:
        """``count`` instances in the first zone that has room for all of them: a zone out of capacity for
        the type (InsufficientInstanceCapacity) passes them to the next one that offers it. What a try that
        failed for good made is found again by its token and removed (``abandon``)."""
        spec = request.spec
        subnets = self._subnets(spec, request.size.type_name)
        member = request.fleet
        names = [fleets.member_name(member.fleet, member.number + i) for i in range(count)] if member else [spec.name]
        lock = groups.Lock(self.ec2, group, subnets[0]["VpcId"], group_tags, self.claim_lease,
                           lambda: self._holders(names, set()))
        group_id = lock.take(spec.network.ingress)
        for subnet, following in itertools.pairwise(subnets):
            try:
                return self._run(count, token, run, subnet, group_id, spec.network.public_ip)
            except CapacityUnavailable:
                log.info("%s: no capacity for %d %s in %s, trying %s", group, count, request.size.type_name,
                         subnet["AvailabilityZone"], following["AvailabilityZone"])
        return self._run(count, token, run, subnets[-1], group_id, spec.network.public_ip)

    def _run(self, count: int, token: str, run: dict[str, Any], subnet: dict[str, Any], group_id: str,
             public_ip: bool) -> list[str]:
        zone = subnet["AvailabilityZone"]
        with mapped(f"launch {count} in {zone}"):
            reply = self.ec2.run_instances(
                MinCount=count, MaxCount=count, ClientToken=f"{token}-{zone}",
                NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet["SubnetId"], "Groups": [group_id],
                                    "AssociatePublicIpAddress": public_ip}], **run)
        return [i["InstanceId"] for i in sorted(reply["Instances"], key=lambda i: i.get("AmiLaunchIndex", 0))]

    def _holders(self, names: Sequence[str], ours: set[str]) -> list[str]:
        """Which of these VM names a live instance carries (as its name tag, or as its place in a fleet)
        that is not one of ``ours`` (the tokens of this create: a try before may have launched them)."""
        alive = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
        bases = sorted({place[0] for place in map(fleets.numbered, names) if place})
        with mapped("find instances by name"):
            found = described(self.ec2, "describe_instances", "Reservations", alive, f"tag:{tagging.NAME}", names)
            found += described(self.ec2, "describe_instances", "Reservations", alive, f"tag:{FLEET}",
                               bases) if bases else []
        carried = {name for r in found for i in r["Instances"] for name, token in [identity(i)] if token not in ours}
        return [n for n in names if n in carried]

    def _unused(self, found: Sequence[dict[str, Any]]) -> list[str]:
        """The ids of those groups no instance that is not terminated holds (by the group tag its
        instances carry: an instance's groups are on its interfaces, which not every endpoint filters by)."""
        if not found:
            return []
        live = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped",
                                                            "shutting-down"]}]
        with mapped("find instances by security group"):
            held = described(self.ec2, "describe_instances", "Reservations", live, f"tag:{GROUP}",
                             [g["GroupName"] for g in found])
        names = {tag_dict(i.get("Tags")).get(GROUP) for r in held for i in r["Instances"]}
        return [g["GroupId"] for g in found if g["GroupName"] not in names]

    def abandon(self, requests: Sequence[LaunchRequest]) -> None:
        """Delete the groups failed creates made (found by their tokens: a fleet chunk's is its first
        member's) that no instance holds."""
        tokens = [r.token for r in requests]
        with mapped("find security groups by token"):
            found = described(self.ec2, "describe_security_groups", "SecurityGroups",
                              _filters({tagging.MANAGED: "true"}), f"tag:{tagging.TOKEN}", tokens)
        groups.delete(self.ec2, self._unused(found))

    # -- describing -------------------------------------------------------------

    def describe(self, ids: Sequence[str] | None = None, tags: dict[str, str] | None = None) -> list[VM]:
        wanted = {tagging.MANAGED: "true", **(tags or {})}
        if ids is not None:  # ids are a narrow filter already; the tags are checked here (cheaper to filter)
            filters, values = [], ("instance-id", list(ids))
        else:
            filters, values = _filters(wanted), ("instance-state-name", ["pending", "running", "stopping", "stopped",
                                                                         "shutting-down", "terminated"])
        with mapped("describe instances"):
            instances = [i for r in described(self.ec2, "describe_instances", "Reservations", filters, *values)
                         for i in r["Instances"] if tagging.matches(tag_dict(i.get("Tags")), wanted)]
        if ids is None:
            instances = _listed(instances)
        self._describe_types(sorted({i["InstanceType"] for i in instances}))
        self._describe_volumes([m["Ebs"]["VolumeId"] for i in instances for m in i.get("BlockDeviceMappings", [])])
        return [self._vm(i, self._volume_sizes) for i in instances]

    def states(self, ids: Sequence[str]) -> dict[str, VMState]:
        """From DescribeInstanceStatus, a few fields an instance where DescribeInstances gives all of it
        (EC2 takes at most 100 ids a call: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/
        API_DescribeInstanceStatus.html)."""
        found: dict[str, VMState] = {}
        with mapped("instance states"):
            for start in range(0, len(ids), STATUS_IDS):
                pages = self.ec2.get_paginator("describe_instance_status").paginate(
                    InstanceIds=list(ids[start:start + STATUS_IDS]), IncludeAllInstances=True)
                found.update((s["InstanceId"], _STATES.get(s["InstanceState"]["Name"], VMState.ERROR))
                             for page in pages for s in page["InstanceStatuses"])
        return found

    def _describe_volumes(self, ids: list[str]) -> None:
        """Sizes of volumes not seen yet: a fleet polled until it runs asks once, not every round."""
        missing = [v for v in ids if v not in self._volume_sizes]
        if missing:
            with mapped("describe volumes"):
                for volume in described(self.ec2, "describe_volumes", "Volumes", [], "volume-id", missing):
                    self._volume_sizes[volume["VolumeId"]] = volume["Size"]

    def _vm(self, inst: dict[str, Any], sizes: dict[str, int]) -> VM:
        name, token = identity(inst)
        tags = {**tag_dict(inst.get("Tags")), tagging.NAME: name, **({tagging.TOKEN: token} if token else {})}
        root = inst.get("RootDeviceName")
        return VM(
            id=inst["InstanceId"], name=name, provider=self.name,
            state=_STATES.get(inst["State"]["Name"], VMState.ERROR), size=self._types.get(inst["InstanceType"]),
            image=inst.get("ImageId"), region=self.region, zone=inst.get("Placement", {}).get("AvailabilityZone"),
            private_ips=tuple(ip for ip in [inst.get("PrivateIpAddress")] if ip),
            public_ips=tuple(ip for ip in [inst.get("PublicIpAddress")] if ip),
            disks=tuple(DiskInfo(m["Ebs"]["VolumeId"], float(sizes.get(m["Ebs"]["VolumeId"], 0)),
                                 m["DeviceName"] == root, m["DeviceName"])
                        for m in inst.get("BlockDeviceMappings", [])),
            tags={k: v for k, v in tags.items() if k not in ("Name", tagging.USER)},
            created_at=inst.get("LaunchTime"), ssh_user=tags.get(tagging.USER),
            spot=inst.get("InstanceLifecycle") == "spot", interrupted=_interruption(inst), raw=inst,
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
        """Delete the security groups of terminated VMs: a named VM's own, a fleet chunk's once no
        member holds it any more; an interrupted VM, seen to, leaves the lists."""
        if taken := [vm.id for vm in vms if vm.interrupted]:
            with mapped("untag interrupted instances"):
                self.ec2.delete_tags(Resources=taken, Tags=[{"Key": tagging.MANAGED}])
        named = [f"cloudvm-{vm.name}" for vm in vms if FLEET not in vm.tags]
        shared = sorted({vm.tags[GROUP] for vm in vms if FLEET in vm.tags})
        with mapped("find security groups"):  # by name alone (cheaper to filter), then only those cloudvm made
            found = [g for g in described(self.ec2, "describe_security_groups", "SecurityGroups", [], "group-name",
                                          named + shared) if tag_dict(g.get("Tags")).get(tagging.MANAGED) == "true"]
        chunks = self._unused([g for g in found if g["GroupName"] in shared])
        groups.delete(self.ec2, [g["GroupId"] for g in found if g["GroupName"] in named] + chunks)

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
        return found + [f"volume {tag_dict(v.get('Tags')).get(tagging.NAME, '')} in {self.region} "
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
        if made and tag_dict(made[0].get("Tags")).get(tagging.TOKEN) != tags.get(tagging.TOKEN):
            raise AlreadyExists(f"a snapshot named {name!r} already exists in {self.region}")
        inst = vm.raw if isinstance(vm.raw, dict) else {}
        if not made:
            own = {**snapsets.about(vm, uuid.uuid4().hex), snapsets.TYPE: inst.get("InstanceType", ""),
                   snapsets.ROOT: inst.get("RootDeviceName", ""), snapsets.BOOT: self._boot(vm)}
            with mapped(f"snapshot {vm.name}"):
                made = self.ec2.create_snapshots(
                    InstanceSpecification={"InstanceId": vm.id, "ExcludeBootVolume": False},
                    TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list({**tags, **own})}],
                    Description=f"cloudvm snapshot {name} of {vm.name}")["Snapshots"]
        devices = {m["Ebs"]["VolumeId"]: m["DeviceName"] for m in inst.get("BlockDeviceMappings", [])}
        for item in made:  # which disk each copy is, for the restore
            if snapsets.DEVICE not in tag_dict(item.get("Tags")):
                with mapped(f"tag snapshot {item['SnapshotId']}"):
                    self.ec2.create_tags(Resources=[item["SnapshotId"]],
                                         Tags=[{"Key": snapsets.DEVICE, "Value": devices.get(item["VolumeId"], "")}])
        set_id = tag_dict(made[0].get("Tags")).get(snapsets.SET) or ""
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
        boot = snapshots.boot_attributes(tag_dict(raw.get("Tags")).get(snapsets.BOOT, ""))
        with mapped(f"register image for {request.spec.name}"):
            found = self.ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [ami_name]}])
            image_id = found["Images"][0]["ImageId"] if found["Images"] else self.ec2.register_image(
                Name=ami_name, RootDeviceName=root.device,
                BlockDeviceMappings=[{"DeviceName": root.device, "Ebs": ebs[0]}],  # the launch encrypts
                VirtualizationType="hvm", EnaSupport=True, **boot)["ImageId"]
        try:
            user = tag_dict(raw.get("Tags")).get(tagging.USER)
            return self._launch(request, image_id, devices, user=user)
        finally:
            with mapped(f"deregister image {image_id}"):
                self.ec2.deregister_image(ImageId=image_id)

    def export_disk(self, snapshot: Snapshot, index: int, target: Path) -> None:
        disk = snapshot.disks[index]
        direct.get(self.ebs, disk.id, round(disk.size_gib * portable.GIB), target)

    def import_snapshot(self, manifest: Manifest, name: str, tags: dict[str, str], moved: Moved) -> Snapshot:
        """A snapshot set of the exported disks, each written through the EBS direct APIs; the root's
        partition table says how the image a restore registers boots. A failure deletes what it made."""
        set_id = uuid.uuid4().hex
        root = manifest.path(manifest.disks[0])
        boot = {"Architecture": "x86_64", "BootMode": BOOT_MODES[portable.firmware(root)]}
        user = manifest.login()
        own = {**tags, snapsets.SET: set_id, snapsets.SOURCE: manifest.source_vm, snapsets.ROOT: ROOT_DEVICE,
               snapsets.BOOT: snapshots.boot_tag(boot), **({snapsets.USER: user} if user else {})}
        devices = [ROOT_DEVICE, *DATA_DEVICES]
        try:
            for i, disk in enumerate(manifest.disks):
                direct.put(self.ebs, manifest.path(disk), disk.size, {**own, snapsets.DEVICE: devices[i]},
                           f"{tags.get(tagging.TOKEN, set_id)}-{i}", moved)
        except BaseException:
            self._delete_members([item["SnapshotId"] for item in self._snapshot_items(
                _filters({snapsets.SET: set_id}))])
            raise
        return self.describe_snapshots([set_id])[0]

    def delete_snapshot(self, snapshot: Snapshot) -> None:
        """Where the set is: a copy in another region is deleted there (EC2 answers NotFound for a
        snapshot of another region, which a delete takes for done)."""
        away = snapshot.region not in (None, self.region)
        self._delete_members([disk.id for disk in snapshot.disks],
                             self._new_client(str(snapshot.region)) if away else self.ec2)

    def _delete_members(self, ids: Sequence[str], client: Any = None) -> None:
        for member in ids:
            with mapped(f"delete snapshot {member}"):
                try:
                    (client or self.ec2).delete_snapshot(SnapshotId=member)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "InvalidSnapshot.NotFound":
                        raise

    def copy_snapshot(self, snapshot: Snapshot, region: str) -> Snapshot:
        """Copy every member of the set to ``region`` (disaster recovery); idempotent per set."""
        target = self._new_client(region)
        in_target = self._snapshot_items(_filters({snapsets.SET: snapshot.id}), target)
        done = {tag_dict(i.get("Tags")).get(DEVICE_SOURCE) for i in in_target}
        for member in snapshot.raw:
            if member["SnapshotId"] in done:
                continue
            tags = {**tag_dict(member.get("Tags")), DEVICE_SOURCE: member["SnapshotId"]}
            with mapped(f"copy snapshot {member['SnapshotId']} to {region}"):
                target.copy_snapshot(SourceRegion=self.region, SourceSnapshotId=member["SnapshotId"],
                                     Description=member.get("Description", ""),
                                     TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list(tags)}])
        return snapshots.group(self._snapshot_items(_filters({snapsets.SET: snapshot.id}), target),
                               self.name, region)[0]


def _encrypted(spec: VMSpec) -> dict[str, Any]:
    """Every EBS volume encrypted: with the spec's KMS key, else the account's default EBS key."""
    return {"Encrypted": True, **({"KmsKeyId": spec.encryption_key} if spec.encryption_key else {})}
