"""docs/deploy-canary.md's configuration reference matches the command: every option is
documented with its environment variable, every documented flag exists, and pipeline.yaml keys
are the ones the command reads (unknown ones are refused)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pipeline.commands.deploy import CONFIG_KEYS, OTHER_COMMANDS_KEYS, deploy_canary

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy-canary.md"


def reference_rows() -> list[list[str]]:
    text = DOC.read_text()
    section = text[text.index("## Configuration") : text.index("### Registry credentials")]
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| `--")
    ]


def options() -> list[click.Option]:
    return [p for p in deploy_canary.params if isinstance(p, click.Option)]


def test_every_option_is_documented_with_its_environment_variable() -> None:
    rows = reference_rows()
    for option in options():
        flag = max(option.opts, key=len)
        row = next((r for r in rows if f"`{flag}`" in r[0]), None)
        assert row is not None, f"{flag} is not in the configuration reference"
        assert f"`{option.envvar}`" in row[1], f"{flag}: env var {option.envvar} not documented"


def test_every_documented_flag_exists() -> None:
    known = {opt for option in options() for opt in option.opts}
    for row in reference_rows():
        for flag in re.findall(r"`(--?[a-z][a-z-]*)`", row[0]):
            assert flag in known, f"documented {flag} does not exist"


def test_documented_pipeline_yaml_keys_are_the_ones_read() -> None:
    documented = {key for row in reference_rows() for key in re.findall(r"`([a-z_]+)`", row[2])}
    assert documented == CONFIG_KEYS - OTHER_COMMANDS_KEYS


@pytest.mark.parametrize("key", ["output", "registry"])
def test_an_unknown_pipeline_yaml_key_is_a_usage_error(tmp_path: Path, key: str) -> None:
    config = tmp_path / "pipeline.yaml"
    config.write_text(f"image: 127.0.0.1:5000/eco2\n{key}: x\nservices: [auth]\n")
    result = CliRunner().invoke(deploy_canary, ["--config", str(config), "--output", "json"])
    assert result.exit_code == 2
    assert f"config file {config}: unknown key '{key}'" in result.output
