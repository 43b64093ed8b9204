"""Testing against EC2 offline: a moto server on a loopback port, seeded
with AMIs that carry the owners and names the image aliases look for, behind
a proxy that holds it to the EC2 rules moto lets through (``ec2_rules``) and
injects the faults clients must survive."""

from __future__ import annotations

import functools
import http.client
import http.server
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import cloudvm_aws
from cloudvm_aws import catalog
from cloudvm_testing.http import LoopbackServer
from cloudvm_testing.processes import free_port, serving

from cloudvm import fleets
from cloudvm import tags as tagging
from cloudvm_aws_testing import ebs_rules, ec2_rules
from cloudvm_aws_testing.simulated import Ec2Limits, params_of

REGION = "us-east-1"
# Two identities sign requests to the test backend: cloudvm's, which moto holds to the shipped IAM
# policies (``providers/aws/cloudvm_aws/permissions``), and the harness's (checks, clean-up), which may do anything.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "cloudvm", "AWS_SECRET_ACCESS_KEY": "cloudvm", "AWS_DEFAULT_REGION": REGION}
HARNESS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
PERMISSIONS = Path(cloudvm_aws.__file__).resolve().parent / "permissions"  # shipped with the provider


def seed_amis() -> list[dict[str, object]]:
    """One AMI per alias, named as its publisher names them (moto's own list is old)."""
    amis = []
    for i, (alias, (owner, pattern)) in enumerate(sorted(catalog.IMAGES.items())):
        name = pattern.replace("hvm-ssd*", "hvm-ssd-gp3").replace("*", "20260101")
        amis.append({
            "ami_id": f"ami-{i + 1:08x}c10d0000", "state": "available", "public": True, "owner_id": owner,
            "image_location": f"{owner}/{name}", "root_device_type": "ebs", "root_device_name": "/dev/sda1",
            "description": alias, "image_type": "machine", "platform": None, "architecture": "x86_64",
            "name": name, "virtualization_type": "hvm", "hypervisor": "xen", "sriov": "simple",
        })
    return amis


@contextmanager
def moto_server(*, rules: bool = True, settle: float = 0.2) -> Iterator[str]:
    """A moto server in its own process; yields the endpoint URL of a proxy in front of it that holds it to
    EC2's rules (``rules=False``: moto's own URL), a group or instance just made staying out of sight for
    ``settle`` seconds."""
    if rules:
        with moto_proxy(settle=settle) as proxy:
            yield proxy.url
        return
    with tempfile.TemporaryDirectory() as tmp:
        amis = Path(tmp) / "amis.json"
        amis.write_text(json.dumps(seed_amis()))
        port = free_port()
        env = {**os.environ, **CREDENTIALS, "MOTO_AMIS_PATH": str(amis)}
        url = f"http://127.0.0.1:{port}"
        with serving([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], f"{url}/moto-api/",
                     "moto server", env):
            yield url


@contextmanager
def moto_proxy(*, settle: float = 0.2) -> Iterator[FaultProxy]:
    """``moto_server()``'s proxy itself, for tests that also inject faults or take spot instances back."""
    with moto_server(rules=False) as url, FaultProxy(url, settle=settle, identities=enforce_policies(url)) as proxy:
        yield proxy


def enforce_policies(url: str) -> dict[str, tuple[str, str]]:
    """Make moto an account that enforces IAM: cloudvm's identity holds the shipped policies and
    nothing else, the harness's every permission. Returns, for each access key clients sign with,
    the moto user's real key and secret (the proxy signs again with them)."""
    iam = boto3.client("iam", region_name=REGION, endpoint_url=url, **HARNESS)
    shipped = {path.stem: path.read_text() for path in sorted(PERMISSIONS.glob("*.json"))}
    everything = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                                      "Resource": "*"}]})
    identities = {}
    for presented, policies in ((CREDENTIALS["AWS_ACCESS_KEY_ID"], shipped), (HARNESS["aws_access_key_id"],
                                                                               {"harness": everything})):
        user = f"{presented}-user"
        iam.create_user(UserName=user)
        for name, document in policies.items():
            arn = iam.create_policy(PolicyName=f"{user}-{name}", PolicyDocument=document)["Policy"]["Arn"]
            iam.attach_user_policy(UserName=user, PolicyArn=arn)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        identities[presented] = (key["AccessKeyId"], key["SecretAccessKey"])
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset-auth", data=b"0", method="POST",
                                                  headers={"Content-Type": "text/plain"}), timeout=10).close()
    return identities


