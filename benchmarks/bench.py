"""Fleet provisioning against EC2's documented limits (moto behind a proxy that
throttles, delays and boots like EC2), for cloudvm, a boto3 loop and Apache
Libcloud, with the physical floor for each fleet size; plus import costs.

    nox -s bench                                  # N = 1, 10, 100, 1000
    python benchmarks/bench.py --sizes 10 --scale 0.01 --out /tmp/bench

Writes ``results.md``, ``results.json`` and (with matplotlib) ``provisioning.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from contenders import CONTENDERS, REGION, cloudvm_elsewhere  # noqa: E402
from floor import FORMULAS, floor  # noqa: E402
from imports import import_costs  # noqa: E402
from libvirt_costs import libvirt_costs  # noqa: E402


def _one(name: str, target: str, n: int, extra: str, scale: float) -> None:
    """Child process: run one contender, print wall time and peak memory as JSON. ``target`` is
    the AWS endpoint (``extra``: the AMI) or a provider name (``extra``: connect options as JSON)."""
    started = time.monotonic()
    error = None
    try:
        if target in ("gcp", "azure"):
            cloudvm_elsewhere(target, json.loads(extra), n, scale)
        else:
            CONTENDERS[name](target, n, extra, scale)
    except Exception as exc:  # reported in the table, not hidden
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    print(json.dumps({"wall": time.monotonic() - started, "error": error,
                      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _ami(url: str) -> str:
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url)
    images = ec2.describe_images(Owners=["099720109477"])["Images"]
    return str(sorted(images, key=lambda i: i["Name"])[-1]["ImageId"])


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--one", *args], capture_output=True, text=True, timeout=7200)
    if done.returncode == 0:
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result
    return {"wall": None, "peak_mib": None, "error": done.stderr[-300:]}


def _row(backend: str, name: str, n: int, scale: float, result: dict[str, Any], calls: list[str],
         creating: int, throttled: int) -> dict[str, Any]:
    return {"backend": backend, "contender": name, "n": n, **result, "floor": floor(backend.split()[0], n) * scale,
            "create_calls_per_vm": creating / n, "calls": dict(Counter(calls)), "throttled": throttled}


def measure_aws(name: str, n: int, moto_url: str, ami: str, scale: float) -> dict[str, Any]:
    from cloudvm_aws.testing import FaultProxy
    from cloudvm_aws_testing.simulated import Ec2Limits

    limits = Ec2Limits(scale=scale)
    with FaultProxy(moto_url, limits=limits) as proxy:
        result = _child([name, proxy.url, str(n), ami, str(scale)])
        calls = list(proxy.seen)
    creating = calls.index("TerminateInstances") if "TerminateInstances" in calls else len(calls)
    return _row("aws (moto)", name, n, scale, result, calls, creating, sum(limits.throttled.values()))


def measure_latency(name: str, n: int, moto_url: str, ami: str, delay: float) -> dict[str, Any]:
    """Nothing limited but every call taking ``delay`` longer (a far region, a slow link): what each
    contender's number of calls, one after another, costs. Client-side sleeps shrink to almost none."""
    from cloudvm_aws.testing import FaultProxy

    with FaultProxy(moto_url) as proxy:
        proxy.inject("*", "latency", times=10**9, delay=delay)
        result = _child([name, proxy.url, str(n), ami, "0.01"])
        calls = list(proxy.seen)
    creating = calls.index("TerminateInstances") if "TerminateInstances" in calls else len(calls)
    return {"contender": name, "n": n, "delay": delay, **result, "create_calls_per_vm": creating / n,
            "calls": dict(Counter(calls))}


def latency_table(rows: list[dict[str, Any]]) -> str:
    loop = next((r["wall"] for r in rows if r["contender"] == "boto3 loop" and r["wall"]), None)
    lines = [f"| {rows[0]['n']} VMs on moto, every call {rows[0]['delay'] * 1000:.0f} ms | wall s | "
             "faster than the boto3 loop | API calls/VM (create+wait) |", "|---|---|---|---|"]
    for r in rows:
        wall = f"{r['wall']:.1f}" if r["wall"] and not r["error"] else f"failed: {r['error']}"
        faster = f"{loop / r['wall']:.1f}x" if loop and r["wall"] and not r["error"] else "-"
        lines.append(f"| {r['contender']} | {wall} | {faster} | {r['create_calls_per_vm']:.2f} |")
    return "\n".join(lines)


