"""EC2's rules that moto lets through, enforced by the test proxy in front
of it, each answered with the error EC2 answers:

- ``ClientToken`` makes a request idempotent: the same token again returns
  the first answer, and with other arguments is ``IdempotentParameterMismatch``
  (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html);
- user data is limited to 16 KB before base64 encoding (``InvalidParameterValue``,
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html);
- a resource takes 50 tags, keys of up to 128 characters, values of up to
  256, and no key starting with ``aws:``
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html#tag-restrictions);
- a call takes at most 200 values across its filters (``FilterLimitExceeded``);
- a volume's KMS key needs the volume encrypted (``InvalidParameterDependency``);
- a spot launch's maximum price is more than USD 0.001 (``InvalidParameterValue``), and a one-time
  request can only terminate an instance it loses: stopping or hibernating needs a persistent request,
  which RunInstances takes for nothing else (``InvalidParameterCombination``;
  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_SpotMarketOptions.html,
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/interruption-behavior.html);
- gp3 volumes take 3,000 to 16,000 IOPS, at most 500 per GiB above the baseline of
  3,000, and up to 0.25 MiB/s of throughput per IOPS
  (https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html#gp3-ebs-volume-type);
- an image keeps the architecture, boot mode, TPM and IMDS support it was
  registered with (moto forgets all but the boot mode), and an instance type
  runs only images of its own architecture (Graviton types are arm64);
- T3, T3a and T4g instances launched without a credit specification run
  ``unlimited`` (moto says ``standard``; https://docs.aws.amazon.com/ec2/latest/
  instancetypes/burstable-performance-instances-unlimited-mode.html);
- an instance type launches only in the zones that offer it (``Unsupported``;
  moto launches anywhere);
- a security group or instance just made is not found for a moment
  (``InvalidGroup.NotFound``, ``InvalidInstanceID.NotFound``: EC2's eventual consistency,
  https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html).

It also plays the guest moto does not run: an instance's console output ends
with the host keys cloud-init prints there (moto answers a fixed sample log).
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

USER_DATA_BYTES = 16384
SPOT_MIN_PRICE = 0.001
FILTER_VALUES = 200
TAGS_PER_RESOURCE, TAG_KEY, TAG_VALUE = 50, 128, 256
_TAG = re.compile(r"^(?:TagSpecification\.(\d+)\.)?Tag\.(\d+)\.(Key|Value)$")
_FILTER_VALUE = re.compile(r"^Filter\.\d+\.Value\.\d+$")
_EBS = re.compile(r"^(?P<at>(?:BlockDeviceMapping\.\d+\.Ebs\.)?)(?:VolumeType|Iops|VolumeSize|Size|Throughput|"
                  r"KmsKeyId)$")
GP3_BASELINE, GP3_MAX_IOPS, GP3_IOPS_PER_GIB, GP3_MIBPS_PER_IOPS = 3000, 16000, 500, 0.25
_UNSIGNED = ("ClientToken", "Version")  # what differs between the tries of one request without changing it

Params = dict[str, list[str]]


class Refused(Exception):
    """An answer EC2 gives instead of doing the work: an error code and message, HTTP 400."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def check(params: Params) -> None:
    """Raise ``Refused`` for a request EC2 would refuse on these rules."""
    _check_user_data(params.get("UserData", [""])[0])
    _check_tags(params)
    _check_spot(params)
    for prefix in {m.group("at") for key in params if (m := _EBS.match(key))}:
        _check_gp3(params, prefix)
        if f"{prefix}KmsKeyId" in params and params.get(f"{prefix}Encrypted", [""])[0].lower() != "true":
            raise Refused("InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted "
                                                        "to be set.")
    values = sum(len(v) for key, v in params.items() if _FILTER_VALUE.match(key))
    if values > FILTER_VALUES:
        raise Refused("FilterLimitExceeded", f"The maximum number of filter values specified on a single call is "
                                             f"{FILTER_VALUES}")


def _check_user_data(encoded: str) -> None:
    if not encoded:
        return
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise Refused("InvalidUserData.Malformed", "Invalid BASE64 encoding of user data.") from None
    if len(raw) > USER_DATA_BYTES:
        raise Refused("InvalidParameterValue", f"User data is limited to {USER_DATA_BYTES} bytes")


