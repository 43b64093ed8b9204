"""The pages people read (the README and the site's), as the tests that run their examples see them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import cloudvm
from cloudvm import backup

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks() -> Iterator[tuple[str, str, int, str, str]]:
    """Every fenced block: its page (relative to the repository), the heading above it, its place
    under that heading (0, 1, ...), its language and its text."""
    for page in PAGES:
        heading, seen = "", 0
        for part in re.finditer(r"^(#+ [^\n]*)$|^```(\w*)\n(.*?)^```$", page.read_text(), re.S | re.M):
            if part.group(1):
                heading, seen = part.group(1).lstrip("#").strip(), 0
            else:
                yield str(page.relative_to(ROOT)), heading, seen, part.group(2), part.group(3)
                seen += 1


def block(language: str, heading: str) -> str:
    """The first ``language`` block under ``heading``, on the page that has it (the README or the site's)."""
    for page in PAGES:
        section = re.search(rf"^#+ {re.escape(heading)}\n(.*)", page.read_text(), re.S | re.M)
        if section:
            match = re.search(rf"```{language}\n(.*?)```", section.group(1), re.S)
            assert match, f"no {language} block under {heading} in {page}"
            return match.group(1)
    raise AssertionError(f"no page has a section {heading!r}")


def clear(vms: tuple[str, ...], snapshots: tuple[str, ...] = ()) -> None:
    """Remove what a tour makes, whether it finished or an earlier run was killed halfway:
    the README's names are fixed, and a VM left by name would stop the next run."""
    with cloudvm.connect("libvirt", network="cloudvm-test") as cloud:
        made = [s for s in cloud.list_snapshots() if s.name in snapshots or s.tags.get(backup.SOURCE) in vms]
        drills = tuple(f"drill-{s.name}" for s in made)  # a drill's VM is named after the backup it restores
        cloud.delete([vm for vm in cloud.list() if vm.name in vms or vm.name.startswith(drills)])
        for snap in made:
            cloud.delete_snapshot(snap)


