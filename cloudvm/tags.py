"""The tags cloudvm puts on everything it creates, and per-provider spelling.

State lives in these tags on the provider's own resources, so there is no
state file to lose: ``cloudvm-managed`` marks what cloudvm owns and
``cloudvm-name`` gives the VM or snapshot name back.
"""

from __future__ import annotations

import re

PREFIX = "cloudvm-"
MANAGED = "cloudvm-managed"
NAME = "cloudvm-name"
TOKEN = "cloudvm-token"
COPIED_FROM = "cloudvm-copied-from"  # on a DR copy: the id of the snapshot it copies
USER = "cloudvm-user"  # a VM's login user, where the cloud keeps none of its own
IMAGE = "cloudvm-image"  # the image a VM booted from, where the cloud keeps none of its own
SPOT = "cloudvm-spot"  # a spot VM's declaration: what the cloud does when it takes it back (delete, stop)
SYSTEM_KEYS = frozenset({MANAGED, NAME, TOKEN})


def system_tags(name: str, token: str | None = None) -> dict[str, str]:
    """The tags the core adds to every resource of the VM or snapshot ``name``."""
    tags = {MANAGED: "true", NAME: name}
    if token:
        tags[TOKEN] = token
    return tags


def declared(tags: dict[str, str]) -> dict[str, str]:
    """Only the tags a spec may declare: everything cloudvm added (environment, backup, ...) removed."""
    return {k: v for k, v in tags.items() if not k.startswith(PREFIX)}


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags as the user set them, the core's own removed."""
    return {k: v for k, v in tags.items() if k not in SYSTEM_KEYS}


def matches(tags: dict[str, str], wanted: dict[str, str] | None) -> bool:
    """True when every wanted key is present with the wanted value."""
    return all(tags.get(k) == v for k, v in (wanted or {}).items())


_LABEL_BAD = re.compile(r"[^a-z0-9_-]")


def as_label(text: str, *, key: bool = False) -> str:
    """Spell a tag key or value as a GCP-style label: lowercase ``[a-z0-9_-]``,
    at most 63 characters, keys starting with a letter.

    The mapping is lossy, so providers with label semantics store the
    original in a second place when they must give it back exactly.
    """
    out = _LABEL_BAD.sub("_", text.lower())[:63]
    if key and not out[:1].isalpha():
        out = ("k" + out)[:63]
    return out


def as_labels(tags: dict[str, str]) -> dict[str, str]:
    """Every tag spelled as a label; raises if two keys collide once spelled."""
    out: dict[str, str] = {}
    origin: dict[str, str] = {}
    for k, v in tags.items():
        label = as_label(k, key=True)
        if label in out:
            raise ValueError(f"tags {origin[label]!r} and {k!r} both become label {label!r}")
        out[label], origin[label] = as_label(v), k
    return out
