"""The sandbox application-controller against the real sandbox API server (reference A.3-A.5)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pipeline.sandbox.kubeclient import JSON_PATCH
from tests.fixtures.waiting import wait_for
from tests.sandbox.test_argocd_harness import APPS, ArgoHarness, argo

__all__ = ["argo"]
pytestmark = pytest.mark.integration
D = "sha256:" + "d" * 64


def manual(harness: ArgoHarness, **sync: Any) -> dict[str, Any]:
    """The sample Application without auto-sync, so operations are driven by the test."""
    app = copy.deepcopy(harness.sample.app_manifest)
    del app["spec"]["syncPolicy"]["automated"]
    app["spec"]["source"].update(sync)
    return app


def operation(marker: str, **extra: Any) -> dict[str, Any]:
    return {
        "initiatedBy": {"username": "ci-bot"},
        "info": [{"name": "pipeline-run", "value": marker}],
        "sync": {"revision": "", "syncOptions": ["CreateNamespace=true"]},
        **extra,
    }


def finished_state(harness: ArgoHarness) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        app = harness.app()
        state = (app.get("status") or {}).get("operationState") or {}
        if state.get("phase") in ("Succeeded", "Failed", "Error") and not app.get("operation"):
            return app
        return None

    return wait_for("operation to complete", done)


def test_auto_sync_creates_the_deployments_with_tracking(argo: ArgoHarness) -> None:
    argo.kube.create(APPS, argo.sample.app_manifest)
    canary = wait_for("canary deployment", lambda: argo.deployment("auth-api-canary"))
    stable = wait_for("stable deployment", lambda: argo.deployment("auth-api"))
    assert canary["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] == (
        "dev-api-auth:apps/Deployment:auth/auth-api-canary"
    )
    assert canary["metadata"]["labels"]["app.kubernetes.io/instance"] == "dev-api-auth"
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == argo.sample.canary_image
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == argo.sample.stable_image
    app = wait_for(
        "Synced",
        lambda: (a := argo.app()).get("status", {}).get("sync", {}).get("status") == "Synced" and a,
    )
    state = app["status"]["operationState"]
    assert state["phase"] == "Succeeded"
    assert state["operation"]["initiatedBy"] == {"automated": True}
    assert app["status"]["sync"]["revision"] == state["syncResult"]["revision"]
    assert app["status"]["sourceType"] == "Kustomize"
    # `add /operation null` removes the key: the CRD does not declare it nullable (A.3 step 5)
    assert "operation" not in app


def test_manual_operation_succeeds_with_info_copied_and_operation_removed(
    argo: ArgoHarness,
) -> None:
    app = manual(argo)
    app["operation"] = operation("gh-1")
    argo.kube.create(APPS, app)
    app = finished_state(argo)
    state = app["status"]["operationState"]
    assert state["phase"] == "Succeeded"
    assert state["message"] == "successfully synced (all tasks run)"
    assert state["operation"]["info"] == [{"name": "pipeline-run", "value": "gh-1"}]
    assert state["startedAt"] <= state["finishedAt"]
    results = {r["name"]: r["status"] for r in state["syncResult"]["resources"]}
    # the namespace CreateNamespace=true made is the PreSync task (sync_context.go)
    assert results == {"auth": "Synced", "auth-api": "Synced", "auth-api-canary": "Synced"}
    assert argo.deployment("auth-api-canary") is not None


def test_operation_written_during_a_running_one_is_lost_and_terminate_fails_it(
    argo: ArgoHarness,
) -> None:
    app = manual(argo, path="does/not/exist")
    app["operation"] = operation(
        "first", retry={"limit": 3, "backoff": {"duration": "1h", "factor": 2, "maxDuration": "1h"}}
    )
    argo.kube.create(APPS, app)

    def waiting_to_retry() -> dict[str, Any] | None:
        state = (argo.app().get("status") or {}).get("operationState") or {}
        return state if state.get("phase") == "Running" and state.get("finishedAt") else None

    state = wait_for("Running + finishedAt", waiting_to_retry)
    assert state["retryCount"] == 1
    assert ". Retrying attempt #1 at " in state["message"]
    assert state["message"].startswith("ComparisonError: ")

    argo.kube.patch(argo.app_path(), {"operation": operation("second")})
    argo.kube.patch(argo.app_path(), {"status": {"operationState": {"phase": "Terminating"}}})
    app = finished_state(argo)
    state = app["status"]["operationState"]
    assert state["phase"] == "Failed"
    assert state["message"] == "Operation terminated"
    assert state["operation"]["info"] == [{"name": "pipeline-run", "value": "first"}]
    assert app.get("operation") is None  # the second request was silently lost


def test_refresh_annotation_is_removed_after_reconcile(argo: ArgoHarness) -> None:
    argo.kube.create(APPS, manual(argo))
    first = wait_for("reconcile", lambda: argo.app().get("status", {}).get("reconciledAt"))
    argo.kube.patch(
        argo.app_path(), {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}
    )
    app = wait_for(
        "refresh annotation removed",
        lambda: (
            "argocd.argoproj.io/refresh" not in (a := argo.app())["metadata"].get("annotations", {})
            and a
        ),
    )
    assert app["status"]["reconciledAt"] >= first
    assert app["status"]["sync"]["status"] == "OutOfSync"


def test_changing_kustomize_images_rerenders_and_auto_syncs(argo: ArgoHarness) -> None:
    argo.kube.create(APPS, argo.sample.app_manifest)
    wait_for("canary deployment", lambda: argo.deployment("auth-api-canary"))
    pinned = f"{argo.sample.image_repository}@{D}"
    argo.kube.patch(
        argo.app_path(),
        {"spec": {"source": {"kustomize": {"images": [f"{argo.sample.canary_image}={pinned}"]}}}},
    )

    def canary_image() -> str | None:
        d = argo.deployment("auth-api-canary") or {}
        image = d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [{}])[0]
        return image.get("image") if image.get("image") == pinned else None

    assert wait_for("canary pinned", canary_image) == pinned
    stable = argo.deployment("auth-api") or {}
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == argo.sample.stable_image


def test_kustomize_patches_pin_only_the_canary(argo: ArgoHarness) -> None:
    pinned = f"{argo.sample.image_repository}@{D}"
    app = manual(argo)
    app["spec"]["source"]["kustomize"] = {
        "patches": [
            {
                "patch": (
                    '[{"op": "replace", "path": "/spec/template/spec/containers/0/image",'
                    f' "value": "{pinned}"}}]'
                ),
                "target": {"kind": "Deployment", "name": "auth-api-canary"},
            }
        ]
    }
    app["operation"] = operation("patches")
    argo.kube.create(APPS, app)
    finished_state(argo)
    canary = argo.deployment("auth-api-canary") or {}
    stable = argo.deployment("auth-api") or {}
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == pinned
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == argo.sample.stable_image


def test_health_degraded_on_progress_deadline_exceeded(argo: ArgoHarness) -> None:
    app = manual(argo)
    app["operation"] = operation("health")
    argo.kube.create(APPS, app)
    finished_state(argo)
    path = "/apis/apps/v1/namespaces/auth/deployments/auth-api-canary"
    live = argo.kube.get(path)
    status = {
        "observedGeneration": live["metadata"].get("generation", 1),
        "replicas": 1,
        "updatedReplicas": 1,
        "conditions": [
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "x" has timed out progressing.',
            }
        ],
    }
    try:
        argo.kube.patch(path + "/status", {"status": status})
    except Exception:
        argo.kube.patch(path, [{"op": "add", "path": "/status", "value": status}], JSON_PATCH)
    app = wait_for(
        "Degraded",
        lambda: (
            (a := argo.app()).get("status", {}).get("health", {}).get("status") == "Degraded" and a
        ),
    )
    # v3.5 writes no app health message (AppHealthStatus.Message is deprecated); the
    # Deployment's own message is in the resource tree
    assert "message" not in app["status"]["health"]
