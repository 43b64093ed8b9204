"""Every page of the command's help renders, whatever its text holds (``[/udp]`` is not markup)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import typer.main

import cloudvm
from cloudvm.cli import app


def commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group, as the words that name it."""
    found = [path]
    if hasattr(command, "commands"):  # a group
        for name, sub in sorted(command.commands.items()):
            found += commands(sub, (*path, name))
    return found


EVERY = commands(typer.main.get_command(app))


def test_the_tree_holds_every_command() -> None:
    assert {("create",), ("backup", "run"), ("dr", "drill"), ("up",)} <= set(EVERY)


@pytest.mark.parametrize("words", EVERY, ids=lambda words: " ".join(words) or "cloudvm")
def test_help_renders(words: tuple[str, ...]) -> None:
    shown = subprocess.run([sys.executable, "-m", "cloudvm", *words, "--help"], capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    assert f"Usage: cloudvm {' '.join(words)}".rstrip() in " ".join(shown.stdout.split())


def test_help_is_shown_as_written() -> None:
    shown = subprocess.run([sys.executable, "-m", "cloudvm", "create", "--help"], capture_output=True, text=True,
                           timeout=60)
    assert "53/udp, 443@10.0.0.0/8" in shown.stdout


def test_version() -> None:
    shown = subprocess.run([sys.executable, "-m", "cloudvm", "--version"], capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0 and shown.stdout == f"cloudvm {cloudvm.__version__}\n"


def test_completion_is_offered() -> None:
    shown = subprocess.run([sys.executable, "-m", "cloudvm", "--help"], capture_output=True, text=True, timeout=60)
    assert "--install-completion" in shown.stdout and "--show-completion" in shown.stdout
