"""What a user asks for: validated, immutable, provider-neutral.

Every check runs when the object is built, so a bad request fails with
``InvalidSpec`` naming the field before any provider is called.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cloudvm.errors import InvalidSpec

NAME_PATTERN = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
RESERVED_TAG_PREFIX = "cloudvm-"
_SSH_KEY = re.compile(
    r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-\S+@openssh\.com) [A-Za-z0-9+/=]+( .*)?$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_RESERVED_USERS = frozenset({"root", "daemon", "bin", "sys", "nobody", "admin"})


def check_name(name: str, field: str = "name") -> str:
    """The naming rule of VMs and snapshots (RFC 1035 labels: valid everywhere)."""
    if not re.match(NAME_PATTERN, name):
        raise InvalidSpec(field, f"must match {NAME_PATTERN} (lowercase letters, digits and -)")
    return name


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(err: Any) -> str:
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()))
        return f"must be {op} {bound}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx['pattern']}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    msg: str = err["msg"]
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _field_problem(err: Any) -> tuple[str, str]:
    where = _location(tuple(err["loc"]))
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, InvalidSpec):  # a nested model built from a dict
        return ".".join(p for p in (where, inner.field) if p), inner.problem
    return where, _problem(err)


def invalid_spec(exc: ValidationError) -> InvalidSpec:
    """Turn pydantic's report into one InvalidSpec naming the first bad field.

    Only the location and the problem are kept, never the input value: it may
    be user-data holding a secret.
    """
    problems = [_field_problem(e) for e in exc.errors(include_input=False)]
    field, problem = problems[0]
    err = InvalidSpec(field, problem)
    if len(problems) > 1:
        more = "; ".join(f"{f}: {p}" for f, p in problems[1:])
        err.message = f"{err.message} (and {len(problems) - 1} more: {more})"
        err.args = (err.message,)
    return err


class SpecModel(BaseModel):
    """Frozen pydantic model whose construction errors are ``InvalidSpec``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise invalid_spec(exc) from None


class Size(SpecModel):
    """Either a shape (cpus + memory) the provider resolves, or its own type name."""

    cpus: int | None = Field(default=None, gt=0, le=1024)
    memory_gib: float | None = Field(default=None, gt=0, le=24576)
    instance_type: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> Size:
        shaped = self.cpus is not None or self.memory_gib is not None
        if self.instance_type and shaped:
            raise ValueError("give either instance_type or cpus+memory_gib, not both")
        if not self.instance_type and (self.cpus is None or self.memory_gib is None):
            raise ValueError("needs both cpus and memory_gib (or an instance_type)")
        return self


class Disk(SpecModel):
    """A data disk; ``keep`` makes it outlive the VM."""

    size_gib: int = Field(gt=0, le=65536)
    tier: Literal["standard", "ssd"] = "standard"
    keep: bool = False


class Ingress(SpecModel):
    """One allowed inbound flow."""

    port: int = Field(ge=1, le=65535)
    to_port: int | None = Field(default=None, ge=1, le=65535)
    protocol: Literal["tcp", "udp"] = "tcp"
    cidr: str = "0.0.0.0/0"

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_network(value, strict=True))
        except ValueError as exc:
            raise ValueError(f"not a CIDR block: {exc}") from None

    @model_validator(mode="after")
    def _range(self) -> Ingress:
        if self.to_port is not None and self.to_port < self.port:
            raise ValueError("to_port must be >= port")
        return self


class Network(SpecModel):
    """Where the VM's interface goes; ``name`` None means the provider's default."""

    name: str | None = None
    public_ip: bool = False
    ingress: tuple[Ingress, ...] = ()


class SSHAccess(SpecModel):
    """The login user created on first boot and the keys it accepts."""

    user: str = "cloudvm"
    public_keys: tuple[str, ...] = Field(min_length=1)

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if not _USER.match(value):
            raise ValueError("must be a POSIX user name (lowercase letters, digits, _ and -, 1-32 chars)")
        if value in _RESERVED_USERS:
            raise ValueError(f"{value!r} is reserved on cloud images; pick another login user")
        return value

    @field_validator("public_keys")
    @classmethod
    def _keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for i, key in enumerate(keys):
            if not _SSH_KEY.match(key.strip()) or "\n" in key.strip():
                raise ValueError(f"[{i}] is not an OpenSSH public key line ('ssh-ed25519 AAAA... comment')")
        return tuple(k.strip() for k in keys)


class Spot(SpecModel):
    """Spare capacity at a discount (spot, preemptible), which the cloud takes back at short notice.
    ``max_price``: the most to pay an hour, in US dollars (None: up to the on-demand price).
    ``on_interruption``: what the cloud does with a VM it takes back — delete it, or stop it with its
    disks kept, where the cloud can."""

    max_price: float | None = Field(default=None, gt=0, le=10000)
    on_interruption: Literal["delete", "stop"] = "delete"


class VMSpec(SpecModel):
    """Everything needed to create one VM, the same on every provider."""

    name: str = Field(pattern=NAME_PATTERN)
    size: Size
    image: str = Field(min_length=1)
    root_disk_gib: int | None = Field(default=None, gt=0, le=65536)
    disks: tuple[Disk, ...] = Field(default=(), max_length=16)
    network: Network = Network()
    ssh: SSHAccess | None = None
    user_data: str | None = Field(default=None, repr=False, max_length=16384)
    # Every disk is encrypted at rest on every cloud, by default with the cloud's own keys; this
    # names a customer-managed key for all of the VM's disks instead: an AWS KMS key (id, ARN,
    # alias/NAME or alias ARN), a GCP Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K),
    # an Azure disk encryption set's resource id.
    encryption_key: str | None = Field(default=None, min_length=1, max_length=2048)
    spot: Spot | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    extra: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        for key, value in tags.items():
            if not key or len(key) > 63:
                raise ValueError(f"key {key!r} must be 1-63 characters")
            if key.lower().startswith(RESERVED_TAG_PREFIX):
                raise ValueError(f"key {key!r} uses the reserved prefix {RESERVED_TAG_PREFIX!r}")
            if len(value) > 63:
                raise ValueError(f"value of {key!r} must be at most 63 characters")
        return tags

    def replace(self, **changes: Any) -> VMSpec:
        """A copy with some fields changed, validated again."""
        return VMSpec(**{**self.model_dump(), **changes})
