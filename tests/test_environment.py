"""Environments: files checked before anything is made, then plan/up/down,
two runs at once, runs killed part-way and gc, on every cloud test backend
(moto and the two fakes: real SDKs over real HTTP); failover on the Compute
Engine fake; the example file on libvirt with real VMs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import cloudvm
from cloudvm.environment import DIGEST, ENV, EXPIRES, Environment
from cloudvm.errors import InvalidSpec
from tests.backends import CLOUDS, Backend

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"


def write(tmp_path: Path, doc: dict[str, Any], name: str = "env.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def document(provider: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "pr-7", "provider": provider, "ttl": "8h",
        "defaults": {"image": "debian-12", "size": {"cpus": 1, "memory_gib": 1},
                     "ssh": {"user": "ops", "public_keys": [KEY]}, "tags": {"team": "qa"}},
        "vms": [{"name": "web", "count": 2}, {"name": "db", "disks": [{"size_gib": 20, "tier": "ssd"}],
                                              "user_data": {"text": "#!/bin/sh\necho db\n"}}],
    }
    doc.update(changes)
    return doc


@pytest.mark.parametrize(("change", "field", "marker"), [
    (lambda d: d["vms"][1].update(colour="red"), "vms[1].colour", "colour: red"),
    (lambda d: d["vms"][0].update(count=-2), "vms[0].count", "count: -2"),
    (lambda d: d["vms"][1].update(user_data={"file": "missing.sh"}), "vms[1].user_data.file", "missing.sh"),
    (lambda d: d["defaults"]["ssh"].update(public_keys=["~/nowhere/id.pub"]), "defaults.ssh.public_keys[0]",
     "~/nowhere/id.pub"),
    (lambda d: d.update(ttl="forever"), "ttl", "ttl: forever"),
    (lambda d: d["vms"][0].update(name="Web"), "vms[0].name", "name: Web"),
])
def test_bad_files_name_the_field_and_line(tmp_path: Path, change: Any, field: str, marker: str) -> None:
    doc = document({"name": "nowhere"})
    change(doc)
    path = write(tmp_path, doc)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if marker in text)
    with pytest.raises(InvalidSpec) as err:
        Environment.load(path)
    assert err.value.field == field and f"line {line})" in err.value.problem, err.value


def test_a_file_expands_into_named_specs(tmp_path: Path) -> None:
    (tmp_path / "init.sh").write_text("#!/bin/sh\necho from-file\n")
    (tmp_path / "key.pub").write_text(KEY + "\n")
    doc = document({"name": "nowhere"})
    doc["defaults"]["ssh"]["public_keys"] = ["key.pub"]
    doc["vms"][1]["user_data"] = {"file": "init.sh"}
    env = Environment.load(write(tmp_path, doc))
    assert sorted(env.loaded.specs) == ["db", "web-1", "web-2"]
    db = env.loaded.specs["db"]
    assert db.name == "pr-7-db" and db.disks[0].tier == "ssd" and db.user_data == "#!/bin/sh\necho from-file\n"
    assert db.ssh is not None and db.ssh.public_keys == (KEY,) and db.tags == {"team": "qa"}
    assert env.loaded.model.ttl_seconds == 8 * 3600
    assert cloudvm.Environment is Environment


@pytest.fixture(scope="module")
def gce() -> Iterator[Any]:
    testing = pytest.importorskip("cloudvm_gcp.testing")
    with testing.fake_compute_engine() as fake:
        yield fake


def provider(gce: Any) -> dict[str, Any]:
    return {"name": "gcp", "project": "envs", "zone": "us-central1-a", "api_endpoint": gce.url}


def names(env: Environment) -> list[str]:
    return sorted(vm.name for vm in env.status())


def test_plan_up_drift_prune_down(tmp_path: Path, cloud: Backend) -> None:
    path = write(tmp_path, document(cloud.provider))
    env = Environment.load(path)
    assert [(a.kind, a.vm) for a in env.plan()] == [("create", "web-1"), ("create", "web-2"), ("create", "db")]
    vms = env.up()
    assert sorted(vm.name for vm in vms) == ["pr-7-db", "pr-7-web-1", "pr-7-web-2"]
    assert all(vm.state is cloudvm.VMState.RUNNING and vm.tags[ENV] == "pr-7" for vm in vms)
    assert all(int(vm.tags[EXPIRES]) > time.time() + 7 * 3600 for vm in vms) and vms[0].tags["team"] == "qa"
    assert {a.kind for a in env.plan()} == {"keep"}
    first = {vm.name: vm.id for vm in vms}
    assert {vm.name: vm.id for vm in env.up()} == first  # nothing to do: nothing made again
    outputs = env.outputs()
    assert sorted(outputs) == ["db", "web-1", "web-2"] and all(o["address"] for o in outputs.values())
    assert outputs["db"]["address"] == next(vm.address for vm in vms if vm.name == "pr-7-db")

    doc = document(cloud.provider)
    doc["vms"][0]["size"] = {"cpus": 2, "memory_gib": 4}
    doc["vms"][1]["name"] = "cache"
    changed = Environment.load(write(tmp_path, doc))
    plan = {a.vm: a.kind for a in changed.plan()}
    assert plan == {"web-1": "drift", "web-2": "drift", "cache": "create", "db": "extra"}
    changed.up()
    assert names(changed) == ["pr-7-cache", "pr-7-db", "pr-7-web-1", "pr-7-web-2"]  # drift kept, db kept
    assert {vm.name: vm.id for vm in changed.status() if "web" in vm.name} == {
        k: v for k, v in first.items() if "web" in k}
    changed.up(replace=True, prune=True)
    vms = changed.status()
    assert [vm.name for vm in vms] == ["pr-7-cache", "pr-7-web-1", "pr-7-web-2"]
    assert {(vm.size.cpus, vm.size.memory_gib) for vm in vms if "web" in vm.name} == {(2, 4)}  # type: ignore[union-attr]
    assert all(vm.tags[DIGEST] for vm in vms)
    assert len(changed.down()) == 3 and changed.down() == []  # idempotent
    assert cloud.leftovers("pr-7-") == []


def _cli(*args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "cloudvm", "-o", "json", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)  # os.environ carries the backend's credentials


def test_two_runs_at_once_end_with_exactly_the_declared_vms(tmp_path: Path, cloud: Backend) -> None:
    path = write(tmp_path, document(cloud.provider, name="twin"))
    runs = [_cli("up", str(path)) for _ in range(2)]
    results = [r.communicate(timeout=180) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [e for _, e in results]
    env = Environment.load(path)
    assert names(env) == ["twin-db", "twin-web-1", "twin-web-2"]
    assert sorted(v["name"] for v in json.loads(results[0][0])) == names(env)
    env.down()
    assert cloud.leftovers("twin-") == []


KILLS = [(c, after) for c in CLOUDS for after in ((0.8, 1.6, 2.4, 3.2) if c == "gcp" else (1.2, 2.8))]


@pytest.mark.parametrize(("cloud", "after"), KILLS, indirect=["cloud"])
def test_a_killed_up_is_finished_by_the_next(tmp_path: Path, cloud: Backend, after: float) -> None:
    name = f"kill-{int(after * 10)}"
    path = write(tmp_path, document(cloud.provider, name=name))
    run = _cli("up", str(path), start_new_session=True)
    time.sleep(after)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(10)
    env = Environment.load(path)
    made_before = names(env)
    vms = env.up()
    assert sorted(vm.name for vm in vms) == [f"{name}-db", f"{name}-web-1", f"{name}-web-2"], made_before
    assert all(vm.state is cloudvm.VMState.RUNNING for vm in vms)
    assert {(vm.name, len(vm.disks)) for vm in vms} == {(f"{name}-db", 2), (f"{name}-web-1", 1),
                                                        (f"{name}-web-2", 1)}
    env.down()
    assert cloud.leftovers(f"{name}-") == []


def test_the_cli_plans_brings_up_and_tears_down(tmp_path: Path, gce: Any) -> None:
    path = write(tmp_path, document(provider(gce), name="cli"))
    planned = _cli("plan", str(path)).communicate(timeout=60)[0]
    assert [(a["kind"], a["vm"]) for a in json.loads(planned)] == [
        ("create", "web-1"), ("create", "web-2"), ("create", "db")]
    up = _cli("up", str(path))
    progress = up.communicate(timeout=120)[1].splitlines()
    assert up.returncode == 0 and "db: created at gcp" in progress
    assert progress.index("web-1: running") > progress.index("web-1: created at gcp")  # each VM's steps, in order
    outputs = json.loads(_cli("outputs", str(path)).communicate(timeout=60)[0])
    assert sorted(outputs) == ["db", "web-1", "web-2"] and all(o["state"] == "running" for o in outputs.values())
    down = _cli("down", str(path))
    said, steps = down.communicate(timeout=120)
    assert down.returncode == 0 and "3 VMs deleted" in said and "web-2: deleted" in steps.splitlines()
    assert gce.resources("envs") == []


def test_the_example_environment_on_libvirt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two web VMs and a db with its own script, on real VMs: up, log in to each, down, nothing left."""
    pytest.importorskip("cloudvm_libvirt")
    from cloudvm import ssh

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key, _ = ssh.generate_keypair(home / ".ssh")
    example = Path(__file__).parent.parent / "examples"
    from cloudvm_libvirt.images import cache_dir

    monkeypatch.setenv("CLOUDVM_CACHE", str(cache_dir()))  # the image cache stays shared
    monkeypatch.setenv("HOME", str(home))
    env_vars = {**os.environ, "HOME": str(home)}
    def cli(*args: str) -> subprocess.CompletedProcess[str]:  # as the README's section runs them
        return subprocess.run([sys.executable, "-m", "cloudvm", args[0], str(example / "env.yaml"), *args[1:]],
                              env=env_vars, capture_output=True, text=True, timeout=600)

    assert "create" in cli("plan").stdout
    up = cli("up", "--wait", "reachable")
    try:
        assert up.returncode == 0, up.stderr
        outputs = json.loads(cli("outputs").stdout)
        assert sorted(outputs) == ["db", "web-1", "web-2"] and all(o["address"] for o in outputs.values())
        assert "demo-web-2" in cli("status").stdout
        with Environment.load(example / "env.yaml") as env:
            vms = {env._short(vm): vm for vm in env.status()}
            assert sorted(vms) == ["db", "web-1", "web-2"]
            for short, vm in vms.items():
                done = env.cloud().ssh(vm, "hostname; cat /tmp/db-ready 2>/dev/null; true", key_file=str(key))
                assert done.returncode == 0 and done.stdout.split()[0] == f"demo-{short}", done.stderr
                assert ("db ready" in done.stdout) == (short == "db")
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stderr
    from cloudvm_libvirt.testing import leftovers

    assert [item for short in ("db", "web-1", "web-2") for item in leftovers(f"demo-{short}")] == []


