"""The GCP provider: Compute Engine instances with persistent disks, ingress
as firewall rules aimed at a per-VM network tag, the login user through the
``ssh-keys`` metadata and cloud-init ``user-data``.

Retries: the client's own are switched off (``retry=None``) so the core's
policy is the only one. Exactly once: every insert carries a ``requestId``
derived from the core's token, so a retry after a lost answer gets the first
operation back instead of a second VM; a VM's instance name is its lock.
VM ids are instance names (unique in a zone, and what every API path takes).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from cloudvm import cloudinit, portable, snapsets
from cloudvm import tags as tagging
from cloudvm.errors import AlreadyExists, CloudVMError, InvalidSpec, NotFound, ProviderError
from cloudvm.fanout import chunks
from cloudvm.model import VM, DiskInfo, ResolvedSize, Snapshot, SnapshotState, VMState
from cloudvm.operations import Operation, Outcome, Started
from cloudvm.portable import Manifest, Moved
from cloudvm.provider import Capability, LaunchRequest, Provider
from cloudvm.sizing import Offer
from cloudvm.spec import Size, VMSpec
from cloudvm_gcp import _sdk, catalog, imports, snapshots
from cloudvm_gcp._errors import mapped
from cloudvm_gcp.naming import INGRESS_PREFIX, child, ingress_tag, request_id
from cloudvm_gcp.operations import Operations, handle

TAGS_KEY = "cloudvm-tags"  # metadata: the exact tags (labels are a lossy spelling)
USER_KEY = tagging.USER
IMAGE_KEY = tagging.IMAGE
_STATES = {
    "PROVISIONING": VMState.PENDING, "STAGING": VMState.PENDING, "RUNNING": VMState.RUNNING,
    "STOPPING": VMState.STOPPING, "SUSPENDING": VMState.STOPPING, "TERMINATED": VMState.STOPPED,
    "SUSPENDED": VMState.STOPPED, "REPAIRING": VMState.PENDING,
}
_FILTER_CHUNK = 40  # names one filtered list call asks for; more are found by their labels


def _labels(tags: dict[str, str]) -> dict[str, str]:
    try:
        return tagging.as_labels(tags)
    except ValueError as exc:
        raise InvalidSpec("tags", str(exc)) from None


def _metadata(instance: dict[str, Any]) -> dict[str, str]:
    return {i["key"]: i.get("value", "") for i in (instance.get("metadata") or {}).get("items") or []}


# Secure Boot, a virtual TPM and integrity monitoring wherever the image boots UEFI:
# https://cloud.google.com/compute/shielded-vm/docs/shielded-vm
SHIELDED = {"enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}


def _uefi(resource: dict[str, Any]) -> bool:
    """Whether an image, or a snapshot of a disk made from one, boots UEFI."""
    return any(f.get("type") == "UEFI_COMPATIBLE" for f in resource.get("guestOsFeatures") or [])


def _spot(instance: dict[str, Any]) -> bool:
    scheduling = instance.get("scheduling") or {}
    return scheduling.get("provisioningModel") == "SPOT" or bool(scheduling.get("preemptible"))


def _last(link: str) -> str:
    return link.rsplit("/", 1)[-1]


class GCPProvider(Provider):
    """``cloudvm.connect("gcp", project=..., zone="us-central1-a", credentials=None, api_endpoint=None)``.

    Application Default Credentials unless ``credentials`` is given; the
    project defaults to ``GOOGLE_CLOUD_PROJECT`` or the credentials' own.
    ``api_endpoint`` (or gcloud's ``CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE``)
    points the clients elsewhere; to a plain ``http://`` endpoint (a fake on loopback) no
    credentials are sent.
    """

    name = "gcp"
    location_option = "zone"
    capabilities = frozenset({
        Capability.SNAPSHOTS, Capability.COPY_SNAPSHOT, Capability.INGRESS_RULES, Capability.PUBLIC_IP,
        Capability.DATA_DISKS, Capability.KEEP_DISKS, Capability.REACHABILITY, Capability.CONSOLE_OUTPUT,
        Capability.HOST_KEYS, Capability.ENCRYPTION_KEYS, Capability.SPOT, Capability.IMPORT,
    })
    unsupported_why: ClassVar[dict[Capability, str]] = {Capability.EXPORT: imports.UNEXPORTABLE}
    # instances.insert, delete, start, stop and reset take one VM each: the core sends ``concurrency`` at once
    # (the per-minute quota windows are the limit; their 403s are waited out).
    batch_limits: ClassVar[Mapping[str, int]] = {"launch": 1, "terminate": 1, "start": 1, "stop": 1, "reboot": 1}

    def __init__(self, project: str | None = None, zone: str | None = None, *, credentials: Any = None,
                 api_endpoint: str | None = None, network: str | None = None,
                 snapshot_location: str | None = None, operation_timeout: float = 600.0,
                 concurrency: int = 20, staging_bucket: str | None = None,
                 storage_endpoint: str | None = None) -> None:
        self.parallel_calls = dict.fromkeys(self.batch_limits, max(1, int(concurrency)))
        self.zone = zone or os.environ.get("CLOUDSDK_COMPUTE_ZONE") or "us-central1-a"
        self.region = self.zone.rsplit("-", 1)[0]
        self.api_endpoint = api_endpoint or _endpoint_from_env()
        self.network = network
        self.snapshot_location = snapshot_location
        self.staging_bucket, self.storage_endpoint = staging_bucket, storage_endpoint  # imports' archives
        self.credentials = credentials
        if self.api_endpoint and self.api_endpoint.startswith("http://") and credentials is None:
            from google.auth.credentials import AnonymousCredentials

            self.credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        self.project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("CLOUDSDK_CORE_PROJECT")
        self._clients: dict[str, Any] = {}
        self._types: dict[str, ResolvedSize] = {}
        self._networks: dict[str, dict[str, str]] = {}
        self._uefi: set[str] = set()  # image links that boot UEFI, and so as Shielded VMs
        self.ops = Operations(self._client, self._project)
        self.operation_timeout = operation_timeout

    @property
    def location(self) -> str:
        return self.zone

    def relocated(self, location: str) -> dict[str, str]:
        """A zone as given; a region (where a DR copy is stored) as its first zone that is up."""
        if not _REGION.fullmatch(location):
            return {"zone": location}
        zones = sorted(z["name"] for z in self._list("zones", "list zones", project=self._project())
                       if z.get("region", "").endswith(f"/regions/{location}") and z.get("status") == "UP")
        if not zones:
            raise InvalidSpec("region", f"no zone of region {location!r} is up in project {self._project()}")
        return {"zone": zones[0]}

    def _project(self) -> str:
        if not self.project:
            import google.auth

            with mapped("find the Google Cloud project"):
                credentials, found = google.auth.default()
            if not found:
                raise CloudVMError("no Google Cloud project: pass project= or set GOOGLE_CLOUD_PROJECT")
            self.credentials = self.credentials or credentials
            self.project = found
        return self.project

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            options = {"api_endpoint": self.api_endpoint} if self.api_endpoint else None
            self._clients[service] = _sdk.client_class(service)(credentials=self.credentials, client_options=options)
        return self._clients[service]

    def _call(self, service: str, method: str, what: str, **request: Any) -> dict[str, Any]:
        with mapped(what):
            reply = getattr(self._client(service), method)(request=request, retry=None, timeout=60.0)
        return _sdk.as_dict(reply)

    def _list(self, service: str, what: str, **request: Any) -> list[dict[str, Any]]:
        with mapped(what):
            pager = self._client(service).list(request=request, retry=None, timeout=60.0)
            return [_sdk.as_dict(item) for item in pager]

    def progress(self, operations: Sequence[Operation]) -> dict[str, Outcome]:
        return self.ops.progress(operations)

    def _outcomes(self, started: Sequence[tuple[dict[str, Any] | None, str]]) -> list[Outcome]:
        """Each operation's outcome once all are done (the core waits): None where it succeeded, or
        where nothing was started."""
        handles = [handle(op, what) if op else None for op, what in started]
        outcomes = self.settle([h for h in handles if h])
        return [outcomes[h.id] if h else None for h in handles]

    def _check(self, *started: tuple[dict[str, Any] | None, str]) -> None:
        error = next((e for e in self._outcomes(started) if e is not None), None)
        if error is not None:
            raise error

    def close(self) -> None:
        for client in self._clients.values():
            client.transport.close()
        self._clients.clear()

    def _scope(self) -> dict[str, str]:
        return {"project": self._project(), "zone": self.zone}

    # -- resolution -------------------------------------------------------------

    def _remember(self, machine: dict[str, Any]) -> ResolvedSize:
        size = ResolvedSize(machine["name"], machine["guestCpus"], machine["memoryMb"] / 1024)
        self._types[size.type_name] = size
        return size

    def _machine_type(self, name: str) -> ResolvedSize:
        if name not in self._types:
            self._remember(self._call("machine_types", "get", f"machine type {name}", machine_type=name,
                                      **self._scope()))
        return self._types[name]

    def resolve_size(self, size: Size) -> ResolvedSize:
        assert size.instance_type is not None  # shapes are matched by the core against offers()
        try:
            return self._machine_type(size.instance_type)
        except NotFound:
            raise InvalidSpec("size.instance_type", f"{self.zone} has no machine type "
                                                    f"{size.instance_type!r}") from None

    def offers(self) -> list[Offer]:
        """The zone's machine types a VM of cloudvm's can use (x86, Persistent Disk), priced from
        libcloud's table."""
        types = self._list("machine_types", "list machine types", **self._scope())
        return [Offer(self._remember(t), catalog.price(t, self.region)) for t in types if catalog.usable(t)]

    def check(self, spec: VMSpec) -> None:
        """Images without cloud-init (Debian, Rocky, ... on Compute Engine) run the user's script as a
        startup-script; a ``#cloud-config`` has nothing there to read it. A customer-managed key is a Cloud
        KMS key's resource name."""
        if spec.user_data and not catalog.runs_cloud_init(spec.image) and \
                cloudinit.content_type(spec.user_data) != "text/x-shellscript":
            raise InvalidSpec("user_data", f"{spec.image} on Compute Engine runs no cloud-init: give a script "
                                           "(#!...), which runs once as the VM's startup-script, or an image with "
                                           "cloud-init (ubuntu-24.04)")
        if spec.encryption_key and not catalog.KMS_KEY.match(spec.encryption_key):
            raise InvalidSpec("encryption_key", "Compute Engine takes a Cloud KMS key by its resource name: "
                                                "projects/P/locations/L/keyRings/R/cryptoKeys/K")
        if spec.spot and spec.spot.max_price is not None:  # https://cloud.google.com/compute/docs/instances/spot#pricing
            raise InvalidSpec("spot.max_price", "Compute Engine takes no price for Spot VMs: they run at the current "
                                                "Spot price until preempted; leave max_price out")

    def resolve_image(self, image: str) -> str:
        path = urllib.parse.urlsplit(image).path.split("/compute/v1/")[-1].lstrip("/")
        parts = path.split("/")
        try:
            if image in catalog.IMAGES:
                project, family = catalog.IMAGES[image]
                found = self._call("images", "get_from_family", f"image family {family}", project=project,
                                   family=family)
            elif len(parts) == 6 and parts[0] == "projects" and parts[3:5] == ["images", "family"]:
                found = self._call("images", "get_from_family", f"image {image}", project=parts[1], family=parts[5])
            elif len(parts) == 5 and parts[0] == "projects" and parts[3] == "images":
                found = self._call("images", "get", f"image {image}", project=parts[1], image=parts[4])
            else:
                raise InvalidSpec("image", f"unknown image {image!r}: not an image URL "
                                           f"(projects/P/global/images/...) nor a known alias "
                                           f"({', '.join(sorted(catalog.IMAGES))})")
        except NotFound:
            raise InvalidSpec("image", f"no image {image!r}") from None
        link: str = found["selfLink"]
        if _uefi(found):
            self._uefi.add(link)
        return link

    # -- launching -------------------------------------------------------------------

    def _network(self, spec: VMSpec) -> dict[str, str]:
        """The VM's network interface target, looked up once per connection (a fleet shares it)."""
        wanted = spec.network.name or self.network or "default"
        if wanted not in self._networks:
            self._networks[wanted] = self._find_network(wanted)
        return self._networks[wanted]

    def _find_network(self, wanted: str) -> dict[str, str]:
        """A network, or ``NETWORK/SUBNET``."""
        net, _, subnet = wanted.partition("/")
        project = self._project()
        try:
            found = self._call("networks", "get", f"network {net}", project=project, network=net)
            nic = {"network": found["selfLink"]}
            if subnet:
                sub = self._call("subnetworks", "get", f"subnetwork {subnet}", project=project, region=self.region,
                                 subnetwork=subnet)
                nic["subnetwork"] = sub["selfLink"]
        except NotFound:
            raise InvalidSpec("network.name", f"no network {wanted!r} in project {project} "
                                              f"(give NETWORK or NETWORK/SUBNET)") from None
        return nic

    def _body(self, request: LaunchRequest, nic: dict[str, str], disks: list[dict[str, Any]],
              user: str | None = None, uefi: bool = False) -> dict[str, Any]:
        spec = request.spec
        user = spec.ssh.user if spec.ssh else user
        # The guest environment publishes the VM's SSH host keys as guest attributes, where cloudvm
        # reads them (https://cloud.google.com/compute/docs/metadata/manage-guest-attributes).
        items = {"user-data": cloudinit.user_data(spec), TAGS_KEY: json.dumps(request.tags, sort_keys=True),
                 IMAGE_KEY: request.image, "enable-guest-attributes": "TRUE", **({USER_KEY: user} if user else {})}
        if spec.user_data and not catalog.runs_cloud_init(request.image):  # the guest runs a startup-script
            items["startup-script"] = cloudinit.run_once(spec.user_data)
        if spec.ssh:
            items["ssh-keys"] = "\n".join(f"{spec.ssh.user}:{key}" for key in spec.ssh.public_keys)
        access = [{"name": "External NAT", "type": "ONE_TO_ONE_NAT"}] if spec.network.public_ip else []
        return {
            "name": spec.name, "machineType": f"zones/{self.zone}/machineTypes/{request.size.type_name}",
            "labels": _labels(request.tags), "disks": disks,
            "networkInterfaces": [{**nic, **({"accessConfigs": access} if access else {})}],
            "metadata": {"items": [{"key": k, "value": v} for k, v in items.items()]},
            "tags": {"items": [self._ingress(spec, nic["network"])[0]] if spec.network.ingress else []},
            # https://cloud.google.com/compute/docs/instances/create-use-spot
            **({"scheduling": {"provisioningModel": "SPOT", "instanceTerminationAction": (
                "STOP" if spec.spot.on_interruption == "stop" else "DELETE")}} if spec.spot else {}),
            **({"shieldedInstanceConfig": SHIELDED} if uefi else {}),
        }

    def _new_disks(self, request: LaunchRequest) -> list[dict[str, Any]]:
        spec = request.spec
        labels = _labels(request.tags)
        boot = {"diskName": spec.name, "sourceImage": request.image, "labels": labels,
                "diskType": f"zones/{self.zone}/diskTypes/{catalog.BOOT_DISK_TYPE}",
                **({"diskSizeGb": str(spec.root_disk_gib)} if spec.root_disk_gib else {})}
        disks = [{"boot": True, "autoDelete": True, "deviceName": "root", "initializeParams": boot, **_cmek(spec)}]
        for i, disk in enumerate(spec.disks, 1):
            disks.append({"autoDelete": not disk.keep, "deviceName": f"data-{i}", **_cmek(spec), "initializeParams": {
                "diskName": child(spec.name, f"-data-{i}"), "diskSizeGb": str(disk.size_gib), "labels": labels,
                "diskType": f"zones/{self.zone}/diskTypes/{catalog.DISK_TYPES[disk.tier]}"}})
        return disks

    def prepare(self, requests: Sequence[LaunchRequest]) -> None:
        for request in requests:
            self._network(request.spec)

    def launch(self, requests: Sequence[LaunchRequest]) -> Started:
        bodies = [self._body(r, self._network(r.spec), self._new_disks(r), uefi=r.image in self._uefi)
                  for r in requests]
        return self._insert(list(requests), bodies)

    def _insert(self, requests: list[LaunchRequest], bodies: list[dict[str, Any]]) -> Started:
        """Firewall rules, then every insert, then the rules once more (see ``_release_tags``); the
        core waits for the inserts' operations. A failed VM's rules go in ``abandon``."""
        rules = [rule for held in self._rules(requests).values() for rule in held]
        self._ensure(rules)
        started = [(request, self._insert_one(request, body)) for request, body in zip(requests, bodies, strict=True)]
        self._ensure(rules)
        return Started([r.spec.name for r in requests], [handle(op, f"create {r.spec.name}") for r, op in started
                                                         if op])

    def _rules(self, requests: Sequence[LaunchRequest]) -> dict[str, list[dict[str, Any]]]:
        """The firewall rules of the VMs' ingress, by the network tag they are aimed at."""
        return {tag: held for r in requests if r.spec.network.ingress
                for tag, held in [self._ingress(r.spec, self._network(r.spec)["network"])]}

    def abandon(self, requests: Sequence[LaunchRequest]) -> None:
        """Rules no VM holds any more, and disks a restore made for an instance that never took them
        (found by the create's token)."""
        self._release_tags(sorted(self._rules(requests)))
        label = tagging.as_label(tagging.TOKEN, key=True)
        for part in chunks(requests, _FILTER_CHUNK):
            query = " OR ".join(f'(labels.{label} = "{tagging.as_label(r.token)}")' for r in part)
            disks = self._list("disks", "disks of failed creates", **self._scope(), filter=query)
            self._drop_disks([d["name"] for d in disks if not d.get("users")])

    def _insert_one(self, request: LaunchRequest, body: dict[str, Any]) -> dict[str, Any] | None:
        """Start the insert; None when the VM already exists from an earlier try of this create."""
        try:
            return self._call("instances", "insert_unary", f"create {request.spec.name}", **self._scope(),
                              request_id=request_id(request.token),
                              instance_resource=_sdk.message("Instance", body))
        except AlreadyExists:
            if self._token_of(request.spec.name) == request.token:
                return None
            raise AlreadyExists(f"a VM named {request.spec.name!r} already exists in {self.zone}") from None

    def _token_of(self, name: str) -> str | None:
        found = self.describe([name])
        return found[0].tags.get(tagging.TOKEN) if found else None

    def _ingress(self, spec: VMSpec, network: str) -> tuple[str, list[dict[str, Any]]]:
        """The network tag for the VM's ingress and the firewall rules aimed at it, one per set of
        source ranges with the same ports. Every VM with the same rules on the same network shares them,
        so a fleet takes a rule or two of the project's FIREWALLS quota, not one per VM."""
        by_cidr: dict[str, set[tuple[str, str]]] = {}
        for rule in spec.network.ingress:
            ports = f"{rule.port}-{rule.to_port}" if rule.to_port and rule.to_port != rule.port else str(rule.port)
            by_cidr.setdefault(rule.cidr, set()).add((rule.protocol, ports))
        by_ports: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for cidr, ports_of in sorted(by_cidr.items()):
            by_ports.setdefault(tuple(sorted(ports_of)), []).append(cidr)
        groups = sorted(by_ports.items())
        tag = ingress_tag(network, json.dumps(groups))
        rules = []
        for i, (allowed, cidrs) in enumerate(groups):
            protocols: dict[str, list[str]] = {}
            for protocol, ports in allowed:
                protocols.setdefault(protocol, []).append(ports)
            rules.append({"name": f"{tag}-{i}", "network": network, "direction": "INGRESS", "sourceRanges": cidrs,
                          "allowed": [{"IPProtocol": p, "ports": ports} for p, ports in sorted(protocols.items())],
                          "targetTags": [tag], "description": "cloudvm: ingress of the VMs with this tag"})
        return tag, rules

    def _ensure(self, rules: list[dict[str, Any]]) -> None:
        """Make the rules that are missing (one there already, from another VM or try, is fine)."""
        started = []
        for rule in rules:
            with contextlib.suppress(AlreadyExists):
                started.append((self._call("firewalls", "insert_unary", f"firewall {rule['name']}",
                                           project=self._project(), firewall_resource=_sdk.message("Firewall", rule)),
                                f"firewall {rule['name']}"))
        error = next((e for e in self._outcomes(started) if e and not isinstance(e, AlreadyExists)), None)
        if error is not None:
            raise error

    def _holders(self, tag: str) -> bool:
        """Whether an instance anywhere in the project carries the tag (stopped ones too)."""
        with mapped(f"instances with {tag}"):
            pager = self._client("instances").aggregated_list(request={
                "project": self._project(), "filter": f'tags.items = "{tag}"', "max_results": 1}, retry=None,
                timeout=60.0)
            return any(scoped.instances for _, scoped in pager)

    def _release_tags(self, tags: Iterable[str]) -> None:
        """Delete the rules of each tag no instance carries. A VM made meanwhile with the same rules may
        have found them before they went: they are made again if one turns up after the delete (and the
        create itself makes them once more after its insert), so no VM is left without its rules."""
        project = self._project()
        for tag in tags:
            if self._holders(tag):
                continue
            rules = self._list("firewalls", f"rules of {tag}", project=project, filter=f"name eq {tag}-.*")
            for rule in rules:
                with contextlib.suppress(NotFound):
                    self._call("firewalls", "delete_unary", f"delete firewall {rule['name']}", project=project,
                               firewall=rule["name"])
            if rules and self._holders(tag):
                self._ensure([{k: rule[k] for k in ("name", "network", "direction", "sourceRanges", "allowed",
                                                    "targetTags", "description")} for rule in rules])

    # -- describing -----------------------------------------------------------------

    def _instances(self, ids: Sequence[str] | None, tags: dict[str, str]) -> Iterator[dict[str, Any]]:
        """By labels (a fleet: one paged list), or by a few names."""
        if ids is None or len(ids) > _FILTER_CHUNK:
            labels = _labels(tags)
            query = " AND ".join(f'(labels.{k} = "{v}")' for k, v in sorted(labels.items()))
            wanted = None if ids is None else set(ids)
            yield from (i for i in self._list("instances", "list instances", **self._scope(), filter=query)
                        if wanted is None or i["name"] in wanted)
            return
        query = " OR ".join(f'(name = "{name}")' for name in ids)
        yield from self._list("instances", "list instances", **self._scope(), filter=query)

    def describe(self, ids: Sequence[str] | None = None, tags: dict[str, str] | None = None) -> list[VM]:
        wanted = {tagging.MANAGED: "true", **(tags or {})}
        instances = list(self._instances(ids, wanted))
        taken = self._preempted([i for i in instances if _spot(i) and i["status"] in ("STOPPING", "TERMINATED")])
        vms = [self._vm(i, taken.get(i["id"])) for i in instances]
        return [vm for vm in vms if tagging.matches(vm.tags, wanted)]

    def _preempted(self, stopped: list[dict[str, Any]]) -> dict[str, str]:
        """Instance id -> why, for the stopped Spot VMs Compute Engine took back since they last started
        (its ``compute.instances.preempted`` operations); no call when no Spot VM is stopped."""
        if not stopped:
            return {}
        since = {i["id"]: i.get("lastStartTimestamp") or i["creationTimestamp"] for i in stopped}
        ops = self._list("zone_operations", "preemptions", **self._scope(),
                         filter='operationType = "compute.instances.preempted"')
        return {op["targetId"]: op.get("statusMessage") or "preempted" for op in ops
                if op.get("targetId") in since and datetime.fromisoformat(op["insertTime"]) >= datetime.fromisoformat(
                    since[op["targetId"]])}

    def _vm(self, inst: dict[str, Any], interrupted: str | None = None) -> VM:
        meta = _metadata(inst)
        nic = (inst.get("networkInterfaces") or [{}])[0]
        tags = json.loads(meta[TAGS_KEY]) if TAGS_KEY in meta else dict(inst.get("labels") or {})
        machine = _last(inst["machineType"])
        return VM(
            id=inst["name"], name=tags.get(tagging.NAME, inst["name"]), provider=self.name,
            state=_STATES.get(inst["status"], VMState.ERROR), size=self._types.get(machine) or self._machine_type(
                machine), image=meta.get(IMAGE_KEY), region=self.region, zone=_last(inst["zone"]),
            private_ips=tuple(ip for ip in [nic.get("networkIP")] if ip),
            public_ips=tuple(ac["natIP"] for ac in nic.get("accessConfigs") or [] if ac.get("natIP")),
            disks=tuple(DiskInfo(_last(d["source"]), float(d.get("diskSizeGb") or 0), bool(d.get("boot")),
                                 d.get("deviceName")) for d in inst.get("disks") or []),
            tags=tags, created_at=datetime.fromisoformat(inst["creationTimestamp"]), ssh_user=meta.get(USER_KEY),
            spot=_spot(inst), interrupted=interrupted, raw=inst,
        )

    # -- lifecycle ---------------------------------------------------------------------

    def _each(self, method: str, verb: str, ids: Sequence[str], *, missing_ok: bool = False) -> None:
        for name in ids:
            try:
                self._call("instances", method, f"{verb} {name}", **self._scope(), instance=name)
            except NotFound:
                if not missing_ok:
                    raise

    def start(self, ids: Sequence[str]) -> None:
        self._each("start_unary", "start", ids)

    def stop(self, ids: Sequence[str], *, force: bool = False) -> None:
        """Compute Engine's stop is already a clean shutdown that powers off after 90 s."""
        self._each("stop_unary", "stop", ids)

    def reboot(self, ids: Sequence[str]) -> None:
        self._each("reset_unary", "reset", ids)

    def terminate(self, ids: Sequence[str]) -> None:
        self._each("delete_unary", "delete", ids, missing_ok=True)

    def release(self, vms: Sequence[VM]) -> None:
        """Drop the firewall rules the VMs held, unless other VMs hold them too."""
        raws = [vm.raw for vm in vms if isinstance(vm.raw, dict)]
        self._release_tags(sorted({t for raw in raws for t in (raw.get("tags") or {}).get("items") or []
                                   if t.startswith(INGRESS_PREFIX)}))

    def orphans(self) -> list[str]:
        """Firewall rules aimed at a tag no instance of the project carries, and cloudvm's disks nothing uses."""
        project = self._project()
        with mapped("list instances"):
            pager = self._client("instances").aggregated_list(request={"project": project}, retry=None, timeout=60.0)
            tags = {t for _, scoped in pager for i in scoped.instances for t in i.tags.items}
        found = [f"firewall {f['name']} ({f.get('description', '')})"
                 for f in self._list("firewalls", "list firewalls", project=project, filter="name eq cloudvm-.*")
                 if not set(f.get("targetTags") or []) & tags]
        disks = self._list("disks", "list disks", **self._scope(), filter=f'(labels.{tagging.MANAGED} = "true")')
        return found + [f"disk {d['name']} in {self.zone} ({d.get('sizeGb')} GiB, unattached)"
                        for d in disks if not d.get("users")]

    def console_output(self, vm: VM) -> str:
        reply = self._call("instances", "get_serial_port_output", f"console output of {vm.name}", **self._scope(),
                           instance=vm.id, port=1)
        text: str = reply.get("contents", "")
        return text

    def host_keys(self, vm: VM) -> list[str]:
        """The keys the guest environment published as guest attributes (``hostkeys/``), else those
        cloud-init printed on the console."""
        try:
            reply = self._call("instances", "get_guest_attributes", f"host keys of {vm.name}", **self._scope(),
                               instance=vm.id, query_path="hostkeys/")
        except NotFound:  # not published yet
            reply = {}
        published = [f"{item['key']} {item['value']}" for item in reply.get("queryValue", {}).get("items", [])]
        return published or super().host_keys(vm)

    # -- snapshots ----------------------------------------------------------------------

    def _snapshot_items(self, labels: dict[str, str], *, images: bool = True) -> list[dict[str, Any]]:
        """Machine images (the sets taken of VMs) and snapshots (their copies) carrying ``labels``."""
        query = " AND ".join(f'(labels.{k} = "{v}")' for k, v in sorted(labels.items()))
        found = self._list("snapshots", "list snapshots", project=self._project(), filter=query)
        if images:
            found += self._list("machine_images", "list machine images", project=self._project(), filter=query)
        return found

    def snapshot(self, vm: VM, name: str, tags: dict[str, str]) -> Snapshot:
        """A machine image: every disk at one instant, crash-consistent across them. The request id
        comes from the token, so a retry gets the first one back."""
        token = tags[tagging.TOKEN]
        made = self._snapshot_items({tagging.MANAGED: "true", tagging.NAME: tagging.as_label(name)})
        if any((m.get("labels") or {}).get(snapsets.SET) != token for m in made):
            raise AlreadyExists(f"a snapshot named {name!r} already exists in project {self._project()}")
        if made:
            return self.describe_snapshots([token])[0]
        held = self._disks_of(vm)
        kinds = {d["name"]: _last(d["type"]) for d in held}
        # the Cloud KMS key the disks are encrypted with, for a restore to encrypt its disks with again
        key = next((d["diskEncryptionKey"]["kmsKeyName"].split("/cryptoKeyVersions/")[0] for d in held
                    if (d.get("diskEncryptionKey") or {}).get("kmsKeyName")), None)
        info = {"vm": vm.name, "type": vm.size.type_name if vm.size else None, "image": vm.image,
                "user": vm.ssh_user, "tags": tags, **({"key": key} if key else {}),
                "disks": [{"index": index, "root": disk.root, "device": disk.device, "disk_type": kinds.get(disk.id),
                           "size": disk.size_gib} for index, disk in enumerate(vm.disks)]}
        image = child(name, "")
        body = {"name": image, "labels": {**_labels(tags), snapsets.SET: token},
                "description": json.dumps(info, sort_keys=True),
                **({"storageLocations": [self.snapshot_location]} if self.snapshot_location else {}),
                **({"machineImageEncryptionKey": {"kmsKeyName": key}} if key else {})}
        try:
            self._call("machine_images", "insert_unary", f"snapshot {vm.name}", project=self._project(),
                       source_instance=f"projects/{self._project()}/zones/{self.zone}/instances/{vm.id}",
                       request_id=request_id(token, image), machine_image_resource=_sdk.message("MachineImage", body))
        except AlreadyExists:
            raise AlreadyExists(f"a machine image named {image!r} already exists in project "
                                f"{self._project()}") from None
        return self.describe_snapshots([token])[0]

    def _disks_of(self, vm: VM) -> list[dict[str, Any]]:
        """The disk resources (for their types), by one filtered list."""
        query = " OR ".join(f'(name = "{d.id}")' for d in vm.disks)
        return self._list("disks", "list disks", **self._scope(), filter=query) if vm.disks else []

    def describe_snapshots(self, ids: Sequence[str] | None = None,
                           tags: dict[str, str] | None = None) -> list[Snapshot]:
        labels = _labels({tagging.MANAGED: "true", **(tags or {})})
        items = self._snapshot_items(labels)
        if ids is not None:
            items = [i for i in items if (i.get("labels") or {}).get(snapsets.SET) in set(ids)]
        found = snapshots.group(items, self.name, self.snapshot_location or self.region)
        return [s for s in found if tagging.matches(s.tags, tags)]

    def restore(self, snapshot: Snapshot, request: LaunchRequest) -> Started:
        """A new instance whose disks are made from the set: in the same insert from a copy's
        snapshots; from a machine image's disks first, then attached (by device name)."""
        members: list[dict[str, Any]] = list(snapshot.raw or [])
        if not members or not snapshots.complete(members):
            expected = (members[0].get("labels") or {}).get(snapsets.MEMBERS, "?") if members else "?"
            raise ProviderError(f"snapshot {snapshot.name!r} is incomplete ({len(members)} of {expected} disks): "
                                "it cannot be restored")
        if snapshot.state is not SnapshotState.READY:
            raise ProviderError(f"snapshot {snapshot.name!r} is {snapshot.state}, not ready: it cannot be restored")
        labels = _labels(request.tags)
        made = snapshots.disks(members)
        disks = []
        for index, info in enumerate(made):
            name = request.spec.name if info.get("root") else child(request.spec.name, f"-data-{index}")
            kind = f"zones/{self.zone}/diskTypes/{info.get('disk_type') or catalog.BOOT_DISK_TYPE}"
            params = {"diskName": name, "labels": labels, "diskType": kind,
                      **({"sourceSnapshot": info["member"]["selfLink"]} if "member" in info else {})}
            disks.append({"boot": bool(info.get("root")), "autoDelete": True, **_cmek(request.spec),
                          "deviceName": info.get("device") or f"disk-{index}", "initializeParams": params})
        if snapshots.is_image(members):
            disks = self._from_image(members[0], disks, request)
        user = snapshots.manifest(members[0]).get("user")
        root = snapshots.boot(members)
        body = self._body(request, self._network(request.spec), disks, user=user, uefi=_uefi(root))
        return self._insert([request], [body])

    def _from_image(self, image: dict[str, Any], disks: list[dict[str, Any]],
                    request: LaunchRequest) -> list[dict[str, Any]]:
        """Each disk made from the machine image's disk of the same device name (request ids from the
        create's token: a retry gets the same disks), then attached by the instance's insert (if that
        never comes, ``abandon`` finds them by the token)."""
        ops = []
        for disk in disks:
            params = disk.pop("initializeParams")
            body = {"name": params["diskName"], "labels": params["labels"], "type": params["diskType"],
                    "sourceMachineImage": image["selfLink"], "sourceMachineImageDiskDeviceName": disk["deviceName"],
                    **({"diskEncryptionKey": disk.pop("diskEncryptionKey")} if "diskEncryptionKey" in disk else {})}
            disk["source"] = f"projects/{self._project()}/zones/{self.zone}/disks/{params['diskName']}"
            with contextlib.suppress(AlreadyExists):  # made by an earlier try (its request id forgotten)
                ops.append((self._insert_disk(body, request_id(request.token, params["diskName"])),
                            f"restore {request.spec.name}: disk {params['diskName']}"))
        self._check(*ops)
        return disks

    def _insert_disk(self, body: dict[str, Any], rid: str) -> dict[str, Any]:
        """``disks.insert``; one made from a machine image's disk goes to the REST API directly, as
        the client library's ``Disk`` has no ``sourceMachineImage`` yet."""
        what = f"disk {body['name']}"
        if "sourceMachineImage" not in body:
            return self._call("disks", "insert_unary", what, **self._scope(), request_id=rid,
                              disk_resource=_sdk.message("Disk", body))
        with mapped(what):
            return _sdk.rest(self.credentials, self.api_endpoint,
                             f"projects/{self._project()}/zones/{self.zone}/disks", body, {"requestId": rid})

    def _drop_disks(self, names: list[str]) -> None:
        """Disks made for a restore that did not come to be (those its instance holds go with it)."""
        for name in names:
            with contextlib.suppress(NotFound, CloudVMError):
                self._call("disks", "delete_unary", f"delete disk {name}", **self._scope(), disk=name)

    def delete_snapshot(self, snapshot: Snapshot) -> None:
        """Every member, waited for, so that a deleted set is gone when this returns."""
        members: list[dict[str, Any]] = list(snapshot.raw or [])
        ops = []
        for member in members:
            service = "machine_images" if snapshots.is_image([member]) else "snapshots"
            with contextlib.suppress(NotFound):
                ops.append((self._call(service, "delete_unary", f"delete snapshot {member['name']}",
                                       project=self._project(), **{service[:-1]: member["name"]}),
                            f"delete snapshot {snapshot.name}"))
        self._check(*ops)

    def copy_snapshot(self, snapshot: Snapshot, region: str) -> Snapshot:
        """A copy stores the set in ``region`` (``storageLocations``) as one snapshot per disk, so it
        outlives the loss of the source's location. Each disk goes through a temporary disk (from
        the machine image's disk, or the copied snapshot), removed after."""
        copy_set = tagging.as_label(f"{snapshot.id}-{region}")
        have = {m["name"] for m in self._snapshot_items({tagging.MANAGED: "true", snapsets.SET: copy_set},
                                                        images=False)}
        members: list[dict[str, Any]] = list(snapshot.raw or [])
        info = {k: v for k, v in snapshots.manifest(members[0]).items() if k != "disks"}
        labels = {**(members[0].get("labels") or {}), snapsets.SET: copy_set, snapsets.COPIED_FROM: snapshot.id,
                  snapsets.MEMBERS: str(len(snapshot.disks))}
        for disk in snapshots.disks(members):
            member = disk.pop("member", None)
            name = child(member["name"] if member else f"{members[0]['name']}-{disk['index']}", f"-{region}")
            source = {"sourceSnapshot": member["selfLink"]} if member else {
                "sourceMachineImage": members[0]["selfLink"], "sourceMachineImageDiskDeviceName": disk["device"]}
            if name not in have:
                description = json.dumps({**info, **disk} if not member else snapshots.manifest(member),
                                         sort_keys=True)
                self._copy_member(source, description, labels, name, region)
        self._drop_copy_disks(copy_set)
        return self.describe_snapshots([copy_set])[0]

    def _drop_copy_disks(self, copy_set: str) -> None:
        """The temporary disks of the copy, an earlier try's too: a try stopped after a member's copy
        was made finds that member done when run again, and would not come back for its disk."""
        for disk in self._list("disks", "list disks", **self._scope(),
                               filter=f'(labels.{snapsets.SET} = "{copy_set}")'):
            with contextlib.suppress(NotFound):
                self._check((self._call("disks", "delete_unary", f"delete disk {disk['name']}", **self._scope(),
                                        disk=disk["name"]), f"delete disk {disk['name']}"))

    def _copy_member(self, source: dict[str, Any], description: str, labels: dict[str, str], name: str,
                     region: str) -> None:
        temporary = child(name, "-copy")
        disk = {"name": temporary, "labels": labels, **source}
        with contextlib.suppress(AlreadyExists):
            self._check((self._insert_disk(disk, request_id(temporary)), f"disk {temporary}"))
        try:
            body = {"name": name, "labels": labels, "description": description, "storageLocations": [region]}
            self._check((self._call("disks", "create_snapshot_unary", f"copy {name} to {region}",
                                    **self._scope(), disk=temporary, request_id=request_id(name),
                                    snapshot_resource=_sdk.message("Snapshot", body)), f"copy {name}"))
        finally:
            self._check((self._call("disks", "delete_unary", f"delete disk {temporary}", **self._scope(),
                                    disk=temporary), f"delete disk {temporary}"))

    def import_snapshot(self, manifest: Manifest, name: str, tags: dict[str, str], moved: Moved) -> Snapshot:
        """Each disk archived into the staging bucket, made an image, then a snapshot of a set like a
        DR copy's (what a restore reads); archives and images are removed whatever happens, and a
        failure removes the snapshots made."""
        staging = imports.bucket(self._storage(), self.staging_bucket)
        set_id = tagging.as_label(tags.get(tagging.TOKEN) or name)
        own = {k: v for k, v in tags.items() if k not in (snapsets.TYPE, snapsets.IMAGE)}
        labels = {**_labels(own), snapsets.SET: set_id, snapsets.MEMBERS: str(len(manifest.disks))}
        info = {"vm": manifest.source_vm, "type": tags.get(snapsets.TYPE), "image": tags.get(snapsets.IMAGE),
                "user": manifest.login(), "tags": own}
        uefi = portable.firmware(manifest.path(manifest.disks[0])) != "bios"
        try:
            with tempfile.TemporaryDirectory(prefix="cloudvm-gcp-") as scratch:
                for index, disk in enumerate(manifest.disks):
                    member = child(name, f"-{index}")
                    packed = imports.archive(manifest.path(disk), Path(scratch) / str(index))
                    blob = staging.blob(f"cloudvm-import/{member}.tar.gz")
                    with mapped(f"upload {blob.name}"):
                        blob.upload_from_filename(str(packed), content_type="application/gzip")
                    moved.count(packed.stat().st_size, 1, disk.size)
                    try:
                        self._imported(member, imports.source(staging.name, blob.name), uefi and index == 0, {
                            **info, "index": index, "root": disk.role == "root", "device": f"disk-{index}",
                            "size": disk.size / portable.GIB}, labels)
                    finally:
                        with mapped(f"delete {blob.name}"), contextlib.suppress(NotFound):
                            blob.delete()
        except BaseException:
            self.delete_snapshot(Snapshot(set_id, name, self.name, manifest.source_vm, raw=self._snapshot_items(
                {snapsets.SET: set_id}, images=False)))
            raise
        return self.describe_snapshots([set_id])[0]

    def _imported(self, name: str, archive: str, uefi: bool, description: dict[str, Any],
                  labels: dict[str, str]) -> None:
        """One disk's snapshot, through an image of its archive (removed after)."""
        body = {"name": name, "rawDisk": {"source": archive}, "labels": labels, "architecture": "X86_64",
                **({"guestOsFeatures": [{"type": "UEFI_COMPATIBLE"}]} if uefi else {})}
        with contextlib.suppress(AlreadyExists):
            self._check((self._call("images", "insert_unary", f"image {name}", project=self._project(),
                                    request_id=request_id(name, "image", archive),
                                    image_resource=_sdk.message("Image", body)),
                         f"image {name}"))
        try:
            self._copy_member({"sourceImage": f"projects/{self._project()}/global/images/{name}"},
                              json.dumps(description, sort_keys=True), labels, name,
                              self.snapshot_location or self.region)
        finally:
            with contextlib.suppress(NotFound):
                self._check((self._call("images", "delete_unary", f"delete image {name}", project=self._project(),
                                        image=name), f"delete image {name}"))

    def _storage(self) -> Any:
        """The Cloud Storage client (the JSON API at ``storage_endpoint`` when given)."""
        import google.cloud.storage as gcs

        options = {"api_endpoint": self.storage_endpoint} if self.storage_endpoint else None
        return gcs.Client(project=self._project(), credentials=self.credentials, client_options=options)


_REGION = re.compile(r"[a-z]+-[a-z]+\d+")  # us-east1; a zone adds -b


def _endpoint_from_env() -> str | None:
    """gcloud's override names a URL with the API path; the client wants the host."""
    value = os.environ.get("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE")
    if not value:
        return None
    parts = urllib.parse.urlsplit(value)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme else value



def _cmek(spec: VMSpec) -> dict[str, Any]:
    """A new attached disk encrypted with the spec's Cloud KMS key (else Google's own keys)."""
    return {"diskEncryptionKey": {"kmsKeyName": spec.encryption_key}} if spec.encryption_key else {}
