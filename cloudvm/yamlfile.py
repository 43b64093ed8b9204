"""Files people write (environments, backup policies): YAML or JSON, checked
into a model, every error naming the field and the line it is on."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from cloudvm.errors import InvalidSpec

T = TypeVar("T")


def line_of(node: yaml.Node | None, field: str) -> int | None:
    """The line of ``field`` (``vms[1].count``) in the composed document, or of its nearest parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in re.findall(r"[^.\[\]]+", field):
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


class YamlFile:
    """A mapping read from ``path``, with the node tree kept to point at lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text()
        except OSError as exc:
            raise InvalidSpec("file", f"cannot read {path}: {exc.strerror}") from None
        try:
            self.document = yaml.compose(text)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidSpec("file", f"{path}: not YAML or JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidSpec("file", f"{path}: expected a mapping at the top")
        self.data: dict[str, Any] = data

    def where(self, field: str) -> str:
        return f"{self.path}, line {line_of(self.document, field)}"

    def checked(self, build: Callable[[], T], prefix: str = "") -> T:
        """``build()``, its InvalidSpec told with the full field path and line."""
        try:
            return build()
        except InvalidSpec as exc:
            field = ".".join(p for p in (prefix, exc.field) if p)
            raise InvalidSpec(field, f"{exc.problem} ({self.where(field)})") from None