def test_gc_deletes_expired_environments_and_lists_orphans(tmp_path: Path, cloud: Backend) -> None:
    from cloudvm.gc import sweep

    short = Environment.load(write(tmp_path, document(cloud.provider, name="brief", ttl="1h"), "brief.yaml"))
    long = Environment.load(write(tmp_path, document(cloud.provider, name="lasting", ttl="1w"), "lasting.yaml"))
    short.up(wait=None)
    long.up(wait=None)
    later = time.time() + 2 * 3600
    options = {k: v for k, v in cloud.provider.items() if k != "name"}
    with cloudvm.connect(cloud.name, **options, timeout=60, poll_interval=0.1) as connected:
        connected.create(cloudvm.VMSpec(name="keeper", size=cloudvm.Size(cpus=1, memory_gib=1), image="debian-12",
                                        disks=[cloudvm.Disk(size_gib=1, keep=True)]))
        connected.delete("keeper")
        seen = sweep(connected, dry_run=True, now=later)
        assert sorted(seen.expired) == ["brief"] and len(seen.expired["brief"]) == 3
        assert names(short) == ["brief-db", "brief-web-1", "brief-web-2"]  # a dry run deletes nothing
        assert len(seen.orphans) == 1 and "keeper" in seen.orphans[0], seen.orphans  # the kept disk, only
        done = sweep(connected, now=later)
        assert sorted(done.expired) == ["brief"] and names(short) == [] and len(names(long)) == 3
    flags = [arg for key, value in options.items() for arg in ("-O", f"{key}={value}")]
    listed = _cli("-p", cloud.name, *flags, "gc", "--dry-run")
    report = json.loads(listed.communicate(timeout=60)[0])
    assert report["expired"] == {} and len(report["orphans"]) == 1  # "lasting" has not expired yet
    long.down()
    assert cloud.leftovers("brief-") == cloud.leftovers("lasting-") == []


