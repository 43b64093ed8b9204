"""The Cloud facade over the in-memory provider: validation before calls,
exactly-once launches, batched waiting, clean-up after failures."""

from collections.abc import Sequence

import pytest
from cloudvm_testing import FakeProvider

import cloudvm
from cloudvm import errors, tags
from cloudvm.retry import RetryPolicy

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeProvider:
    return FakeProvider(boot_seconds=5, clock=clock)


@pytest.fixture
def cloud(fake: FakeProvider, clock: Clock) -> cloudvm.Cloud:
    c = cloudvm.Cloud(fake, retry=RetryPolicy(sleep=clock.sleep), timeout=60)
    c.waiter.clock, c.waiter.sleep = clock, clock.sleep
    return c


def spec(name: str, **changes: object) -> cloudvm.VMSpec:
    return cloudvm.VMSpec(**{"name": name, "size": cloudvm.Size(cpus=1, memory_gib=1), "image": "debian-12",
                             "ssh": cloudvm.SSHAccess(user="ops", public_keys=[KEY]), **changes})


def test_create_waits_for_running_and_tags_everything(cloud: cloudvm.Cloud, clock: Clock) -> None:
    vm = cloud.create(spec("web-1", tags={"env": "ci"}))
    assert vm.state is cloudvm.VMState.RUNNING and clock.now >= 5
    assert vm.tags["env"] == "ci" and vm.tags[tags.MANAGED] == "true" and vm.tags[tags.NAME] == "web-1"


def test_batch_is_one_launch_and_one_describe_per_round(cloud: cloudvm.Cloud, fake: FakeProvider) -> None:
    vms = cloud.create_many([spec(f"web-{i}") for i in range(10)])
    assert [vm.name for vm in vms] == [f"web-{i}" for i in range(10)]
    assert fake.calls["launch"] == 10  # one provider call, checked per VM inside it
    assert fake.calls["describe"] <= 7  # 5s of boot at 1s a round, for all ten at once


def test_unknown_image_and_duplicate_names_fail_before_launch(cloud: cloudvm.Cloud, fake: FakeProvider) -> None:
    with pytest.raises(errors.InvalidSpec, match=r"^image: unknown image 'nope'; known: .*debian-12"):
        cloud.create(spec("web-1", image="nope"))
    with pytest.raises(errors.InvalidSpec, match="more than once"):
        cloud.create_many([spec("web-1"), spec("web-1")])
    assert fake.calls["launch"] == 0 and fake.vms == {}


def test_unsupported_features_fail_before_launch(fake: FakeProvider, cloud: cloudvm.Cloud) -> None:
    fake.capabilities = frozenset()  # type: ignore[misc]
    with pytest.raises(errors.Unsupported, match="public_ip"):
        cloud.create(spec("web-1", network=cloudvm.Network(public_ip=True)))
    with pytest.raises(errors.Unsupported, match="snapshots"):
        cloud.snapshot("web-1")
    assert fake.calls["launch"] == 0


def test_a_lost_launch_response_is_retried_without_a_duplicate(cloud: cloudvm.Cloud, fake: FakeProvider) -> None:
    fake.fail("launch", errors.TransientError("connection reset"), times=2)
    vm = cloud.create(spec("web-1"))
    assert [v.name for v in fake.vms.values()] == ["web-1"] and vm.id in fake.vms


def test_a_taken_name_is_already_exists(cloud: cloudvm.Cloud) -> None:
    cloud.create(spec("web-1"))
    with pytest.raises(errors.AlreadyExists):
        cloud.create(spec("web-1"))
    assert len(cloud.list()) == 1


def test_a_failed_batch_leaves_nothing(cloud: cloudvm.Cloud, fake: FakeProvider) -> None:
    fake.fail("describe", errors.ProviderError("the API broke"), times=1)
    with pytest.raises(errors.ProviderError):
        cloud.create_many([spec("a"), spec("b")])
    assert fake.vms == {}


