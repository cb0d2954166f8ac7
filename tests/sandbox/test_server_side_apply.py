"""Server-side apply and managedFields through the stock kubectl and the official Python client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from pipeline.sandbox.apiserver import APIServer
from tests.sandbox.test_kubectl_commands import Kubectl, kubectl

__all__ = ["kubectl"]

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: IMAGE
        ports: [{containerPort: 80}]
"""
APPLY = "application/apply-patch+yaml"


def _manifest(workdir: Path, name: str, replicas: int, image: str) -> str:
    path = workdir / name
    path.write_text(DEPLOYMENT.replace("REPLICAS", str(replicas)).replace("IMAGE", image))
    return str(path)


def _managed(kubectl: Kubectl, *resource: str) -> dict[str, Any]:
    out = kubectl("get", *resource, "-o", "json", "--show-managed-fields").stdout
    obj: dict[str, Any] = json.loads(out)
    obj["entries"] = {
        (e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"]["managedFields"]
    }
    return obj


def test_kubectl_apply_server_side_conflict_and_force(kubectl: Kubectl) -> None:
    first = _manifest(kubectl.workdir, "one.yaml", 2, "nginx:1")
    out = kubectl("apply", "--server-side", "-f", first).stdout
    assert out.strip() == "deployment.apps/web serverside-applied"
    obj = _managed(kubectl, "deployment", "web")
    fields = obj["entries"][("kubectl", "Apply")]
    assert fields["f:spec"]["f:replicas"] == {}
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert set(container) == {".", "f:image", "f:name", "f:ports"}
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in container["f:ports"]
    assert obj["spec"]["strategy"]["type"] == "RollingUpdate"  # defaults still applied

    second = _manifest(kubectl.workdir, "two.yaml", 3, "nginx:2")
    result = kubectl("apply", "--server-side", "--field-manager=ops", "-f", second, check=False)
    assert result.returncode == 1
    assert (
        'Apply failed with 2 conflicts: conflicts with "kubectl":\n- .spec.replicas\n'
        '- .spec.template.spec.containers[name="app"].image'
    ) in result.stderr
    assert kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}").stdout == "2"

    kubectl("apply", "--server-side", "--field-manager=ops", "--force-conflicts", "-f", second)
    obj = _managed(kubectl, "deployment", "web")
    assert obj["spec"]["replicas"] == 3
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert "f:replicas" not in obj["entries"][("kubectl", "Apply")]["f:spec"]
    assert "f:replicas" in obj["entries"][("ops", "Apply")]["f:spec"]
    # the same values co-own: no conflict
    kubectl("apply", "--server-side", "-f", second)


def test_field_left_out_is_removed_only_when_no_other_manager_owns_it(
    kubectl: Kubectl,
) -> None:
    def configmap(name: str, data: dict[str, str]) -> str:
        path = kubectl.workdir / name
        doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}
        path.write_text(json.dumps(doc))
        return str(path)

    kubectl(
        "apply",
        "--server-side",
        "-n",
        "default",
        "-f",
        configmap("a.json", {"a": "1", "b": "2", "c": "3"}),
    )
    kubectl(
        "apply",
        "--server-side",
        "--field-manager=other",
        "-n",
        "default",
        "-f",
        configmap("b.json", {"c": "3"}),
    )
    kubectl("apply", "--server-side", "-n", "default", "-f", configmap("c.json", {"a": "1"}))
    data = json.loads(kubectl("get", "configmap", "c", "-n", "default", "-o", "json").stdout)[
        "data"
    ]
    assert data == {"a": "1", "c": "3"}  # b pruned; c kept, "other" owns it


def test_update_operations_record_their_manager(kubectl: Kubectl) -> None:
    kubectl("create", "configmap", "d", "-n", "default", "--from-literal=k=v")
    kubectl("label", "configmap", "d", "-n", "default", "team=web")
    obj = _managed(kubectl, "configmap", "d", "-n", "default")
    assert obj["entries"][("kubectl-create", "Update")] == {"f:data": {".": {}, "f:k": {}}}
    assert obj["entries"][("kubectl-label", "Update")] == {
        "f:metadata": {"f:labels": {".": {}, "f:team": {}}}
    }
    entry = next(e for e in obj["metadata"]["managedFields"] if e["manager"] == "kubectl-label")
    assert entry["apiVersion"] == "v1" and entry["fieldsType"] == "FieldsV1" and entry["time"]


@pytest.fixture
def api() -> Iterator[client.ApiClient]:
    srv = APIServer()
    srv.start()
    cfg = client.Configuration()
    cfg.host = srv.url
    with client.ApiClient(cfg) as api_client:
        yield api_client
    srv.stop()


def _deployment(replicas: int) -> dict[str, Any]:
    pod = {
        "metadata": {"labels": {"app": "w"}},
        "spec": {"containers": [{"name": "a", "image": "i"}]},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "w"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "w"}}, "template": pod},
    }


def test_python_client_apply_conflict_status_and_force(api: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(api)
    created = apps.patch_namespaced_deployment(
        "w", "default", _deployment(1), field_manager="ci", _content_type=APPLY
    )
    assert created.spec.replicas == 1
    assert [(e.manager, e.operation) for e in created.metadata.managed_fields] == [("ci", "Apply")]
    # a plain update by the client: the manager is the User-Agent's product
    apps.patch_namespaced_deployment("w", "default", {"spec": {"replicas": 4}})
    with pytest.raises(ApiException) as raised:
        apps.patch_namespaced_deployment(
            "w", "default", _deployment(2), field_manager="ci", _content_type=APPLY
        )
    status = json.loads(raised.value.body)
    assert (status["code"], status["reason"]) == (409, "Conflict")
    (cause,) = status["details"]["causes"]
    assert cause["reason"] == "FieldManagerConflict" and cause["field"] == ".spec.replicas"
    assert cause["message"].startswith('conflict with "OpenAPI-Generator" using apps/v1 at ')
    assert status["message"] == f"Apply failed with 1 conflict: {cause['message']}: .spec.replicas"

    forced = apps.patch_namespaced_deployment(
        "w", "default", _deployment(2), field_manager="ci", force=True, _content_type=APPLY
    )
    assert forced.spec.replicas == 2
    assert [e.manager for e in forced.metadata.managed_fields] == ["ci"]  # took every field


def test_apply_without_field_manager_is_invalid(api: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(api)
    with pytest.raises(ApiException) as raised:
        apps.patch_namespaced_deployment("w", "default", _deployment(1), _content_type=APPLY)
    status = json.loads(raised.value.body)
    assert status["code"] == 422
    assert status["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
        "is required for apply patch"
    )
