"""The methods clients call besides cloudvm's, and the rules Resource
Manager enforces, each answered as Azure answers: resource groups deleted
whole, parents required, paths and enums read without regard to case,
bodies read into their documented types, subscription-wide lists, PATCH,
extensions, images, quotas, names, sign-in, and 501 for the rest."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cloudvm_azure.testing import SUBSCRIPTION, FakeResourceManager

COMPUTE_API, NETWORK_API = "api-version=2024-07-01", "api-version=2024-01-01"
SUB = f"/subscriptions/{SUBSCRIPTION}"


class Group:
    """A resource group of its own for one test, with helpers that follow operations to the end."""

    def __init__(self, arm: FakeResourceManager) -> None:
        self.arm, self.name = arm, f"rules-{uuid.uuid4().hex[:8]}"
        self.path = f"{SUB}/resourceGroups/{self.name}"
        assert arm.request("PUT", f"{self.path}?api-version=2021-04-01", {"location": "eastus"})[0] == 201

    def at(self, kind: str, name: str = "", api: str = COMPUTE_API) -> str:
        return f"{self.path}/providers/{kind}{'/' + name if name else ''}?{api}"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A request; a long-running answer is followed to the end, as the SDKs do."""
        status, headers, answer = self.arm.request(method, path, body)
        poll = headers.get("Azure-AsyncOperation") or headers.get("Location")
        deadline = time.monotonic() + 10
        while poll and status in (200, 201, 202) and time.monotonic() < deadline:
            done = self.arm.request("GET", poll.split(self.arm.url, 1)[1])
            if done[0] == 200 and (done[2] is None or done[2].get("status") != "InProgress"):
                break
            time.sleep(0.02)
        return status, answer

    def network(self, vnet: str = "net", prefix: str = "10.5.0.0/16") -> str:
        self.call("PUT", self.at("Microsoft.Network/virtualNetworks", vnet, NETWORK_API), {
            "location": "eastus", "properties": {"addressSpace": {"addressPrefixes": [prefix]}}})
        subnet = self.at(f"Microsoft.Network/virtualNetworks/{vnet}/subnets", "default", NETWORK_API)
        assert self.call("PUT", subnet, {"properties": {"addressPrefix": prefix.replace("/16", "/24")}})[0] in (200,
                                                                                                            201)
        return subnet.split("?")[0]

    def nic(self, name: str, subnet: str) -> str:
        path = self.at("Microsoft.Network/networkInterfaces", name, NETWORK_API)
        self.call("PUT", path, {"location": "eastus", "properties": {"ipConfigurations": [
            {"name": "ip", "properties": {"subnet": {"id": subnet}}}]}})
        return path.split("?")[0]

    def vm(self, name: str, nic: str, **changes: Any) -> tuple[int, Any]:
        body = {"location": "eastus", "properties": {
            "hardwareProfile": {"vmSize": "Standard_B2s"},
            "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                                  "sku": "server", "version": "latest"},
                               "osDisk": {"createOption": "FromImage", "deleteOption": "Delete"}},
            "osProfile": {"computerName": name, "adminUsername": "ops", "linuxConfiguration": {
                "disablePasswordAuthentication": True}},
            "networkProfile": {"networkInterfaces": [{"id": nic}]}}}
        for key, value in changes.items():
            body["properties"][key] = value
        return self.call("PUT", self.at("Microsoft.Compute/virtualMachines", name), body)

    def delete(self) -> None:
        self.call("DELETE", f"{self.path}?api-version=2021-04-01")


@pytest.fixture
def group(arm: FakeResourceManager) -> Iterator[Group]:
    made = Group(arm)
    yield made
    made.delete()
    assert arm.violations == []


