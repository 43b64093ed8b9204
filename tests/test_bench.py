"""The benchmark harness runs (a small fleet, fast simulated time), so it cannot rot
unnoticed; its numbers are for `nox -s bench`, not for assertions on speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parent.parent / "benchmarks" / "bench.py"


def test_the_harness_measures_every_contender_against_the_floor(tmp_path: Path) -> None:
    for needed in ("cloudvm_aws.testing", "cloudvm_gcp.testing", "cloudvm_azure.testing", "cloudvm_libvirt",
                   "libcloud"):
        pytest.importorskip(needed)
    readme = tmp_path / "README.md"
    readme.write_text("## Performance\n<!-- bench:table -->\nold\n<!-- /bench:table -->\nafter\n")
    done = subprocess.run([sys.executable, str(BENCH), "--sizes", "10", "--scale", "0.05", "--quick", "--out",
                           str(tmp_path), "--readme", str(readme), "--latency-vms", "5", "--latency", "0.02"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "results.json").read_text())
    assert [(r["backend"], r["contender"], r["n"]) for r in rows] == [
        ("aws (moto)", "cloudvm", 10), ("aws (moto)", "cloudvm named", 10), ("aws (moto)", "boto3 loop", 10),
        ("aws (moto)", "libcloud", 10),
        ("gcp (fake)", "cloudvm", 10), ("azure (fake)", "cloudvm", 10)]
    for row in rows:
        assert row["error"] is None and row["wall"] > 0 and row["floor"] > 0, row
        assert row["create_calls_per_vm"] > 0 and sum(row["calls"].values()) > 10
    report = (tmp_path / "results.md").read_text()
    assert "| aws (moto) | cloudvm | 10 |" in report and "| azure (fake) | cloudvm | 10 |" in report
    assert "- Floor on aws: RunInstances" in report and "- Floor on gcp: insert" in report
    assert "`import cloudvm`" in report and "cloud SDKs imported by it: none" in report
    assert "| 16 MiB |" in report and "one `create_many`" in report
    table = readme.read_text()
    assert "old" not in table and "| gcp (fake) | cloudvm | 10 |" in table and table.endswith("after\n")
    assert "| 5 VMs on moto, every call 20 ms |" in table and "| boto3 loop |" in table
