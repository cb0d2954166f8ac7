"""The ReplicaSet controller: keep ``spec.replicas`` pods alive, report their counts.

Follows ``pkg/controller/replicaset/replica_set.go`` (``manageReplicas``, ``getPodsToDelete``)
and ``replica_set_utils.go`` (``calculateStatus``). Pods are owned through a controller
ownerReference and created with ``generateName: <rs>-``; extra pods are deleted in the order
``controller.ActivePods`` ranks them (unscheduled, pending, not ready, restarted most, newest
first). Status goes through the ``/status`` subresource.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pipeline.sandbox.controllers.deploymentstatus import parse_rfc3339
from pipeline.sandbox.controllers.eventrecorder import NORMAL, EventRecorder
from pipeline.sandbox.controllers.podtemplate import controller_uid, new_pod
from pipeline.sandbox.kubeclient import ApiError, KubeClient, resource_path

Obj = dict[str, Any]

_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def label_selector(selector: Obj) -> str:
    """A ``labelSelector`` query string for a LabelSelector's matchLabels/matchExpressions."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def pod_is_active(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and pod.get("status", {}).get(
        "phase"
    ) not in ("Succeeded", "Failed")


def pod_ready_since(pod: Obj) -> float | None:
    """When the pod's Ready condition turned True, or None if it is not Ready."""
    for cond in pod.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == "Ready":
            if cond.get("status") != "True":
                return None
            ts = cond.get("lastTransitionTime")
            return parse_rfc3339(ts) if ts else 0.0
    return None


def pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    since = pod_ready_since(pod)
    return since is not None and (min_ready_seconds == 0 or since + min_ready_seconds <= now)


def deletion_rank(pod: Obj) -> tuple[int, int, int, int, float]:
    """Sort key: the pods to delete first sort first (``controller.ActivePods``)."""
    status = pod.get("status", {})
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses", []) or [])
    created = pod["metadata"].get("creationTimestamp")
    return (
        1 if pod["spec"].get("nodeName") else 0,
        _PHASE_RANK.get(status.get("phase", "Pending"), 0),
        0 if pod_ready_since(pod) is None else 1,
        -restarts,
        -(parse_rfc3339(created) if created else 0.0),
    )


class ReplicaSetSyncer:
    """Reconciles one ReplicaSet against its pods, reading fresh state from the API."""

    def __init__(
        self,
        client: KubeClient,
        recorder: EventRecorder,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._recorder = recorder
        self._clock = clock

    def owned_pods(self, rs: Obj) -> list[Obj]:
        ns = rs["metadata"]["namespace"]
        listing = self._client.list(
            resource_path("v1", "pods", ns), label_selector=label_selector(rs["spec"]["selector"])
        )
        uid = rs["metadata"]["uid"]
        return [p for p in listing.get("items", []) if controller_uid(p) == uid]

    def sync(self, rs: Obj) -> float | None:
        """Create or delete pods, then write status; returns seconds until a pod becomes
        available (minReadySeconds) so the caller can look again, else None."""
        pods = [p for p in self.owned_pods(rs) if pod_is_active(p)]
        if not rs["metadata"].get("deletionTimestamp"):
            pods = self._manage(rs, pods)
        return self._write_status(rs, pods)

    def _manage(self, rs: Obj, pods: list[Obj]) -> list[Obj]:
        ns = rs["metadata"]["namespace"]
        diff = len(pods) - int(rs["spec"].get("replicas", 1) or 0)
        if diff < 0:
            for _ in range(-diff):
                try:
                    pod = self._client.create(resource_path("v1", "pods", ns), new_pod(rs))
                except ApiError as e:
                    self._recorder.event(rs, "Warning", "FailedCreate", f"Error creating: {e}")
                    break
                pods.append(pod)
                self._recorder.event(
                    rs, NORMAL, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}"
                )
        elif diff > 0:
            doomed = sorted(pods, key=deletion_rank)[:diff]
            for pod in doomed:
                name = pod["metadata"]["name"]
                self._client.delete(resource_path("v1", "pods", ns, name))
                self._recorder.event(rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {name}")
            pods = [p for p in pods if p not in doomed]
        return pods

    def _write_status(self, rs: Obj, pods: list[Obj]) -> float | None:
        now = self._clock()
        min_ready = int(rs["spec"].get("minReadySeconds", 0) or 0)
        template_labels = rs["spec"]["template"].get("metadata", {}).get("labels", {}) or {}
        fully_labeled = [
            p
            for p in pods
            if all(p["metadata"].get("labels", {}).get(k) == v for k, v in template_labels.items())
        ]
        ready = [p for p in pods if pod_ready_since(p) is not None]
        available = [p for p in ready if pod_available(p, min_ready, now)]
        status = {
            "replicas": len(pods),
            "fullyLabeledReplicas": len(fully_labeled),
            "readyReplicas": len(ready),
            "availableReplicas": len(available),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        old = {k: v for k, v in (rs.get("status") or {}).items() if k in status}
        if old != status:
            ns, name = rs["metadata"]["namespace"], rs["metadata"]["name"]
            body = {"status": status}
            self._client.patch(resource_path("apps/v1", "replicasets", ns, name) + "/status", body)
        waiting = [
            (pod_ready_since(p) or 0.0) + min_ready - now for p in ready if p not in available
        ]
        return min(waiting) if waiting else None
