"""Credentials from the pull secret an Application names (pipeline/adapters/pullsecrets.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from pipeline.adapters.pullsecrets import ApplicationPullSecrets, chain, pull_secret_refs
from pipeline.core.plan import plan_service
from pipeline.core.ports import Credentials, NotFound
from pipeline.core.settings import DeploySettings, ServiceTarget
from pipeline.errors import RegistryError
from tests.unit.fake_argocd import FakeApplications

U = "argocd-image-updater.argoproj.io/"
HOST = "registry.example.com:5000"
TARGET = ServiceTarget(name="auth", image=f"{HOST}/eco2")
PLANS = [plan_service(TARGET, DeploySettings(services=(TARGET,)))]


def app(annotations: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "dev-api-auth", "annotations": annotations}}


def secret(user: str, password: str) -> dict[str, Any]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = json.dumps({"auths": {HOST: {"auth": auth}}}).encode()
    return {"data": {".dockerconfigjson": base64.b64encode(config).decode()}}


def test_refs_follow_the_alias_then_the_app_wide_key() -> None:
    annotations = {
        U + "image-list": f"stable={HOST}/eco2:latest,canary={HOST}/eco2:~1.2,hub=nginx",
        U + "canary.pull-secret": "pullsecret:argocd/canary-creds",
        U + "pull-secret": "pullsecret:argocd/shared",
    }
    assert pull_secret_refs(app(annotations), HOST) == [
        "pullsecret:argocd/shared",
        "pullsecret:argocd/canary-creds",
    ]
    assert pull_secret_refs(app(annotations), "docker.io") == ["pullsecret:argocd/shared"]
    assert pull_secret_refs(app(annotations), "other:5000") == []


def test_credentials_come_from_the_named_secret_once_per_host() -> None:
    reads: list[tuple[str, str]] = []

    def get_secret(namespace: str, name: str) -> dict[str, Any]:
        reads.append((namespace, name))
        return secret("ci-bot", "s3cret")

    annotations = {
        U + "image-list": f"canary={HOST}/eco2:auth-dev-canary",
        U + "canary.pull-secret": "pullsecret:argocd/creds",
    }
    lookup = ApplicationPullSecrets(FakeApplications(app(annotations)), get_secret, PLANS)
    assert lookup(HOST) == Credentials("ci-bot", "s3cret")
    assert lookup(HOST) == Credentials("ci-bot", "s3cret")
    assert lookup("elsewhere:5000") is None
    assert reads == [("argocd", "creds")]


def test_a_missing_secret_is_a_registry_auth_error_naming_it() -> None:
    def get_secret(namespace: str, name: str) -> dict[str, Any]:
        raise NotFound(name)

    annotations = {U + "image-list": f"{HOST}/eco2", U + "pull-secret": "pullsecret:argocd/gone"}
    lookup = ApplicationPullSecrets(FakeApplications(app(annotations)), get_secret, PLANS)
    with pytest.raises(RegistryError, match="pullsecret:argocd/gone") as caught:
        lookup(HOST)
    assert caught.value.reason == "registry-auth"


def test_a_missing_application_gives_no_credentials() -> None:
    lookup = ApplicationPullSecrets(FakeApplications(None), lambda ns, n: {}, PLANS)
    assert lookup(HOST) is None


def test_chain_takes_the_first_lookup_that_knows_the_host() -> None:
    docker = {HOST: Credentials("docker", "a")}.get
    secrets = {HOST: Credentials("secret", "b"), "other": Credentials("secret", "c")}.get
    lookup = chain(docker, secrets)
    assert lookup(HOST) == Credentials("docker", "a")
    assert lookup("other") == Credentials("secret", "c")
    assert lookup("none") is None
