"""EC2 as its documented limits shape it, for benchmarks on moto: request
token buckets per action, the RunInstances and TerminateInstances resource
buckets, per-call latency and instances that take a while to boot. Time may
run faster than real (``scale``: real seconds per simulated second); every
rate and delay scales together, so a floor computed in simulated seconds
compares after multiplying by ``scale``."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from cloudvm_testing.limits import TokenBucket

# https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html (default account limits)
REQUEST_BUCKETS = {"RunInstances": (5, 2), "TerminateInstances": (100, 5), "describe": (100, 20),
                   "mutating": (200, 5)}  # action or family -> (burst, refill per second)
RESOURCE_BUCKETS = {"RunInstances": (1000, 2), "TerminateInstances": (1000, 20)}  # instances
LATENCY = {"RunInstances": 1.0, "TerminateInstances": 0.5}  # seconds a call takes; others DEFAULT_LATENCY
DEFAULT_LATENCY = 0.15
BOOT = 20.0  # pending -> running
NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


def family(action: str) -> str:
    if action in REQUEST_BUCKETS:
        return action
    return "describe" if action.startswith(("Describe", "Get")) else "mutating"


@dataclass
class Ec2Limits:
    scale: float = 1.0
    boot: float = BOOT
    default_latency: float = DEFAULT_LATENCY
    throttled: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.requests = {name: TokenBucket(burst, rate, self.scale) for name, (burst, rate) in REQUEST_BUCKETS.items()}
        self.resources = {name: TokenBucket(burst, rate, self.scale)
                          for name, (burst, rate) in RESOURCE_BUCKETS.items()}
        self.launched: dict[str, float] = {}
        self._lock = threading.Lock()

    def admit(self, action: str, params: dict[str, list[str]]) -> bool:
        """Whether the call may go ahead; a refusal is what EC2 answers RequestLimitExceeded to."""
        ok = self.requests[family(action)].take()
        if ok and action in self.resources:
            count = int(params.get("MaxCount", ["1"])[0]) if action == "RunInstances" else sum(
                1 for key in params if key.startswith("InstanceId."))
            ok = self.resources[action].take(max(count, 1))
        if not ok:
            with self._lock:
                self.throttled[action] += 1
        return ok

    def latency(self, action: str) -> float:
        return LATENCY.get(action, self.default_latency) * self.scale

    def answered(self, action: str, body: bytes) -> bytes:
        """Note launches; show instances younger than the boot time as pending."""
        if action not in ("RunInstances", "DescribeInstances", "DescribeInstanceStatus"):
            return body
        ET.register_namespace("", NS)
        root = ET.fromstring(body)
        now = time.monotonic()
        for item in root.iter(f"{{{NS}}}item"):
            instance_id = item.findtext(f"{{{NS}}}instanceId")
            state = item.find(f"{{{NS}}}instanceState")
            if instance_id is None or state is None:
                continue
            with self._lock:
                born = self.launched.setdefault(instance_id, now)
            name = state.find(f"{{{NS}}}name")
            if name is not None and name.text == "running" and now - born < self.boot * self.scale:
                name.text = "pending"
                code = state.find(f"{{{NS}}}code")
                if code is not None:
                    code.text = "0"
        out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return out


def params_of(body: bytes, query: str) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(body.decode() or query)