def _check_spot(params: Params) -> None:
    at = "InstanceMarketOptions.SpotOptions."
    price = params.get(f"{at}MaxPrice", [""])[0]
    if price and float(price) <= SPOT_MIN_PRICE:
        raise Refused("InvalidParameterValue", f"Invalid max price {price}: it must be more than "
                                               f"{SPOT_MIN_PRICE}.")
    kind = params.get(f"{at}SpotInstanceType", ["one-time"])[0]
    behavior = params.get(f"{at}InstanceInterruptionBehavior", ["terminate"])[0]
    if (kind == "persistent") != (behavior in ("stop", "hibernate")):
        raise Refused("InvalidParameterCombination", f"A {kind} Spot Instance request cannot have the interruption "
                                                     f"behavior {behavior}: stop and hibernate need a persistent "
                                                     "request, and RunInstances takes a persistent one for nothing "
                                                     "else.")


def _check_gp3(params: Params, at: str) -> None:
    """A gp3 volume's IOPS and throughput against its size (``at``: a block device mapping's prefix)."""
    def number(name: str) -> int:
        return int(params.get(f"{at}{name}", ["0"])[0] or 0)

    if params.get(f"{at}VolumeType", [""])[0] != "gp3":
        return
    size, iops, throughput = number("VolumeSize") or number("Size"), number("Iops"), number("Throughput")
    if iops and not GP3_BASELINE <= iops <= GP3_MAX_IOPS:
        raise Refused("InvalidParameterValue", f"Volume iops of {iops} is invalid: gp3 volumes take "
                                               f"{GP3_BASELINE} to {GP3_MAX_IOPS} IOPS.")
    if iops > GP3_BASELINE and size and iops > GP3_IOPS_PER_GIB * size:
        raise Refused("InvalidParameterValue", f"Iops to volume size ratio of {iops / size:g} is too high; "
                                               f"maximum is {GP3_IOPS_PER_GIB}.")
    if throughput and throughput > GP3_MIBPS_PER_IOPS * (iops or GP3_BASELINE):
        raise Refused("InvalidParameterValue", f"Throughput of {throughput} MiB/s is too high for "
                                               f"{iops or GP3_BASELINE} IOPS; the maximum is "
                                               f"{GP3_MIBPS_PER_IOPS:g} MiB/s per IOPS.")


def _check_tags(params: Params) -> None:
    per_set: Counter[str] = Counter()
    for key, values in params.items():
        found = _TAG.match(key)
        if not found:
            continue
        per_set[found.group(1) or ""] += found.group(3) == "Key"
        value = values[0]
        if found.group(3) == "Key" and value.lower().startswith("aws:"):
            raise Refused("InvalidParameterValue", f"Tag keys starting with 'aws:' are reserved for internal use: "
                                                   f"{value}")
        limit = TAG_KEY if found.group(3) == "Key" else TAG_VALUE
        if len(value) > limit:
            raise Refused("InvalidParameterValue", f"Tag {found.group(3).lower()} exceeds the maximum length of "
                                                   f"{limit} characters")
    if any(count > TAGS_PER_RESOURCE for count in per_set.values()):
        raise Refused("TagLimitExceeded", "The maximum number of Tags for a resource has been reached.")