def test_a_full_placement_fails_over_to_the_next(tmp_path: Path, gce: Any) -> None:
    doc = document({"name": "gcp", "project": "envs", "api_endpoint": gce.url}, name="spread",
                   placement=["gcp:us-central1-a", "gcp:us-east1-b"])
    path = write(tmp_path, doc)
    with Environment.load(path) as env:
        assert {a.where for a in env.plan()} == {"gcp:us-central1-a"}
        # The zone refuses web-1 in the batch and again on its own; the rest of the batch stays.
        gce.inject("instances.insert", "operation", times=2, code="ZONE_RESOURCE_POOL_EXHAUSTED",
                   target="spread-web-1")
        steps: list[tuple[str, str]] = []
        vms = env.up(progress=lambda vm, what: steps.append((vm, what)))
        assert ("web-1", "created at gcp:us-east1-b (skipped gcp:us-central1-a)") in steps
        assert [what for vm, what in steps if vm == "db"] == [
            "create", "creating at gcp:us-central1-a", "created at gcp:us-central1-a", "running"]
        assert "CapacityUnavailable" in env.landed["web-1"].skipped["gcp:us-central1-a"]
        assert {s: landing.where for s, landing in env.landed.items()} == {
            "web-1": "gcp:us-east1-b", "web-2": "gcp:us-central1-a", "db": "gcp:us-central1-a"}
        assert {vm.name: vm.zone for vm in vms} == {"spread-db": "us-central1-a", "spread-web-1": "us-east1-b",
                                                    "spread-web-2": "us-central1-a"}
        assert env.outputs()["web-1"]["placement"] == "gcp:us-east1-b"
        assert {a.kind for a in env.plan()} == {"keep"}  # found again wherever it landed
        assert sorted(env.down()) == ["spread-db", "spread-web-1", "spread-web-2"]
    assert gce.resources("envs") == []


