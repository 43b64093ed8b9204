"""The Azure provider: a VM is a chain of resources (network security group,
public IP, network interface, VM with managed disks), all named after the VM,
tagged with its name and token, and made a stage at a time for a whole batch
(every VM's chain advances together; the core waits for each stage's
operations, ``cloudvm_azure.operations``, and for the VMs' own).

Retries: the clients' own are switched off (``retry_total=0``) so the core's
policy is the only one. Exactly once: names are the idempotency key (every
PUT is idempotent) and the VM's PUT carries ``If-None-Match: *``, so of two
creates of one name only one makes the VM. Deletes take the NIC, public IP and
disks along (their ``deleteOption``); ``release`` removes the security group,
anything an interrupted delete left, and the network when its last VM went.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from cloudvm import cloudinit, portable, retry, snapsets
from cloudvm import tags as tagging
from cloudvm.errors import AlreadyExists, CloudVMError, InvalidSpec, NotFound, ProviderError
from cloudvm.model import VM, DiskInfo, ResolvedSize, Snapshot, VMState
from cloudvm.operations import Operation, Outcome, Started, first_error
from cloudvm.portable import Manifest, Moved
from cloudvm.provider import Capability, LaunchRequest, Provider
from cloudvm.sizing import Offer
from cloudvm.spec import Ingress, Size, VMSpec
from cloudvm.ssh import key_type
from cloudvm_azure import catalog, operations, snapshots, transfer
from cloudvm_azure._errors import mapped, note_rate_limits
from cloudvm_azure.blobs import read_blob

OWN_TAGS = frozenset({tagging.IMAGE, tagging.USER})
Made = dict[tuple[str, str], dict[str, Any]]  # (kind, name) -> a piece an earlier try made, as listed
VNET = "cloudvm-vnet"  # + "-LOCATION": a virtual network serves one location
# Boot diagnostics in managed storage: the serial console, where cloudvm reads a VM's host keys.
BOOT_DIAGNOSTICS = {"bootDiagnostics": {"enabled": True}}
ACCESS_SECONDS = 4 * 3600  # how long a disk's SAS URI lives: long enough for a large disk, revoked when done
_POWER = {"running": VMState.RUNNING, "starting": VMState.PENDING, "stopping": VMState.STOPPING,
          "deallocating": VMState.STOPPING, "stopped": VMState.STOPPED, "deallocated": VMState.STOPPED}


def _names(vm: str) -> dict[str, str]:
    return {"nsg": f"{vm}-nsg", "ip": f"{vm}-ip", "nic": f"{vm}-nic", "os": f"{vm}-osdisk"}


def _status(statuses: list[dict[str, Any]], prefix: str) -> str:
    return next((s["code"].split("/", 1)[1] for s in statuses if s.get("code", "").startswith(prefix)), "")


class AzureProvider(Provider):
    """``cloudvm.connect("azure", subscription_id=..., resource_group=..., location="eastus",
    credential=None, base_url=None)``.

    ``DefaultAzureCredential`` unless a credential (or ``"module:Class"`` naming one) is given; the resource group
    is created (tagged) when missing. ``base_url`` points the clients elsewhere
    (``connection_verify=`` names a CA bundle for it). ``polling_interval``: the longest pause between
    looks at running operations (ARM suggests 2 to 10 s); by default the caller's ``poll_interval``.
    """

    name = "azure"
    location_option = "location"
    # ARM takes one resource a request: the core runs ``concurrency`` calls at once, each advancing
    # ten VMs' chains, or acting on one VM (delete, start, deallocate, restart: a throttled one is
    # sent again alone).
    batch_limits: ClassVar[Mapping[str, int]] = {"launch": 10, "terminate": 1, "start": 1, "stop": 1, "reboot": 1}
    capabilities = frozenset({
        Capability.SNAPSHOTS, Capability.COPY_SNAPSHOT, Capability.INGRESS_RULES, Capability.PUBLIC_IP,
        Capability.DATA_DISKS, Capability.KEEP_DISKS, Capability.REACHABILITY, Capability.CONSOLE_OUTPUT,
        Capability.HOST_KEYS, Capability.ENCRYPTION_KEYS, Capability.SPOT, Capability.EXPORT, Capability.IMPORT,
    })

    def __init__(self, subscription_id: str | None = None, resource_group: str | None = None,
                 location: str = "eastus", *, credential: Any = None, base_url: str | None = None,
                 connection_verify: str | bool | None = None, network: str | None = None,
                 polling_interval: float | None = None, operation_timeout: float = 900.0,
                 concurrency: int = 10) -> None:
        self.subscription_id = subscription_id or os.environ.get("AZURE_SUBSCRIPTION_ID") or ""
        if not self.subscription_id:
            raise CloudVMError("no Azure subscription: pass subscription_id= or set AZURE_SUBSCRIPTION_ID")
        self.resource_group = resource_group or os.environ.get("CLOUDVM_AZURE_RESOURCE_GROUP") or "cloudvm"
        self.region = location
        self.vnet = f"{VNET}-{location}"
        self.base_url = base_url
        self.network = network
        self.credential = credential
        self.options: dict[str, Any] = {"retry_total": 0, "raw_response_hook": note_rate_limits}
        if connection_verify is not None:
            self.options["connection_verify"] = connection_verify
        self.operation_interval = polling_interval
        self.operation_timeout = operation_timeout
        self.parallel_calls = dict.fromkeys(self.batch_limits, max(1, int(concurrency)))
        self._clients: dict[str, Any] = {}
        self._subnets: dict[str | None, str] = {}  # the batch's networks, looked up by prepare()
        self._sizes: dict[str, ResolvedSize] = {}
        self._plans: dict[str, dict[str, str]] = {}  # image URN -> the purchase plan it is sold under
        self._restricted: dict[str, str] = {}  # VM size -> why this subscription may not use it here
        self._uefi: set[str] = set()  # image URNs of the second generation, which boot with Trusted Launch
        self._group_ready = False

    @property
    def location(self) -> str:
        return self.region

    # -- clients ---------------------------------------------------------------------

    def _client(self, kind: str) -> Any:
        if kind not in self._clients:
            if self.credential is None:
                from azure.identity import DefaultAzureCredential

                self.credential = DefaultAzureCredential()
            elif isinstance(self.credential, str):  # "module:Class", as the CLI can only pass text
                module, _, attr = self.credential.partition(":")
                self.credential = getattr(importlib.import_module(module), attr)()
            if kind == "compute":
                from azure.mgmt.compute import ComputeManagementClient as Client
            elif kind == "network":
                from azure.mgmt.network import NetworkManagementClient as Client  # type: ignore[assignment]
            else:
                from azure.mgmt.resource.resources import ResourceManagementClient as Client  # type: ignore[assignment]
            extra: dict[str, Any] = {"base_url": self.base_url} if self.base_url else {}
            self._clients[kind] = Client(self.credential, self.subscription_id, **extra, **self.options)
        return self._clients[kind]

    @property
    def compute(self) -> Any:
        return self._client("compute")

    @property
    def net(self) -> Any:
        return self._client("network")

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def _group_of(self, kind: str) -> Any:
        client, group, _ = operations.KINDS[kind]
        return getattr(self._client(client), group)

    def _begin(self, kind: str, name: str, body: dict[str, Any] | None = None, made: Made | None = None,
               **kwargs: Any) -> Operation | None:
        """A PUT of ``body`` (a DELETE without one), sent without the SDK's poller; what it leaves running.
        A piece in ``made`` (an earlier try of the same stage made it) is not sent again, only waited for."""
        if body is not None and made and (kind, name) in made:
            return None if operations.provisioned(made[kind, name]) else operations.running(kind, name)
        group = self._group_of(kind)
        call = group.begin_delete if body is None else group.begin_create_or_update
        args = () if body is None else (body,)
        with mapped(f"{'delete ' if body is None else ''}{operations.KINDS[kind][2]} {name}"):
            answer = call(self.resource_group, name, *args, polling=False, cls=lambda response, *_: response,
                          **kwargs).result()
        return operations.started(kind, name, body is None, answer.http_response)

    def progress(self, started: Sequence[Operation]) -> dict[str, Outcome]:
        """One list per kind of resource."""
        done: dict[str, Outcome] = {}
        for kind in sorted({op.scope for op in started}):
            found = {item["name"].lower(): item for item in self._listed(kind)}
            for op in (op for op in started if op.scope == kind):
                finished, error = operations.outcome(op, found.get(op.id.rsplit("/", 1)[1].lower()))
                if finished:
                    done[op.id] = error
        return done

    def _listed(self, kind: str) -> list[dict[str, Any]]:
        """The resource group's resources of ``kind`` (VMs with their instance views); none without a group."""
        group = self._group_of(kind)
        try:
            with mapped(f"list {operations.KINDS[kind][2]}s"):
                listed = group.list(self.resource_group, expand="instanceView") if kind == "vm" else \
                    group.list_by_resource_group(self.resource_group) if kind in ("disk", "disksnap") else group.list(
                        self.resource_group)
                return [_json(item) for item in listed]
        except NotFound:
            return []

    def _check(self, started: Sequence[Operation | None]) -> None:
        """Wait (the core does) for a stage's operations; the first failure is raised."""
        pending = [op for op in started if op is not None]
        error = first_error(pending, self.settle(pending)) if pending else None
        if error is not None:
            raise error

    def _get(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A resource as a dict, or None when it does not exist."""
        try:
            with mapped(what):
                return _json(call(self.resource_group, *args, **kwargs))
        except NotFound:
            return None

    def _rid(self, namespace: str, kind: str, name: str) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers/"
                f"{namespace}/{kind}/{name}")

    # -- resolution ----------------------------------------------------------------------

    def check(self, spec: VMSpec) -> None:
        """What Azure refuses though the spec allows it, before the network interface and the rest are
        made: reserved administrator names, SSH keys other than RSA of 2048 bits or more and Ed25519
        (https://learn.microsoft.com/azure/virtual-machines/linux/create-ssh-keys-detailed), and more
        than 64 KiB of custom data."""
        user = spec.ssh.user if spec.ssh else "cloudvm"
        if user in catalog.RESERVED_USERS:
            raise InvalidSpec("ssh.user", f"Azure does not allow {user!r} as a VM's administrator; pick another")
        for index, key in enumerate(spec.ssh.public_keys if spec.ssh else ()):
            algorithm, bits = key_type(key)
            if not (algorithm == "ssh-ed25519" or (algorithm == "ssh-rsa" and bits >= 2048)):
                raise InvalidSpec(f"ssh.public_keys[{index}]", f"Azure takes ssh-ed25519 keys and ssh-rsa keys of "
                                                               f"2048 bits or more, not {algorithm} "
                                                               f"{bits or ''}".rstrip())
        if spec.encryption_key and not catalog.ENCRYPTION_SET.match(spec.encryption_key):
            raise InvalidSpec("encryption_key", "Azure encrypts disks with a disk encryption set: give its resource "
                                                "id (/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/"
                                                "diskEncryptionSets/NAME)")
        encoded = len(_b64(cloudinit.user_data(spec)))
        if encoded > catalog.CUSTOM_DATA_CHARACTERS:
            raise InvalidSpec("user_data", f"Azure takes {catalog.CUSTOM_DATA_CHARACTERS} characters of custom data; "
                                           f"with cloudvm's cloud-config it comes to {encoded}")

    def _list_sizes(self) -> None:
        """The VM sizes of the location from its resource SKUs, which say what this subscription may not
        use there (``NotAvailableForSubscription``); the older VM sizes list does not
        (https://learn.microsoft.com/rest/api/compute/resource-skus/list)."""
        with mapped("list VM sizes"):
            for item in self.compute.resource_skus.list(filter=f"location eq '{self.region}'"):
                sku = _json(item)
                if sku.get("resourceType") != "virtualMachines" or self.region not in [
                        loc.lower() for loc in sku.get("locations") or []]:
                    continue
                held = [r.get("reasonCode", "") for r in sku.get("restrictions") or []
                        if r.get("type") == "Location" and self.region in [v.lower() for v in r.get("values") or []]]
                if held:
                    self._restricted[sku["name"]] = held[0]
                    continue
                caps = {c["name"]: c["value"] for c in sku.get("capabilities") or []}
                self._sizes[sku["name"]] = ResolvedSize(sku["name"], int(caps.get("vCPUs", 0)),
                                                        float(caps.get("MemoryGB", 0)))

    def resolve_size(self, size: Size) -> ResolvedSize:
        assert size.instance_type is not None  # shapes are matched by the core against offers()
        if not self._sizes:
            self._list_sizes()
        if size.instance_type in self._restricted:
            raise InvalidSpec("size.instance_type", f"{size.instance_type} is not available to this subscription "
                                                    f"in {self.region} ({self._restricted[size.instance_type]})")
        if size.instance_type not in self._sizes:
            raise InvalidSpec("size.instance_type", f"{self.region} has no VM size {size.instance_type!r}")
        return self._sizes[size.instance_type]

    def offers(self) -> list[Offer]:
        """The location's VM sizes this subscription may use, priced from libcloud's table."""
        if not self._sizes:
            self._list_sizes()
        return [Offer(s, catalog.price(s.type_name, self.region)) for s in self._sizes.values()]

    def resolve_image(self, image: str) -> str:
        if image.startswith("/subscriptions/"):
            return image
        urn = catalog.IMAGES.get(image, image)
        parts = urn.split(":")
        if len(parts) != 4:
            raise InvalidSpec("image", f"unknown image {image!r}: not a URN (publisher:offer:sku:version), an "
                                       f"image resource id, nor a known alias ({', '.join(sorted(catalog.IMAGES))})")
        try:
            with mapped(f"find image {urn}"):
                versions = self.compute.virtual_machine_images.list(self.region, parts[0], parts[1], parts[2])
        except NotFound:
            versions = []
        if not versions or (parts[3] != "latest" and parts[3] not in {v.name for v in versions}):
            raise InvalidSpec("image", f"no image {urn} in {self.region}")
        version = max((v.name for v in versions), key=_version_key) if parts[3] == "latest" else parts[3]
        with mapped(f"image {urn}"):
            found = _json(self.compute.virtual_machine_images.get(self.region, *parts[:3], version))
        plan = (found.get("properties") or {}).get("plan")
        if plan:  # a Marketplace image sold under a plan: the VM must name it
            self._plans[urn] = {k: plan[k] for k in ("name", "product", "publisher")}
        if (found.get("properties") or {}).get("hyperVGeneration") == "V2":
            self._uefi.add(urn)
        return urn

    # -- launching -----------------------------------------------------------------------

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        resources = self._client("resource").resource_groups
        with mapped(f"resource group {self.resource_group}"):
            if not resources.check_existence(self.resource_group):
                resources.create_or_update(self.resource_group, {"location": self.region,
                                                                 "tags": {tagging.MANAGED: "true"}})
        self._group_ready = True

    def _subnet(self, spec: VMSpec) -> str:
        """The subnet id: a named VNET[/SUBNET], or cloudvm's own network, made on first use."""
        wanted = spec.network.name or self.network
        vnet, _, subnet = (wanted or self.vnet).partition("/")
        subnet = subnet or "default"
        found = self._get(f"virtual network {vnet}", self.net.virtual_networks.get, vnet)
        if found is None and wanted:
            raise InvalidSpec("network.name", f"no virtual network {vnet!r} in resource group {self.resource_group}")
        if found is None:
            self._check([self._begin("vnet", vnet, {
                "location": self.region, "tags": {tagging.MANAGED: "true"}, "properties": {
                    "addressSpace": {"addressPrefixes": ["10.42.0.0/16"]},
                    "subnets": [{"name": "default", "properties": {"addressPrefix": "10.42.0.0/20"}}]}})])
        elif not any(s["name"] == subnet for s in found["properties"].get("subnets") or []):
            raise InvalidSpec("network.name", f"virtual network {vnet!r} has no subnet {subnet!r}")
        return f"{self._rid('Microsoft.Network', 'virtualNetworks', vnet)}/subnets/{subnet}"

    def prepare(self, requests: Sequence[LaunchRequest]) -> None:
        """The resource group and networks, and one list proving no name is another create's VM
        (a chain's PUTs would rewrite that VM's NIC)."""
        self._ensure_group()
        self._subnets = {}
        for request in requests:
            self._subnet_of(request.spec)
        held = self._vm_tokens()
        for request in requests:
            if held.get(request.spec.name, request.token) != request.token:
                raise AlreadyExists(f"a VM named {request.spec.name!r} already exists in {self.resource_group}")

    def _vm_tokens(self) -> dict[str, str | None]:
        """VM name -> the token of the create that made it, for the whole resource group."""
        with mapped("list VMs"):
            return {v.name: (v.tags or {}).get(tagging.TOKEN)
                    for v in self.compute.virtual_machines.list(self.resource_group)}

    def _subnet_of(self, spec: VMSpec) -> str:
        wanted = spec.network.name or self.network
        if wanted not in self._subnets:
            self._subnets[wanted] = self._subnet(spec)
        return self._subnets[wanted]

    launch_stages: ClassVar[tuple[str, ...]] = ("network", "nic")

    def stage(self, name: str, requests: Sequence[LaunchRequest]) -> list[Operation]:
        """A VM's security group and public IP (``network``), then its NIC (``nic``); every PUT is
        idempotent, and ``abandon`` removes the pieces of a create that failed for good."""
        if name == "network":
            made = self._made(("nsg", "ip"), requests)
            started = [op for r in requests for op in self._network_stage(r, made)]
        else:
            made = self._made(("nic",), requests)
            started = [self._nic(r, self._subnet_of(r.spec), made) for r in requests]
        return [op for op in started if op is not None]

    def _made(self, kinds: Sequence[str], requests: Sequence[LaunchRequest]) -> Made:
        """On a later try of a stage (the core's retry after a throttled or lost answer): the pieces the
        earlier ones made, one list per kind, so a throttled batch does not send every PUT again."""
        if retry.attempt() <= 1:
            return {}
        tokens = {r.token for r in requests}
        return {(kind, item["name"]): item for kind in kinds for item in self._listed(kind)
                if (item.get("tags") or {}).get(tagging.TOKEN) in tokens}

    def launch(self, requests: Sequence[LaunchRequest]) -> Started:
        return self._start_vms(list(requests), [self._vm_body(r) for r in requests])

    def _start_vms(self, requests: list[LaunchRequest], bodies: list[dict[str, Any]], user: str | None = None
                   ) -> Started:
        """The VMs' PUTs, once their NICs are there; the core waits for the whole batch's together."""
        made = self._made(("vm",), requests)
        vms = [self._vm(r, body, user, made) for r, body in zip(requests, bodies, strict=True)]
        return Started([r.spec.name for r in requests], [op for op in vms if op is not None])

    def abandon(self, requests: Sequence[LaunchRequest]) -> None:
        self._scrub({r.spec.name: r.token for r in requests})

    def _tags(self, request: LaunchRequest, user: str | None = None) -> dict[str, str]:
        user = request.spec.ssh.user if request.spec.ssh else user
        return {**request.tags, tagging.IMAGE: request.image, **({tagging.USER: user} if user else {})}

    def _network_stage(self, request: LaunchRequest, made: Made) -> list[Operation | None]:
        """The VM's own security group, only when it opens ports or faces the internet: without one,
        a NIC with no public IP is reached from its virtual network alone — what an empty
        group's default rules allow too — and each group is one more write."""
        names = _names(request.spec.name)
        tags = self._tags(request)
        rules = [self._rule(i, rule) for i, rule in enumerate(request.spec.network.ingress)]
        started = [self._begin("nsg", names["nsg"], {"location": self.region, "tags": tags,
                                                     "properties": {"securityRules": rules}}, made)
                   ] if _guarded(request.spec) else []
        if request.spec.network.public_ip:
            started.append(self._begin("ip", names["ip"], {"location": self.region, "tags": tags,
                                                           "sku": {"name": "Standard"},
                                                           "properties": {"publicIPAllocationMethod": "Static"}},
                                       made))
        return started

    @staticmethod
    def _rule(index: int, rule: Ingress) -> dict[str, Any]:
        ports = f"{rule.port}-{rule.to_port}" if rule.to_port and rule.to_port != rule.port else str(rule.port)
        return {"name": f"ingress-{index}", "properties": {
            "priority": 1000 + index, "direction": "Inbound", "access": "Allow", "protocol": rule.protocol.title(),
            "sourceAddressPrefix": rule.cidr, "sourcePortRange": "*", "destinationAddressPrefix": "*",
            "destinationPortRange": ports}}

    def _nic(self, request: LaunchRequest, subnet: str, made: Made) -> Operation | None:
        names = _names(request.spec.name)
        config: dict[str, Any] = {"subnet": {"id": subnet}}
        if request.spec.network.public_ip:
            config["publicIPAddress"] = {"id": self._rid("Microsoft.Network", "publicIPAddresses", names["ip"]),
                                         "properties": {"deleteOption": "Delete"}}
        guard = {"networkSecurityGroup": {"id": self._rid("Microsoft.Network", "networkSecurityGroups",
                                                          names["nsg"])}} if _guarded(request.spec) else {}
        body = {"location": self.region, "tags": self._tags(request), "properties": {
            "ipConfigurations": [{"name": "primary", "properties": config}], **guard}}
        return self._begin("nic", names["nic"], body, made)

    def _vm_body(self, request: LaunchRequest) -> dict[str, Any]:
        spec = request.spec
        reference: dict[str, str] = {"id": request.image} if request.image.startswith("/subscriptions/") else dict(
            zip(("publisher", "offer", "sku", "version"), request.image.split(":"), strict=True))
        data = [{"lun": i, "name": f"{spec.name}-data-{i}", "createOption": "Empty", "diskSizeGB": d.size_gib,
                 "managedDisk": {"storageAccountType": catalog.DISK_SKUS[d.tier], **_encryption_set(spec)},
                 "deleteOption": "Detach" if d.keep else "Delete"} for i, d in enumerate(spec.disks)]
        user = spec.ssh.user if spec.ssh else "cloudvm"
        keys = [{"path": f"/home/{user}/.ssh/authorized_keys", "keyData": k} for k in (spec.ssh.public_keys
                                                                                       if spec.ssh else [])]
        profile = {"computerName": spec.name, "adminUsername": user, "customData": _b64(cloudinit.user_data(spec)),
                   "linuxConfiguration": {"disablePasswordAuthentication": True, "ssh": {"publicKeys": keys}}}
        security = {"securityProfile": catalog.TRUSTED_LAUNCH} if request.image in self._uefi else {}
        return {**security, "storageProfile": {
            "imageReference": reference,
            "osDisk": {"name": _names(spec.name)["os"], "createOption": "FromImage", "deleteOption": "Delete",
                       "managedDisk": {"storageAccountType": catalog.OS_DISK_SKU, **_encryption_set(spec)},
                       **({"diskSizeGB": spec.root_disk_gib} if spec.root_disk_gib else {})},
            "dataDisks": data}, "osProfile": profile}

    def _vm(self, request: LaunchRequest, body: dict[str, Any], user: str | None, made: Made) -> Operation | None:
        names = _names(request.spec.name)
        nic = self._rid("Microsoft.Network", "networkInterfaces", names["nic"])
        full = {"location": self.region, "tags": self._tags(request, user),
                **({"plan": self._plans[request.image]} if request.image in self._plans else {}), "properties": {
            "hardwareProfile": {"vmSize": request.size.type_name},
            "networkProfile": {"networkInterfaces": [{"id": nic, "properties": {"primary": True,
                                                                                "deleteOption": "Delete"}}]},
            "diagnosticsProfile": BOOT_DIAGNOSTICS, **_priority(request.spec), **body}}
        try:
            # If-None-Match as a header: every SDK generation sends it
            return self._begin("vm", request.spec.name, full, made, headers={"If-None-Match": "*"})
        except AlreadyExists:
            found = self._get(f"VM {request.spec.name}", self.compute.virtual_machines.get, request.spec.name)
            if found is None or (found.get("tags") or {}).get(tagging.TOKEN) != request.token:
                raise AlreadyExists(f"a VM named {request.spec.name!r} already exists in "
                                    f"{self.resource_group}") from None
            # ours, from a try whose answer was lost: its provisioning goes on, to be waited for as it is
            return operations.running("vm", request.spec.name)

    def _scrub(self, tokens: Mapping[str, str]) -> None:
        """Remove every piece failed creates made, by VM name -> the create's token (best effort:
        the original error matters more)."""
        try:
            made = [name for name, token in self._vm_tokens().items() if name in tokens and token == tokens[name]]
            self._check([self._begin("vm", name) for name in made])
            self._remove_pieces(tokens)
        except CloudVMError:
            pass

    # -- describing ---------------------------------------------------------------------

    def describe(self, ids: Sequence[str] | None = None, tags: dict[str, str] | None = None) -> list[VM]:
        wanted = {tagging.MANAGED: "true", **(tags or {})}
        try:
            with mapped("list VMs"):
                vms = [_json(v) for v in self.compute.virtual_machines.list(self.resource_group, expand="instanceView")]
                nics = {n.id.lower(): _json(n) for n in self.net.network_interfaces.list(self.resource_group)}
                ips = {i.id.lower(): _json(i) for i in self.net.public_ip_addresses.list(self.resource_group)}
        except NotFound:
            return []
        chosen = [v for v in vms if (ids is None or v["name"] in ids) and tagging.matches(v.get("tags") or {}, wanted)]
        return [self._vm_record(v, nics, ips) for v in chosen]

    def _vm_record(self, vm: dict[str, Any], nics: dict[str, Any], ips: dict[str, Any]) -> VM:
        props = vm.get("properties") or {}
        statuses = (props.get("instanceView") or {}).get("statuses") or []
        provisioning, power = _status(statuses, "ProvisioningState/"), _status(statuses, "PowerState/")
        state = VMState.ERROR if provisioning == "failed" else VMState.STOPPING if provisioning == "deleting" else \
            _POWER.get(power, VMState.PENDING)
        private, public = [], []
        for ref in (props.get("networkProfile") or {}).get("networkInterfaces") or []:
            nic = (nics.get(ref["id"].lower()) or {}).get("properties") or {}
            for config in nic.get("ipConfigurations") or []:
                cprops = config.get("properties") or {}
                private += [cprops["privateIPAddress"]] if cprops.get("privateIPAddress") else []
                ip = (ips.get(((cprops.get("publicIPAddress") or {}).get("id") or "").lower()) or {}).get(
                    "properties") or {}
                public += [ip["ipAddress"]] if ip.get("ipAddress") else []
        storage = props.get("storageProfile") or {}
        disks = [(storage.get("osDisk") or {}, True), *((d, False) for d in storage.get("dataDisks") or [])]
        tags = vm.get("tags") or {}
        size = props.get("hardwareProfile", {}).get("vmSize", "")
        return VM(
            id=vm["name"], name=tags.get(tagging.NAME, vm["name"]), provider=self.name, state=state,
            size=self._sizes.get(size) or self._size(size), image=tags.get(tagging.IMAGE), region=vm["location"],
            zone=None, private_ips=tuple(private), public_ips=tuple(public),
            disks=tuple(DiskInfo(d.get("name", ""), float(d.get("diskSizeGB") or 0), root,
                                 "os" if root else f"lun{d.get('lun')}") for d, root in disks),
            tags={k: v for k, v in tags.items() if k not in OWN_TAGS}, ssh_user=tags.get(tagging.USER),
            created_at=_when(props.get("timeCreated")), spot=props.get("priority") == "Spot", raw=vm)

    def _size(self, name: str) -> ResolvedSize | None:
        if not self._sizes:
            self._list_sizes()
        return self._sizes.get(name)

    # -- lifecycle ------------------------------------------------------------------------

    def _each(self, verb: str, method: Callable[..., Any], ids: Sequence[str], missing_ok: bool = False) -> None:
        for name in ids:
            try:
                with mapped(f"{verb} {name}"):
                    method(self.resource_group, name, polling=False)
            except NotFound:
                if not missing_ok:
                    raise

    def console_output(self, vm: VM) -> str:
        """The serial log of boot diagnostics, read through the short-lived read-only SAS URI ARM hands out
        (https://learn.microsoft.com/azure/virtual-machines/boot-diagnostics)."""
        with mapped(f"console output of {vm.name}"):
            found = self.compute.virtual_machines.retrieve_boot_diagnostics_data(
                self.resource_group, vm.id, sas_uri_expiration_time_in_minutes=5)
        return read_blob(found.serial_console_log_blob_uri, self.options.get("connection_verify", True),
                         f"console output of {vm.name}")

    def start(self, ids: Sequence[str]) -> None:
        self._each("start", self.compute.virtual_machines.begin_start, ids)

    def stop(self, ids: Sequence[str], *, force: bool = False) -> None:
        """Deallocate: the VM stops and stops costing (a powered-off Azure VM is still billed)."""
        self._each("deallocate", self.compute.virtual_machines.begin_deallocate, ids)

    def reboot(self, ids: Sequence[str]) -> None:
        self._each("restart", self.compute.virtual_machines.begin_restart, ids)

    def terminate(self, ids: Sequence[str]) -> None:
        self._each("delete", self.compute.virtual_machines.begin_delete, ids, missing_ok=True)

    def release(self, vms: Sequence[VM]) -> None:
        """The security groups, whatever an interrupted delete left, and the network once unused."""
        self._remove_pieces(dict.fromkeys(vm.id for vm in vms))
        prefix = self._rid("Microsoft.Network", "virtualNetworks", self.vnet).lower() + "/"
        nics = self._listed("nic")
        in_use = any(((c.get("properties") or {}).get("subnet") or {}).get("id", "").lower().startswith(prefix)
                     for nic in nics for c in (nic.get("properties") or {}).get("ipConfigurations") or [])
        vnet = self._get(f"virtual network {self.vnet}", self.net.virtual_networks.get, self.vnet)
        if vnet and not in_use and (vnet.get("tags") or {}).get(tagging.MANAGED) == "true":
            self._check([self._begin("vnet", self.vnet)])

    def _remove_pieces(self, owners: Mapping[str, str | None]) -> None:
        """NICs, then public IPs and security groups, then disks of these VM names (name -> the
        create's token, or None for any of cloudvm's): one list per kind for the whole batch."""
        kinds = {"nic": "nic", "ip": "ip", "nsg": "nsg", "os": "disk"}  # a VM's piece -> its kind of resource
        found = {}
        for part, kind in kinds.items():
            wanted = {_names(vm)[part]: token for vm, token in owners.items()}
            found[part] = [i["name"] for i in self._listed(kind) if i["name"] in wanted
                           and _ours(i, wanted[i["name"]])]
        for stage in (["nic"], ["ip", "nsg"], ["os"]):
            self._check([self._begin(kinds[part], item) for part in stage for item in found[part]])

    def orphans(self) -> list[str]:
        """cloudvm's disks, NICs, public IPs and security groups that nothing uses."""
        found = []
        for kind, user in (("disk", "managedBy"), ("nic", "virtualMachine"), ("ip", "ipConfiguration"),
                           ("nsg", "networkInterfaces")):
            found += [f"{operations.KINDS[kind][2]} {i['name']} in {self.resource_group} (unused)"
                      for i in self._listed(kind)
                      if (i.get("tags") or {}).get(tagging.MANAGED) == "true"
                      and not (i.get(user) or (i.get("properties") or {}).get(user))]
        return found

    # -- snapshots -------------------------------------------------------------------------

    def snapshot(self, vm: VM, name: str, tags: dict[str, str]) -> Snapshot:
        """A crash-consistent restore point of every disk, in a restore point collection of its own."""
        token = tags[tagging.TOKEN]
        if any(snapshots.tags_of(c).get(tagging.NAME) == name and snapshots.tags_of(c).get(snapsets.SET) != token
               for c in self._collections()):
            raise AlreadyExists(f"a snapshot named {name!r} already exists in {self.resource_group}")
        self._restore_point(name, {"location": vm.region or self.region, "tags": {**tags, **snapsets.about(vm, token)},
                                   "properties": {"source": {"id": (vm.raw or {})["id"]}}},
                            {"consistencyMode": "CrashConsistent"})
        return self.describe_snapshots([token])[0]

    def _restore_point(self, name: str, collection: dict[str, Any], point: dict[str, Any]) -> None:
        """The collection, then its restore point (begun, not awaited). A retry finds the point
        there already: Azure never updates one, so a second PUT is not sent."""
        with mapped(f"restore point collection {name}"):
            self.compute.restore_point_collections.create_or_update(self.resource_group, name, collection)
        if self._get(f"restore point {name}", self.compute.restore_points.get, name, name) is None:
            with mapped(f"restore point {name}"):
                self.compute.restore_points.begin_create(self.resource_group, name, name, {"properties": point},
                                                         polling=False)

    def _collections(self) -> list[dict[str, Any]]:
        """cloudvm's restore point collections, as listed (without their restore points)."""
        return [c for c in self._listed("snapshot") if snapshots.tags_of(c).get(tagging.MANAGED) == "true"]

    def _expanded(self, collection: dict[str, Any]) -> dict[str, Any]:
        name = collection["name"]
        full = self._get(f"restore point collection {name}", self.compute.restore_point_collections.get, name,
                         expand="restorePoints") or collection
        made = snapshots.point(full)
        if made and snapsets.COPIED_FROM in snapshots.tags_of(full):
            view = self._get(f"restore point {name}", self.compute.restore_points.get, name, made["name"],
                             expand="instanceView")
            full["properties"]["restorePoints"] = [view or made]
        return full

    def _members(self) -> list[dict[str, Any]]:
        """cloudvm's managed snapshots that belong to a set (imported ones)."""
        return [s for s in self._listed("disksnap") if snapshots.tags_of(s).get(tagging.MANAGED) == "true"
                and snapsets.SET in snapshots.tags_of(s)]

    def describe_snapshots(self, ids: Sequence[str] | None = None,
                           tags: dict[str, str] | None = None) -> list[Snapshot]:
        def wanted(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [i for i in items if ids is None or snapshots.tags_of(i).get(snapsets.SET) in ids]

        found = snapshots.group([self._expanded(c) for c in wanted(self._collections())], wanted(self._members()),
                                self.name, self.region)
        return [s for s in found if tagging.matches(s.tags, tags)]

    def restore(self, snapshot: Snapshot, request: LaunchRequest) -> Started:
        """Managed disks from the restore point's disk restore points, then a new VM attaching them
        (what a failed restore made goes in ``abandon``)."""
        collection: dict[str, Any] = snapshot.raw or {}
        members = snapshots.disks(collection)
        if not members:
            raise ProviderError(f"snapshot {snapshot.name!r} is incomplete: it cannot be restored")
        if snapshot.region != self.region:
            raise ProviderError(f"snapshot {snapshot.name!r} is stored in {snapshot.region}; copy it to "
                                f"{self.region} first (copy_snapshot)")
        spec = request.spec
        names = [_names(spec.name)["os"] if d["lun"] is None else f"{spec.name}-data-{d['lun']}" for d in members]
        self._check([self._begin("disk", name, {
            "location": self.region, "tags": request.tags, "sku": {"name": disk["sku"] or catalog.OS_DISK_SKU},
            "properties": {**({"osType": "Linux"} if disk["lun"] is None else {}), **_disk_encryption(spec),
                           "creationData": {"createOption": disk["option"], "sourceResourceId": disk["source"]}}})
            for name, disk in zip(names, members, strict=True)])
        attach = [{"name": name, "createOption": "Attach", "deleteOption": "Delete",
                   "managedDisk": {"id": self._rid("Microsoft.Compute", "disks", name)},
                   **({"osType": "Linux"} if disk["lun"] is None else {"lun": int(disk["lun"])})}
                  for name, disk in zip(names, members, strict=True)]
        held = snapshots.security_type(collection)
        body = {"storageProfile": {"osDisk": attach[0], "dataDisks": attach[1:]},
                # the OS disk keeps the security type of the VM it came from, and a VM takes only its own
                **({"securityProfile": {**catalog.TRUSTED_LAUNCH, "securityType": held}} if held else {})}
        return self._start_vms([request], [body], snapshots.tags_of(collection).get(snapsets.USER))

    def delete_snapshot(self, snapshot: Snapshot) -> None:
        """The collection, and with it its restore point and disk restore points; or each member."""
        raw = snapshot.raw or {}
        if "members" in raw:
            self._check([self._begin("disksnap", m["name"]) for m in raw["members"]])
        else:
            self._check([self._begin("snapshot", raw["name"])])

    def copy_snapshot(self, snapshot: Snapshot, region: str) -> Snapshot:
        """A collection in ``region`` copying the restore point there; READY once every disk restore
        point has replicated."""
        source: dict[str, Any] = snapshot.raw or {}
        copy_set = f"{snapshot.id}-{region}"
        tags = {**snapshots.tags_of(source), snapsets.SET: copy_set, snapsets.COPIED_FROM: snapshot.id}
        if "members" in source:  # each managed snapshot copied on its own (CopyStart)
            self._check([self._begin("disksnap", f"{m['name']}-{region}", {
                "location": region, "tags": {**snapshots.tags_of(m), **tags}, "properties": {
                    "incremental": True, "creationData": {"createOption": "CopyStart", "sourceResourceId": m["id"]}}})
                for m in source["members"]])
            return self.describe_snapshots([copy_set])[0]
        made = snapshots.point(source)
        if made is None:
            raise ProviderError(f"snapshot {snapshot.name!r} is incomplete: it cannot be copied")
        self._restore_point(f"{source['name']}-{region}", {
            "location": region, "tags": tags, "properties": {"source": {"id": source["id"]}}},
            {"sourceRestorePoint": {"id": made["id"]}})
        return self.describe_snapshots([copy_set])[0]

    # -- VMs as files ---------------------------------------------------------------------

    def export_disk(self, snapshot: Snapshot, index: int, target: Path) -> None:
        """The member's bytes, read through a SAS URI granted for the while."""
        disk = snapshots.disks(snapshot.raw or {})[index]
        with self._access(disk["source"], "Read") as uri:
            transfer.download(uri, target, round(disk["size"] * 2**30), self.options.get("connection_verify"))

    def import_snapshot(self, manifest: Manifest, name: str, tags: dict[str, str], moved: Moved) -> Snapshot:
        """Each disk uploaded into a managed disk made for it, a snapshot taken of that, the disk
        removed: the set is the snapshots. A failure removes what it made."""
        set_id = tags.get(tagging.TOKEN) or uuid.uuid4().hex
        user = manifest.login()
        own = {**tags, snapsets.SET: set_id, snapsets.SOURCE: manifest.source_vm,
               snapsets.MEMBERS: str(len(manifest.disks)), **({snapsets.USER: user} if user else {})}
        generation = "V1" if portable.firmware(manifest.path(manifest.disks[0])) == "bios" else "V2"
        self._ensure_group()
        try:
            for index, disk in enumerate(manifest.disks):
                device = {snapsets.DEVICE: "os" if index == 0 else f"lun{index - 1}"}
                about = {"osType": "Linux", "hyperVGeneration": generation} if index == 0 else {}
                self._upload(f"{name}-{index}", manifest.path(disk), disk.size, {**own, **device}, about, moved)
        except BaseException:
            self._check([self._begin("disksnap", s["name"]) for s in self._listed("disksnap")
                         if snapshots.tags_of(s).get(snapsets.SET) == set_id])
            raise
        return self.describe_snapshots([set_id])[0]

    def _upload(self, name: str, image: Path, size: int, tags: dict[str, str], about: dict[str, str],
                moved: Moved) -> None:
        """A managed snapshot of ``name`` holding the image, through a disk made for the upload
        (``createOption: Upload``), which goes whatever happens."""
        disk = f"{name}-upload"
        self._check([self._begin("disk", disk, {
            "location": self.region, "tags": tags, "sku": {"name": catalog.OS_DISK_SKU}, "properties": {
                **about, "creationData": {"createOption": "Upload", "uploadSizeBytes": transfer.upload_size(size)}}})])
        try:
            rid = self._rid("Microsoft.Compute", "disks", disk)
            with self._access(rid, "Write") as uri:
                transfer.upload(uri, image, size, self.options.get("connection_verify"), moved)
            self._check([self._begin("disksnap", name, {"location": self.region, "tags": tags, "properties": {
                "incremental": True, "creationData": {"createOption": "Copy", "sourceResourceId": rid}}})])
        finally:
            self._check([self._begin("disk", disk)])

    @contextmanager
    def _access(self, rid: str, level: str) -> Iterator[str]:
        """A SAS URI to what ``rid`` holds (a disk, snapshot or disk restore point), revoked on the
        way out: an open one keeps it from being deleted, and is a credential."""
        parts = rid.split("/")
        group, args = ((self.compute.disk_restore_point, (parts[-5], parts[-3], parts[-1]))
                       if "/diskRestorePoints/" in rid else
                       (self.compute.snapshots if "/snapshots/" in rid else self.compute.disks, (parts[-1],)))
        with mapped(f"grant {level.lower()} access to {parts[-1]}"):
            uri = transfer.access_uri(group.begin_grant_access(self.resource_group, *args, {
                "access": level, "durationInSeconds": ACCESS_SECONDS}).result())
        try:
            yield uri
        finally:
            with mapped(f"revoke access to {parts[-1]}"):
                group.begin_revoke_access(self.resource_group, *args).result()


def _guarded(spec: VMSpec) -> bool:
    """Whether the VM gets its own network security group."""
    return bool(spec.network.ingress or spec.network.public_ip)


def _ours(item: dict[str, Any], token: str | None) -> bool:
    """cloudvm made it (for the create holding ``token``, when given) and no VM holds it."""
    tags = item.get("tags") or {}
    return tags.get(tagging.MANAGED) == "true" and (token is None or tags.get(tagging.TOKEN) == token) \
        and not item.get("managedBy")


def _version_key(version: str) -> tuple[int, ...]:
    """Image versions compare by their numbers (``24.04.202611010``), as Azure picks ``latest``."""
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _priority(spec: VMSpec) -> dict[str, Any]:
    """Azure Spot: evicted VMs deallocated (kept, disks and all) or deleted; a max price of -1 means
    evicted for capacity only, never for price (https://learn.microsoft.com/azure/virtual-machines/spot-vms)."""
    if spec.spot is None:
        return {}
    return {"priority": "Spot", "evictionPolicy": "Deallocate" if spec.spot.on_interruption == "stop" else "Delete",
            "billingProfile": {"maxPrice": spec.spot.max_price or -1}}


def _json(model: Any) -> dict[str, Any]:
    """A model as the REST API's JSON (the compute and network SDKs' models differ)."""
    serialize = getattr(model, "serialize", None)
    found: dict[str, Any] = serialize(keep_readonly=True) if callable(serialize) else model.as_dict()
    return found


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def _when(text: Any) -> datetime | None:
    if isinstance(text, datetime):
        return text
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None


def _encryption_set(spec: VMSpec) -> dict[str, Any]:
    """A VM's managed disk encrypted with the spec's disk encryption set (else the platform's key)."""
    return {"diskEncryptionSet": {"id": spec.encryption_key}} if spec.encryption_key else {}


def _disk_encryption(spec: VMSpec) -> dict[str, Any]:
    """A standalone managed disk encrypted with the spec's disk encryption set (else the platform's key)."""
    return {"encryption": {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": spec.encryption_key}
            } if spec.encryption_key else {}