def test_a_wait_that_times_out_cleans_up(fake: FakeProvider, cloud: cloudvm.Cloud) -> None:
    fake.boot_seconds = 10_000
    with pytest.raises(errors.Timeout, match="web-1: pending"):
        cloud.create(spec("web-1"), timeout=30)
    assert fake.vms == {}


def test_keep_on_failure_keeps_the_vm_for_debugging(fake: FakeProvider, cloud: cloudvm.Cloud) -> None:
    fake.boot_seconds = 10_000
    with pytest.raises(errors.Timeout):
        cloud.create(spec("web-1"), timeout=30, keep_on_failure=True)
    assert [vm.name for vm in fake.vms.values()] == ["web-1"]


def test_lifecycle_by_name_id_or_list(cloud: cloudvm.Cloud) -> None:
    a, b = cloud.create_many([spec("a"), spec("b")])
    assert [vm.state for vm in cloud.stop(["a", b.id])] == [cloudvm.VMState.STOPPED] * 2
    assert cloud.start(a)[0].state is cloudvm.VMState.RUNNING
    cloud.delete([a, "b"])
    assert cloud.list() == []
    with pytest.raises(errors.NotFound, match="'a'"):
        cloud.get("a")


def test_list_filters_by_tags_and_hides_unmanaged(cloud: cloudvm.Cloud, fake: FakeProvider) -> None:
    cloud.create_many([spec("a", tags={"env": "ci"}), spec("b", tags={"env": "prod"})])
    assert [vm.name for vm in cloud.list(tags={"env": "ci"})] == ["a"]
    stranger = next(iter(fake.vms.values()))
    fake.vms["x"] = type(stranger)(id="x", name="x", provider="fake", state=cloudvm.VMState.RUNNING)
    assert "x" not in {vm.name for vm in cloud.list()}


def test_snapshot_and_restore_use_the_snapshot_spec_or_one_given(cloud: cloudvm.Cloud) -> None:
    vm = cloud.create(spec("a"))
    snap = cloud.snapshot(vm, name="a-snap", tags={"keep": "7d"})
    assert snap.tags["keep"] == "7d" and cloud.list_snapshots(tags={"keep": "7d"}) == [snap]
    with pytest.raises(errors.InvalidSpec, match=r"^spec"):
        cloud.restore(snap, name="b")  # the fake records no spec
    restored = cloud.restore("a-snap", name="b", spec=spec("a"))
    assert restored.name == "b"
    with pytest.raises(errors.InvalidSpec, match=r"^name"):
        cloud.snapshot(vm, name="Bad Name")
    cloud.delete_snapshot(snap)
    assert cloud.list_snapshots() == []


class WithGuests(FakeProvider):
    """A provider whose VMs are real machines one can log in to (on a real endpoint)."""

    capabilities = FakeProvider.capabilities | {cloudvm.Capability.REACHABILITY}

    def __init__(self, region: str = "here") -> None:
        super().__init__()
        self.region = region