def measure_gcp(n: int, scale: float) -> dict[str, Any]:
    from cloudvm_gcp.testing import fake_compute_engine
    from cloudvm_gcp_testing.fake import limits
    from cloudvm_gcp_testing.fake.compute import Timing

    quotas = limits.compute_engine(scale)
    timing = Timing(boot=limits.BOOT * scale, operation=limits.LATENCY["insert"] * scale)
    with fake_compute_engine(timing, limits=quotas) as gce:
        for metric in ("CPUS", "INSTANCES", "SSD_TOTAL_GB", "DISKS_TOTAL_GB"):  # an account sized for the fleet
            gce.set_quota(metric, 100 * n, region="us-central1", project="bench")
        options = {"project": "bench", "zone": "us-central1-a", "api_endpoint": gce.url}
        result = _child(["cloudvm", "gcp", str(n), json.dumps(options), str(scale)])
        calls = [call for call, count in gce.fake.calls.items() for _ in range(count)]
    creating = sum(count for call, count in gce.fake.calls.items() if not call.endswith("delete"))
    return _row("gcp (fake)", "cloudvm", n, scale, result, calls, creating - n, sum(quotas.throttled.values()))


def measure_azure(n: int, scale: float) -> dict[str, Any]:
    from cloudvm_azure.testing import fake_resource_manager
    from cloudvm_azure_testing.fake import limits
    from cloudvm_azure_testing.fake.arm import Timing
    from cloudvm_azure_testing.fake.catalog import VM_SIZES

    buckets = limits.resource_manager(scale)
    timing = Timing(provision=limits.LATENCY["PUT"] * scale, boot=limits.BOOT * scale,
                    delete=limits.LATENCY["DELETE"] * scale, retry_after=0)  # the provider's own polling interval
    with fake_resource_manager(timing, limits=buckets) as arm:
        for quota in {"cores", *(size[3] for size in VM_SIZES.values())}:  # a subscription sized for the fleet
            arm.set_quota(quota, 100 * n)
        # The provider's own polling interval against Azure (5 s), scaled like everything else.
        options = arm.connect_options(credential="cloudvm_azure.testing:FakeCredential", polling_interval=5.0 * scale)
        result = _child(["cloudvm", "azure", str(n), json.dumps(options), str(scale)])
        calls = [call for call, count in arm.fake.calls.items() for _ in range(count)]
    creating = sum(count for call, count in arm.fake.calls.items() if not call.startswith("DELETE"))
    return _row("azure (fake)", "cloudvm", n, scale, result, calls, creating - n, sum(buckets.throttled.values()))


def table(rows: list[dict[str, Any]], scale: float) -> str:
    lines = [f"Simulated time runs at {scale:g}x (every limit and delay scaled); seconds below are real.", "",
             *(f"- Floor on {name}: {formula}, times the scale." for name, formula in FORMULAS.items()), "",
             "| backend | contender | N | wall s | floor s | wall/floor | calls/VM (create+wait) | calls by action "
             "| throttles retried | peak MiB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        wall = f"{r['wall']:.2f}" if r["wall"] is not None and not r["error"] else f"failed: {r['error']}"
        ratio = f"{r['wall'] / r['floor']:.2f}" if r["wall"] and not r["error"] else "-"
        calls = ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items(), key=lambda kv: -kv[1]))
        peak = f"{r['peak_mib']:.0f}" if r["peak_mib"] else "-"
        lines.append(f"| {r['backend']} | {r['contender']} | {r['n']} | {wall} | {r['floor']:.2f} | {ratio} | "
                     f"{r['create_calls_per_vm']:.2f} | {calls} | {r['throttled']} | {peak} |")
    return "\n".join(lines) + "\n"


START, END = "<!-- bench:table -->", "<!-- /bench:table -->"


def summary(rows: list[dict[str, Any]]) -> str:
    """The table docs/performance.md shows: the columns people compare (results.md has them all)."""
    lines = ["| backend | contender | N | wall s | floor s | wall/floor | API calls/VM (create+wait) "
             "| throttles retried |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        wall, ratio = (f"{r['wall']:.1f}", f"{r['wall'] / r['floor']:.1f}") if r["wall"] and not r["error"] else (
            "failed", "-")
        lines.append(f"| {r['backend']} | {r['contender']} | {r['n']} | {wall} | {r['floor']:.1f} | {ratio} | "
                     f"{r['create_calls_per_vm']:.2f} | {r['throttled']} |")
    return "\n".join(lines)


def update_readme(readme: Path, rows: list[dict[str, Any]], slow: list[dict[str, Any]]) -> None:
    text = readme.read_text()
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    extra = f"\n\n{latency_table(slow)}" if slow else ""
    readme.write_text(f"{before}{START}\n{summary(rows)}{extra}\n{END}{after}")


