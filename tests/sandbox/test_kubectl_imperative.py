"""Imperative ``kubectl create`` of workloads: kubectl sends protobuf bodies for these kinds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.sandbox.test_kubectl_commands import Kubectl, kubectl

__all__ = ["kubectl"]
pytestmark = pytest.mark.integration


def _get(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(
        kubectl("get", *args, "-o", "json", "--show-managed-fields").stdout
    )
    return obj


def test_create_deployment_sends_protobuf_and_is_stored_as_sent(kubectl: Kubectl) -> None:
    out = kubectl(
        "create", "deployment", "web", "--image=nginx:1", "--replicas=2", "--port=8080",
        "--", "sleep", "100",
    )  # fmt: skip
    assert out.stdout.strip() == "deployment.apps/web created"
    obj = _get(kubectl, "deployment", "web")
    assert obj["spec"]["replicas"] == 2
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "nginx:1" and container["command"] == ["sleep", "100"]
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert obj["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted server-side
    assert obj["metadata"]["managedFields"][0]["manager"] == "kubectl-create"
    kubectl("create", "deployment", "idle", "--image=nginx:1", "--replicas=0")
    assert _get(kubectl, "deployment", "idle")["spec"]["replicas"] == 0


def test_create_job_and_cronjob(kubectl: Kubectl) -> None:
    kubectl("create", "job", "once", "--image=busybox", "--", "echo", "hi")
    job = _get(kubectl, "job", "once")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
    kubectl("create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", "--", "date")
    cron = _get(kubectl, "cronjob", "tick")
    assert cron["spec"]["schedule"] == "*/5 * * * *"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure" and pod["containers"][0]["image"] == "busybox"