def test_a_placement_must_name_provider_and_location(tmp_path: Path) -> None:
    doc = document({"name": "gcp"}, placement=["us-east-1"])
    with pytest.raises(InvalidSpec, match=r"placement: \[0\] 'us-east-1' is not provider:location"):
        Environment.load(write(tmp_path, doc))


def test_a_vm_refused_spot_capacity_lands_on_demand(tmp_path: Path, gce: Any) -> None:
    doc = document({"name": "gcp", "project": "envs", "api_endpoint": gce.url}, name="cheap",
                   placement=["gcp:us-central1-a:spot", "gcp:us-central1-a"], vms=[{"name": "work", "count": 2}])
    with Environment.load(write(tmp_path, doc)) as env:
        # no spot capacity for work-1, in the batch and on its own; on demand there is room
        gce.inject("instances.insert", "operation", times=2, code="ZONE_RESOURCE_POOL_EXHAUSTED",
                   target="cheap-work-1")
        vms = {vm.name: vm for vm in env.up()}
        assert {s: landing.where for s, landing in env.landed.items()} == {
            "work-1": "gcp:us-central1-a", "work-2": "gcp:us-central1-a:spot"}
        assert "CapacityUnavailable" in env.landed["work-1"].skipped["gcp:us-central1-a:spot"]
        assert (vms["cheap-work-1"].spot, vms["cheap-work-2"].spot) == (False, True)
        assert [(a.kind, a.where) for a in env.plan()] == [("keep", "gcp:us-central1-a:spot")] * 2
        assert sorted(env.down()) == ["cheap-work-1", "cheap-work-2"]
    assert gce.resources("envs") == []


