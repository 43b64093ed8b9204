"""Client code nobody here wrote, against the fake: Apache Libcloud's Azure
ARM driver through its main flows (signing in at the fake's token endpoint),
and Azure's published management samples, made as they make them with only
the endpoint changed (``arm.patch_clients()``):
Azure-Samples/azure-samples-python-management samples/compute/
manage_virtual_machine.py and manage_snapshot.py, and the VM flow of
Azure-Samples/virtual-machines-python-manage example.py (written for the
SDK's first generation: ``create_or_update`` is ``begin_create_or_update``
since).

The samples pass plain dicts in the SDK models' own spelling
(``{"address_space": ...}``), which the SDK generation they were written for
turns into Resource Manager's JSON; the newest azure-mgmt-network and
azure-mgmt-compute send a dict as it is (so these bodies would fail against
Azure too). ``nox -s lowest`` runs them with that generation (the
lowest versions the provider declares); elsewhere they are skipped, saying so."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from cloudvm_azure.testing import SUBSCRIPTION, FakeResourceManager


def _dicts_become_models() -> bool:
    from azure.mgmt.compute.models import VirtualMachine
    from azure.mgmt.network.models import VirtualNetwork

    return hasattr(VirtualMachine, "_attribute_map") and hasattr(VirtualNetwork, "_attribute_map")


samples = pytest.mark.skipif(not _dicts_become_models(), reason="the samples' dict bodies need the SDK generation "
                             "they were written for: nox -s lowest runs them")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"
NETWORK_API = "api-version=2024-01-01"


def gone(arm: FakeResourceManager, group: str) -> list[str]:
    """What is left in a resource group once its deletion has run."""
    time.sleep(arm.timing.delete * 3)
    return [r["id"] for r in arm.resources() if f"/resourcegroups/{group}/" in r["id"].lower()]


@pytest.fixture
def libcloud_azure(arm: FakeResourceManager, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Libcloud's driver pointed at the fake: Resource Manager and the token endpoint on its port."""
    import libcloud.security
    from libcloud.compute.providers import Provider, get_driver

    monkeypatch.setattr(libcloud.security, "CA_CERTS_PATH", arm.ca_file)
    host, port = arm.url.removeprefix("https://").split(":")
    base = get_driver(Provider.AZURE_ARM)

    class Connection(base.connectionCls):  # type: ignore[misc, name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.port, self.login_host = int(port), f"{host}:{port}"  # the driver signs in on port 443 otherwise

    class Driver(base):  # type: ignore[misc, valid-type]
        connectionCls = Connection

    environment = {"resourceManagerEndpointUrl": f"{arm.url}/", "activeDirectoryEndpointUrl": arm.url,
                   "activeDirectoryResourceId": "https://management.core.windows.net/",
                   "storageEndpointSuffix": "core.windows.net"}
    yield Driver(tenant_id="tenant", subscription_id=SUBSCRIPTION, key="app", secret="secret",
                 cloud_environment=environment, region="eastus")
    assert arm.violations == []


