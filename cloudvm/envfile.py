"""Environment files: a set of VMs declared in YAML (JSON accepted), checked
before anything is created, with errors that name the field and its line."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from cloudvm.errors import InvalidSpec
from cloudvm.spec import Disk, Network, Size, SpecModel, Spot, VMSpec
from cloudvm.yamlfile import YamlFile

_SHORT_NAME = r"^[a-z]([-a-z0-9]{0,28}[a-z0-9])?$"
_TTL = re.compile(r"^(\d+)([mhdw])$")
_KEY_LINE = re.compile(r"^(ssh-|ecdsa-|sk-)")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


SPOT_SUFFIX = ":spot"  # a placement's label ending so: its VMs go on spot capacity there


class UserData(SpecModel):
    """A script or ``#cloud-config``, inline or from a file next to the environment file."""

    file: str | None = None
    text: str | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _one(self) -> UserData:
        if (self.file is None) == (self.text is None):
            raise ValueError("give exactly one of file or text")
        return self


class Login(SpecModel):
    """The login user; keys are public key lines or paths to ``.pub`` files."""

    user: str = "cloudvm"
    public_keys: tuple[str, ...] = Field(min_length=1)


class Defaults(SpecModel):
    image: str | None = None
    size: Size | None = None
    root_disk_gib: int | None = Field(default=None, gt=0)
    disks: tuple[Disk, ...] | None = None
    network: Network | None = None
    ssh: Login | None = None
    user_data: UserData | None = None
    # true (spot at the on-demand price as ceiling), a Spot's fields, or false (on demand, over defaults)
    spot: Spot | bool | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class Group(Defaults):
    """One declared VM, or ``count`` alike (``web`` x2 is ``web-1``, ``web-2``)."""

    name: str = Field(pattern=_SHORT_NAME)
    count: int = Field(default=1, ge=1, le=100)


class EnvironmentFile(SpecModel):
    name: str = Field(pattern=_SHORT_NAME)
    provider: dict[str, Any] | None = None
    placement: tuple[str, ...] | None = Field(default=None, min_length=1)
    ttl: str | None = None
    defaults: Defaults = Defaults()
    vms: tuple[Group, ...] = Field(min_length=1)

    @field_validator("provider")
    @classmethod
    def _provider(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not isinstance(value.get("name"), str):
            raise ValueError("needs a name (libvirt, aws, gcp, azure) and that provider's connect() options")
        return value

    @field_validator("placement")
    @classmethod
    def _placement(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for i, item in enumerate(value or ()):
            if not re.match(r"^[a-z][a-z0-9_]*:\S+$", item.removesuffix(SPOT_SUFFIX)):
                raise ValueError(f"[{i}] {item!r} is not provider:location (aws:us-east-1, gcp:europe-west1-b), "
                                 f"or provider:location{SPOT_SUFFIX} for its spot capacity")
        return value

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: str | None) -> str | None:
        if value is not None and not _TTL.match(value):
            raise ValueError("must be a duration such as 30m, 8h, 2d or 1w")
        return value

    @model_validator(mode="after")
    def _groups(self) -> EnvironmentFile:
        names = [g.name for g in self.vms]
        if len(set(names)) != len(names):
            raise ValueError(f"VM names repeat: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
        if self.provider is None and not self.placement:
            raise ValueError("give a provider, or a placement list to try in order")
        return self

    @property
    def ttl_seconds(self) -> int | None:
        found = _TTL.match(self.ttl or "")
        return int(found.group(1)) * _UNIT[found.group(2)] if found else None


class Loaded(YamlFile):
    """An environment file read and checked: its model and the VM specs it declares."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.model = self.checked(lambda: EnvironmentFile(**self.data))
        self.specs = {short: spec for g in self.model.vms for short, spec in self._expand(g).items()}

    def _expand(self, group: Group) -> dict[str, VMSpec]:
        index = self.model.vms.index(group)
        where = f"vms[{index}]"
        base = self.model.defaults
        tags = {**base.tags, **group.tags}

        def pick(name: str) -> Any:
            own = getattr(group, name)
            return own if own is not None else getattr(base, name)

        login = pick("ssh")
        spot = pick("spot")
        fields: dict[str, Any] = {
            "size": pick("size"), "image": pick("image"), "root_disk_gib": pick("root_disk_gib"),
            "disks": pick("disks") or (), "network": pick("network") or Network(), "tags": tags,
            "spot": Spot() if spot is True else spot or None,
            "ssh": self._login(login, f"{where}.ssh" if group.ssh else "defaults.ssh") if login else None,
            "user_data": self._user_data(pick("user_data"),
                                         f"{where}.user_data" if group.user_data else "defaults.user_data"),
        }
        names = [group.name] if group.count == 1 else [f"{group.name}-{i}" for i in range(1, group.count + 1)]
        return {short: self.checked(partial(VMSpec, name=f"{self.model.name}-{short}", **fields), where)
                for short in names}

    def _login(self, login: Login, field: str) -> dict[str, Any]:
        keys = []
        for i, key in enumerate(login.public_keys):
            if _KEY_LINE.match(key):
                keys.append(key)
                continue
            keys.append(self._read(key, f"{field}.public_keys[{i}]").strip())
        return {"user": login.user, "public_keys": keys}

    def _user_data(self, data: UserData | None, field: str) -> str | None:
        if data is None or data.file is None:
            return data.text if data else None
        return self._read(data.file, f"{field}.file")

    def _read(self, name: str, field: str) -> str:
        """A file named in the environment file (relative to it, ``~`` expanded)."""
        path = Path(name).expanduser()
        path = path if path.is_absolute() else self.path.parent / path
        try:
            return path.read_text()
        except OSError as exc:
            raise InvalidSpec(field, f"cannot read {path}: {exc.strerror} ({self.where(field)})") from None
