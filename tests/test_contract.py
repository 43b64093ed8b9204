"""The provider contract, read from the providers' source: a provider translates and returns; it
never sleeps, loops until something changes, or blocks on an operation (the core waits, for the
whole batch at once). Test backends (each cloud's own distribution; libvirt's ``testing``
module) are not provider code and are not read."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent / "providers"
# Where providers still wait, each to go; the list only shrinks (the test fails on a new wait and
# on one that is gone but still listed).
STILL_WAITING: dict[tuple[str, str, str], str] = {}


def _waits(tree: ast.AST) -> set[str]:
    """Functions holding a sleep, a loop on a condition, a clock read or a blocking wait/result."""
    found = set()
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef):
            continue
        for node in ast.walk(func):
            name = ""
            if isinstance(node, ast.Call):
                target = node.func
                name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                blocking = name in ("sleep", "monotonic", "wait") or (
                    name == "result" and any(k.arg == "timeout" for k in node.keywords))
            else:
                blocking = isinstance(node, ast.While)
            if blocking:
                found.add(func.name)
    return found


def test_providers_never_wait() -> None:
    waiting = {}
    for path in sorted(ROOT.glob("*/cloudvm_*/**/*.py")):
        relative = path.relative_to(ROOT)
        if relative.name == "testing.py":
            continue
        for func in _waits(ast.parse(path.read_text())):
            waiting[(relative.parts[0], relative.name, func)] = str(relative)
    assert sorted(waiting) == sorted(STILL_WAITING)


def test_the_reader_sees_a_wait() -> None:
    source = "import time\ndef poll(op):\n    while not op.done():\n        time.sleep(1)\n"
    assert _waits(ast.parse(source)) == {"poll"}
    assert _waits(ast.parse("def get(p):\n    return p.result()\n")) == set()  # an answer already in hand
