"""What every pod on the sandbox node shares, and the kubelet's small value helpers."""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.sandbox.controllers.backoff import Backoff
from pipeline.sandbox.controllers.containers import Runtime
from pipeline.sandbox.controllers.deploymentstatus import parse_rfc3339, rfc3339
from pipeline.sandbox.controllers.eventrecorder import EventRecorder
from pipeline.sandbox.controllers.imagepull import ImageResolver, ResolvedImage
from pipeline.sandbox.controllers.loadedimages import LoadedImages
from pipeline.sandbox.controllers.podlogs import LogPublisher
from pipeline.sandbox.kubeclient import KubeClient

Obj = dict[str, Any]


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String`` for whole seconds and sub-second values: 10s, 5m0s, 500ms."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


class PodIPs:
    """host-local IPAM: one address per pod from ``10.244.0.0/16`` (flannel's default cluster
    CIDR), released when the pod's sandbox is removed. The address lives on the loopback device
    of the pod's own network namespace only: no route leads to it from the host."""

    def __init__(self, prefix: str = "10.244") -> None:
        self._prefix = prefix
        self._lock = threading.Lock()
        self._used: dict[str, int] = {}
        self._next = 0

    def allocate(self, uid: str) -> str:
        with self._lock:
            if uid not in self._used:
                taken = set(self._used.values())
                for _ in range(65024):
                    self._next = self._next % 65024 + 1
                    if self._next not in taken:
                        break
                self._used[uid] = self._next
            index = self._used[uid] + 1  # skip .0.0 and .0.1 (the bridge's)
            return f"{self._prefix}.{index // 256}.{index % 256}"

    def release(self, uid: str) -> None:
        with self._lock:
            self._used.pop(uid, None)


@dataclass
class NodeContext:
    """What every pod on the node shares."""

    client: KubeClient
    runtime: Runtime
    resolver: ImageResolver
    recorder: EventRecorder
    logs: LogPublisher
    crash_backoff: Backoff
    pull_backoff: Backoff
    clock: Callable[[], float]
    instance: str
    pod_ips: PodIPs = field(default_factory=PodIPs)
    loaded: LoadedImages = field(default_factory=lambda: LoadedImages(None))
    probes: bool = True  # False without a real runtime: no network namespace to probe in
    images: dict[str, ResolvedImage] = field(default_factory=dict)
    images_lock: threading.Lock = field(default_factory=threading.Lock)


class ContainerWaiting(Exception):
    """Stop this container's sync in a waiting state; look again after ``delay``."""

    def __init__(self, reason: str, message: str, delay: float | None) -> None:
        super().__init__(message)
        self.reason, self.message, self.delay = reason, message, delay


KUBELET_VERSION = "v1.31.0-sandbox"
NODE_STATUS_REPORT = 300.0  # nodeStatusReportFrequency: re-post an unchanged status after 5 min
_CONDITIONS = (  # kubelet_node_status.go / nodestatus/setters.go: type, status, reason, message
    ("MemoryPressure", "False", "KubeletHasSufficientMemory",
     "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)  # fmt: skip


def machine_capacity(max_pods: int = 110) -> dict[str, str]:
    """cadvisor's view of this machine: cpu count, memory in Ki, and ``--max-pods`` pods."""
    import os

    memory_kib = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory_kib = int(line.split()[1])
    except OSError:
        memory_kib = 8 * 1024 * 1024
    return {"cpu": str(os.cpu_count() or 1), "memory": f"{memory_kib}Ki", "pods": str(max_pods)}


def node_ready(node: Obj) -> Obj | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


def needs_status(node: Obj, now: float) -> bool:
    """True while the node lacks a Ready=True condition posted within the report period."""
    ready = node_ready(node)
    if ready is None or ready.get("status") != "True":
        return True
    try:
        beat = parse_rfc3339(str(ready.get("lastHeartbeatTime") or ""))
    except ValueError:
        return True
    return now - beat >= NODE_STATUS_REPORT


def node_status(node: Obj, now: float, host_ip: str, own: dict[str, str] | None = None) -> Obj:
    """The status a kubelet posts (``setNodeStatus``): conditions, addresses, nodeInfo, and
    capacity/allocatable: ``own`` (this machine, --max-pods) for the kubelet's own node, else
    the capacity given at creation is kept (as kwok does for fake nodes)."""
    old = node.get("status") or {}
    stamp = rfc3339(now)
    previous = {c.get("type"): c for c in old.get("conditions") or []}
    conditions = []
    for cond_type, status, reason, message in _CONDITIONS:
        before = previous.get(cond_type) or {}
        kept = before.get("status") == status and before.get("lastTransitionTime")
        conditions.append(
            {
                "type": cond_type,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": before["lastTransitionTime"] if kept else stamp,
            }
        )
    capacity = own or old.get("capacity") or old.get("allocatable") or machine_capacity()
    name = node["metadata"]["name"]
    return {
        "capacity": capacity,
        "allocatable": (own or old.get("allocatable")) or capacity,
        "conditions": conditions,
        "addresses": [
            {"type": "InternalIP", "address": host_ip},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "architecture": "amd64",
            "operatingSystem": "linux",
            "osImage": "pipeline sandbox",
            "kernelVersion": platform.release(),
            "containerRuntimeVersion": "docker://sandbox",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
        },
    }
