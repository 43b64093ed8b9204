"""Rendering results: rich tables for people, JSON for scripts."""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from cloudvm.model import VM, Snapshot

# Piped output is for scripts and logs: never cut ids or addresses to 80 columns.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


def plain(value: Any) -> Any:
    """A JSON-ready copy of a result (the provider's raw object left out)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "raw"}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude={"user_data"})
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _show(items: Sequence[Any], fmt: str, columns: tuple[str, ...], row: Callable[[Any], list[str]]) -> None:
    if fmt == "json":
        out.print_json(json.dumps(plain(list(items))))
        return
    table = Table(*columns)
    for item in items:
        table.add_row(*(escape(cell) for cell in row(item)))
    out.print(table)


def _vm_row(vm: VM) -> list[str]:
    size = f"{vm.size.type_name} ({vm.size.cpus} cpu, {vm.size.memory_gib:g} GiB)" if vm.size else ""
    size += ", spot" if vm.spot else ""
    state = f"{vm.state.value} (interrupted: {vm.interrupted})" if vm.interrupted else vm.state.value
    return [vm.name, state, vm.zone or vm.region or "", size, vm.image or "",
            ", ".join(vm.public_ips + vm.private_ips), vm.id]


def _snapshot_row(s: Snapshot) -> list[str]:
    created = f"{s.created_at:%Y-%m-%d %H:%M:%S}" if s.created_at else ""
    return [s.name, s.state.value, s.source_vm, created, str(len(s.disks)), s.id]


def vms(items: Sequence[VM], fmt: str) -> None:
    _show(items, fmt, ("name", "state", "where", "size", "image", "addresses", "id"), _vm_row)


def snapshots(items: Sequence[Snapshot], fmt: str) -> None:
    _show(items, fmt, ("name", "state", "source VM", "created", "disks", "id"), _snapshot_row)


def actions(items: Sequence[Any], fmt: str) -> None:
    _show(items, fmt, ("action", "vm", "where", "why"), lambda a: [a.kind, a.vm, a.where, a.reason])


class Steps:
    """Each VM's current step while work runs on many at once: a live table on a terminal,
    one line per step otherwise (CI logs keep the whole story)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: dict[str, str] = {}
        self.live = Live(self._table(), console=err, refresh_per_second=8) if err.is_terminal else None

    def _table(self) -> Table:
        table = Table("vm", "step", title=self.title, title_justify="left")
        for vm, what in self.rows.items():
            table.add_row(escape(vm), escape(what))
        return table

    def __call__(self, vm: str, what: str) -> None:
        self.rows[vm] = what
        if self.live:
            self.live.update(self._table())
        else:
            err.print(f"{vm}: {what}", highlight=False, markup=False)

    def __enter__(self) -> Steps:
        if self.live:
            self.live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.live:
            self.live.stop()
