"""Deployment status and its Available/Progressing conditions, as pure functions.

Mirrors kube-controller-manager ``pkg/controller/deployment/sync.go`` (``calculateStatus``),
``progress.go`` (``syncRolloutStatus``, ``requeueStuckDeployment``) and ``util``
(``SetDeploymentCondition``, ``DeploymentComplete``, ``DeploymentProgressing``,
``DeploymentTimedOut``). Timestamps are RFC 3339 strings with second precision, as the API
serializes ``metav1.Time``.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from pipeline.sandbox.controllers.rolloutmath import desired_replicas, max_unavailable

Obj = dict[str, Any]

AVAILABLE = "Available"
PROGRESSING = "Progressing"
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
MIN_AVAILABLE_REASON = "MinimumReplicasAvailable"
MIN_UNAVAILABLE_REASON = "MinimumReplicasUnavailable"
DEFAULT_PROGRESS_DEADLINE = 600


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


def progress_deadline(deployment: Obj) -> int | None:
    """``progressDeadlineSeconds`` (defaulted to 600); None when it is MaxInt32 (disabled)."""
    value = deployment["spec"].get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE)
    if value is None:
        value = DEFAULT_PROGRESS_DEADLINE
    return None if int(value) >= 2**31 - 1 else int(value)


def get_condition(status: Obj, cond_type: str) -> Obj | None:
    for cond in status.get("conditions", []) or []:
        if cond.get("type") == cond_type:
            return dict(cond)
    return None


def new_condition(cond_type: str, status: str, reason: str, message: str, now: float) -> Obj:
    ts = rfc3339(now)
    return {
        "type": cond_type,
        "status": status,
        "lastUpdateTime": ts,
        "lastTransitionTime": ts,
        "reason": reason,
        "message": message,
    }


def set_condition(status: Obj, condition: Obj) -> None:
    """``SetDeploymentCondition``: no-op when status and reason are unchanged; keeps the
    transition time when only the reason changes."""
    current = get_condition(status, condition["type"])
    if current and current["status"] == condition["status"]:
        if current.get("reason") == condition["reason"]:
            return
        condition["lastTransitionTime"] = current["lastTransitionTime"]
    remove_condition(status, condition["type"])
    status.setdefault("conditions", []).append(condition)


def remove_condition(status: Obj, cond_type: str) -> None:
    status["conditions"] = [
        c for c in status.get("conditions", []) or [] if c.get("type") != cond_type
    ]


def calculate_status(deployment: Obj, all_rs: list[Obj], new_rs: Obj | None, now: float) -> Obj:
    """``calculateStatus``: replica counts summed over the ReplicaSets, plus Available."""

    def total(rss: list[Obj], field: str) -> int:
        return sum(int(rs.get("status", {}).get(field, 0) or 0) for rs in rss)

    available = total(all_rs, "availableReplicas")
    spec_total = sum(int(rs["spec"].get("replicas", 0) or 0) for rs in all_rs)
    old = deployment.get("status", {}) or {}
    status: Obj = {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": total(all_rs, "replicas"),
        "updatedReplicas": total([new_rs], "replicas") if new_rs else 0,
        "readyReplicas": total(all_rs, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(spec_total - available, 0),
        "conditions": copy.deepcopy(old.get("conditions", []) or []),
    }
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= desired_replicas(deployment) - max_unavailable(deployment):
        cond = new_condition(
            AVAILABLE, "True", MIN_AVAILABLE_REASON, "Deployment has minimum availability.", now
        )
    else:
        cond = new_condition(
            AVAILABLE,
            "False",
            MIN_UNAVAILABLE_REASON,
            "Deployment does not have minimum availability.",
            now,
        )
    set_condition(status, cond)
    return status


def deployment_complete(deployment: Obj, status: Obj) -> bool:
    desired = desired_replicas(deployment)
    return bool(
        status.get("updatedReplicas", 0) == desired
        and status.get("replicas", 0) == desired
        and status.get("availableReplicas", 0) == desired
        and status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 1)
    )


def deployment_progressing(deployment: Obj, status: Obj) -> bool:
    old = deployment.get("status", {}) or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = status.get("replicas", 0) - status.get("updatedReplicas", 0)
    return bool(
        status.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
        or new_old < old_old
        or status.get("readyReplicas", 0) > old.get("readyReplicas", 0)
        or status.get("availableReplicas", 0) > old.get("availableReplicas", 0)
    )


def deployment_timed_out(deployment: Obj, status: Obj, now: float) -> bool:
    deadline = progress_deadline(deployment)
    cond = get_condition(status, PROGRESSING)
    if deadline is None or cond is None or cond["reason"] == NEW_RS_AVAILABLE_REASON:
        return False
    if cond["reason"] == TIMED_OUT_REASON:
        return True
    return parse_rfc3339(cond["lastUpdateTime"]) + deadline < now


def rollout_status(deployment: Obj, all_rs: list[Obj], new_rs: Obj | None, now: float) -> Obj:
    """``syncRolloutStatus``: the status to write, Progressing condition included."""
    status = calculate_status(deployment, all_rs, new_rs, now)
    deadline = progress_deadline(deployment)
    if deadline is None:
        remove_condition(status, PROGRESSING)
        return status
    current = get_condition(deployment.get("status", {}) or {}, PROGRESSING)
    complete_already = (
        status["replicas"] == status["updatedReplicas"]
        and current is not None
        and current["reason"] == NEW_RS_AVAILABLE_REASON
    )
    if complete_already:
        return status
    rs_name = new_rs["metadata"]["name"] if new_rs else None
    subject = (
        f'ReplicaSet "{rs_name}"' if rs_name else f'Deployment "{deployment_name(deployment)}"'
    )
    if deployment_complete(deployment, status):
        cond = new_condition(
            PROGRESSING,
            "True",
            NEW_RS_AVAILABLE_REASON,
            f"{subject} has successfully progressed.",
            now,
        )
        set_condition(status, cond)
    elif deployment_progressing(deployment, status):
        cond = new_condition(
            PROGRESSING, "True", RS_UPDATED_REASON, f"{subject} is progressing.", now
        )
        if current is not None:
            if current["status"] == "True":
                cond["lastTransitionTime"] = current["lastTransitionTime"]
            remove_condition(status, PROGRESSING)
        set_condition(status, cond)
    elif deployment_timed_out(deployment, status, now):
        cond = new_condition(
            PROGRESSING, "False", TIMED_OUT_REASON, f"{subject} has timed out progressing.", now
        )
        set_condition(status, cond)
    return status


def deployment_name(deployment: Obj) -> str:
    return str(deployment["metadata"]["name"])


def seconds_until_stuck(deployment: Obj, status: Obj, now: float) -> float | None:
    """``requeueStuckDeployment``: when to look again for ProgressDeadlineExceeded, or None."""
    deadline = progress_deadline(deployment)
    cond = get_condition(status, PROGRESSING)
    if deadline is None or cond is None:
        return None
    if cond["status"] != "True" or cond["reason"] != RS_UPDATED_REASON:
        return None
    if deployment_complete(deployment, status):
        return None
    after = parse_rfc3339(cond["lastUpdateTime"]) + deadline - now
    return max(after, 0.0) + 1.0
