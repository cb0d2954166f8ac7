"""The Argo CD API server as `pipeline sandbox up` runs it: status/token commands, and the
endpoints that need running pods (tree with Pods, live Pod through /resource, pod logs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from pipeline.sandbox.seed import SeededSample
from tests.fixtures.sandbox import SandboxHandle
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"


@pytest.fixture(scope="module")
def seeded(make_sample: Callable[..., SeededSample]) -> SeededSample:
    return make_sample(service="argoapi")


@pytest.fixture(scope="module")
def status(sandbox: SandboxHandle) -> Obj:
    out = sandbox.cli("sandbox", "status", "--state-dir", str(sandbox.state_dir), "-o", "json")
    assert out.returncode == 0, out.stderr
    result: Obj = json.loads(out.stdout)
    return result


def _get(status: Obj, path: str, token: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(status["argocd_server"] + path, headers=headers, timeout=30, **kwargs)


def test_status_prints_the_argocd_api_and_an_admin_token(
    sandbox: SandboxHandle, status: Obj
) -> None:
    assert status["argocd_server"].startswith("http://127.0.0.1:")
    assert status["argocd_secure_server"].startswith("https://127.0.0.1:")
    info = _get(status, "/api/v1/session/userinfo", status["argocd_token"]).json()
    assert info["username"] == "admin"
    secure = requests.get(
        status["argocd_secure_server"] + "/api/v1/session/userinfo",
        headers={"Authorization": f"Bearer {status['argocd_token']}"},
        verify=status["certificate_authority"],
        timeout=30,
    )
    assert secure.json()["username"] == "admin"
    text = sandbox.cli("sandbox", "status", "--state-dir", str(sandbox.state_dir)).stdout
    assert f"argocd api:  {status['argocd_server']}" in text
    assert "argocd token (admin): " in text
    log = (sandbox.state_dir / "daemon.log").read_text()
    assert status["argocd_token"] not in log


def test_token_command_scopes_tokens(
    sandbox: SandboxHandle, status: Obj, seeded: SeededSample
) -> None:
    app = seeded.repo.app_name
    sandbox.kube.patch(f"{APPS}/{app}", {"spec": {"project": "argoapi"}})
    args = ["sandbox", "token", "--state-dir", str(sandbox.state_dir)]
    scoped = sandbox.cli(*args, "--project", "argoapi", "--role", "ci", check=True).stdout.strip()
    assert _get(status, f"/api/v1/applications/{app}", scoped).status_code == 200
    other = _get(status, "/api/v1/applications/none-such", scoped)
    assert other.status_code == 403 and other.json()["message"] == "permission denied"
    ci = json.loads(sandbox.cli(*args, "--account", "ci", "-o", "json", check=True).stdout)
    assert ci["subject"] == "ci"
    assert _get(status, f"/api/v1/applications/{app}", ci["token"]).status_code == 200
    refused = sandbox.cli(*args, "--account", "admin")
    assert refused.returncode != 0 and "apiKey capability" in refused.stderr


def test_tree_pod_resource_and_logs(status: Obj, seeded: SeededSample) -> None:
    app, token = seeded.repo.app_name, status["argocd_token"]

    def pods() -> list[Obj]:
        tree = _get(status, f"/api/v1/applications/{app}/resource-tree", token).json()
        return [n for n in tree["nodes"] if n["kind"] == "Pod" and n.get("health")]

    pod = wait_for("pods in the tree", pods)[0]
    assert pod["parentRefs"][0]["kind"] == "ReplicaSet"
    assert pod["images"] and pod["images"][0].startswith(seeded.repo.image_repository)
    params = {
        "namespace": pod["namespace"],
        "resourceName": pod["name"],
        "version": "v1",
        "kind": "Pod",
        "group": "",
    }
    resp = _get(status, f"/api/v1/applications/{app}/resource", token, params=params)
    live = json.loads(resp.json()["manifest"])
    assert live["status"]["containerStatuses"][0]["imageID"].startswith(
        seeded.repo.image_repository + "@sha256:"
    )

    def logged() -> list[Obj] | None:
        path = f"/api/v1/applications/{app}/pods/{pod['name']}/logs"
        resp = _get(status, path, token, params={"namespace": pod["namespace"]})
        entries = [json.loads(line)["result"] for line in resp.iter_lines() if line]
        return entries if any("alive" in e["content"] for e in entries) else None

    entries = wait_for("the pod's log through Argo CD", logged)
    assert entries[-1]["last"] is True
    line = entries[0]
    assert line["podName"] == pod["name"] and line["last"] is False
    assert line["timeStampStr"].endswith("Z")
    with _get(
        status,
        f"/api/v1/applications/{app}/logs",
        token,
        params={"kind": "Deployment", "group": "apps", "follow": "true", "tailLines": "1"},
        stream=True,
    ) as followed:
        first = json.loads(next(line for line in followed.iter_lines() if line))["result"]
        assert "alive" in first["content"] and first["last"] is False
