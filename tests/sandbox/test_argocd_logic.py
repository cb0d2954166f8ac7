"""Pure rules of the sandbox Argo CD: health (A.5), comparison/apply, operations (A.2, A.3)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.sandbox.controllers import argocd_operation as ops
from pipeline.sandbox.controllers.argocd_compare import (
    LAST_APPLIED,
    applied,
    in_sync,
    with_last_applied,
    with_tracking,
)
from pipeline.sandbox.controllers.argocd_health import (
    deployment_health,
    resource_health,
    summary_images,
    worst,
)


def deployment(**status: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "d", "generation": 2},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 2, **status},
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}, "Healthy"),
        ({"replicas": 1, "updatedReplicas": 0}, "Progressing"),
        ({"replicas": 2, "updatedReplicas": 1, "availableReplicas": 1}, "Progressing"),
        ({"replicas": 1, "updatedReplicas": 1, "availableReplicas": 0}, "Progressing"),
        (
            {
                "replicas": 1,
                "updatedReplicas": 1,
                "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
            },
            "Degraded",
        ),
        ({"observedGeneration": 1}, "Progressing"),
    ],
)
def test_deployment_health(status: dict[str, Any], expected: str) -> None:
    assert deployment_health(deployment(**status))[0] == expected


def test_paused_deployment_is_suspended() -> None:
    d = deployment()
    d["spec"]["paused"] = True
    assert deployment_health(d) == ("Suspended", "Deployment is paused")


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        ({"type": "ClusterIP"}, {"loadBalancer": {}}, "Healthy"),
        ({"type": "LoadBalancer"}, {"loadBalancer": {}}, "Progressing"),
        ({"type": "LoadBalancer"}, {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}, "Healthy"),
    ],
)
def test_service_health(spec: dict[str, Any], status: dict[str, Any], expected: str) -> None:
    service = {"apiVersion": "v1", "kind": "Service", "spec": spec, "status": status}
    assert resource_health(service) == (expected, "")


def test_kinds_without_a_health_check() -> None:
    assert (
        resource_health({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler"}) is None
    )


def test_worst_health_order() -> None:
    assert worst(["Healthy", "Missing", "Progressing"]) == "Missing"
    assert worst(["Degraded", "Missing"]) == "Degraded"
    assert worst([]) == "Healthy"


def test_summary_images_are_spec_strings_of_pods_in_the_tree() -> None:
    managed = [{"kind": "Deployment", "metadata": {"uid": "dep"}}]
    rs = [
        {"metadata": {"uid": "rs1", "ownerReferences": [{"kind": "Deployment", "uid": "dep"}]}},
        {"metadata": {"uid": "rs2", "ownerReferences": [{"kind": "Deployment", "uid": "other"}]}},
    ]

    def pod(uid: str, owner: str, image: str) -> dict[str, Any]:
        return {
            "metadata": {"uid": uid, "ownerReferences": [{"kind": "ReplicaSet", "uid": owner}]},
            "spec": {"containers": [{"image": image}]},
        }

    pods = [pod("p1", "rs1", "r/x:b"), pod("p2", "rs1", "r/x:a"), pod("p3", "rs2", "r/y:z")]
    assert summary_images(managed, rs, pods) == ["r/x:a", "r/x:b"]


def test_tracking_and_namespace_defaulting() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}
    tracked = with_tracking(obj, "app", "auth")
    assert tracked["metadata"]["namespace"] == "auth"
    assert tracked["metadata"]["annotations"] == {
        "argocd.argoproj.io/tracking-id": "app:apps/Deployment:auth/x"
    }
    assert tracked["metadata"]["labels"] == {"app.kubernetes.io/instance": "app"}
    ns = with_tracking(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}, "a", None
    )
    assert ns["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] == "a:/Namespace:/n"


def test_in_sync_ignores_live_extras_but_not_changed_fields() -> None:
    desired = {"kind": "X", "metadata": {"name": "x"}, "spec": {"a": 1, "l": [{"i": "img"}]}}
    live = {
        "kind": "X",
        "metadata": {"name": "x", "uid": "u"},
        "spec": {"a": 1, "b": 2, "l": [{"i": "img", "pull": "Always"}]},
        "status": {},
    }
    assert in_sync(with_last_applied(desired), live)
    live["spec"]["l"][0]["i"] = "other"
    assert not in_sync(desired, live)
    assert not in_sync(desired, None)


def test_apply_removes_fields_dropped_from_git_and_keeps_status() -> None:
    first = with_last_applied({"kind": "X", "metadata": {"name": "x"}, "spec": {"a": 1, "b": 2}})
    live = json.loads(json.dumps(first))
    live["metadata"].update(resourceVersion="7", uid="u")
    live["spec"]["serverDefault"] = True
    live["status"] = {"ready": 1}
    second = with_last_applied({"kind": "X", "metadata": {"name": "x"}, "spec": {"a": 3}})
    result = applied(live, second)
    assert result["spec"] == {"a": 3, "serverDefault": True}
    assert result["status"] == {"ready": 1}
    assert result["metadata"]["resourceVersion"] == "7"
    assert json.loads(result["metadata"]["annotations"][LAST_APPLIED])["spec"] == {"a": 3}


def test_completion_patch_clears_operation_in_the_same_write() -> None:
    assert ops.completion_patch({"phase": "Succeeded"}) == [
        {"op": "add", "path": "/status/operationState", "value": {"phase": "Succeeded"}},
        {"op": "add", "path": "/operation", "value": None},
    ]


def test_auto_sync_operation_defaults() -> None:
    app = {
        "spec": {
            "source": {"repoURL": "r", "path": "p"},
            "syncPolicy": {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]},
        }
    }
    assert ops.auto_sync_operation(app, "abc", None, 0) == {
        "initiatedBy": {"automated": True},
        "sync": {
            "revision": "abc",
            "prune": True,
            "source": {"repoURL": "r", "path": "p"},
            "syncOptions": ["CreateNamespace=true"],
        },
        "retry": {"limit": 5},
    }
