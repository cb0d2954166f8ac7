"""Pod status from the kubelet's record of each container, as pure functions.

Follows the kubelet: ``kubelet_pods.go`` (``getPhase``, ``convertToAPIContainerStatuses``),
``status/generate.go`` (``GenerateContainersReadyCondition``, ``GeneratePodReadyCondition``:
reason ``ContainersNotReady``, message ``containers with unready status: [a b]``) and
``status_manager.go`` (a condition keeps its ``lastTransitionTime`` while its status stays).
``imageID`` is ``""`` until the container first starts (reference F.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.sandbox.controllers.deploymentstatus import rfc3339

Obj = dict[str, Any]

CONTAINER_CREATING = "ContainerCreating"


@dataclass
class ContainerRecord:
    """What the kubelet knows about one container of a pod (all instances so far)."""

    name: str
    image: str  # the spec string, as the pod asked for it
    state: Obj = field(default_factory=lambda: waiting(CONTAINER_CREATING))
    last_state: Obj = field(default_factory=dict)
    restart_count: int = 0
    image_id: str = ""
    container_id: str = ""
    ready: bool = False
    started: bool = False
    runtime_id: str = ""  # the runtime's id of the current (or last) instance
    running_since: float = 0.0  # when the current instance started
    finished_at: float = 0.0  # when the last instance exited; 0 while none has
    last_terminated: Obj = field(default_factory=dict)  # body of the last terminated state

    @property
    def has_run(self) -> bool:
        return bool(self.container_id)


def waiting(reason: str, message: str = "") -> Obj:
    body = {"reason": reason}
    if message:
        body["message"] = message
    return {"waiting": body}


def running(started_at: float) -> Obj:
    return {"running": {"startedAt": rfc3339(started_at)}}


def terminated(
    exit_code: int,
    started_at: float,
    finished_at: float,
    container_id: str,
    *,
    oom_killed: bool = False,
) -> Obj:
    """A terminated state with the kubelet's reason: OOMKilled, Completed (0) or Error."""
    reason = "OOMKilled" if oom_killed else "Completed" if exit_code == 0 else "Error"
    return {
        "terminated": {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": rfc3339(started_at),
            "finishedAt": rfc3339(finished_at),
            "containerID": container_id,
        }
    }


def container_status(record: ContainerRecord) -> Obj:
    status: Obj = {
        "name": record.name,
        "image": record.image,
        "imageID": record.image_id,
        "ready": record.ready,
        "started": record.started,
        "restartCount": record.restart_count,
        "state": record.state,
        "lastState": record.last_state,
    }
    if record.container_id:
        status["containerID"] = record.container_id
    return status


def pod_phase(records: list[ContainerRecord], restart_policy: str) -> str:
    """``getPhase`` for pods without init containers."""
    running_n = stopped = succeeded = waiting_n = 0
    for rec in records:
        if "running" in rec.state:
            running_n += 1
        elif "terminated" in rec.state:
            stopped += 1
            succeeded += rec.state["terminated"].get("exitCode") == 0
        elif rec.last_state.get("terminated"):
            stopped += 1
        else:
            waiting_n += 1
    if waiting_n > 0:
        return "Pending"
    if running_n > 0:
        return "Running"
    if stopped > 0:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if restart_policy == "Never" else "Running"
    return "Pending"


def _condition(cond_type: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": cond_type, "status": "True" if ok else "False"}
    if not ok and reason:
        cond["reason"] = reason
        cond["message"] = message
    return cond


def pod_conditions(records: list[ContainerRecord], old: list[Obj], now: float) -> list[Obj]:
    """PodScheduled, Initialized, ContainersReady, Ready; transition times kept from ``old``."""
    unready = [r.name for r in records if not r.ready]
    message = f"containers with unready status: [{' '.join(unready)}]"
    conditions = [
        _condition("PodScheduled", True),
        _condition("Initialized", True),
        _condition("ContainersReady", not unready, "ContainersNotReady", message),
        _condition("Ready", not unready, "ContainersNotReady", message),
    ]
    previous = {c.get("type"): c for c in old}
    for cond in conditions:
        before = previous.get(cond["type"])
        if before and before.get("status") == cond["status"] and before.get("lastTransitionTime"):
            cond["lastTransitionTime"] = before["lastTransitionTime"]
        else:
            cond["lastTransitionTime"] = rfc3339(now)
        cond["lastProbeTime"] = None
    return conditions


def pod_status(
    pod: Obj,
    records: list[ContainerRecord],
    *,
    start_time: float,
    now: float,
    host_ip: str = "127.0.0.1",
    pod_ip: str = "",
) -> Obj:
    """The whole ``status`` the kubelet writes through ``pods/status``; ``podIP`` once the
    pod's sandbox has one."""
    old = pod.get("status") or {}
    restart_policy = pod.get("spec", {}).get("restartPolicy") or "Always"
    status: Obj = {
        "phase": pod_phase(records, restart_policy),
        "conditions": pod_conditions(records, old.get("conditions") or [], now),
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": rfc3339(start_time),
        "qosClass": qos_class(pod),
        "containerStatuses": [container_status(r) for r in records],
    }
    if pod_ip:
        status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    return status


def qos_class(pod: Obj) -> str:
    """``qos.GetPodQOS``: Guaranteed when every container's cpu and memory limits equal its
    requests, BestEffort when nothing is requested or limited, else Burstable."""
    requested, guaranteed = False, True
    for container in pod.get("spec", {}).get("containers") or []:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if requests or limits:
            requested = True
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                guaranteed = False
    if not requested:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def ignoring_times(status: Obj) -> Obj:
    """``status`` without condition transition times, to decide whether a write is needed."""
    out = dict(status)
    out["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"}
        for c in status.get("conditions", [])
    ]
    return out