@dataclass
class ClientTokens:
    """The answers to requests that carried a ``ClientToken``, kept to be given again."""

    answers: dict[str, tuple[tuple[tuple[str, tuple[str, ...]], ...], bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _key(params: Params) -> tuple[str, tuple[tuple[str, tuple[str, ...]], ...]] | None:
        token = params.get("ClientToken", [""])[0]
        if not token:
            return None
        arguments = tuple(sorted((k, tuple(v)) for k, v in params.items() if k not in _UNSIGNED))
        return f"{params.get('Action', [''])[0]}/{token}", arguments

    def earlier(self, params: Params) -> bytes | None:
        """The first answer to this token, or None; ``Refused`` if the arguments changed."""
        key = self._key(params)
        if key is None:
            return None
        with self.lock:
            found = self.answers.get(key[0])
        if found is None:
            return None
        if found[0] != key[1]:
            raise Refused("IdempotentParameterMismatch", "Arguments on this idempotent request are inconsistent with "
                                                         "arguments used in previous request(s).")
        return found[1]

    def remember(self, params: Params, answer: bytes) -> None:
        key = self._key(params)
        if key is not None:
            with self.lock:
                self.answers.setdefault(key[0], (key[1], answer))


_MADE = {"CreateSecurityGroup": ("groupId", "InvalidGroup.NotFound", "The security group '{id}' does not exist"),
         "RunInstances": ("instanceId", "InvalidInstanceID.NotFound", "The instance ID '{id}' does not exist")}
_NAMING = re.compile(r"^(GroupId|InstanceId|ResourceId|NetworkInterface\.\d+\.SecurityGroupId)(\.\d+)?$")


@dataclass
class Settling:
    """Resources made moments ago that EC2 does not show yet, for ``seconds`` after their create."""

    seconds: float = 0.2
    hidden: dict[str, tuple[float, str, str]] = field(default_factory=dict)  # id -> (until, code, message)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def made(self, action: str, answer: bytes, now: float) -> None:
        if action not in _MADE or self.seconds <= 0:
            return
        element, code, message = _MADE[action]
        with self.lock:
            for found in re.findall(rf"<{element}>([^<]+)</{element}>".encode(), answer):
                made = found.decode()
                self.hidden[made] = (now + self.seconds, code, message.format(id=made))

    def check(self, params: Params, now: float) -> None:
        """``Refused`` when the request names a resource EC2 does not show yet."""
        named = [v for key, values in params.items() if _NAMING.match(key) for v in values]
        with self.lock:
            for name in named:
                until, code, message = self.hidden.get(name, (0.0, "", ""))
                if now < until:
                    raise Refused(code, message)


IMAGE_ATTRIBUTES = ("Architecture", "BootMode", "TpmSupport", "ImdsSupport")
_ARM = re.compile(r"^(a1|[a-z]+\d+g[a-z]*)\.")  # Graviton: a1, t4g, m7g, c7gn, r8gd, ...


def architecture(instance_type: str) -> str:
    return "arm64" if _ARM.match(instance_type) else "x86_64"


@dataclass
class Images:
    """What images were registered with, told back in DescribeImages and held to at RunInstances."""

    registered: dict[str, dict[str, str]] = field(default_factory=dict)  # image id -> attributes
    lock: threading.Lock = field(default_factory=threading.Lock)

    def made(self, params: Params, answer: bytes) -> None:
        found = re.search(rb"<imageId>([^<]+)</imageId>", answer)
        if found:
            attributes = {"Architecture": "x86_64", **{k: params[k][0] for k in IMAGE_ATTRIBUTES if k in params}}
            with self.lock:
                self.registered[found.group(1).decode()] = attributes

    def check(self, params: Params) -> None:
        with self.lock:
            image = self.registered.get(params.get("ImageId", [""])[0])
        wanted = architecture(params.get("InstanceType", ["m1.small"])[0])
        if image and image["Architecture"] != wanted:
            raise Refused("InvalidParameterValue", f"The architecture '{wanted}' of the specified instance type "
                                                   f"does not match the architecture '{image['Architecture']}' of "
                                                   "the specified AMI.")

    def told(self, answer: bytes) -> bytes:
        """A DescribeImages answer with the attributes moto left out (in whichever API namespace it writes)."""
        from xml.etree import ElementTree as ET

        root = ET.fromstring(answer)
        namespace = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        ET.register_namespace("", namespace.strip("{}"))
        for item in root.findall(".//{*}item"):
            with self.lock:
                attributes = self.registered.get(item.findtext("{*}imageId") or "", {})
            for name, value in attributes.items():
                tag = f"{namespace}{name[0].lower()}{name[1:]}"
                element = item.find(tag)
                if element is None:
                    element = ET.SubElement(item, tag)
                element.text = value
        out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return out


@dataclass
class Interruptions:
    """Spot instances EC2 took back (moto never does): terminated as any instance is, told with the
    state reason EC2 gives an interruption (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/
    spot-interruptions.html) in DescribeInstances."""

    CODE = "Server.SpotInstanceTermination"
    MESSAGE = "Server.SpotInstanceTermination: Spot instance termination"
    taken: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, instance_id: str) -> None:
        with self.lock:
            self.taken.add(instance_id)

    def told(self, answer: bytes) -> bytes:
        from xml.etree import ElementTree as ET

        with self.lock:
            taken = set(self.taken)
        if not taken:
            return answer
        root = ET.fromstring(answer)
        namespace = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        ET.register_namespace("", namespace.strip("{}"))
        for item in root.findall(".//{*}instancesSet/{*}item"):
            if item.findtext("{*}instanceId") not in taken:
                continue
            reason = item.find("{*}stateReason")
            if reason is None:
                reason = ET.SubElement(item, f"{namespace}stateReason")
            for tag, text in (("code", self.CODE), ("message", self.MESSAGE)):
                element = reason.find(f"{{*}}{tag}")
                if element is None:
                    element = ET.SubElement(reason, f"{namespace}{tag}")
                element.text = text
        out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return out


_UNLIMITED_BY_DEFAULT = re.compile(r"^t(3|3a|4g)\.")


@dataclass
class Credits:
    """The CPU credit mode of each burstable instance, as EC2 sets it at launch."""

    modes: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def made(self, params: Params, answer: bytes) -> None:
        asked = params.get("CreditSpecification.CpuCredits", [""])[0]
        default = "unlimited" if _UNLIMITED_BY_DEFAULT.match(params.get("InstanceType", [""])[0]) else "standard"
        with self.lock:
            for found in re.findall(rb"<instanceId>([^<]+)</instanceId>", answer):
                self.modes[found.decode()] = asked or default

    def told(self, answer: bytes) -> bytes:
        """A DescribeInstanceCreditSpecifications answer with the mode each instance really has."""
        def mode(found: re.Match[bytes]) -> bytes:
            with self.lock:
                wanted = self.modes.get(found.group(2).decode())
            return found.group(0) if wanted is None else found.group(1) + found.group(2) + found.group(3) + \
                wanted.encode() + found.group(5)

        return re.sub(rb"(<instanceId>)([^<]+)(</instanceId>\s*<cpuCredits>)([^<]*)(</cpuCredits>)", mode, answer)


def console_told(answer: bytes) -> bytes:
    """A GetConsoleOutput answer (base64, as EC2 sends it) ending with the instance's host keys."""
    from cloudvm_testing import host_key

    from cloudvm.hostkeys import console_block

    def booted(found: re.Match[bytes]) -> bytes:
        instance = re.search(rb"<instanceId>([^<]+)</instanceId>", answer)
        log = base64.b64decode(found.group(2)).decode(errors="replace")
        log += console_block([f"{host_key(instance.group(1).decode() if instance else '')} root@ip-10-0-0-1"])
        return found.group(1) + base64.b64encode(log.encode()) + found.group(3)

    return re.sub(rb"(<output>)([^<]*)(</output>)", booted, answer)


Ask = Callable[[str], bytes]  # a query (Action=...&...) to the EC2 behind the proxy, in the caller's region


@dataclass
class Offerings:
    """The zones that offer each instance type, as the EC2 behind the proxy lists them."""

    zones: dict[str, str] = field(default_factory=dict)  # subnet -> its zone
    offered: dict[tuple[str, str], bool] = field(default_factory=dict)  # (type, zone) -> offered
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, params: Params, ask: Ask) -> None:
        subnet = (params.get("NetworkInterface.1.SubnetId") or params.get("SubnetId") or [""])[0]
        kind = params.get("InstanceType", ["m1.small"])[0]
        if not subnet:
            return
        with self.lock:
            zone = self.zones.get(subnet)
        if zone is None:
            found = re.search(rb"<availabilityZone>([^<]+)</availabilityZone>",
                              ask(f"Action=DescribeSubnets&SubnetId.1={subnet}"))
            if found is None:
                return  # no such subnet: EC2's own error follows
            zone = found.group(1).decode()
            with self.lock:
                self.zones[subnet] = zone
        with self.lock:
            offered = self.offered.get((kind, zone))
        if offered is None:
            answer = ask(f"Action=DescribeInstanceTypeOfferings&LocationType=availability-zone&Filter.1.Name="
                         f"instance-type&Filter.1.Value.1={kind}&Filter.2.Name=location&Filter.2.Value.1={zone}")
            offered = b"<instanceType>" in answer
            with self.lock:
                self.offered[(kind, zone)] = offered
        if not offered:
            raise Refused("Unsupported", f"Your requested instance type ({kind}) is not supported in your requested "
                                         f"Availability Zone ({zone}). Please retry your request by not specifying "
                                         "an Availability Zone or choosing another one.")
