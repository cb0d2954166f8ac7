"""The sandbox Argo CD's ``ServerSideApply=true`` sync option against the sandbox API server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.test_argocd_harness import APPS, ArgoHarness, argo
from tests.sandbox.test_argocd_sync import finished_state, manual, operation

__all__ = ["argo"]
pytestmark = pytest.mark.integration
DEPLOYMENT = "/apis/apps/v1/namespaces/auth/deployments/auth-api"


def _sync(argo: ArgoHarness, marker: str) -> dict[str, Any]:
    op = operation(marker)
    op["sync"]["syncOptions"].append("ServerSideApply=true")
    argo.kube.patch(APPS + "/" + argo.app()["metadata"]["name"], {"operation": op})
    state: dict[str, Any] = finished_state(argo)["status"]["operationState"]
    return state


def test_server_side_apply_owns_fields_as_argocd_controller_and_forces_them_back(
    argo: ArgoHarness,
) -> None:
    argo.kube.create(APPS, manual(argo))
    state = _sync(argo, "first")
    assert state["phase"] == "Succeeded", state
    messages = {r["name"]: r["message"] for r in state["syncResult"]["resources"]}
    assert messages["auth-api"] == "deployment.apps/auth-api serverside-applied"
    live = argo.kube.get(DEPLOYMENT)
    managers = {(e["manager"], e["operation"]) for e in live["metadata"]["managedFields"]}
    assert ("argocd-controller", "Apply") in managers
    assert "kubectl.kubernetes.io/last-applied-configuration" not in live["metadata"].get(
        "annotations", {}
    )
    wanted = live["spec"]["replicas"]

    # another manager changes a field Argo CD applies; the next sync forces it back
    argo.kube.request(
        "PATCH",
        DEPLOYMENT,
        body={"spec": {"replicas": wanted + 2}},
        params={"fieldManager": "ops"},
        content_type="application/merge-patch+json",
    )
    state = _sync(argo, "second")
    assert state["phase"] == "Succeeded", state
    live = argo.kube.get(DEPLOYMENT)
    assert live["spec"]["replicas"] == wanted
    ops = [e for e in live["metadata"]["managedFields"] if e["manager"] == "ops"]
    assert not ops or "f:replicas" not in ops[0]["fieldsV1"].get("f:spec", {})
