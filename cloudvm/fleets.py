"""Counted fleets: VMs alike but for their number, which some clouds launch in one request.

``create_many(spec, count=N)`` and an environment's ``count:`` make VMs named ``{name}-1`` ...
``{name}-N`` that differ in nothing else. The core marks every such run in a batch as one fleet, so a
provider whose API launches many instances in one call (EC2's ``RunInstances`` with ``MinCount =
MaxCount``) sends one call per chunk and names each member by its place in the chunk, while providers
that make one VM a call see ordinary requests. Members keep tokens of their own, derived from the
fleet's, so a member found again is told apart from its siblings.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cloudvm import tags as tagging

if TYPE_CHECKING:
    from cloudvm.provider import LaunchRequest

_NUMBERED = re.compile(r"^(?P<name>.+)-(?P<number>[1-9][0-9]*)$")


@dataclass(frozen=True)
class Member:
    """A request's place in its fleet."""

    fleet: str  # the name the members share before their number
    number: int  # from 1
    token: str  # the fleet's token; each member's own is ``member_token(token, number)``


def numbered(name: str) -> tuple[str, int] | None:
    """The fleet name and number a VM name would have as a member (``web-3``: ``("web", 3)``)."""
    match = _NUMBERED.match(name)
    return (match["name"], int(match["number"])) if match else None


def member_token(fleet_token: str, number: int) -> str:
    return f"{fleet_token}-{number}"


def member_name(fleet: str, number: int) -> str:
    return f"{fleet}-{number}"


def _kin(request: LaunchRequest) -> tuple[str, str] | None:
    """What members of one fleet share: the name before the number, the spec and tags but for names."""
    place = numbered(request.spec.name)
    if place is None:
        return None
    shared = {k: v for k, v in request.tags.items() if k not in (tagging.NAME, tagging.TOKEN)}
    return place[0], json.dumps([request.spec.model_dump(mode="json", exclude={"name"}), shared,
                                      request.size.type_name, request.image], sort_keys=True)


def mark(requests: Sequence[LaunchRequest]) -> list[LaunchRequest]:
    """The requests, those of two or more alike VMs numbered one after another made fleet members."""
    out = list(requests)
    runs: dict[tuple[str, str], list[int]] = {}
    for i, request in enumerate(out):
        kin = _kin(request)
        if kin is not None:
            runs.setdefault(kin, []).append(i)
    for (fleet, _), places in runs.items():
        if len(places) < 2:
            continue
        token = uuid.uuid4().hex[:16]
        for i in places:
            number = int(out[i].spec.name.rpartition("-")[2])
            own = member_token(token, number)
            out[i] = replace(out[i], token=own, tags={**out[i].tags, tagging.TOKEN: own},
                             fleet=Member(fleet, number, token))
    return out


def parts(requests: Sequence[LaunchRequest], size: int | None, fleet_size: int | None) -> list[list[LaunchRequest]]:
    """The launch calls for a batch, in order: runs of one fleet's consecutive members up to
    ``fleet_size`` together (when the provider takes fleets), every other request in chunks of ``size``."""
    out: list[list[LaunchRequest]] = []
    for request in requests:
        if out and _joins(out[-1], request, size, fleet_size):
            out[-1].append(request)
        else:
            out.append([request])
    return out


def _joins(part: list[LaunchRequest], request: LaunchRequest, size: int | None, fleet_size: int | None) -> bool:
    last = part[-1].fleet if fleet_size else None
    this = request.fleet if fleet_size else None
    if last is None and this is None:
        return not size or len(part) < size
    return (last is not None and this is not None and last.token == this.token
            and this.number == last.number + 1 and len(part) < (fleet_size or 0))
