"""The lazy command registry of `pipeline` (pipeline/cli.py) and the sandbox extra's hint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import COMMANDS, cli, load_command
from pipeline.errors import ExitCode


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_registry_names_a_command_with_the_same_short_help(name: str) -> None:
    target, short_help = COMMANDS[name]
    command = load_command(target)
    assert command.name == name
    assert short_help == command.get_short_help_str(limit=1000)


def test_group_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:\n", 1)[1]
    assert [line.split()[0] for line in listed.splitlines()] == sorted(COMMANDS)


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == ExitCode.USAGE
    assert "No such command" in result.output


def test_load_command_rejects_what_is_not_a_command() -> None:
    with pytest.raises(TypeError, match="is not a click command"):
        load_command("pipeline.cli:COMMANDS")
    assert isinstance(load_command("pipeline.cli:cli"), click.Group)


def test_sandbox_without_its_extra_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['bcrypt'] = None; "  # makes `import bcrypt` fail
        "sys.argv = ['pipeline', 'sandbox', 'status', '--state-dir', sys.argv[1]]; "
        "from pipeline.cli import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "error: pipeline sandbox needs bcrypt, from the 'sandbox' extra" in done.stderr
    assert "hint: pip install 'argocd-canary[sandbox]'" in done.stderr
