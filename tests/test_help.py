"""Every page of the command's help renders, whatever its text holds (``[/udp]`` is not markup)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import cloudvm
from cloudvm.cli import commands

EVERY = commands()


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
