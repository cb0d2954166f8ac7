"""kube-scheduler's filters and FitError message, and the prober's threshold state machine
(pure functions, no server)."""

from __future__ import annotations

from typing import Any

from pipeline.sandbox.controllers.prober import FAILURE, SUCCESS, ProbeState
from pipeline.sandbox.controllers.schedulerfit import (
    filter_node,
    fit_error,
    matches_node_affinity,
    pod_requests,
    quantity,
    tolerates,
)

Obj = dict[str, Any]


def node(
    name: str, labels: Obj | None = None, taints: list[Obj] | None = None, **alloc: str
) -> Obj:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": taints or []},
        "status": {"allocatable": alloc or {"cpu": "2", "memory": "4Gi", "pods": "110"}},
    }


def pod(**spec: Any) -> Obj:
    containers = spec.pop("containers", [{"name": "app", "image": "x"}])
    return {"metadata": {"name": "p"}, "spec": {"containers": containers, **spec}}


def affinity(*expressions: Obj) -> Obj:
    terms = [{"matchExpressions": list(expressions)}]
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }
    }


def test_quantities_and_pod_requests() -> None:
    assert quantity("500m") * 1000 == 500
    assert quantity("128Mi") == 128 * 2**20
    assert quantity("1e3") == 1000
    assert quantity("24683652Ki") == 24683652 * 1024
    web = pod(
        containers=[
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "0.5"}}},
        ],
        initContainers=[{"name": "i", "resources": {"requests": {"cpu": "1"}}}],
    )
    assert pod_requests(web) == {"cpu": 1000, "memory": 64 * 2**20}


def test_tolerations_equal_and_exists() -> None:
    taint = {"key": "domain", "value": "auth", "effect": "NoSchedule"}
    assert tolerates({"key": "domain", "operator": "Equal", "value": "auth"}, taint)
    assert tolerates({"key": "domain", "value": "auth", "effect": "NoSchedule"}, taint)
    assert not tolerates({"key": "domain", "value": "billing"}, taint)
    assert not tolerates({"key": "domain", "value": "auth", "effect": "NoExecute"}, taint)
    assert tolerates({"key": "domain", "operator": "Exists"}, taint)
    assert tolerates({"operator": "Exists"}, taint)  # empty key with Exists tolerates all


def test_node_affinity_operators() -> None:
    n = node("n1", {"domain": "auth", "zone": "a"})
    assert matches_node_affinity(pod(nodeSelector={"domain": "auth"}), n)
    assert not matches_node_affinity(pod(nodeSelector={"domain": "billing"}), n)
    cases: list[tuple[Obj, bool]] = [
        ({"key": "domain", "operator": "In", "values": ["auth", "x"]}, True),
        ({"key": "domain", "operator": "NotIn", "values": ["auth"]}, False),
        ({"key": "missing", "operator": "NotIn", "values": ["auth"]}, True),
        ({"key": "zone", "operator": "Exists"}, True),
        ({"key": "zone", "operator": "DoesNotExist"}, False),
        ({"key": "gpu", "operator": "DoesNotExist"}, True),
    ]
    for expression, fits in cases:
        assert matches_node_affinity(pod(affinity=affinity(expression)), n) is fits, expression


def test_fit_error_counts_reasons_like_kube_scheduler() -> None:
    tainted = [{"key": "domain", "value": "auth", "effect": "NoSchedule"}]
    nodes = [
        node("plain"),
        node("auth-1", {"domain": "auth"}, tainted),
        node("auth-2", {"domain": "auth"}, tainted),
    ]
    wanting = pod(nodeSelector={"domain": "auth"})
    reasons = {n["metadata"]["name"]: filter_node(wanting, n, []) for n in nodes}
    assert fit_error(3, reasons) == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "2 node(s) had untolerated taint {domain: auth}. preemption: 0/3 nodes are available: "
        "3 Preemption is not helpful for scheduling."
    )
    tolerating = pod(
        nodeSelector={"domain": "auth"},
        tolerations=[
            {"key": "domain", "operator": "Equal", "value": "auth", "effect": "NoSchedule"}
        ],
    )
    assert filter_node(tolerating, nodes[1], []) == []


def test_resources_count_what_bound_pods_request() -> None:
    small = node("small", cpu="1", memory="1Gi", pods="2")
    hungry = pod(containers=[{"name": "a", "resources": {"requests": {"cpu": "600m"}}}])
    assert filter_node(hungry, small, []) == []
    assert filter_node(hungry, small, [hungry]) == ["Insufficient cpu"]
    assert filter_node(pod(), small, [pod(), pod()]) == ["Too many pods"]
    message = fit_error(1, {"small": ["Insufficient cpu"]})
    assert message == (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
        "1 No preemption victims found for incoming pod."
    )


def test_probe_thresholds_follow_the_kubelet_worker() -> None:
    spec = {
        "periodSeconds": 2,
        "initialDelaySeconds": 5,
        "failureThreshold": 2,
        "successThreshold": 2,
    }
    readiness = ProbeState("Readiness", spec, started_at=100.0)
    assert readiness.result is FAILURE  # readiness starts unready
    assert not readiness.due(104.0) and readiness.due(105.0)
    assert not readiness.record(SUCCESS, 105.0)  # one success is below successThreshold
    assert readiness.next_due == 107.0
    assert readiness.record(SUCCESS, 107.0) and readiness.result is SUCCESS
    assert not readiness.record(FAILURE, 109.0)
    assert readiness.record(FAILURE, 111.0) and readiness.result is FAILURE

    liveness = ProbeState("Liveness", {"failureThreshold": 3}, started_at=0.0)
    assert liveness.result is SUCCESS and liveness.period == 10.0
    assert not liveness.record(FAILURE, 0.0)
    assert not liveness.record(FAILURE, 10.0)
    assert liveness.record(FAILURE, 20.0) and liveness.result is FAILURE
    assert ProbeState("Startup", {}, started_at=0.0).result is None
