"""Backups: policies checked with their lines, retention over a simulated
calendar, interrupted sets cleaned and refused; on moto, copies to a second
region and a DR drill there; on libvirt, a file restored from a real VM."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cloudvm_testing.fake import FakeProvider

import cloudvm
from cloudvm import backup
from cloudvm.errors import InvalidSpec, ProviderError
from cloudvm.model import SnapshotState
from tests.backends import DR_REGION, Backend

POLICY = """\
name: nightly
select: {tags: {env: prod}}
keep: {last: 3, daily: 7, weekly: 4}
"""


def spec(name: str, **tags: str) -> cloudvm.VMSpec:
    return cloudvm.VMSpec(name=name, size=cloudvm.Size(cpus=1, memory_gib=1), image="debian-12", tags=tags)


def test_a_bad_policy_names_the_field_and_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.replace("daily: 7", "daily: -7"))
    with pytest.raises(InvalidSpec) as err:
        backup.Policy.load(path)
    assert err.value.field == "keep.daily" and "line 3)" in err.value.problem
    path.write_text(POLICY + "copy_to: [{region: us-west-2, zone: x}]\n")
    with pytest.raises(InvalidSpec, match=r"line 4\)") as err:
        backup.Policy.load(path)
    assert err.value.field == "copy_to[0].zone"


@pytest.fixture
def calendar() -> Iterator[list[datetime]]:
    yield [datetime(2026, 11, 1, 2, 0, tzinfo=UTC)]


def fake_cloud(calendar: list[datetime]) -> cloudvm.Cloud:
    return cloudvm.Cloud(FakeProvider(calendar=lambda: calendar[0]), poll_interval=0)


def test_thirty_days_of_nightly_runs_keep_what_the_policy_says(tmp_path: Path, calendar: list[datetime]) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    policy = backup.Policy.load(tmp_path / "policy.yaml")
    cloud = fake_cloud(calendar)
    cloud.create_many([spec("db", env="prod"), spec("scratch", env="dev")])
    for day in range(30):  # 1 to 30 November, 02:00, run twice each night
        calendar[0] = datetime(2026, 11, 1 + day, 2, 0, tzinfo=UTC)
        first = backup.run(cloud, policy, now=calendar[0])
        again = backup.run(cloud, policy, now=calendar[0] + timedelta(minutes=5))
        assert len(first.taken) == 1 and again.taken == []  # once per period, whatever the schedule
    kept = sorted(f"{b.created_at:%m-%d}" for b in backup.backups(cloud, "nightly"))  # type: ignore[str-format]
    # daily: the 7 newest days; weekly (ISO weeks, Monday first): the newest of the 4 newest weeks —
    # 30th (week 49), 29th (48), 22nd (47), 15th (46); last 3 fall within the daily ones.
    assert kept == ["11-15", "11-22", "11-24", "11-25", "11-26", "11-27", "11-28", "11-29", "11-30"]
    assert {b.tags[backup.SOURCE] for b in backup.backups(cloud)} == {"db"}  # only what `select` picks

    dry = backup.run(cloud, policy.model_copy(update={"keep": backup.Keep(last=1)}),
                     now=calendar[0] + timedelta(hours=1), dry_run=True)
    assert len(dry.pruned) == 8 and len(backup.backups(cloud)) == 9  # a dry run deletes nothing
    assert dry.kept == [backup.backups(cloud)[0].name]  # the newest stays, always


def test_an_interrupted_set_is_cleaned_and_never_restored(calendar: list[datetime]) -> None:
    cloud = fake_cloud(calendar)
    cloud.create(spec("db", env="prod"))
    policy = backup.Policy(name="nightly", select=backup.Select(tags={"env": "prod"}))
    backup.run(cloud, policy, now=calendar[0])
    provider = cloud.provider
    assert isinstance(provider, FakeProvider)
    [done] = provider.snapshots.values()
    half = replace(done, id="snap-half", name="db-half", state=SnapshotState.PENDING)  # a run killed halfway
    provider.snapshots[half.id] = half
    with pytest.raises(ProviderError, match="db-half is pending: not every disk's copy is complete"):
        cloud.restore("db-half", name="db-copy")
    report = backup.run(cloud, policy, now=calendar[0] + timedelta(hours=2))
    assert report.cleaned == ["db-half"] and "snap-half" not in provider.snapshots
    assert report.taken == [] and report.kept == [done.name]


def test_a_backup_past_retention_waits_for_its_dr_copy(calendar: list[datetime]) -> None:
    cloud = fake_cloud(calendar)
    provider = cloud.provider
    assert isinstance(provider, FakeProvider)
    cloud.create(spec("db", env="prod"))
    policy = backup.Policy(name="nightly", select=backup.Select(tags={"env": "prod"}),
                           copy_to=[backup.CopyTo(region="dr-1")])
    provider.copies_finish = False  # a slow cross-region copy
    first = backup.run(cloud, policy, now=calendar[0], dr={"dr-1": cloud})
    calendar[0] += timedelta(days=1)
    second = backup.run(cloud, policy, now=calendar[0], dr={"dr-1": cloud})
    assert second.held == first.taken and second.pruned == [] and second.kept == second.taken  # last: 1
    provider.copies_finish = True
    third = backup.run(cloud, policy, now=calendar[0] + timedelta(hours=1), dr={"dr-1": cloud})
    assert third.pruned == first.taken and third.kept == second.taken
    assert sorted((s.name, s.region or "") for s in provider.snapshots.values()) == [
        (second.taken[0], ""), (second.taken[0], "dr-1")]  # the copy went with its backup


def test_backups_copy_to_a_dr_region_and_a_drill_restores_there(tmp_path: Path, cloud: Backend) -> None:
    region = DR_REGION[cloud.name]
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY + f"copy_to: [{{region: {region}}}]\n")
    options = {k: v for k, v in cloud.provider.items() if k != "name"}
    with cloudvm.connect(cloud.name, poll_interval=0.1, timeout=60, **options) as home, home.at(region) as dr:
        vm = home.create(spec("web", env="prod").replace(disks=[cloudvm.Disk(size_gib=2)]))
        report = backup.run(home, backup.Policy.load(policy_file))
        assert len(report.taken) == 1 and report.copied == [f"{report.taken[0]} -> {region}"]
        [original] = backup.backups(home, "nightly")
        [copy] = [b for b in backup.backups(dr, "nightly", copies=True) if b.copy_of]
        assert copy.copy_of == original.id and copy.name == original.name == report.taken[0]
        assert copy.region == region and len(copy.disks) == 2
        dr.waiter.snapshots_ready([copy.id], 60)

        def cli(*args: str) -> Any:
            flags = [arg for key, value in options.items() for arg in ("-O", f"{key}={value}")]
            done = subprocess.run([sys.executable, "-m", "cloudvm", "-p", cloud.name, *flags, "-o", "json", *args],
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout or "null")

        assert cli("backup", "run", str(policy_file))["taken"] == []  # already taken this period
        assert [b["name"] for b in cli("backup", "list", "--vm", "web")] == report.taken
        drill = cli("dr", "drill", str(policy_file), "--region", region)
        assert drill["backup"] == report.taken[0] and drill["region"] == region and drill["passed"]
        assert 0 <= drill["rpo_seconds"] < 120 and 0 < drill["rto_seconds"] < 60
        assert not [v for v in dr.list() if v.name.startswith("drill-")]  # the drill removed its VM
        home.delete(vm)
        cli("backup", "delete", report.taken[0])
        dr.delete_snapshot(copy)
        assert backup.backups(home, copies=True) == []
    assert cloud.leftovers("web") == [] and cloud.leftovers("drill-") == []
