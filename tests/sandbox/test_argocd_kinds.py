"""Argo CD syncing what real GitOps repositories carry (issue 10): Services, HPAs and
NetworkPolicies next to the Deployments; a kind whose CRD is missing fails the whole sync
before anything is applied; a missing AppProject is an InvalidSpecError."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from pipeline.sandbox.sample import commit_all
from tests.fixtures.waiting import wait_for
from tests.sandbox.test_argocd_harness import APPS, DEPLOYMENTS, ArgoHarness, argo
from tests.sandbox.test_argocd_sync import finished_state, operation

__all__ = ["argo"]
pytestmark = pytest.mark.integration
Obj = dict[str, Any]

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: auth-api}
spec:
  selector: {app: auth-api}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""
HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: auth-api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: auth-api}
  minReplicas: 1
  maxReplicas: 3
"""
NETWORK_POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: auth-api}
spec:
  podSelector: {matchLabels: {app: auth-api}}
  policyTypes: [Ingress]
"""
DESTINATION_RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: auth-api}
spec:
  host: auth-api
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
"""
CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "destinationrules.networking.istio.io"},
    "spec": {
        "group": "networking.istio.io",
        "scope": "Namespaced",
        "names": {"plural": "destinationrules", "kind": "DestinationRule"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
MISSING_CRD = (
    "The Kubernetes API could not find networking.istio.io/DestinationRule for requested "
    'resource auth/auth-api. Make sure the "DestinationRule" CRD is installed on the '
    "destination cluster."
)


def add_to_base(harness: ArgoHarness, files: dict[str, str]) -> None:
    """Commit ``files`` into the sample's kustomize base and list them as resources."""
    base = harness.sample.path / "base"
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    for name, text in files.items():
        (base / name).write_text(text)
        kustomization["resources"].append(name)
    (base / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    commit_all(harness.sample.path, "more kinds")


def manual_app(harness: ArgoHarness, marker: str, **spec: Any) -> Obj:
    app = copy.deepcopy(harness.sample.app_manifest)
    del app["spec"]["syncPolicy"]["automated"]
    app["spec"].update(spec)
    app["operation"] = operation(marker)
    return app


def sync_again(harness: ArgoHarness, marker: str) -> Obj:
    harness.kube.patch(
        harness.app_path(), {"operation": operation(marker)}, "application/merge-patch+json"
    )

    def done() -> Obj | None:
        app = harness.app()
        state = (app.get("status") or {}).get("operationState") or {}
        info = (state.get("operation") or {}).get("info") or []
        if info and info[0]["value"] == marker and state.get("phase") in ("Succeeded", "Failed"):
            return app
        return None

    return wait_for(f"operation {marker} to complete", done)


def test_service_hpa_and_network_policy_sync_and_become_synced(argo: ArgoHarness) -> None:
    add_to_base(argo, {"service.yaml": SERVICE, "hpa.yaml": HPA, "netpol.yaml": NETWORK_POLICY})
    argo.kube.create(APPS, manual_app(argo, "kinds"))
    app = finished_state(argo)
    state = app["status"]["operationState"]
    assert state["phase"] == "Succeeded", state["message"]
    kinds = {r["kind"]: r["status"] for r in state["syncResult"]["resources"]}
    assert kinds == {
        "Namespace": "Synced",  # CreateNamespace=true: the PreSync task
        "Deployment": "Synced",
        "Service": "Synced",
        "HorizontalPodAutoscaler": "Synced",
        "NetworkPolicy": "Synced",
    }
    svc = argo.kube.get("/api/v1/namespaces/auth/services/auth-api")
    assert svc["spec"]["clusterIP"].startswith("10.")
    assert svc["spec"]["ports"][0]["protocol"] == "TCP"
    hpa = argo.kube.get("/apis/autoscaling/v2/namespaces/auth/horizontalpodautoscalers/auth-api")
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    argo.kube.get("/apis/networking.k8s.io/v1/namespaces/auth/networkpolicies/auth-api")

    def synced() -> Obj | None:
        app = argo.app()
        return app if app.get("status", {}).get("sync", {}).get("status") == "Synced" else None

    app = wait_for("Synced", synced)
    listed = {(r["kind"], r["status"]) for r in app["status"]["resources"]}
    assert ("Service", "Synced") in listed
    assert ("HorizontalPodAutoscaler", "Synced") in listed
    # a second sync of the same manifests changes nothing (ClusterIP kept, defaults equal)
    again = sync_again(argo, "kinds-2")
    assert again["status"]["operationState"]["phase"] == "Succeeded"
    assert argo.kube.get("/api/v1/namespaces/auth/services/auth-api")["spec"] == svc["spec"]


def test_missing_crd_fails_the_sync_before_anything_is_applied(argo: ArgoHarness) -> None:
    add_to_base(argo, {"service.yaml": SERVICE, "destinationrule.yaml": DESTINATION_RULE})
    argo.kube.create(APPS, manual_app(argo, "no-crd"))
    app = finished_state(argo)
    state = app["status"]["operationState"]
    assert state["phase"] == "Failed"
    assert state["message"] == f"one or more synchronization tasks are not valid: {MISSING_CRD}"
    assert state["syncResult"]["resources"] == [
        {
            "group": "networking.istio.io",
            "version": "v1",
            "kind": "DestinationRule",
            "namespace": "auth",
            "name": "auth-api",
            "status": "SyncFailed",
            "message": MISSING_CRD,
            "syncPhase": "Sync",
        }
    ]
    # nothing of that sync was applied
    assert argo.deployment("auth-api") is None
    assert argo.kube.get_or_none("/api/v1/namespaces/auth/services/auth-api") is None

    argo.kube.create(CRDS, CRD)
    app = sync_again(argo, "with-crd")
    state = app["status"]["operationState"]
    assert state["phase"] == "Succeeded", state["message"]
    rule = argo.kube.get("/apis/networking.istio.io/v1/namespaces/auth/destinationrules/auth-api")
    assert rule["spec"]["trafficPolicy"] == {"tls": {"mode": "ISTIO_MUTUAL"}}
    assert argo.deployment("auth-api") is not None


def test_crd_in_the_same_sync_is_applied_before_its_custom_resource(argo: ArgoHarness) -> None:
    add_to_base(argo, {"crd.yaml": yaml.safe_dump(CRD), "destinationrule.yaml": DESTINATION_RULE})
    argo.kube.create(APPS, manual_app(argo, "crd-too"))
    state = finished_state(argo)["status"]["operationState"]
    assert state["phase"] == "Succeeded", state["message"]
    argo.kube.get("/apis/networking.istio.io/v1/namespaces/auth/destinationrules/auth-api")


def test_missing_app_project_is_an_invalid_spec_error_and_never_syncs(
    argo: ArgoHarness,
) -> None:
    assert argo.kube.get("/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects/default")[
        "spec"
    ]["sourceRepos"] == ["*"]
    argo.kube.create(APPS, manual_app(argo, "no-project", project="team-a"))
    app = finished_state(argo)
    state = app["status"]["operationState"]
    assert state["phase"] == "Error"
    assert state["message"] == (
        'Failed to load application project: error getting app project "team-a": '
        'appproject.argoproj.io "team-a" not found'
    )

    def invalid() -> Obj | None:
        app = argo.app()
        conditions = (app.get("status") or {}).get("conditions") or []
        return app if any(c["type"] == "InvalidSpecError" for c in conditions) else None

    app = wait_for("InvalidSpecError", invalid)
    conditions = [c for c in app["status"]["conditions"] if c["type"] == "InvalidSpecError"]
    assert conditions[0]["message"] == (
        "Application referencing project team-a which does not exist"
    )
    assert app["status"]["sync"]["status"] == "Unknown"
    assert app["status"]["health"]["status"] == "Unknown"
    assert argo.deployment("auth-api") is None
    assert argo.kube.list(DEPLOYMENTS)["items"] == []


def test_kind_served_only_in_another_version_names_that_version(argo: ArgoHarness) -> None:
    beta = copy.deepcopy(CRD)
    beta["spec"]["versions"][0]["name"] = "v1beta1"
    argo.kube.create(CRDS, beta)
    add_to_base(argo, {"destinationrule.yaml": DESTINATION_RULE})
    argo.kube.create(APPS, manual_app(argo, "beta-only"))
    state = finished_state(argo)["status"]["operationState"]
    assert state["phase"] == "Failed"
    assert [r["message"] for r in state["syncResult"]["resources"]] == [
        'The Kubernetes API could not find version "v1" of networking.istio.io/DestinationRule '
        'for requested resource auth/auth-api. Version "v1beta1" of '
        "networking.istio.io/DestinationRule is installed on the destination cluster."
    ]
