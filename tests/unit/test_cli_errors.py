"""The CLI's closed error tree: every exit code from pipeline.errors, one line for a bug (the
traceback only with --debug), kubeconfig problems named with their fix (exit 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import run
from pipeline.core.settings import KubeSettings
from pipeline.errors import ExitCode, KubeAccessError
from pipeline.wiring import check_kubeconfig

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts: [{name: sandbox, context: {cluster: c, user: u}}]
current-context: sandbox
"""


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom\nsecond line")


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug: reading pipeline.yaml raises an exception no command expects."""
    monkeypatch.setattr("pipeline.commands.render.load_config", _boom)
    monkeypatch.delenv("PIPELINE_DEBUG", raising=False)


@pytest.mark.usefixtures("broken")
def test_a_bug_is_one_line_naming_the_command_and_how_to_see_more(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run(["render", "rbac"])
    err = capsys.readouterr().err
    assert code == ExitCode.INTERNAL
    assert err.count("\n") == 1, err
    assert err.startswith("error: pipeline render rbac failed unexpectedly in command (")
    assert "(pipeline/commands/render.py:" in err
    assert "RuntimeError: boom;" in err
    assert "rerun with --debug" in err and "PIPELINE_DEBUG=1" in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("broken")
@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(
    how: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "env":
        monkeypatch.setenv("PIPELINE_DEBUG", "1")
    code = run(["--debug", "render", "rbac"] if how == "flag" else ["render", "rbac"])
    err = capsys.readouterr().err
    assert code == ExitCode.INTERNAL
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: boom" in err


def test_bad_flags_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["poll", "--workers", "0"]) == ExitCode.USAGE
    assert "Invalid value for '--workers'" in capsys.readouterr().err


def test_new_exit_codes_keep_the_old_numbers() -> None:
    assert [int(c) for c in ExitCode][:15] == list(range(15))
    assert (ExitCode.DRIFT, ExitCode.INTERRUPTED, ExitCode.TERMINATED) == (15, 130, 143)


@pytest.mark.parametrize(
    ("text", "context", "named", "fix"),
    [
        (None, None, "the file does not exist", "set KUBECONFIG"),
        ("clusters: [\n", None, "not readable YAML", "kubectl config view"),
        ("- a\n", None, "not a mapping", "point KUBECONFIG"),
        (KUBECONFIG, "prod", "context 'prod' (--kube-context) is not defined", "one of: sandbox"),
        (KUBECONFIG.replace("current-context: sandbox", ""), None, "sets no current-context",
         "--kube-context (one of: sandbox)"),
    ],
)  # fmt: skip
def test_an_unusable_kubeconfig_is_named_with_its_fix(
    tmp_path: Path, text: str | None, context: str | None, named: str, fix: str
) -> None:
    path = tmp_path / "kubeconfig"
    if text is not None:
        path.write_text(text)
    with pytest.raises(KubeAccessError) as caught:
        check_kubeconfig(KubeSettings(str(path), context))
    assert caught.value.exit_code == ExitCode.KUBE_ACCESS
    assert f"no usable kubeconfig ({path})" in caught.value.message
    assert named in caught.value.message
    assert fix in caught.value.hint


def test_a_good_kubeconfig_passes(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    check_kubeconfig(KubeSettings(str(path), "sandbox"))
