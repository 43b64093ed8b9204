"""Boot diagnostics: a VM's serial console log, read as a blob through a SAS URI.

ARM hands out read-only SAS URIs for the logs of a VM whose boot diagnostics
are on (``retrieveBootDiagnosticsData``; managed storage when no storage
account is named: https://learn.microsoft.com/azure/virtual-machines/boot-diagnostics),
and the blob is then read with the signature alone, no ARM token.
"""

from __future__ import annotations

import secrets
from typing import Any

from cloudvm_testing import host_key

from cloudvm.hostkeys import console_block
from cloudvm_azure_testing.fake.arm import Arm, ArmError

PREFIX = "/bootdiagnostics/"
DENIED = (b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Server failed '
          b"to authenticate the request. Make sure the value of Authorization header is formed correctly including "
          b"the signature.</Message></Error>")


def enabled(machine: dict[str, Any]) -> bool:
    boot = ((machine["properties"].get("diagnosticsProfile") or {}).get("bootDiagnostics") or {})
    return boot.get("enabled") is True


def uris(arm: Arm, machine: dict[str, Any], host: str) -> dict[str, str]:
    """The SAS URIs of the VM's screenshot and serial log, on this server."""
    if not enabled(machine):
        raise ArmError(409, "OperationNotAllowed", f"Boot diagnostics is not enabled for the virtual machine "
                                                   f"'{machine['name']}'.")
    signature = secrets.token_urlsafe(16)
    arm.signatures[signature] = machine["id"].lower()
    blob = f"https://{host}{PREFIX}{machine['properties']['vmId']}/{machine['name']}"
    query = f"sv=2021-08-06&sr=b&sp=r&sig={signature}"
    return {"consoleScreenshotBlobUri": f"{blob}.screenshot.bmp?{query}",
            "serialConsoleLogBlobUri": f"{blob}.serialconsole.log?{query}"}


def blob(arm: Arm, path: str, query: dict[str, str]) -> tuple[int, bytes, str]:
    """(status, body, content type) of a GET on a boot diagnostics blob."""
    rid = arm.signatures.get(query.get("sig", ""))
    machine = arm.find(rid) if rid else None
    if machine is None or not path.startswith(f"{PREFIX}{machine['properties']['vmId']}/"):
        return 403, DENIED, "application/xml"
    if not path.endswith(".serialconsole.log"):
        return 404, b"<Error><Code>BlobNotFound</Code></Error>", "application/xml"
    lines = ["[    0.000000] Linux version 6.8.0-1015-azure", "cloud-init[702]: Cloud-init v. 24.4 running "
             "'modules:final'"]
    if arm.power.get(machine["id"].lower(), "running") == "running":
        lines.append(console_block([f"{host_key(machine['properties']['vmId'])} root@{machine['name']}"]))
    lines.append(f"{machine['name']} login: ")
    return 200, "\n".join(lines).encode(), "text/plain"