def test_libcloud_azure_main_flows(libcloud_azure: Any, arm: FakeResourceManager) -> None:
    from libcloud.compute.base import NodeAuthSSHKey

    d, group = libcloud_azure, "libcloud"
    arm.request("PUT", f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{group}?api-version=2021-04-01",
                {"location": "eastus"})
    arm.request("PUT", f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Network/"
                       f"virtualNetworks/lcnet?{NETWORK_API}", {"location": "eastus", "properties": {
                           "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
                           "subnets": [{"name": "default", "properties": {"addressPrefix": "10.1.0.0/24"}}]}})
    location = d.default_location
    assert "eastus" in [loc.id for loc in d.list_locations()]
    size = next(s for s in d.list_sizes(location) if s.id == "Standard_B2s")
    assert "Canonical" in {i.id.split(":")[0] for i in d.list_images(ex_publisher="Canonical")}
    image = d.get_image("Canonical:ubuntu-24_04-lts:server:latest")
    assert group in [g.name for g in d.ex_list_resource_groups()]
    assert d.ex_create_network_security_group("lc-nsg", group, location=location) is None
    node = d.create_node("lc-node", size, image, NodeAuthSSHKey(KEY), ex_resource_group=group,
                         ex_use_managed_disks=True, ex_network="lcnet", location=location, ex_user_name="ops")
    assert node.private_ips and [n.name for n in d.list_nodes(group)] == ["lc-node"]
    node = d.list_nodes(group)[0]
    d.stop_node(node)
    d.start_node(node)
    assert d.reboot_node(node)
    d.ex_create_tags(node, {"team": "qa"})
    assert d.list_nodes(group)[0].extra["tags"] == {"team": "qa"}
    volume = d.create_volume(4, "lc-volume", location=location, ex_resource_group=group)
    assert "lc-volume" in [v.name for v in d.list_volumes()]
    assert d.attach_volume(d.list_nodes(group)[0], volume)
    attached = d.list_nodes(group)[0].extra["properties"]["storageProfile"]["dataDisks"]
    assert [a["managedDisk"]["id"].lower() for a in attached] == [volume.id.lower()]
    assert d.detach_volume(volume, ex_node=d.list_nodes(group)[0])
    volume = d.ex_resize_volume(volume, 8, group)
    assert volume.size == 8
    snapshot = d.create_volume_snapshot(volume, "lc-snapshot", location=location, ex_resource_group=group)
    assert "lc-snapshot" in [s.name for s in d.list_snapshots()]
    assert d.destroy_volume_snapshot(snapshot) and d.destroy_volume(volume)
    assert d.destroy_node(d.list_nodes(group)[0], ex_destroy_vhd=True, ex_destroy_nic=True)
    d.ex_delete_network_security_group("lc-nsg", group, location=location)
    assert d.list_nodes(group) == []
    arm.request("DELETE", f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{group}?api-version=2021-04-01")
    assert gone(arm, group) == []


def _clients() -> tuple[Any, Any, Any]:
    """The three clients, made as the samples make them."""
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.resource import ResourceManagementClient  # type: ignore[attr-defined]

    return (ResourceManagementClient(credential=DefaultAzureCredential(), subscription_id=SUBSCRIPTION),
            NetworkManagementClient(credential=DefaultAzureCredential(), subscription_id=SUBSCRIPTION),
            ComputeManagementClient(credential=DefaultAzureCredential(), subscription_id=SUBSCRIPTION))


def _nic(network: Any, group: str, location: str, vnet: str, subnet: str, nic: str) -> Any:
    network.virtual_networks.begin_create_or_update(group, vnet, {
        "location": location, "address_space": {"address_prefixes": ["10.0.0.0/16"]}}).result()
    made = network.subnets.begin_create_or_update(group, vnet, subnet, {"address_prefix": "10.0.0.0/24"}).result()
    return network.network_interfaces.begin_create_or_update(group, nic, {
        "location": location, "ip_configurations": [{"name": "MyIpConfig", "subnet": {"id": made.id}}]}).result()


@samples
def test_the_manage_virtual_machine_sample(arm: FakeResourceManager) -> None:
    group, vm_name, ext = "testgroupx", "virtualmachinex", "virtualmachineextensionx"
    with arm.patch_clients():
        resource, network, compute = _clients()
        resource.resource_groups.create_or_update(group, {"location": "eastus"})
        _nic(network, group, "eastus", "networknamex", "subnetx", "interfacex")
        nic_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Network/" \
                 "networkInterfaces/interfacex"
        vm = compute.virtual_machines.begin_create_or_update(group, vm_name, {
            "location": "eastus", "hardware_profile": {"vm_size": "Standard_D2_v2"},
            "storage_profile": {
                "image_reference": {"sku": "2016-Datacenter", "publisher": "MicrosoftWindowsServer",
                                    "version": "latest", "offer": "WindowsServer"},
                "os_disk": {"caching": "ReadWrite", "managed_disk": {"storage_account_type": "Standard_LRS"},
                            "name": "myVMosdisk", "create_option": "FromImage"},
                "data_disks": [{"disk_size_gb": "1023", "create_option": "Empty", "lun": "0"},
                               {"disk_size_gb": "1023", "create_option": "Empty", "lun": "1"}]},
            "os_profile": {"admin_username": "testuser", "computer_name": "myVM", "admin_password": "Aa1!zyx_",
                           "windows_configuration": {"enable_automatic_updates": True}},
            "network_profile": {"network_interfaces": [{"id": nic_id, "properties": {"primary": True}}]}}).result()
        assert [d.disk_size_gb for d in vm.storage_profile.data_disks] == [1023, 1023]
        extension = compute.virtual_machine_extensions.begin_create_or_update(group, vm_name, ext, {
            "location": "eastus", "auto_upgrade_minor_version": True, "publisher": "Microsoft.Azure.NetworkWatcher",
            "type_properties_type": "NetworkWatcherAgentWindows", "type_handler_version": "1.4"}).result()
        assert extension.publisher == "Microsoft.Azure.NetworkWatcher"
        assert compute.virtual_machines.get(group, vm_name).name == vm_name
        assert compute.virtual_machine_extensions.get(group, vm_name, ext).type_handler_version == "1.4"
        compute.virtual_machines.begin_update(group, vm_name, {"network_profile": {"network_interfaces": [
            {"id": nic_id, "properties": {"primary": True}}]}}).result()
        compute.virtual_machine_extensions.begin_update(group, vm_name, ext, {
            "auto_upgrade_minor_version": True, "instance_view": {"name": ext, "type": "CustomScriptExtension"}
        }).result()
        compute.virtual_machines.begin_start(group, vm_name).result()
        compute.virtual_machine_extensions.begin_delete(group, vm_name, ext).result()
        compute.virtual_machines.begin_power_off(group, vm_name).result()
        compute.virtual_machines.begin_delete(group, vm_name).result()
        resource.resource_groups.begin_delete(group).result()
        assert not resource.resource_groups.check_existence(group)
    assert gone(arm, group) == [] and arm.violations == []


@samples
def test_the_virtual_machines_manage_example(arm: FakeResourceManager) -> None:
    group, location, name = "azure-sample-group-virtual-machines", "westus2", "VmName"
    with arm.patch_clients():
        resource, network, compute = _clients()
        resource.resource_groups.create_or_update(group, {"location": location})
        nic = _nic(network, group, location, "azure-sample-vnet", "azure-sample-subnet", "azure-sample-nic")
        compute.virtual_machines.begin_create_or_update(group, name, {
            "location": location, "os_profile": {"computer_name": name, "admin_username": "userlogin",
                                                 "admin_password": "Pa$$w0rd91"},
            "hardware_profile": {"vm_size": "Standard_DS1_v2"},
            "storage_profile": {"image_reference": {"publisher": "Canonical", "offer": "UbuntuServer",
                                                    "sku": "18.04-LTS", "version": "latest"}},
            "network_profile": {"network_interfaces": [{"id": nic.id}]}}).wait()
        compute.virtual_machines.begin_create_or_update(group, name, {
            "location": location, "tags": {"who-rocks": "python", "where": "on azure"}}).wait()
        data_disk = compute.disks.begin_create_or_update(group, "mydatadisk1", {
            "location": location, "disk_size_gb": 1, "creation_data": {"create_option": "Empty"}}).result()
        virtual_machine = compute.virtual_machines.get(group, name)
        assert virtual_machine.tags == {"who-rocks": "python", "where": "on azure"}
        virtual_machine.storage_profile.data_disks.append({
            "lun": 12, "name": "mydatadisk1", "create_option": "Attach", "managed_disk": {"id": data_disk.id}})
        compute.virtual_machines.begin_create_or_update(group, virtual_machine.name, virtual_machine).wait()
        assert compute.disks.get(group, "mydatadisk1").disk_state == "Attached"
        data_disks = virtual_machine.storage_profile.data_disks
        data_disks[:] = [disk for disk in data_disks if disk.name != "mydatadisk1"]
        virtual_machine = compute.virtual_machines.begin_create_or_update(group, name, virtual_machine).result()
        assert compute.disks.get(group, "mydatadisk1").disk_state == "Unattached"
        compute.virtual_machines.begin_deallocate(group, name).wait()
        os_disk = compute.disks.get(group, virtual_machine.storage_profile.os_disk.name)
        os_disk.disk_size_gb += 10
        compute.disks.begin_create_or_update(group, os_disk.name, os_disk).wait()
        assert compute.disks.get(group, os_disk.name).disk_size_gb == 40
        compute.virtual_machines.begin_start(group, name).wait()
        compute.virtual_machines.begin_restart(group, name).wait()
        compute.virtual_machines.begin_power_off(group, name).wait()
        assert name in [vm.name for vm in compute.virtual_machines.list_all()]
        assert [vm.name for vm in compute.virtual_machines.list(group)] == [name]
        compute.virtual_machines.begin_delete(group, name).wait()
        resource.resource_groups.begin_delete(group).wait()
    assert gone(arm, group) == [] and arm.violations == []


@samples
def test_the_manage_snapshot_sample(arm: FakeResourceManager) -> None:
    group = "testgroupsnapshots"
    disk_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Compute/disks/disknamex"
    with arm.patch_clients():
        resource, _, compute = _clients()
        resource.resource_groups.create_or_update(group, {"location": "eastus"})
        disk = compute.disks.begin_create_or_update(group, "disknamex", {
            "location": "eastus", "creation_data": {"create_option": "Empty"}, "disk_size_gb": "200"}).result()
        assert disk.disk_size_gb == 200
        snapshot = compute.snapshots.begin_create_or_update(group, "snapshotx", {
            "location": "eastus", "creation_data": {"create_option": "Copy", "source_uri": disk_id}}).result()
        assert snapshot.disk_size_gb == 200
        image = compute.images.begin_create_or_update(group, "imagex", {
            "location": "eastus", "storage_profile": {"os_disk": {
                "os_type": "Linux", "snapshot": {"id": f"subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/"
                                                       "providers/Microsoft.Compute/snapshots/snapshotx"},
                "os_state": "Generalized"}, "zone_resilient": False}, "hyper_v_generation": "V1"}).result()
        assert image.storage_profile.os_disk.snapshot.id
        assert compute.disks.get(group, "disknamex").name == "disknamex"
        assert compute.snapshots.get(group, "snapshotx").name == "snapshotx"
        assert compute.images.get(group, "imagex").name == "imagex"
        compute.disks.begin_update(group, "disknamex", {"disk_size_gb": "200"}).result()
        compute.snapshots.begin_update(group, "snapshotx", {"creation_data": {
            "create_option": "Copy", "source_uri": disk_id}}).result()
        assert compute.images.begin_update(group, "imagex", {"tags": {"department": "HR"}}).result().tags == {
            "department": "HR"}
        assert "snapshotx" in [s.name for s in compute.snapshots.list()]
        compute.images.begin_delete(group, "imagex").result()
        compute.snapshots.begin_delete(group, "snapshotx").result()
        compute.disks.begin_delete(group, "disknamex").result()
        resource.resource_groups.begin_delete(group).result()
    assert gone(arm, group) == [] and arm.violations == []
