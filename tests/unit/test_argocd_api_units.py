"""The Argo CD API backend's pure parts: where the server is (argocd CLI rules), which backend a
run takes, grpc-gateway errors as our errors, and label selectors matched as the API server does."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from pipeline.adapters.argocd_api import merge_patch
from pipeline.adapters.argocd_http import grpc_error
from pipeline.adapters.argocd_target import resolve, split_address
from pipeline.core.ports import Conflict, NotFound
from pipeline.core.selectors import matches_selector
from pipeline.core.settings import ArgoApiSettings, KubeSettings
from pipeline.errors import DeployTimeoutError, KubeAccessError, UsageError
from pipeline.wiring import backend_of


@pytest.mark.parametrize(
    ("address", "plaintext", "expected"),
    [
        ("argocd.example.com", False, ("https", "argocd.example.com", False)),
        ("argocd.example.com:8443", False, ("https", "argocd.example.com:8443", False)),
        ("argocd.example.com:80", True, ("http", "argocd.example.com:80", True)),
        ("http://127.0.0.1:8080", False, ("http", "127.0.0.1:8080", True)),
        ("https://cd.example.com/argo/", False, ("https", "cd.example.com/argo", False)),
    ],
)
def test_server_addresses_as_the_argocd_cli_takes_them(
    address: str, plaintext: bool, expected: tuple[str, str, bool]
) -> None:
    assert split_address(address, plaintext) == expected


@pytest.mark.parametrize("address", ["", "ftp://x", "host name:1", "https://", "a/b"])
def test_a_malformed_server_is_a_usage_error_naming_it(address: str) -> None:
    with pytest.raises(UsageError) as caught:
        split_address(address, False)
    assert "--argocd-server" in caught.value.message and "ARGOCD_SERVER" in caught.value.hint


def test_flags_override_the_argocd_cli_context(tmp_path: Path) -> None:
    config = tmp_path / "config"
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()
    config.write_text(
        json.dumps({
            "current-context": "prod",
            "contexts": [{"name": "prod", "server": "cd.example.com", "user": "ci"},
                         {"name": "dev", "server": "dev.example.com:8080", "user": "dev"}],
            "servers": [{"server": "cd.example.com", "grpc-web-root-path": "argo",
                         "certificate-authority-data": ca},
                        {"server": "dev.example.com:8080", "plain-text": True}],
            "users": [{"name": "ci", "auth-token": "from-config"},
                      {"name": "dev", "auth-token": "dev-token"}],
        })
    )  # fmt: skip
    settings = ArgoApiSettings(config_path=str(config))
    target = resolve(settings, env={})
    assert (target.base_url, target.token) == ("https://cd.example.com/argo", "from-config")
    assert isinstance(target.verify, str) and Path(target.verify).read_bytes().startswith(b"---")
    dev = resolve(ArgoApiSettings(config_path=str(config), context="dev"), env={})
    assert (dev.base_url, dev.token) == ("http://dev.example.com:8080", "dev-token")
    flagged = ArgoApiSettings(
        server="other:443", auth_token="s3cr3t-token", insecure=True, config_path=str(config)
    )
    target = resolve(flagged, env={})
    assert (target.base_url, target.token, target.verify) == (
        "https://other:443/argo",
        "s3cr3t-token",
        False,
    )
    assert "s3cr3t" not in repr(target) + repr(flagged)
    with pytest.raises(UsageError, match="'staging' is not defined"):
        resolve(ArgoApiSettings(config_path=str(config), context="staging"), env={})


def test_without_a_server_or_token_the_error_says_what_to_set(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    with pytest.raises(UsageError, match="no Argo CD API server"):
        resolve(ArgoApiSettings(), env=env)
    with pytest.raises(UsageError, match="ARGOCD_AUTH_TOKEN is unset") as caught:
        resolve(ArgoApiSettings(server="cd:443"), env=env)
    assert "argocd account generate-token" in caught.value.hint


def test_the_backend_follows_the_argocd_cli_conventions(tmp_path: Path) -> None:
    api = ArgoApiSettings(server="cd:443")
    bare = {"HOME": str(tmp_path)}
    assert backend_of(KubeSettings(argocd=api), bare) == "argocd-api"
    assert backend_of(KubeSettings(argocd=api), {**bare, "KUBECONFIG": "/k"}) == "kubernetes"
    in_pod = {**bare, "KUBERNETES_SERVICE_HOST": "10.0.0.1"}  # a service account is no kubeconfig
    assert backend_of(KubeSettings(argocd=api), in_pod) == "argocd-api"
    typed = ArgoApiSettings(server="cd:443", server_on_command_line=True)
    assert backend_of(KubeSettings(argocd=typed), {**bare, "KUBECONFIG": "/k"}) == "argocd-api"
    assert backend_of(KubeSettings(), bare) == "kubernetes"
    assert backend_of(KubeSettings(backend="kubernetes", argocd=api), bare) == "kubernetes"
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text("{}")
    assert backend_of(KubeSettings(argocd=api), bare) == "kubernetes"


def _body(code: int, message: str) -> str:
    return json.dumps({"error": message, "code": code, "message": message, "details": []})


@pytest.mark.parametrize(
    ("status", "code", "message", "kind", "reason"),
    [
        (404, 5, 'applications.argoproj.io "x" not found', NotFound, "not-found"),
        (400, 9, "error setting app operation: another operation is already in progress",
         Conflict, "conflict"),
        (500, 2, "error applying patch: testing value /metadata/resourceVersion failed: test "
         "failed", Conflict, "conflict"),
        (401, 16, "invalid session: token is expired", KubeAccessError, "argocd-unauthorized"),
        (403, 7, "permission denied: applications, sync, default/x, sub: proj:default:ci",
         KubeAccessError, "argocd-forbidden"),
        (503, 14, "connection refused", KubeAccessError, "argocd-unavailable"),
        (504, 4, "context deadline exceeded", DeployTimeoutError, "timeout"),
        (400, 3, "Unable to terminate operation. No operation is in progress", KubeAccessError,
         "argocd-refused"),
    ],
)  # fmt: skip
def test_grpc_gateway_errors_map_onto_our_errors(
    status: int, code: int, message: str, kind: type[Exception], reason: str
) -> None:
    error = grpc_error("sync Application argocd/x", status, _body(code, message))
    assert type(error) is kind
    assert getattr(error, "reason", "") == reason


def test_an_html_answer_names_the_server_as_not_argocd() -> None:
    error = grpc_error("get", 404, "<html>nope</html>", {"Content-Type": "text/html"}, "https://x")
    assert isinstance(error, KubeAccessError) and error.reason == "argocd-not-api-server"
    assert "--argocd-server" in error.hint


def test_merge_patch_is_rfc_7386() -> None:
    target = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    assert merge_patch(target, {"a": {"b": None, "c": [3]}, "e": {"f": 1}}) == {
        "a": {"c": [3]}, "d": "x", "e": {"f": 1},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True), ("app=auth", True), ("app==auth,version=v2", True), ("version=v1", False),
        ("app!=auth", False), ("missing!=x", True), ("app in (auth, web)", True),
        ("app notin (auth)", False), ("missing notin (a)", True), ("app", True),
        ("!app", False), ("!missing", True), ("n>4", True), ("n<4", False), ("app>1", False),
        ("empty=", True), ("missing=", False),
    ],
)  # fmt: skip
def test_label_selectors_match_as_the_api_server_filters(selector: str, matches: bool) -> None:
    labels = {"app": "auth", "version": "v2", "n": "5", "empty": ""}
    assert matches_selector(selector, labels) is matches
