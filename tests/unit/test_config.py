"""pipeline/config.py: one loader for every command; every problem of the file named at once;
precedence flag/env > the service's entry > the top level > the default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.config import AppTarget, ConfigFile, app_targets, deploy_settings, load_config
from pipeline.errors import UsageError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("- auth\n- users\n", "is not a mapping (it holds a list)"),
        ("services: [auth\n", "is not valid YAML (line 2, column 1)"),
        ("colour: red\n", "unknown key 'colour'"),
        ("timeout: soon\n", "'timeout' must be a number, not 'soon'"),
        ("timeout: true\n", "'timeout' must be a number, not True"),
        ("crashloop_restarts: 1.5\n", "'crashloop_restarts' must be an integer"),
        ("services: auth\n", "'services' must be a list, not 'auth'"),
        ("paths: [a]\n", "'paths' must be a mapping"),
        ("pin_method: sideways\n", "'pin_method' must be one of auto"),
        ("services: [{name: auth, colour: red}]\n", "unknown key 'colour' in service 'auth'"),
        ("services: [{name: auth, tag: 5}]\n", "'tag' of service 'auth' must be a string"),
        ("services: [42]\n", "services entry 42 is neither a name nor a mapping"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_key(
    tmp_path: Path, text: str, named: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        load_config(path)
    assert str(path) in caught.value.message
    assert named in caught.value.message
    assert caught.value.hint


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "colour: red\ntimeout: soon\nservices: [{name: a, shape: x}]\n")
    with pytest.raises(UsageError) as caught:
        load_config(path)
    message = caught.value.message
    assert "'colour'" in message and "'timeout'" in message and "'shape'" in message


def test_a_missing_explicit_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError, match=re.escape(f"cannot read config file {tmp_path}/nope.yaml")
    ):
        load_config(tmp_path / "nope.yaml")


def test_no_file_is_an_empty_config_unless_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(None) == ConfigFile()
    with pytest.raises(UsageError, match=r"pipeline\.yaml is missing"):
        load_config(None, required=True)


def test_keys_may_use_dashes(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "argocd-namespace: gitops\npin-method: helm\n"))
    assert dict(config.values) == {"argocd_namespace": "gitops", "pin_method": "helm"}


DEPLOY_PARAMS = {
    "service": (), "digest": None, "no_build": False, "revision": "", "source": "", "pr": "",
    "platform": (), "cache_from": (), "cache_to": None, "build_arg": (), "dry_run": False,
    "terminate_running": False, "run_id": "r1", "argocd_namespace": "argocd", "timeout": 300.0,
    "pin_method": "auto", "crashloop_restarts": 2, "settle": 1.0,
}  # fmt: skip


def test_deploy_precedence_flag_over_service_entry_over_top_level(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "tag: top-{service}\nnamespace: top\ntimeout: 60\n"
            "services: [{name: auth, tag: 'entry-{service}', namespace: entry}, users]\n",
        )
    )
    settings = deploy_settings(DEPLOY_PARAMS, {"namespace": "flag"}, config, {}, started_ns=1)
    auth, users = settings.services
    assert (auth.tag, auth.namespace) == ("entry-{service}", "flag")
    assert (users.tag, users.namespace) == ("top-{service}", "flag")
    assert settings.run.timeout == 60.0  # pipeline.yaml beats the default
    explicit = deploy_settings(DEPLOY_PARAMS, {"timeout": 5.0}, config, {}, started_ns=1)
    assert explicit.run.timeout == 5.0  # a flag (or PIPELINE_TIMEOUT) beats pipeline.yaml


def test_status_targets_come_from_pipeline_yaml_like_deploy_canary(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "app: team-{service}\nargocd_namespace: gitops\nalias: web\n"
            "services: [auth, {name: users, selector: 'app=users,track=canary', app: u}]\n",
        )
    )
    assert app_targets((), {}, config) == (
        AppTarget("team-auth", "gitops", "auth", "web"),
        AppTarget("u", "gitops", "users", "web", selector="app=users,track=canary"),
    )


@pytest.mark.parametrize(
    ("services", "explicit", "expected"),
    [
        (("auth",), {}, AppTarget("dev-api-auth", "argocd", "auth")),
        ((), {"app": "my-app"}, AppTarget("my-app", "argocd", None)),
        (("auth",), {"app": "x-{service}", "argocd_namespace": "ns"},
         AppTarget("x-auth", "ns", "auth")),
        (("auth",), {"selector": "app={service}"},
         AppTarget("dev-api-auth", "argocd", "auth", selector="app=auth")),
    ],
)  # fmt: skip
def test_status_targets_without_pipeline_yaml(
    services: tuple[str, ...], explicit: dict[str, str], expected: AppTarget
) -> None:
    assert app_targets(services, explicit, ConfigFile()) == (expected,)


@pytest.mark.parametrize(
    ("services", "explicit", "message"),
    [
        ((), {}, "no service or Application given"),
        ((), {"app": "dev-{service}"}, "is a template but no service is given"),
        (("auth",), {"app": "{servise}"}, "unknown field {servise}"),
    ],
)
def test_status_targets_refuse_what_names_no_application(
    services: tuple[str, ...], explicit: dict[str, str], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        app_targets(services, explicit, ConfigFile())


@pytest.mark.parametrize(
    ("args", "env", "timeout"),
    [
        ([], {}, 60.0),  # pipeline.yaml beats the default (300)
        ([], {"PIPELINE_TIMEOUT": "30"}, 30.0),  # the environment beats pipeline.yaml
        (["--timeout", "5"], {"PIPELINE_TIMEOUT": "30"}, 5.0),  # the flag beats the environment
    ],
)
def test_flag_over_environment_over_pipeline_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str],
    timeout: float,
) -> None:  # fmt: skip
    from pipeline.commands.deploy import build_settings, deploy_canary

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = write(tmp_path, "image: 127.0.0.1:5000/eco2\ntimeout: 60\nservices: [auth]\n")
    ctx = deploy_canary.make_context("deploy-canary", ["--config", str(path), *args])
    with ctx:
        settings = build_settings(ctx, ctx.params, {})
    assert settings.run.timeout == timeout
