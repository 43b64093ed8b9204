"""The typer application and the options every command shares."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

import cloudvm
from cloudvm.errors import InvalidSpec


def group(help: str, completion: bool = False) -> typer.Typer:
    """A command group. Help is plain text, not Rich markup: it names forms such as
    ``PORT[-TO][/udp]``, which markup would read as tags (and fail to render)."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False,
                       add_completion=completion)


# --install-completion / --show-completion: bash, zsh, fish and PowerShell
app = group("Create, use, back up and tear down VMs on any provider.", completion=True)


@dataclass
class Settings:
    provider: str = "libvirt"
    options: dict[str, Any] = field(default_factory=dict)
    output: str = "table"

    def connect(self) -> cloudvm.Cloud:
        return cloudvm.connect(self.provider, **self.options)

    @contextmanager
    def everywhere(self, at: list[str] | None) -> Iterator[list[cloudvm.Cloud]]:
        """The connection, or one per location of ``at`` (regions, zones, libvirt hosts' URIs)."""
        with self.connect() as cloud:
            if not at:
                yield [cloud]
                return
            clouds = [cloud.at(where) for where in at]
            try:
                yield clouds
            finally:
                for each in clouds:
                    each.close()


AT = typer.Option("--at", help="at these locations instead (regions, zones, libvirt URIs; repeatable)")


settings = Settings()


def pairs(values: list[str] | None, what: str) -> dict[str, str]:
    """``key=value`` arguments as a dict."""
    result = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidSpec(what, f"{item!r} is not key=value")
        result[key] = value
    return result


def _version(asked: bool) -> None:
    if asked:
        typer.echo(f"cloudvm {cloudvm.__version__}")
        raise typer.Exit()


@app.callback()
def common(
    provider: Annotated[str, typer.Option("--provider", "-p", envvar="CLOUDVM_PROVIDER",
                                          help="libvirt, aws, gcp, azure, ...")] = "libvirt",
    option: Annotated[list[str] | None, typer.Option("--option", "-O",
                                                     help="provider option key=value (uri=, region=, ...)")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log each provider call")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
    version: Annotated[bool, typer.Option("--version", help="print the version and exit", is_eager=True,
                                          callback=_version)] = False,
) -> None:
    if output not in ("table", "json"):
        raise typer.BadParameter("must be table or json", param_hint="--output")
    settings.provider, settings.options, settings.output = provider, pairs(option, "--option"), output
    if verbose or debug or os.environ.get("CLOUDVM_DEBUG"):
        # cloudvm's own loggers only: the cloud SDKs' debug logs carry credentials (botocore logs
        # every signed request, session token included)
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
        logging.getLogger("cloudvm").setLevel(logging.DEBUG if debug else logging.INFO)