def test_deleting_a_resource_group_deletes_everything_in_it(arm: FakeResourceManager, group: Group) -> None:
    group.vm("doomed", group.nic("doomed-nic", group.network()))
    status, headers, _ = arm.request("DELETE", f"{group.path}?api-version=2021-04-01")
    assert status == 202 and "/operationresults/" in headers["Location"]
    assert arm.request("GET", f"{group.path}?api-version=2021-04-01")[2]["properties"]["provisioningState"] == \
        "Deleting"
    status, _, body = arm.request("PUT", group.at("Microsoft.Compute/disks", "late"), {
        "location": "eastus", "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}})
    assert status == 409 and body["error"]["code"] == "ResourceGroupBeingDeleted"
    location = headers["Location"].split(arm.url, 1)[1]
    deadline = time.monotonic() + 10
    while arm.request("GET", location)[0] == 202 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert arm.request("GET", location)[0] == 200
    assert arm.request("HEAD", f"{group.path}?api-version=2021-04-01")[0] == 404
    assert [r for r in arm.resources() if f"/resourcegroups/{group.name}/" in r["id"].lower()] == []


def test_a_child_needs_its_parent(group: Group) -> None:
    status, body = group.call("PUT", group.at("Microsoft.Network/virtualNetworks/nowhere/subnets", "s", NETWORK_API),
                              {"properties": {"addressPrefix": "10.0.0.0/24"}})
    assert status == 404 and body["error"]["code"] == "ParentResourceNotFound"
    status, body = group.call("PUT", group.at("Microsoft.Compute/virtualMachines/nowhere/extensions", "e"), {
        "location": "eastus", "properties": {"publisher": "p", "type": "t", "typeHandlerVersion": "1.0"}})
    assert status == 404 and body["error"]["code"] == "ParentResourceNotFound"
    subnet = group.network()
    status, body = group.call("PUT", group.at("Microsoft.Network/virtualNetworks/net/subnets", "outside",
                                              NETWORK_API), {"properties": {"addressPrefix": "192.168.0.0/24"}})
    assert status == 400 and body["error"]["code"] == "NetcfgSubnetRangeOutsideVnet"
    status, body = group.call("PUT", group.at("Microsoft.Network/networkInterfaces", "n", NETWORK_API), {
        "location": "eastus", "properties": {"ipConfigurations": [
            {"name": "ip", "properties": {"subnet": {"id": subnet.replace("/default", "/none")}}}]}})
    assert status == 400 and body["error"]["code"] == "InvalidResourceReference"


def test_paths_and_enums_are_read_without_regard_to_case(arm: FakeResourceManager, group: Group) -> None:
    group.vm("cased", group.nic("cased-nic", group.network()))
    vm = group.at("Microsoft.Compute/virtualMachines", "cased").split("?")[0]
    for spelling in ("instanceView", "InstanceView", "INSTANCEVIEW"):
        status, _, view = arm.request("GET", f"{vm}/{spelling}?{COMPUTE_API}")
        assert status == 200 and view["statuses"][0]["code"].startswith("ProvisioningState/"), spelling
    assert group.call("POST", f"{vm}/poweroff?{COMPUTE_API}")[0] == 202
    assert arm.request("GET", f"{vm}/instanceview?{COMPUTE_API}")[2]["statuses"][1]["code"] == "PowerState/stopped"
    assert group.call("POST", f"{vm.upper().replace('/SUBSCRIPTIONS/', '/subscriptions/')}/Start?{COMPUTE_API}")[0] \
        == 202
    assert arm.request("GET", f"{vm}/instanceView?{COMPUTE_API}")[2]["statuses"][1]["code"] == "PowerState/running"
    status, _, body = arm.request("GET", f"{vm}/notAnAction?{COMPUTE_API}")
    assert status == 501 and "not served" in body["error"]["message"]
    data = group.at("Microsoft.Compute/disks", "cased-data")
    group.call("PUT", data, {"location": "eastus", "properties": {"creationData": {"createOption": "empty"},
                                                                  "diskSizeGB": 2}})
    assert arm.request("GET", data)[2]["properties"]["creationData"]["createOption"] == "Empty"


def test_bodies_are_read_into_their_documented_types(arm: FakeResourceManager, group: Group) -> None:
    subnet = group.network()
    path = group.at("Microsoft.Network/networkInterfaces", "typed", NETWORK_API)
    status, body = group.call("PUT", path, {"location": "eastus", "properties": {
        "enableAcceleratedNetworking": "false", "ipConfigurations": [{"name": "ip", "properties": {
            "subnet": {"id": subnet}}}]}})
    assert status == 201 and body["properties"]["enableAcceleratedNetworking"] is False
    disk = group.at("Microsoft.Compute/disks", "typed-disk")
    group.call("PUT", disk, {"location": "eastus", "properties": {"creationData": {"createOption": "Empty"},
                                                                  "diskSizeGB": "4"}})
    assert arm.request("GET", disk)[2]["properties"]["diskSizeGB"] == 4
    status, body = group.call("PUT", path, {"location": "eastus", "properties": {
        "enableAcceleratedNetworking": "maybe", "ipConfigurations": []}})
    assert status == 400 and body["error"]["code"] == "InvalidRequestContent"
    assert "enableAcceleratedNetworking" in body["error"]["message"]


def test_subscription_wide_lists(arm: FakeResourceManager, group: Group) -> None:
    group.vm("listed", group.nic("listed-nic", group.network()))
    group.call("PUT", group.at("Microsoft.Network/publicIPAddresses", "listed-ip", NETWORK_API),
               {"location": "eastus", "sku": {"name": "Standard"}})
    for kind, name, api in [("Microsoft.Compute/virtualMachines", "listed", COMPUTE_API),
                            ("Microsoft.Compute/disks", "listed_OsDisk", COMPUTE_API),
                            ("Microsoft.Network/virtualNetworks", "net", NETWORK_API),
                            ("Microsoft.Network/networkInterfaces", "listed-nic", NETWORK_API),
                            ("Microsoft.Network/publicIPAddresses", "listed-ip", NETWORK_API)]:
        status, _, body = arm.request("GET", f"{SUB}/providers/{kind}?{api}")
        names = [r["name"] for r in body["value"] if f"/resourceGroups/{group.name}/" in r["id"]]
        assert status == 200 and any(n.startswith(name) for n in names), kind
    status, _, body = arm.request("GET", f"{SUB}/locations?api-version=2022-12-01")
    assert status == 200 and {"eastus", "westeurope"} <= {loc["name"] for loc in body["value"]}
    groups = arm.request("GET", f"{SUB}/resourcegroups?api-version=2021-04-01")[2]["value"]
    assert group.name in [g["name"] for g in groups]


def test_patch_updates_tags_and_properties(arm: FakeResourceManager, group: Group) -> None:
    nic = group.nic("patched-nic", group.network())
    group.vm("patched", nic)
    vm = group.at("Microsoft.Compute/virtualMachines", "patched")
    status, body = group.call("PATCH", vm, {"tags": {"env": "qa"}})
    assert status == 200 and body["tags"] == {"env": "qa"}
    assert arm.request("GET", vm)[2]["properties"]["storageProfile"]["osDisk"]["createOption"] == "FromImage"
    disk = group.at("Microsoft.Compute/disks", "patched-disk")
    group.call("PUT", disk, {"location": "eastus", "properties": {"creationData": {"createOption": "Empty"},
                                                                  "diskSizeGB": 4}})
    assert group.call("PATCH", disk, {"properties": {"diskSizeGB": 8}, "tags": {"a": "b"}})[0] == 202
    assert arm.request("GET", disk)[2]["properties"]["diskSizeGB"] == 8
    status, body = group.call("PATCH", disk, {"properties": {"diskSizeGB": 2}})
    assert status == 409 and body["error"]["code"] == "OperationNotAllowed"  # disks only grow
    snap = group.at("Microsoft.Compute/snapshots", "patched-snap")
    group.call("PUT", snap, {"location": "eastus", "properties": {"creationData": {
        "createOption": "Copy", "sourceResourceId": disk.split("?")[0]}}})
    assert group.call("PATCH", snap, {"tags": {"kept": "yes"}})[0] == 202
    assert arm.request("GET", snap)[2]["tags"] == {"kept": "yes"}
    group.call("PUT", group.at("Microsoft.Network/publicIPAddresses", "patched-ip", NETWORK_API),
               {"location": "eastus", "sku": {"name": "Standard"}})
    for kind, name in [("networkInterfaces", "patched-nic"), ("virtualNetworks", "net"),
                       ("publicIPAddresses", "patched-ip")]:
        status, body = group.call("PATCH", group.at(f"Microsoft.Network/{kind}", name, NETWORK_API),
                                  {"tags": {"t": "1"}})
        assert status == 200 and body["tags"] == {"t": "1"}, kind


def test_vm_extensions(arm: FakeResourceManager, group: Group) -> None:
    group.vm("extended", group.nic("extended-nic", group.network()))
    ext = group.at("Microsoft.Compute/virtualMachines/extended/extensions", "agent")
    status, body = group.call("PUT", ext, {"location": "eastus", "properties": {
        "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
        "protectedSettings": {"commandToExecute": "secret"}}})
    assert status == 201 and "protectedSettings" not in body["properties"]
    listed = arm.request("GET", group.at("Microsoft.Compute/virtualMachines/extended/extensions"))[2]["value"]
    assert [e["name"] for e in listed] == ["agent"]
    vm = arm.request("GET", group.at("Microsoft.Compute/virtualMachines", "extended"))[2]
    assert [r["name"] for r in vm["resources"]] == ["agent"]
    assert group.call("PATCH", ext, {"properties": {"autoUpgradeMinorVersion": True}})[0] == 200
    assert group.call("DELETE", ext)[0] == 202
    assert arm.request("GET", ext)[0] == 404


def test_images_from_a_snapshot_or_a_disk(arm: FakeResourceManager, group: Group) -> None:
    disk = group.at("Microsoft.Compute/disks", "image-source")
    group.call("PUT", disk, {"location": "eastus", "properties": {"creationData": {"createOption": "Empty"},
                                                                  "diskSizeGB": 5}})
    snap = group.at("Microsoft.Compute/snapshots", "image-snap")
    group.call("PUT", snap, {"location": "eastus", "properties": {"creationData": {
        "createOption": "Copy", "sourceUri": disk.split("?")[0]}}})
    for name, source in [("from-snap", {"snapshot": {"id": snap.split("?")[0].lstrip("/")}}),  # ARM takes either
                         ("from-disk", {"managedDisk": {"id": disk.split("?")[0]}})]:
        status, body = group.call("PUT", group.at("Microsoft.Compute/images", name), {
            "location": "eastus", "properties": {"storageProfile": {"osDisk": {
                "osType": "Linux", "osState": "Generalized", **source}}}})
        assert status == 201 and body["properties"]["storageProfile"]["osDisk"]["diskSizeGB"] == 5, name
    status, body = group.call("PUT", group.at("Microsoft.Compute/images", "no-source"), {
        "location": "eastus", "properties": {"storageProfile": {"osDisk": {"osType": "Linux",
                                                                          "osState": "Generalized"}}}})
    assert status == 400


def test_what_is_in_use_cannot_be_deleted(group: Group) -> None:
    subnet = group.network()
    nic = group.nic("used-nic", subnet)
    group.vm("user", nic)
    for path, code in [(f"{nic}?{NETWORK_API}", "NicInUse"),
                       (f"{subnet}?{NETWORK_API}", "InUseSubnetCannotBeDeleted"),
                       (group.at("Microsoft.Network/virtualNetworks", "net", NETWORK_API),
                        "InUseSubnetCannotBeDeleted"),
                       (group.at("Microsoft.Compute/disks", "user_OsDisk"), None)]:
        if code is None:  # the OS disk, named by Azure: find it
            disks = group.call("GET", group.at("Microsoft.Compute/disks"))[1]["value"]
            path = group.at("Microsoft.Compute/disks", disks[0]["name"])
            code = "OperationNotAllowed"
        status, body = group.call("DELETE", path)
        assert status in (400, 409) and body["error"]["code"] == code, path


def test_names_and_custom_data_are_held_to_azures_rules(group: Group) -> None:
    nic = group.nic("named-nic", group.network())
    status, body = group.vm("bad_name", nic)
    assert status == 400 and body["error"]["target"] == "vmName"
    status, body = group.vm("windows", nic, storageProfile={
        "imageReference": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2016-Datacenter",
                           "version": "latest"}, "osDisk": {"createOption": "FromImage"}},
        osProfile={"computerName": "a-very-long-windows-name", "adminUsername": "ops", "adminPassword": "Pa55word!!"})
    assert status == 400 and body["error"]["target"] == "computerName"
    big = base64.b64encode(b"x" * 70000).decode()
    status, body = group.vm("fat", nic, osProfile={"computerName": "fat", "adminUsername": "ops", "customData": big})
    assert status == 400 and body["error"]["target"] == "customData" and "87380" in body["error"]["message"]


def test_administrators_and_keys_are_held_to_azures_rules(group: Group) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    nic = group.nic("login-nic", group.network())
    ecdsa = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    for profile, target in [({"adminUsername": "administrator"}, "adminUsername"),
                            ({"adminUsername": "ops", "linuxConfiguration": {"ssh": {"publicKeys": [
                                {"path": "/home/ops/.ssh/authorized_keys", "keyData": ecdsa}]}}},
                             "linuxConfiguration.ssh.publicKeys.keyData")]:
        status, body = group.vm("login", nic, osProfile={"computerName": "login", **profile})
        assert status == 400 and body["error"]["target"] == target


def test_the_provider_refuses_up_front_exactly_the_names_the_fake_refuses() -> None:
    """The provider's list is what lets a spec fail before anything is made; it must not drift from the rule."""
    from cloudvm_azure.catalog import RESERVED_USERS
    from cloudvm_azure_testing.fake.catalog import RESERVED_ADMIN_NAMES

    assert RESERVED_USERS == RESERVED_ADMIN_NAMES


def test_a_restricted_size_is_listed_so_and_refused(arm: FakeResourceManager, group: Group) -> None:
    arm.restrict("Standard_B2s")
    skus = arm.request("GET", f"{SUB}/providers/Microsoft.Compute/skus?{COMPUTE_API}&$filter=location%20eq%20"
                              "%27eastus%27")[2]["value"]
    b2s = next(s for s in skus if s["name"] == "Standard_B2s")
    assert b2s["restrictions"][0]["reasonCode"] == "NotAvailableForSubscription"
    assert {c["name"]: c["value"] for c in b2s["capabilities"]}["vCPUs"] == "2"
    status, body = group.vm("restricted", group.nic("restricted-nic", group.network()))
    assert status == 409 and body["error"]["code"] == "SkuNotAvailable"


def test_an_image_sold_under_a_plan_needs_it_named(group: Group) -> None:
    nic = group.nic("plan-nic", group.network())
    rocky = {"imageReference": {"publisher": "resf", "offer": "rockylinux-x86_64", "sku": "9-base",
                                "version": "latest"}, "osDisk": {"createOption": "FromImage"}}
    status, body = group.vm("unplanned", nic, storageProfile=rocky)
    assert status == 400 and body["error"]["code"] == "VMMarketplaceInvalidInput"
    version = group.arm.request("GET", f"{SUB}/providers/Microsoft.Compute/locations/eastus/publishers/resf/"
                                       f"artifacttypes/vmimage/offers/rockylinux-x86_64/skus/9-base/versions/"
                                       f"9.5.20241118?{COMPUTE_API}")[2]
    assert version["properties"]["plan"]["product"] == "rockylinux-x86_64"


def test_trusted_launch_takes_generation_2_and_its_own_disks(arm: FakeResourceManager, group: Group) -> None:
    subnet = group.network()
    trusted = {"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}
    gen1 = {"imageReference": {"publisher": "Debian", "offer": "debian-12", "sku": "12", "version": "latest"},
            "osDisk": {"createOption": "FromImage"}}
    status, body = group.vm("gen1", group.nic("gen1-nic", subnet), storageProfile=gen1, securityProfile=trusted)
    assert status == 400 and body["error"]["target"] == "securityProfile.securityType"
    assert group.vm("tl", group.nic("tl-nic", subnet), securityProfile=trusted)[0] == 201
    os_disk = next(d for d in group.call("GET", group.at("Microsoft.Compute/disks"))[1]["value"]
                   if d["name"].startswith("tl_OsDisk"))
    assert os_disk["properties"]["securityProfile"] == {"securityType": "TrustedLaunch"}
    snap = group.at("Microsoft.Compute/snapshots", "tl-snap")
    group.call("PUT", snap, {"location": "eastus", "properties": {"creationData": {
        "createOption": "Copy", "sourceResourceId": os_disk["id"]}}})
    copy = group.at("Microsoft.Compute/disks", "tl-copy")
    group.call("PUT", copy, {"location": "eastus", "properties": {"osType": "Linux", "creationData": {
        "createOption": "Copy", "sourceResourceId": snap.split("?")[0]}}})
    assert arm.request("GET", copy)[2]["properties"]["securityProfile"]["securityType"] == "TrustedLaunch"
    attached = {"osDisk": {"createOption": "Attach", "osType": "Linux", "managedDisk": {"id": copy.split("?")[0]}}}
    status, body = group.vm("standard", group.nic("standard-nic", subnet), storageProfile=attached)
    assert status == 400 and "security type" in body["error"]["message"]
    assert group.vm("tl-again", group.nic("again-nic", subnet), storageProfile=attached,
                    securityProfile=trusted)[0] == 201


def test_core_quotas(arm: FakeResourceManager, group: Group) -> None:
    def usage() -> dict[str, Any]:
        usages = arm.request("GET", f"{SUB}/providers/Microsoft.Compute/locations/eastus/usages?{COMPUTE_API}")[2]
        return next(u for u in usages["value"] if u["name"]["value"] == "standardBSFamily")

    subnet = group.network()
    before = usage()["currentValue"]  # other tests' VMs may share the subscription
    group.vm("first", group.nic("first-nic", subnet))
    assert usage()["currentValue"] == before + 2  # Standard_B2s: 2 cores each
    arm.set_quota("standardBSFamily", before + 3)
    status, body = group.vm("second", group.nic("second-nic", subnet))
    assert status == 409 and body["error"]["code"] == "OperationNotAllowed"
    assert "exceeding approved standardBSFamily Cores quota" in body["error"]["message"]
    assert usage()["limit"] == before + 3
    vm = group.at("Microsoft.Compute/virtualMachines", "first").split("?")[0]
    group.call("POST", f"{vm}/deallocate?{COMPUTE_API}")
    assert group.vm("second", group.nic("second-nic", subnet))[0] == 201  # a deallocated VM holds no cores
    status, body = group.call("POST", f"{vm}/start?{COMPUTE_API}")
    assert status == 409 and "Cores quota" in body["error"]["message"]
    with pytest.raises(ValueError, match="standardBSFamily"):
        arm.set_quota("standardNoSuchFamily", 1)


def test_sign_in_and_bearer_tokens(arm: FakeResourceManager) -> None:
    form = b"grant_type=client_credentials&client_id=app&client_secret=s&resource=https%3A%2F%2Fmanagement.core." \
           b"windows.net%2F"
    status, _, token = arm.request("POST", "/tenant/oauth2/token", raw=form,
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and token["token_type"] == "Bearer" and int(token["expires_on"]) > time.time()
    status, _, token = arm.request("POST", "/tenant/oauth2/v2.0/token", raw=form.replace(b"resource", b"scope"),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and token["expires_in"] == 3599
    status, _, body = arm.request("POST", "/tenant/oauth2/token", raw=b"grant_type=client_credentials")
    assert status == 400 and body["error"] == "invalid_request"
    status, _, body = arm.request("GET", f"{SUB}/resourcegroups?api-version=2021-04-01", headers={"Authorization": ""})
    assert status == 401 and body["error"]["code"] == "AuthenticationFailed"


def test_a_method_the_fake_does_not_serve_answers_501_naming_it(arm: FakeResourceManager, group: Group) -> None:
    for path in (group.at("Microsoft.Compute/availabilitySets", "a"),
                 group.at("Microsoft.Storage/storageAccounts", "s"),
                 f"{SUB}/providers/Microsoft.Compute/galleries?{COMPUTE_API}"):
        status, _, body = arm.request("GET", path)
        assert status == 501 and body["error"]["code"] == "NotImplemented" and path.split("?")[0] in body["error"][
            "message"]
    status, _, body = arm.request("GET", group.at("Microsoft.Compute/virtualMachines", "missing"))
    assert status == 404 and body["error"]["code"] == "ResourceNotFound"  # served: a missing resource


def test_the_documentation_says_what_is_served() -> None:
    from pathlib import Path

    from cloudvm_azure_testing.fake.routes import ACTIONS, KINDS

    readme = (Path(__file__).parents[3] / "docs" / "providers" / "azure.md").read_text()
    table = readme.split("<!-- azure:served -->", 1)[1].split("<!-- /azure:served -->", 1)[0]
    rows = {row.strip("|").split("|")[0].strip() for row in table.strip().splitlines()[2:]}
    assert set(KINDS) <= rows
    assert all(action in table for actions in ACTIONS.values() for action in actions)


def test_cloudvm_is_held_to_the_shipped_roles(arm: FakeResourceManager) -> None:
    """FakeCredential() (cloudvm) holds cloudvm_azure/permissions and nothing more; others may do anything."""
    from cloudvm_azure.testing import CLOUDVM_TOKEN, ROLES

    path = f"{SUB}/providers/Microsoft.Compute/locations/eastus/usages?{COMPUTE_API}"
    status, _, body = arm.request("GET", path, headers={"Authorization": f"Bearer {CLOUDVM_TOKEN}"})
    assert status == 403 and body["error"]["code"] == "AuthorizationFailed"
    assert "'Microsoft.Compute/locations/usages/read'" in body["error"]["message"]
    assert arm.request("GET", path)[0] == 200  # the harness's token
    for role in ROLES.glob("*.json"):
        loaded = json.loads(role.read_text())
        assert loaded["IsCustom"] and all("*" not in action for action in loaded["Actions"])
