"""The sandbox application-controller fetches https-style repoURLs from a git server on
loopback (smart HTTP), with credentials from a repo-creds Secret matched as Argo CD matches
them, and reports what it cannot fetch as a ComparisonError."""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.services.githttp import GitServer, publish
from tests.fixtures.waiting import wait_for
from tests.sandbox.test_argocd_harness import APPS, ArgoHarness, argo

__all__ = ["argo"]
pytestmark = pytest.mark.integration
SECRETS = "/api/v1/namespaces/argocd/secrets"


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[GitServer]:
    root = tmp_path / "served"
    root.mkdir()
    server = GitServer(root, username="argocd", password="repo-pw-123").start()
    yield server
    server.stop()


def _app(argo: ArgoHarness, repo_url: str) -> dict[str, Any]:
    app = copy.deepcopy(argo.sample.app_manifest)
    app["spec"]["source"]["repoURL"] = repo_url
    app["spec"]["source"]["targetRevision"] = "HEAD"
    return app


def _synced(argo: ArgoHarness) -> dict[str, Any] | None:
    app = argo.app()
    return app if app.get("status", {}).get("sync", {}).get("status") == "Synced" else None


def test_private_http_repository_with_repo_creds_secret(
    argo: ArgoHarness, private_server: GitServer
) -> None:
    publish(argo.sample.path, private_server.root, "gitops")
    argo.kube.create(APPS, _app(argo, private_server.repo_url("gitops")))

    def comparison_error() -> str | None:
        for condition in argo.app().get("status", {}).get("conditions") or []:
            if condition.get("type") == "ComparisonError":
                return str(condition.get("message"))
        return None

    message = wait_for("ComparisonError without credentials", comparison_error)
    assert "repo-pw-123" not in message

    data = {"url": private_server.url, "username": "argocd", "password": "repo-pw-123"}
    if argo.kube.get_or_none("/api/v1/namespaces/argocd") is None:
        argo.kube.create(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}},
        )
    argo.kube.create(
        SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "private-git",
                "labels": {"argocd.argoproj.io/secret-type": "repo-creds"},
            },
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        },
    )
    argo.kube.patch(
        f"{APPS}/{argo.sample.app_name}",
        {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}},
    )
    app = wait_for("Synced from the private repository", lambda: _synced(argo))
    assert app["status"]["sourceType"] == "Kustomize"
    assert argo.deployment("auth-api-canary") is not None
    assert any(r.startswith("POST /gitops.git/git-upload-pack") for r in private_server.requests)
