"""Credential lookup from Docker configs, pull secrets and credential helpers."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.credentials import (
    DockerConfigCredentials,
    PullSecretCredentials,
    credentials_from_auths,
    credentials_from_docker_config,
    credentials_from_pull_secret,
    registry_hostname,
)
from pipeline.core.ports import Credentials
from pipeline.errors import RegistryError, UsageError


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_repr_and_str_never_show_the_password() -> None:
    creds = Credentials("bot", "s3cr3t-value")
    assert "s3cr3t-value" not in repr(creds)
    assert "s3cr3t-value" not in str(creds)
    assert "s3cr3t-value" not in f"{creds}"
    assert "bot" in repr(creds)


@pytest.mark.parametrize(
    ("key", "host"),
    [
        ("https://index.docker.io/v1/", "index.docker.io"),
        ("docker.io", "index.docker.io"),
        ("registry-1.docker.io", "index.docker.io"),
        ("https://ghcr.io", "ghcr.io"),
        ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
        ("Registry.Example.com:443", "registry.example.com:443"),
    ],
)
def test_registry_hostname(key: str, host: str) -> None:
    assert registry_hostname(key) == host


@pytest.mark.parametrize(
    ("auths", "host", "expected"),
    [
        (
            {"ghcr.io": {"auth": b64("u:p:with:colons")}},
            "ghcr.io",
            Credentials("u", "p:with:colons"),
        ),
        ({"https://ghcr.io/v2/": {"auth": b64("u:p")}}, "ghcr.io", Credentials("u", "p")),
        ({"ghcr.io": {"username": "u", "password": "p"}}, "ghcr.io", Credentials("u", "p")),
        (
            {"https://index.docker.io/v1/": {"auth": b64("hub:pw")}},
            "docker.io",
            Credentials("hub", "pw"),
        ),
        ({"docker.io": {"auth": b64("hub:pw")}}, "registry-1.docker.io", Credentials("hub", "pw")),
        ({"ghcr.io": {"auth": b64("u:p")}}, "quay.io", None),
        ({"127.0.0.1:5000": {"auth": b64("u:p")}}, "127.0.0.1:5001", None),
        ({"ghcr.io": {}}, "ghcr.io", None),
        ({"ghcr.io": {"identitytoken": "refresh"}}, "ghcr.io", Credentials("<token>", "refresh")),
    ],
)
def test_auths_lookup(auths: dict[str, Any], host: str, expected: Credentials | None) -> None:
    assert credentials_from_auths(auths, host) == expected


def test_bad_auth_value_is_a_usage_error_without_the_value() -> None:
    with pytest.raises(UsageError) as caught:
        credentials_from_auths({"ghcr.io": {"auth": b64("no-colon-here")}}, "ghcr.io")
    assert "no-colon-here" not in str(caught.value) + caught.value.hint


def _secret(config: dict[str, Any], kind: str = "dockerconfigjson") -> dict[str, Any]:
    key = f".{kind}"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "regcred", "namespace": "argocd"},
        "type": f"kubernetes.io/{kind}",
        "data": {key: b64(json.dumps(config))},
    }


def test_pull_secret_dockerconfigjson() -> None:
    secret = _secret({"auths": {"127.0.0.1:5000": {"auth": b64("bot:pw")}}})
    assert credentials_from_pull_secret(secret, "127.0.0.1:5000") == Credentials("bot", "pw")
    assert credentials_from_pull_secret(secret["data"], "127.0.0.1:5000") == Credentials(
        "bot", "pw"
    )
    assert credentials_from_pull_secret(secret, "ghcr.io") is None


def test_pull_secret_legacy_dockercfg() -> None:
    secret = _secret({"https://index.docker.io/v1/": {"auth": b64("hub:pw")}}, "dockercfg")
    assert credentials_from_pull_secret(secret, "docker.io") == Credentials("hub", "pw")


def test_pull_secret_of_the_wrong_type() -> None:
    with pytest.raises(UsageError, match="regcred has neither"):
        credentials_from_pull_secret({"metadata": {"name": "regcred"}, "data": {"x": ""}}, "h")


def test_first_matching_pull_secret_wins() -> None:
    lookup = PullSecretCredentials(
        [
            _secret({"auths": {"ghcr.io": {"auth": b64("a:1")}}}),
            _secret({"auths": {"quay.io": {"auth": b64("b:2")}}}),
            _secret({"auths": {"quay.io": {"auth": b64("c:3")}}}),
        ]
    )
    assert lookup("quay.io") == Credentials("b", "2")
    assert lookup("docker.io") is None


@pytest.fixture
def helper_dir(tmp_path: Path) -> Path:
    """A real ``docker-credential-fake`` helper that answers from a JSON file."""
    script = tmp_path / "docker-credential-fake"
    script.write_text(
        "#!/bin/sh\n"
        "read server\n"
        'case "$server" in\n'
        '  127.0.0.1:5000) echo \'{"ServerURL":"127.0.0.1:5000","Username":"helper-user",'
        '"Secret":"helper-secret"}\' ;;\n'
        '  https://index.docker.io/v1/) echo \'{"ServerURL":"hub","Username":"hub-user",'
        '"Secret":"hub-secret"}\' ;;\n'
        '  broken.example) echo "keychain locked" >&2; exit 3 ;;\n'
        "  *) echo 'credentials not found in native keychain'; exit 1 ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return tmp_path


def test_creds_store_helper(helper_dir: Path) -> None:
    config = {"credsStore": "fake", "auths": {"ghcr.io": {"auth": b64("file:pw")}}}
    path = str(helper_dir)
    assert credentials_from_docker_config(config, "127.0.0.1:5000", helper_path=path) == (
        Credentials("helper-user", "helper-secret")
    )
    assert credentials_from_docker_config(config, "docker.io", helper_path=path) == (
        Credentials("hub-user", "hub-secret")
    )
    # the helper has nothing for ghcr.io: the auths entry is used
    assert credentials_from_docker_config(config, "ghcr.io", helper_path=path) == (
        Credentials("file", "pw")
    )


def test_cred_helpers_entry_wins_over_auths(helper_dir: Path) -> None:
    config = {
        "credHelpers": {"127.0.0.1:5000": "fake"},
        "auths": {"127.0.0.1:5000": {"auth": b64("file:pw")}},
    }
    found = credentials_from_docker_config(config, "127.0.0.1:5000", helper_path=str(helper_dir))
    assert found == Credentials("helper-user", "helper-secret")


def test_helper_failure_is_a_registry_auth_error(helper_dir: Path) -> None:
    config = {"credHelpers": {"broken.example": "fake"}}
    with pytest.raises(RegistryError) as caught:
        credentials_from_docker_config(config, "broken.example", helper_path=str(helper_dir))
    assert caught.value.reason == "registry-auth"
    assert "exit code 3" in str(caught.value)
    assert "keychain locked" in caught.value.hint


def test_missing_helper_is_a_registry_auth_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="docker-credential-nope is not installed"):
        credentials_from_docker_config({"credsStore": "nope"}, "ghcr.io", helper_path=str(tmp_path))


def test_docker_config_file_from_docker_config_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"127.0.0.1:5000": {"auth": b64("env-user:env-pw")}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    lookup = DockerConfigCredentials()
    assert lookup("127.0.0.1:5000") == Credentials("env-user", "env-pw")
    assert lookup("127.0.0.1:5001") is None


def test_missing_docker_config_means_no_credentials(tmp_path: Path) -> None:
    assert DockerConfigCredentials(tmp_path / "absent.json")("ghcr.io") is None
