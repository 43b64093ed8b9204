"""What importing cloudvm costs, and what each provider's connect() adds."""

from __future__ import annotations

import json
import subprocess
import sys

SDKS = ("boto3", "botocore", "google.cloud.compute_v1", "azure.mgmt.compute", "libvirt")
CONNECT = {"aws": "region='us-east-1'", "gcp": "project='p', zone='us-central1-a'",
           "azure": "subscription_id='s', resource_group='g'", "libvirt": ""}


def _seconds(code: str, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", f"import time; t = time.perf_counter(); {code}; "
                               "print(time.perf_counter() - t)"], capture_output=True, text=True, check=True)
        best = min(best, float(done.stdout.split()[-1]))
    return best


def import_costs() -> str:
    core = _seconds("import cloudvm")
    loaded = subprocess.run([sys.executable, "-c", f"import cloudvm, sys, json; print(json.dumps("
                             f"[m for m in {SDKS!r} if m in sys.modules]))"], capture_output=True, text=True,
                            check=True)
    specs = _seconds("import cloudvm; cloudvm.VMSpec") - core
    lines = ["## Import costs", "", f"- `import cloudvm`: {core * 1000:.0f} ms above a bare interpreter "
             f"(best of 5); cloud SDKs imported by it: {json.loads(loaded.stdout) or 'none'}",
             f"- first use of the specs (`cloudvm.VMSpec`: pydantic and the models): {specs * 1000:.0f} ms more"]
    for name, options in CONNECT.items():
        try:
            cost = _seconds(f"import cloudvm; cloudvm.connect({name!r}, {options})", runs=3) - core - specs
        except subprocess.CalledProcessError:
            lines.append(f"- `connect({name!r})`: provider not installed")
            continue
        lines.append(f"- `connect({name!r})`: {cost * 1000:.0f} ms more (its SDK, imported on connect)")
    return "\n".join(lines) + "\n"
