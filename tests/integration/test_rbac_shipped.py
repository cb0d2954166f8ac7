"""The RBAC that `pipeline render rbac` ships is exactly enough for deploy-canary: with it a deploy
succeeds through a ServiceAccount token; with any one required verb removed it fails with 403,
exit code 7 and nothing written. `render rbac --backend argocd-api`, applied to the sandbox's
Argo CD ConfigMaps, gives an account token exactly the Argo CD permissions the API backend uses."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from pipeline.errors import ExitCode
from pipeline.sandbox.argocdapi import client
from pipeline.sandbox.kubeclient import ApiError, KubeClient, resource_path
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.sandbox import SandboxHandle, run_cli

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
SA_NAMESPACE = "argo"
SA_NAME = "pipeline-deploy-canary"
PLURALS = {
    "ServiceAccount": ("v1", "serviceaccounts"),
    "Role": ("rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings"),
}


def apply(sandbox: SandboxHandle, doc: Obj) -> None:
    api_version, plural = PLURALS[doc["kind"]]
    meta = doc["metadata"]
    path = resource_path(api_version, plural, meta["namespace"])
    live = sandbox.kube.get_or_none(f"{path}/{meta['name']}")
    if live is None:
        sandbox.kube.create(path, doc)
    else:
        body = copy.deepcopy(doc)
        body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        sandbox.kube.replace(f"{path}/{meta['name']}", body)


def token_kubeconfig(sandbox: SandboxHandle, directory: Path) -> Path:
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    path = resource_path("v1", "serviceaccounts", SA_NAMESPACE, SA_NAME) + "/token"
    token = sandbox.kube.create(path, request)["status"]["token"]
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": token}
    out = directory / "deployer.kubeconfig"
    out.write_text(yaml.safe_dump(config))
    return out


@pytest.fixture(scope="module")
def deployer(
    sandbox: SandboxHandle,
    make_sample: Callable[..., SeededSample],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[SeededSample, Path, list[Obj], Path]:
    seeded = make_sample()
    repo = seeded.repo
    directory = tmp_path_factory.mktemp("rbac")
    project = {
        "image": repo.image_repository,
        "tag": "{service}-api-dev-canary",
        "services": [{"name": repo.namespace, "context": "app"}],
        "ci": {"pull_secrets": ["argocd/dockerhub-credentials"]},  # the sample's pull secret
    }
    (directory / "project.yaml").write_text(yaml.safe_dump(project))
    rendered = run_cli(["render", "rbac", "--config", str(directory / "project.yaml")], check=True)
    # deploy from the sample's build context (render wants paths relative to the repository)
    project["services"] = [{"name": repo.namespace, "context": str(repo.context_dir)}]
    del project["ci"]
    config = directory / "pipeline.yaml"
    config.write_text(yaml.safe_dump(project))
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    if sandbox.kube.get_or_none(f"/api/v1/namespaces/{SA_NAMESPACE}") is None:
        sandbox.kube.create("/api/v1/namespaces", {"metadata": {"name": SA_NAMESPACE}})
    for doc in docs:
        apply(sandbox, doc)
    return seeded, config, docs, token_kubeconfig(sandbox, directory)


def deploy(
    sandbox: SandboxHandle, seeded: SeededSample, config: Path, kubeconfig: Path
) -> tuple[int, Obj]:
    result = run_cli(
        [
            "deploy-canary", "--config", str(config), "--service", seeded.repo.namespace,
            "--kubeconfig", str(kubeconfig), "--output", "json", "--timeout", "90",
        ],
        env={"DOCKER_HOST": sandbox.docker_host},
    )  # fmt: skip
    report: Obj = json.loads(result.stdout)
    return result.returncode, report


def rules_without(docs: list[Obj], role: str, resource: str, verb: str) -> Obj:
    doc = copy.deepcopy(
        next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == role)
    )
    for rule in doc["rules"]:
        if resource in rule["resources"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != verb]
    return doc


def test_the_shipped_rbac_is_enough(
    sandbox: SandboxHandle, deployer: tuple[SeededSample, Path, list[Obj], Path]
) -> None:
    seeded, config, _docs, kubeconfig = deployer
    code, report = deploy(sandbox, seeded, config, kubeconfig)
    assert code == 0, report
    assert report["services"][0]["result"] == "succeeded"


# Verbs every deploy needs. Not listed: applicationsets get (only when an ApplicationSet owns the
# Application), pods/log get and events list (only to explain a failure).
REQUIRED = [
    ("pipeline-deploy-canary-argocd", "applications", "get"),
    ("pipeline-deploy-canary-argocd", "applications", "patch"),
    ("pipeline-deploy-canary-argocd", "applications", "watch"),
    ("pipeline-deploy-canary-observe", "deployments", "list"),
    ("pipeline-deploy-canary-observe", "pods", "watch"),
]


@pytest.mark.parametrize(("role", "resource", "verb"), REQUIRED)
def test_one_verb_less_fails_with_403_and_writes_nothing(
    sandbox: SandboxHandle,
    deployer: tuple[SeededSample, Path, list[Obj], Path],
    role: str,
    resource: str,
    verb: str,
) -> None:
    seeded, config, docs, kubeconfig = deployer
    original = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == role)
    reduced = rules_without(docs, role, resource, verb)
    app_path = resource_path("argoproj.io/v1alpha1", "applications", "argocd", seeded.repo.app_name)
    before = sandbox.kube.get(app_path)["spec"]
    apply(sandbox, reduced)
    try:
        code, report = deploy(sandbox, seeded, config, kubeconfig)
    finally:
        apply(sandbox, original)
    assert code == ExitCode.KUBE_ACCESS, report
    service = report["services"][0]
    assert service["reason"] == "kube-forbidden"
    assert f"may not: {verb} {resource}" in service["message"]
    assert sandbox.kube.get(app_path)["spec"] == before, "access is checked before any write"


def test_only_the_listed_pull_secret_is_readable(
    sandbox: SandboxHandle, deployer: tuple[SeededSample, Path, list[Obj], Path]
) -> None:
    *_, kubeconfig = deployer
    token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
    as_deployer = KubeClient(sandbox.url, token=token)
    secret = as_deployer.get(resource_path("v1", "secrets", "argocd", "dockerhub-credentials"))
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    with pytest.raises(ApiError) as caught:
        as_deployer.list(resource_path("v1", "secrets", "argocd"))
    assert caught.value.status == 403


# What the API backend calls (server/application/application.go): Get/stream/tree/resource/
# events (applications get), Patch (update), Sync and TerminateOperation (sync), PodLogs (logs).
ARGOCD_GRANTS = [("applications", "get"), ("applications", "update"),
                 ("applications", "sync"), ("logs", "get")]  # fmt: skip


def test_the_argocd_rbac_grants_an_account_exactly_what_the_api_backend_calls(
    sandbox: SandboxHandle,
    deployer: tuple[SeededSample, Path, list[Obj], Path],
    tmp_path: Path,
) -> None:
    seeded, *_ = deployer
    repo, account = seeded.repo, "canary-rbac-test"
    project = {
        "image": repo.image_repository, "app": repo.app_name,
        "services": [{"name": repo.namespace, "context": "app"}],
        "ci": {"argocd_account": account, "argocd_project": "default"},
    }  # fmt: skip
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(project))
    rendered = run_cli(
        ["render", "rbac", "--backend", "argocd-api", "--config", str(tmp_path / "pipeline.yaml")],
        check=True,
    )
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    assert [d["metadata"]["name"] for d in docs] == ["argocd-cm", "argocd-rbac-cm"]
    names = [d["metadata"]["name"] for d in docs]
    paths = {name: resource_path("v1", "configmaps", "argocd", name) for name in names}
    # the patches add keys and keep the others (what server-side apply does with them)
    before = {name: sandbox.kube.get(path)["data"] for name, path in paths.items()}
    for doc in docs:
        sandbox.kube.patch(paths[doc["metadata"]["name"]], {"data": doc["data"]})
    try:
        for name, data in before.items():
            assert data.items() <= sandbox.kube.get(paths[name])["data"].items()
        status = json.loads(
            sandbox.cli(
                "sandbox", "status", "--state-dir", str(sandbox.state_dir), "-o", "json", check=True
            ).stdout
        )
        server = status["argocd_server"]
        token = client.account_token(server, client.admin_token(sandbox.kube, server), account)

        def get(path: str) -> requests.Response:
            headers = {"Authorization": f"Bearer {token}"}
            return requests.get(server + path, headers=headers, timeout=30)

        def can(resource: str, action: str, obj: str) -> str:
            answer = get(f"/api/v1/account/can-i/{resource}/{action}/{obj}")
            assert answer.status_code == 200, answer.text
            return str(answer.json()["value"])

        ours = f"default/{repo.app_name}"
        assert [can(r, a, ours) for r, a in ARGOCD_GRANTS] == ["yes"] * len(ARGOCD_GRANTS)
        assert can("applications", "delete", ours) == "no"
        assert can("applications", "override", ours) == "no"
        assert can("applications", "get", "default/someone-elses-app") == "no"
        assert can("applications", "sync", f"other-project/{repo.app_name}") == "no"
        assert get(f"/api/v1/applications/{repo.app_name}").status_code == 200
        assert get("/api/v1/applications/someone-elses-app").status_code == 403
    finally:
        for doc in docs:
            gone = {key: None for key in doc["data"]}
            sandbox.kube.patch(paths[doc["metadata"]["name"]], {"data": gone})