def chart(rows: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for backend in dict.fromkeys(r["backend"] for r in rows):
        mine = [r for r in rows if r["backend"] == backend]
        sizes = sorted({r["n"] for r in mine})
        ax.plot(sizes, [next(r["floor"] for r in mine if r["n"] == n) for n in sizes], "--", label=f"floor, {backend}")
        for name in dict.fromkeys(r["contender"] for r in mine):
            done = [r for r in mine if r["contender"] == name and r["wall"] and not r["error"]]
            ax.plot([r["n"] for r in done], [r["wall"] for r in done], "o-", label=f"{name}, {backend}")
    ax.set(xscale="log", yscale="log", xlabel="VMs (N)", ylabel="create + run + delete, seconds",
           title="Fleet provisioning under simulated cloud limits")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def _said(row: dict[str, Any]) -> None:
    print(f"{row['backend']:12} {row['contender']:10} N={row['n']:<5} wall={row['wall']} error={row['error']}",
          flush=True)


def _merged(path: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The new rows, and the old ones they do not replace, in the order a full run writes them."""
    key = lambda r: (r["backend"], r["contender"], r["n"])  # noqa: E731
    fresh = {key(r) for r in rows}
    old = [r for r in json.loads(path.read_text()) if key(r) not in fresh] if path.exists() else []
    order = {name: i for i, name in enumerate([*CONTENDERS, "aws (moto)", "gcp (fake)", "azure (fake)"])}
    return sorted(old + rows, key=lambda r: (r["backend"] != "aws (moto)", r["n"], order[r["backend"]],
                                              order.get(r["contender"], 0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,100,1000")
    parser.add_argument("--scale", type=float, default=0.2, help="real seconds per simulated second")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="on AWS")
    parser.add_argument("--clouds", default="aws,gcp,azure,libvirt")
    parser.add_argument("--quick", action="store_true", help="smaller libvirt measurements (the smoke run)")
    parser.add_argument("--latency-vms", type=int, default=50, help="VMs for the slow-link run on AWS (0: none)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds every call takes longer in that run")
    parser.add_argument("--latency-contenders", default=",".join(CONTENDERS))
    parser.add_argument("--readme", type=Path, help="rewrite the table in this page (docs/performance.md)")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "benchmarks")  # published with the site
    parser.add_argument("--update", action="store_true",
                        help="keep the rows of the last results.json this run does not measure")
    parser.add_argument("--one", nargs=5, metavar=("NAME", "TARGET", "N", "EXTRA", "SCALE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        name, url, n, ami, scale = args.one
        return _one(name, url, int(n), ami, float(scale))
    from cloudvm_aws.testing import CREDENTIALS, moto_server

    os.environ.update(CREDENTIALS)
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    slow: list[dict[str, Any]] = []
    sizes = [int(s) for s in args.sizes.split(",") if s]
    clouds = args.clouds.split(",")
    if "aws" in clouds:
        with moto_server(settle=0) as url:  # throughput, not eventual consistency, is measured here
            ami = _ami(url)
            for n in sizes:
                for name in args.contenders.split(","):
                    rows.append(measure_aws(name, n, url, ami, args.scale))
                    _said(rows[-1])

    if "aws" in clouds and args.latency_vms:
        with moto_server(settle=0) as url:  # a server of its own: the fleets above leave thousands behind
            ami = _ami(url)
            for name in args.latency_contenders.split(","):
                slow.append(measure_latency(name, args.latency_vms, url, ami, args.latency))
                print(f"latency    {name:10} N={args.latency_vms} wall={slow[-1]['wall']} error={slow[-1]['error']}",
                      flush=True)
    for n in sizes:
        for cloud, measure in (("gcp", measure_gcp), ("azure", measure_azure)):
            if cloud in clouds:
                rows.append(measure(n, args.scale))
                _said(rows[-1])
    if args.update:
        rows = _merged(args.out / "results.json", rows)
        if not slow and (args.out / "latency.json").exists():  # not measured this time: the last run's
            slow = json.loads((args.out / "latency.json").read_text())
    report = table(rows, args.scale) + "\n" + (latency_table(slow) + "\n\n" if slow else "") + import_costs()
    if "libvirt" in clouds:
        report += "\n" + libvirt_costs(quick=args.quick)
    (args.out / "results.md").write_text(f"# Benchmark results\n\n{report}")
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    if slow:
        (args.out / "latency.json").write_text(json.dumps(slow, indent=2))
    drawn = chart(rows, args.out / "provisioning.png")
    if args.readme:
        update_readme(args.readme, rows, slow)
    print(report + ("" if drawn else "\n(matplotlib not installed: no chart)\n"))


if __name__ == "__main__":
    main()
