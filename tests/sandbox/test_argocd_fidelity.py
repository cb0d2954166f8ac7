"""The sandbox application-controller behaving like the real one (issue 10, build item 3):
AppProject restrictions, CreateNamespace's PreSync step, retries, Replace=true and
ignoreDifferences, against the real sandbox API server (no kubelet)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.waiting import wait_for
from tests.sandbox.test_argocd_harness import APPS, DEPLOYMENTS, ArgoHarness, argo
from tests.sandbox.test_argocd_kinds import DESTINATION_RULE, add_to_base, manual_app, sync_again
from tests.sandbox.test_argocd_sync import finished_state, operation

__all__ = ["argo"]
pytestmark = pytest.mark.integration
Obj = dict[str, Any]
PROJECTS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects"
NAMESPACE = "/api/v1/namespaces/auth"


def make_project(harness: ArgoHarness, name: str, **spec: Any) -> None:
    harness.kube.create(
        PROJECTS,
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
         "metadata": {"name": name, "namespace": "argocd"}, "spec": spec},
    )  # fmt: skip


def conditions(harness: ArgoHarness) -> list[str]:
    status = harness.app().get("status") or {}
    return [c["message"] for c in status.get("conditions") or [] if c["type"] == "InvalidSpecError"]


def sync_with(harness: ArgoHarness, marker: str, options: list[str]) -> Obj:
    """Run an operation with ``options`` on the app and return its final state."""
    body = operation(marker, sync={"revision": "", "syncOptions": options})
    harness.kube.patch(harness.app_path(), {"operation": body})

    def done() -> Obj | None:
        state = (harness.app().get("status") or {}).get("operationState") or {}
        info = (state.get("operation") or {}).get("info") or [{}]
        return state if info[0].get("value") == marker and "finishedAt" in state else None

    return wait_for(f"operation {marker}", done)


def test_project_refusing_repository_and_destination_is_invalid_spec(argo: ArgoHarness) -> None:
    make_project(argo, "team-a", sourceRepos=["https://github.com/other/*"],
                 destinations=[{"server": "*", "namespace": "team-*"}])  # fmt: skip
    argo.kube.create(APPS, manual_app(argo, "closed", project="team-a"))
    state = finished_state(argo)["status"]["operationState"]
    repo = argo.sample.app_manifest["spec"]["source"]["repoURL"]
    refused_repo = f"application repo {repo} is not permitted in project 'team-a'"
    refused_destination = (
        "application destination server 'https://kubernetes.default.svc' and namespace 'auth' "
        "do not match any of the allowed destinations in project 'team-a'"
    )
    assert state["phase"] == "Error"
    assert state["message"] == (
        f"InvalidSpecError: {refused_repo};InvalidSpecError: {refused_destination}"
    )
    found = wait_for("InvalidSpecError conditions", lambda: conditions(argo))
    assert sorted(found) == sorted([refused_repo, refused_destination])
    assert argo.app()["status"]["sync"]["status"] == "Unknown"
    assert argo.kube.list(DEPLOYMENTS)["items"] == []
    # once the project allows them, the next refresh drops the conditions
    argo.kube.patch(f"{PROJECTS}/team-a", {"spec": {"sourceRepos": ["*"],
                    "destinations": [{"server": "*", "namespace": "*"}]}})  # fmt: skip
    argo.kube.patch(
        argo.app_path(), {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}
    )
    wait_for(
        "conditions cleared",
        lambda: not conditions(argo) and argo.app()["status"]["sync"]["status"] == "OutOfSync",
    )


def test_namespace_outside_the_cluster_whitelist_fails_before_anything_applies(
    argo: ArgoHarness,
) -> None:
    make_project(
        argo, "team-b", sourceRepos=["*"], destinations=[{"server": "*", "namespace": "*"}]
    )
    argo.kube.create(APPS, manual_app(argo, "no-ns-kind", project="team-b"))
    state = finished_state(argo)["status"]["operationState"]
    assert state["phase"] == "Failed"
    assert state["message"] == (
        "one or more synchronization tasks are not valid: resource :Namespace is not permitted "
        "in project team-b"
    )
    assert argo.kube.get_or_none(NAMESPACE) is None
    assert argo.kube.list(DEPLOYMENTS)["items"] == []


def test_create_namespace_is_a_presync_step_the_sync_waits_on(argo: ArgoHarness) -> None:
    start = argo.kube.list(APPS)["metadata"]["resourceVersion"]
    app = manual_app(argo, "ns")
    app["spec"]["syncPolicy"]["managedNamespaceMetadata"] = {"labels": {"team": "a"}}
    argo.kube.create(APPS, app)
    seen: list[Obj] = []
    for event in argo.kube.watch(APPS, resource_version=start, timeout_seconds=30):
        state = (event["object"].get("status") or {}).get("operationState") or {}
        seen.append(state)
        if state.get("phase") == "Succeeded" and "finishedAt" in state:
            break
    waiting = [
        s for s in seen if s.get("message") == "waiting for healthy state of /Namespace/auth"
    ]
    assert waiting, [s.get("message") for s in seen]
    assert waiting[0]["phase"] == "Running"
    assert [
        (r["kind"], r["hookPhase"], r["syncPhase"]) for r in waiting[0]["syncResult"]["resources"]
    ] == [("Namespace", "Running", "PreSync")]
    final = seen[-1]["syncResult"]["resources"]
    assert final[0] == {
        "group": "", "version": "v1", "kind": "Namespace", "namespace": "", "name": "auth",
        "status": "Synced", "message": "namespace/auth created", "hookPhase": "Succeeded",
        "syncPhase": "PreSync",
    }  # fmt: skip
    assert {r["kind"] for r in final[1:]} == {"Deployment"}
    namespace = argo.kube.get(NAMESPACE)["metadata"]
    assert namespace["labels"]["team"] == "a"
    assert namespace["annotations"]["argocd.argoproj.io/sync-options"] == "ServerSideApply=true"


def test_failed_sync_is_retried_after_the_backoff_then_reports_the_retries(
    argo: ArgoHarness,
) -> None:
    add_to_base(argo, {"destinationrule.yaml": DESTINATION_RULE})
    app = manual_app(argo, "retry")
    app["operation"]["retry"] = {"limit": 1, "backoff": {"duration": "1", "factor": 1}}
    version = argo.kube.list(APPS)["metadata"]["resourceVersion"]
    argo.kube.create(APPS, app)

    # every write the controller makes, through a watch: the retry wait lasts only the
    # back-off, which a poll of the app can miss on a loaded machine
    states: list[Obj] = []
    for event in argo.kube.watch(APPS, version, timeout_seconds=60):
        state = (event["object"].get("status") or {}).get("operationState") or {}
        states.append(state)
        if state.get("phase") == "Failed":
            break
    waits = [s for s in states if s.get("retryCount") == 1 and s.get("phase") == "Running"]
    assert waits, f"no retry wait among {[s.get('phase') for s in states]}"
    assert waits[0]["finishedAt"]
    assert ". Retrying attempt #1 at " in waits[0]["message"]
    state = finished_state(argo)["status"]["operationState"]
    assert state["phase"] == "Failed"
    assert state["retryCount"] == 1
    assert state["message"].startswith("one or more synchronization tasks are not valid: ")
    assert state["message"].endswith(" (retried 1 times).")


def test_replace_puts_the_rendered_object_whole(argo: ArgoHarness) -> None:
    argo.kube.create(APPS, manual_app(argo, "first"))
    assert finished_state(argo)["status"]["operationState"]["phase"] == "Succeeded"
    path = f"{DEPLOYMENTS}/auth-api"
    argo.kube.patch(path, {"metadata": {"annotations": {"extra": "by-hand"}}})
    applied = sync_again(argo, "apply")["status"]["operationState"]["syncResult"]["resources"]
    assert "extra" in argo.kube.get(path)["metadata"]["annotations"]  # apply merges
    assert "deployment.apps/auth-api unchanged" in [r["message"] for r in applied]
    state = sync_with(argo, "replace", ["Replace=true"])
    assert state["phase"] == "Succeeded", state["message"]
    assert "deployment.apps/auth-api replaced" in [
        r["message"] for r in state["syncResult"]["resources"]
    ]
    annotations = argo.kube.get(path)["metadata"]["annotations"]
    assert "extra" not in annotations
    assert "kubectl.kubernetes.io/last-applied-configuration" not in annotations


def test_ignored_difference_keeps_the_app_synced_and_respect_keeps_the_live_value(
    argo: ArgoHarness,
) -> None:
    app = manual_app(argo, "ignore")
    app["spec"]["ignoreDifferences"] = [
        {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
    ]
    argo.kube.create(APPS, app)
    assert finished_state(argo)["status"]["operationState"]["phase"] == "Succeeded"
    path = f"{DEPLOYMENTS}/auth-api"
    argo.kube.patch(path, {"spec": {"replicas": 3}})
    argo.kube.patch(
        argo.app_path(), {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}
    )

    def refreshed() -> Obj | None:
        app = argo.app()
        annotations = app["metadata"].get("annotations") or {}
        return app if "argocd.argoproj.io/refresh" not in annotations else None

    status = wait_for("refresh", refreshed)["status"]
    assert status["sync"]["status"] == "Synced"
    sync_with(argo, "respect", ["CreateNamespace=true", "RespectIgnoreDifferences=true"])
    assert argo.kube.get(path)["spec"]["replicas"] == 3
    sync_again(argo, "plain")
    assert argo.kube.get(path)["spec"]["replicas"] == 1  # without the option git's value wins