def leftovers(endpoint_url: str, name: str) -> list[str]:
    """Instances, security groups and volumes still tied to the VM ``name``: its own, or, for a member of
    a counted fleet, its chunk's (``web-3``: what carries the chunk ``web-1..5``)."""
    from cloudvm_aws.provider import FLEET, GROUP, identity

    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint_url, **HARNESS)
    place = fleets.numbered(name)

    def covers(group: str) -> bool:
        low, _, high = group.rpartition("-")[2].partition("..")
        return place is not None and group.startswith(f"cloudvm-{place[0]}-") and low.isdigit() \
            and high.isdigit() and int(low) <= place[1] <= int(high)

    def tagged(kind: str, key: str, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Resources carrying the VM's name tag, or its fleet's."""
        call = getattr(ec2, f"describe_{kind}")
        own = [{"Name": f"tag:{tagging.NAME}", "Values": [name]}, *filters]
        found: list[dict[str, Any]] = call(Filters=own)[key]
        if place:
            found += call(Filters=[{"Name": f"tag:{FLEET}", "Values": [place[0]]}, *filters])[key]
        return found

    alive = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    found = [f"instance {i['InstanceId']}" for r in tagged("instances", "Reservations", alive)
             for i in r["Instances"] if identity(i)[0] == name]
    found += [f"security group {g['GroupId']}" for g in ec2.describe_security_groups()["SecurityGroups"]
              if g["GroupName"] == f"cloudvm-{name}" or covers(g["GroupName"])]
    for volume in tagged("volumes", "Volumes", []):
        tags = {t["Key"]: t["Value"] for t in volume.get("Tags", [])}
        if FLEET not in tags or covers(tags.get(GROUP, "")):
            found.append(f"volume {volume['VolumeId']}")
    return found


@dataclass
class Fault:
    """What to do to the next ``times`` requests for ``action`` (an EC2 API name, or ``*``); with
    ``about``, only to requests one of whose parameters is that (a subnet, a group, an instance)."""

    action: str
    kind: str  # "throttle", "error", "latency", "drop" (the work done, the answer lost) or "reset" (neither)
    times: int = 1
    code: str = "InternalError"
    status: int = 500
    delay: float = 0.0
    about: str = ""


MOTO_NS, EC2_NS = b'xmlns="http://ec2.amazonaws.com/doc/2016-11-15"', b'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"'
_ERROR_BODY = ('<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
               "<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")


def _unpaged(action: str, params: dict[str, list[str]], path: str, body: bytes) -> tuple[str, bytes]:
    """EC2 returns every instance when a DescribeInstances names no MaxResults; moto stops at 100
    and hands out a NextToken (a client that relies on EC2's behaviour, as Libcloud does, would
    never see the rest). Ask moto for everything."""
    if action != "DescribeInstances" or "MaxResults" in params or "InstanceId.1" in params:
        return path, body
    if body:
        return path, body + b"&MaxResults=1000000"
    return f"{path}&MaxResults=1000000", body


class FaultProxy:
    """An HTTP proxy between boto3 and moto that enforces the EC2 rules moto does not (``ec2_rules``:
    client tokens, user-data, tag and filter limits) and injects the faults real EC2 shows.

    ``drop`` is the one that matters for exactly-once: the request reaches
    moto and takes effect, then the connection is closed before the client
    sees the answer, as when a response is lost.
    """

    def __init__(self, upstream: str, limits: Ec2Limits | None = None, settle: float = 0.0,
                 identities: dict[str, tuple[str, str]] | None = None) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.identities = identities or {}  # access key clients sign with -> the moto user's key and secret
        self.limits = limits  # EC2's documented throttling, latency and boot time (benchmarks)
        self.tokens = ec2_rules.ClientTokens()
        self.settling = ec2_rules.Settling(settle)  # how long what was just made stays out of sight
        self.images = ec2_rules.Images()
        self.credits = ec2_rules.Credits()
        self.offerings = ec2_rules.Offerings()
        self.interruptions = ec2_rules.Interruptions()
        self.blocks = ebs_rules.DirectBlocks()
        self.faults: list[Fault] = []
        self.seen: list[str] = []
        self.requests: list[tuple[str, dict[str, list[str]]]] = []  # (action, parameters), as they came
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def inject(self, action: str, kind: str, times: int = 1, **options: Any) -> Fault:
        made = Fault(action, kind, times, **options)
        with self._lock:
            self.faults.append(made)
        return made

    def interrupt(self, ec2: Any, instance_id: str) -> None:
        """Take a spot instance back as EC2 does: terminated, its state reason saying why (``ec2``: a
        client of the moto server behind the proxy, or of the proxy)."""
        self.interruptions.take(instance_id)
        ec2.terminate_instances(InstanceIds=[instance_id])

    def count(self, action: str) -> int:
        return self.seen.count(action)

    def _take(self, action: str, params: dict[str, list[str]]) -> Fault | None:
        with self._lock:
            self.seen.append(action)
            self.requests.append((action, params))
            for fault in self.faults:
                concerned = not fault.about or any(fault.about in values for values in params.values())
                if fault.times > 0 and fault.action in (action, "*") and concerned:
                    fault.times -= 1
                    return fault
        return None

    def _signed(self, method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        """The request signed again as the moto user behind the caller's access key (the proxy may have
        changed the request; moto checks signatures once it enforces IAM)."""
        scope = re.search(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request", headers.get("Authorization", ""))
        if scope is None or scope.group(1) not in self.identities:
            return headers
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        kept = {k: v for k, v in headers.items()
                if k.lower() not in ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")}
        request = AWSRequest(method=method, url=f"http://{self.upstream.netloc}{path}", data=body, headers=kept)
        SigV4Auth(Credentials(*self.identities[scope.group(1)]), scope.group(3), scope.group(2)).add_auth(request)
        return dict(request.headers.items())

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list[Any], bytes]:
        rest = "/ebs/aws4_request" in headers.get("Authorization", "")
        if self.identities and method == "GET" and "?" in path and not rest:  # a query-string EC2 call (Libcloud):
            path, _, query = path.partition("?")  # as a form, which moto's signature check reads as EC2 does
            method, body = "POST", query.encode()
            headers = {**headers, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        if self.identities and rest and not body:  # moto checks an empty body's signature against its parsed
            body = b"{}"                             # parameters instead (CompleteSnapshot, the GETs)
        conn = http.client.HTTPConnection(self.upstream.netloc, timeout=60)
        try:
            conn.request(method, path, body=body, headers=self._signed(method, path, headers, body))
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def ec2_query(self, query: str, region: str = REGION) -> bytes:
        """A question of the proxy's own to the EC2 behind it, as the harness, in ``region``."""
        scope = f"Credential={HARNESS['aws_access_key_id']}/20200101/{region}/ec2/aws4_request"
        headers = {"Authorization": f"AWS4-HMAC-SHA256 {scope}, SignedHeaders=host, Signature=0",
                   "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        status, _, reply = self._forward("POST", "/", headers, f"{query}&Version=2016-11-15".encode())
        return reply if status == 200 else b""

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # Apache Libcloud sends its EC2 calls as query strings
                self.do_POST()

            def do_PUT(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if "/ebs/aws4_request" in self.headers.get("Authorization", ""):
                    self._direct(body)
                    return
                params = params_of(body, urllib.parse.urlsplit(self.path).query)
                action = params.get("Action", ["?"])[0]
                fault = proxy._take(action, params)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                if fault and fault.kind == "latency":
                    time.sleep(fault.delay)
                if fault and fault.kind == "reset":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if proxy.limits and not proxy.limits.admit(action, params):
                    fault = Fault(action, "throttle")
                elif proxy.limits:
                    time.sleep(proxy.limits.latency(action))
                if fault and fault.kind in ("throttle", "error"):
                    code, status = ("RequestLimitExceeded", 503) if fault.kind == "throttle" else (
                        fault.code, fault.status)
                    self._error(status, code, f"injected {code}")
                    return
                try:
                    ec2_rules.check(params)
                    proxy.settling.check(params, time.monotonic())
                    if action == "RunInstances":
                        proxy.images.check(params)
                        proxy.offerings.check(params, lambda query: self._ask(headers, query))
                    earlier = proxy.tokens.earlier(params)
                except ec2_rules.Refused as refused:
                    self._error(400, refused.code, refused.message)
                    return
                if earlier is not None:  # the same ClientToken: EC2 answers as it did the first time
                    status, reply_headers, reply = 200, [("Content-Type", "text/xml")], earlier
                else:
                    status, reply_headers, reply = self._pass(action, params, headers, body)
                    if status == 200:
                        proxy.tokens.remember(params, reply)
                        proxy.settling.made(action, reply, time.monotonic())
                        if action == "RegisterImage":
                            proxy.images.made(params, reply)
                        if action == "RunInstances":
                            proxy.credits.made(params, reply)
                if status == 200 and action == "DescribeImages":
                    reply = proxy.images.told(reply)
                if status == 200 and action == "DescribeInstanceCreditSpecifications":
                    reply = proxy.credits.told(reply)
                if status == 200 and action == "DescribeInstances":
                    reply = proxy.interruptions.told(reply)
                if status == 200 and action == "DescribeSnapshots":
                    reply = proxy.blocks.pending(reply)
                if status == 200 and action == "GetConsoleOutput":
                    reply = ec2_rules.console_told(reply)
                if fault and fault.kind == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._reply(status, reply_headers, reply)

            def _direct(self, body: bytes) -> None:
                """A call to the EBS direct APIs (REST, JSON), held to ``ebs_rules``."""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                fault = proxy._take(ebs_rules.action(self.command, self.path), {})
                if fault and fault.kind in ("throttle", "error"):
                    code, status = ("RequestThrottledException", 400) if fault.kind == "throttle" else (
                        fault.code, fault.status)
                    self._reply(status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)],
                                json.dumps({"message": f"injected {code}"}).encode())
                    return
                try:
                    if self.command == "PUT":
                        proxy.blocks.check_put(self.path, headers, body)
                except ebs_rules.Refused as refused:
                    self._reply(400, [("Content-Type", "application/json"),
                                      ("x-amzn-ErrorType", "ValidationException")], refused.body())
                    return
                region = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/", headers.get("Authorization", ""))
                ask = functools.partial(proxy.ec2_query, region=region.group(1) if region else REGION)
                path = proxy.blocks.routed(self.path, ask) if self.command == "GET" else self.path
                status, reply_headers, reply = proxy._forward(self.command, path, headers, body)
                if status < 300:
                    reply = proxy.blocks.answered(self.command, self.path, reply)
                if fault and fault.kind == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._reply(status, reply_headers, reply)

            def _pass(self, action: str, params: dict[str, list[str]], headers: dict[str, str], body: bytes
                      ) -> tuple[int, list[Any], bytes]:
                path, body = _unpaged(action, params, self.path, body)
                status, reply_headers, reply = proxy._forward(self.command, path, headers, body)
                reply = reply.replace(MOTO_NS, EC2_NS)  # the namespace as EC2 writes it (XML-parsing clients care)
                if proxy.limits and status == 200:
                    reply = proxy.limits.answered(action, reply)
                return status, reply_headers, reply

            def _ask(self, headers: dict[str, str], query: str) -> bytes:
                """A question of the proxy's own to the EC2 behind it, in the caller's region and credentials."""
                ask = {**headers, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
                status, _, reply = proxy._forward("POST", "/", ask, f"{query}&Version=2016-11-15".encode())
                return reply if status == 200 else b""

            def _error(self, status: int, code: str, message: str) -> None:
                self._reply(status, [("Content-Type", "text/xml")], _ERROR_BODY.format(
                    code=code, message=message, request_id=f"proxy-{len(proxy.seen)}").encode())

            def _reply(self, status: int, headers: list[Any], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