def test_no_spot_capacity_means_on_demand_on_every_cloud(tmp_path: Path, cloud: Backend) -> None:
    where = f"{cloud.name}:{cloud.location}"
    doc = document(cloud.provider, name="thrifty", placement=[f"{where}:spot", where],
                   vms=[{"name": "work", "count": 2}])
    with Environment.load(write(tmp_path, doc)) as env, cloud.refusing_spot():
        vms = env.up()
        assert [(vm.name, vm.spot) for vm in vms] == [("thrifty-work-1", False), ("thrifty-work-2", False)]
        assert {s: landing.where for s, landing in env.landed.items()} == {"work-1": where, "work-2": where}
        assert all("CapacityUnavailable" in landing.skipped[f"{where}:spot"] for landing in env.landed.values())
        assert {a.kind for a in env.plan()} == {"keep"}
        assert sorted(env.down()) == ["thrifty-work-1", "thrifty-work-2"]
    assert cloud.leftovers("thrifty-") == []


def test_a_spot_vm_taken_back_is_made_again_by_up(tmp_path: Path, cloud: Backend) -> None:
    doc = document(cloud.provider, name="taken", vms=[{"name": "batch", "spot": True}])
    with Environment.load(write(tmp_path, doc)) as env:
        first = env.up()[0]
        assert first.spot and first.tags[cloudvm.tags.SPOT] == "delete"
        cloud.interrupt("taken-batch")
        env.cloud().wait(first, "terminated")
        # EC2 keeps a terminated instance in sight for a while, with the reason; Compute Engine and
        # Azure delete a Spot VM whose policy is to delete it
        told = {"aws": ("replace", "interrupted: Server.SpotInstanceTermination: Spot instance termination")}
        want = told.get(cloud.name, ("create", "declared, not there"))
        assert [(a.kind, a.reason) for a in env.plan()] == [want]
        again = env.up()[0]
        assert again.spot and again.interrupted is None and again.state is cloudvm.VMState.RUNNING
        assert again.created_at != first.created_at
        assert env.down() == ["taken-batch"]
    assert cloud.leftovers("taken-") == []


def test_up_replaces_an_interrupted_spot_vm(tmp_path: Path, gce: Any) -> None:
    doc = document(provider(gce), name="spotty", vms=[{"name": "batch", "spot": {"on_interruption": "stop"}}])
    with Environment.load(write(tmp_path, doc)) as env:
        first = env.up()[0]
        assert first.spot and first.tags[cloudvm.tags.SPOT] == "stop"
        gce.preempt("spotty-batch", project="envs")
        env.cloud().wait(first, "stopped")
        assert [(a.kind, a.reason) for a in env.plan()] == [("replace", "interrupted: Instance was preempted.")]
        again = env.up()[0]
        assert again.spot and again.interrupted is None and again.state is cloudvm.VMState.RUNNING
        assert again.created_at != first.created_at
        assert env.down() == ["spotty-batch"]
    assert gce.resources("envs") == []