def test_an_endpoint_without_guests_is_said_by_the_caller_and_refuses_to_wait_for_ssh(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cloudvm import registry

    registry.register("with-guests", WithGuests)
    monkeypatch.delenv("CLOUDVM_GUESTS", raising=False)
    real = cloudvm.connect("with-guests", poll_interval=0.01)
    assert cloudvm.Capability.REACHABILITY in real.capabilities  # offered unless told otherwise
    monkeypatch.setenv("CLOUDVM_GUESTS", "0")  # a script run unchanged against a fake
    assert cloudvm.Capability.REACHABILITY not in cloudvm.connect("with-guests").capabilities
    assert cloudvm.Capability.REACHABILITY in cloudvm.connect("with-guests", guests=True).capabilities
    api_only = cloudvm.connect("with-guests", guests=False, poll_interval=0.01)
    assert cloudvm.Capability.REACHABILITY not in api_only.capabilities
    with pytest.raises(errors.Unsupported, match="no guest runs"):
        api_only.create(spec("web-1"), wait="reachable")
    assert api_only.list() == []  # refused before anything was made
    vm = api_only.create(spec("web-1"))
    with pytest.raises(errors.Unsupported, match="no guest runs"):
        api_only.wait(vm, "reachable")
    elsewhere = api_only.at("there")
    assert elsewhere.provider.region == "there" and not elsewhere.guests  # type: ignore[attr-defined]


def test_a_counted_fleet_is_named_from_one_and_returned_in_order(cloud: cloudvm.Cloud) -> None:
    vms = cloud.create_many(spec("web"), count=12)
    assert [vm.name for vm in vms] == [f"web-{i}" for i in range(1, 13)]
    with pytest.raises(errors.InvalidSpec, match="count: how many VMs of 'db'"):
        cloud.create_many(spec("db"), count=0)
    with pytest.raises(errors.InvalidSpec, match="count: goes with one spec"):
        cloud.create_many([spec("db")], count=2)
    with pytest.raises(errors.InvalidSpec, match="name"):
        cloud.create_many(spec("x" * 62), count=10)  # x...x-10 is too long a name
    assert sorted(vm.name for vm in cloud.list()) == sorted(vm.name for vm in vms)  # nothing else was made


def test_alike_numbered_vms_become_one_fleet_sent_in_the_providers_chunks(cloud: cloudvm.Cloud,
                                                                          fake: FakeProvider) -> None:
    from cloudvm import fleets
    from cloudvm.cloud import counted

    planned = cloud.plan([*counted(spec("web"), 5), spec("web-9", tags={"role": "odd"}), spec("db-1"),
                          spec("lone")])
    members = [r for r in planned if r.fleet]
    assert [r.spec.name for r in members] == [f"web-{i}" for i in range(1, 6)]  # web-9 differs, db-1 is alone
    assert len({r.fleet.token for r in members if r.fleet}) == 1 and len({r.token for r in planned}) == len(planned)
    assert all(r.tags[tags.TOKEN] == fleets.member_token(r.fleet.token, r.fleet.number) for r in members if r.fleet)
    parts = fleets.parts(planned, 1, 2)
    assert [[r.spec.name for r in p] for p in parts] == [["web-1", "web-2"], ["web-3", "web-4"], ["web-5"],
                                                         ["web-9"], ["db-1"], ["lone"]]
    assert fleets.parts(planned, 1, None) == [[r] for r in planned]  # a provider without fleets: as ever
    fake.fleet_limit = 3  # type: ignore[misc]
    sizes: list[int] = []
    launch = fake.launch
    fake.launch = lambda requests: sizes.append(len(requests)) or launch(requests)  # type: ignore[method-assign]
    vms = cloud.create_many(spec("api"), count=7)
    assert [vm.name for vm in vms] == [f"api-{i}" for i in range(1, 8)] and sizes == [3, 3, 1]


class Light(FakeProvider):
    """A provider with a cheaper call for states than describe."""

    polled = 0

    def states(self, ids: Sequence[str]) -> dict[str, cloudvm.VMState]:
        self.polled += 1
        return {vm.id: vm.state for vm in self.describe(ids)}


def test_waiting_polls_states_where_the_provider_tells_them_for_less(clock: Clock) -> None:
    light = Light(boot_seconds=5, clock=clock)
    cloud = cloudvm.Cloud(light, retry=RetryPolicy(sleep=clock.sleep), timeout=60)
    cloud.waiter.clock, cloud.waiter.sleep = clock, clock.sleep
    vms = cloud.create_many(spec("light"), count=3)
    assert [vm.state for vm in vms] == [cloudvm.VMState.RUNNING] * 3 and light.polled >= 5
    assert light.calls["describe"] == light.polled + 1  # the polls' own reads, then one describe
