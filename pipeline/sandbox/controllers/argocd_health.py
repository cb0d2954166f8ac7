"""Resource and application health, as Argo CD computes it (pure functions).

Sources (reference/argocd-kubernetes.md A.5): ``gitops-engine/pkg/health/health_deployment.go``
(a copy of kubectl's rollout-status logic), ``health_pod.go``, ``health_service.go``, and app
health as ``controller/health.go`` setApplicationHealth computes it: the worst of the live
managed resources, ordered Healthy < Suspended < Progressing < Missing < Degraded < Unknown; a
missing resource does not count while another is live (OutOfSync says it is missing), the app
is Missing only when none is live; ``argocd.argoproj.io/ignore-healthcheck: "true"`` on a live
object leaves it out. (v3.5 writes no app health message; the per-resource messages live in
the resource tree.) ``status.summary.images`` is the sorted union of the
*spec* image strings of every pod in the app's tree (``controller/cache/info.go
populatePodInfo``), never imageIDs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]

HEALTHY = "Healthy"
SUSPENDED = "Suspended"
PROGRESSING = "Progressing"
MISSING = "Missing"
DEGRADED = "Degraded"
UNKNOWN = "Unknown"
ORDER = (HEALTHY, SUSPENDED, PROGRESSING, MISSING, DEGRADED, UNKNOWN)


def deployment_health(deployment: Obj) -> tuple[str, str]:
    """(status, message) of a Deployment, exactly the order of ``health_deployment.go``."""
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = deployment.get("metadata", {}).get("name", "")
    if spec.get("paused"):
        return SUSPENDED, "Deployment is paused"
    generation = deployment.get("metadata", {}).get("generation", 0)
    if generation > status.get("observedGeneration", 0):
        return (
            PROGRESSING,
            "Waiting for rollout to finish: observed deployment generation less than desired "
            "generation",
        )
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and (
            condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            return DEGRADED, f'Deployment "{name}" exceeded its progress deadline'
    replicas = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    current = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < replicas:
        return (
            PROGRESSING,
            f"Waiting for rollout to finish: {updated} out of {replicas} new replicas have "
            "been updated...",
        )
    if current > updated:
        return (
            PROGRESSING,
            f"Waiting for rollout to finish: {current - updated} old replicas are pending "
            "termination...",
        )
    if available < updated:
        return (
            PROGRESSING,
            f"Waiting for rollout to finish: {available} of {updated} updated replicas are "
            "available...",
        )
    return HEALTHY, ""


def pod_health(pod: Obj) -> tuple[str, str]:
    """``health_pod.go``, simplified: waiting reasons ``Err*``/``*Error``/``*BackOff`` degrade."""
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        reason = (cs.get("state", {}).get("waiting") or {}).get("reason", "")
        if reason.startswith("Err") or reason.endswith(("Error", "BackOff")):
            message = (cs.get("state", {}).get("waiting") or {}).get("message", reason)
            return DEGRADED, message
    phase = status.get("phase", "Pending")
    if phase == "Succeeded":
        return HEALTHY, status.get("message", "")
    if phase == "Failed":
        return DEGRADED, status.get("message", "")
    if phase == "Running":
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        return (HEALTHY, "") if ready else (PROGRESSING, "")
    return PROGRESSING, status.get("message", "")


def resource_health(obj: Obj | None) -> tuple[str, str] | None:
    """Health of one managed resource; None for kinds without a health check."""
    if obj is None:
        return MISSING, ""
    kind = obj.get("kind")
    if kind == "Deployment":
        return deployment_health(obj)
    if kind == "Pod":
        return pod_health(obj)
    if kind == "Service" and (obj.get("apiVersion") or "v1") == "v1":
        return service_health(obj)
    return None


def service_health(service: Obj) -> tuple[str, str]:
    """``health_service.go``: Healthy, except a LoadBalancer without an ingress address yet
    (Progressing; no load-balancer controller runs in the sandbox, so it stays so)."""
    if (service.get("spec") or {}).get("type") != "LoadBalancer":
        return HEALTHY, ""
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    return (HEALTHY, "") if ingress else (PROGRESSING, "")


IGNORE_HEALTHCHECK = "argocd.argoproj.io/ignore-healthcheck"


def app_health(resources: Iterable[Obj | None]) -> str:
    """setApplicationHealth over the live objects of the managed resources (None: missing)."""
    status = HEALTHY
    contains = contains_live = False
    for live in resources:
        contains = True
        if live is None:
            continue
        contains_live = True
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        verdict = resource_health(live)
        if annotations.get(IGNORE_HEALTHCHECK) == "true" or verdict is None:
            continue
        status = worst([status, verdict[0]])
    if contains and not contains_live and ORDER.index(MISSING) > ORDER.index(status):
        status = MISSING
    return status


def worst(statuses: Iterable[str]) -> str:
    """The app health: the worst of its resources' (Healthy when none has a health check)."""
    return max(statuses, key=ORDER.index, default=HEALTHY)


def _owner_uids(obj: Obj, kind: str) -> set[str]:
    return {
        str(ref.get("uid"))
        for ref in obj.get("metadata", {}).get("ownerReferences") or []
        if ref.get("kind") == kind
    }


def summary_images(
    managed: Iterable[Obj], replica_sets: Iterable[Obj], pods: Iterable[Obj]
) -> list[str]:
    """Spec image strings of pods in the tree: managed pods, and pods owned by a ReplicaSet
    owned by a managed Deployment (old and new ReplicaSets alike)."""
    managed = list(managed)
    deployments = {str(o["metadata"].get("uid")) for o in managed if o.get("kind") == "Deployment"}
    managed_pods = {str(o["metadata"].get("uid")) for o in managed if o.get("kind") == "Pod"}
    rs_uids = {
        str(rs["metadata"].get("uid"))
        for rs in replica_sets
        if _owner_uids(rs, "Deployment") & deployments
    }
    images: set[str] = set()
    for pod in pods:
        uid = str(pod["metadata"].get("uid"))
        if uid in managed_pods or _owner_uids(pod, "ReplicaSet") & rs_uids:
            spec = pod.get("spec") or {}
            for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
                if container.get("image"):
                    images.add(container["image"])
    return sorted(images)
