"""The sandbox's kube-scheduler: binds pending pods to Node objects through the API server.

Follows ``pkg/scheduler`` in outline: pods without ``spec.nodeName`` whose ``schedulerName`` is
``default-scheduler`` are scheduled one at a time, oldest first (the active queue). Every node
is filtered (``schedulerfit.filter_node``); of the nodes that fit, the one with the fewest bound
pods wins (a stand-in for the scoring plugins), ties by name. The pod is bound with a merge patch
of ``spec.nodeName`` (the sandbox API server has no ``pods/binding`` subresource) and gets a
``Scheduled`` event (``Successfully assigned ns/pod to node``), as ``DefaultBinder`` does.

A pod that fits nowhere stays Pending: its ``PodScheduled`` condition becomes ``False`` with
reason ``Unschedulable`` and the FitError message, and a ``FailedScheduling`` Warning event
carries the same message (``schedule_one.go`` ``handleSchedulingFailure``). It waits in the
unschedulable queue until a Node is added or changed or a pod is deleted or finishes
(``MoveAllToActiveOrBackoffQueue``), then is tried again. Bound pods are counted against
allocatable at once (the scheduler cache's "assumed" pods).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from pipeline.sandbox.controllers.deploymentstatus import rfc3339
from pipeline.sandbox.controllers.eventrecorder import NORMAL, WARNING, EventRecorder
from pipeline.sandbox.controllers.schedulerfit import filter_node, fit_error
from pipeline.sandbox.kubeclient import ApiError, KubeClient, list_and_watch, resource_path

Obj = dict[str, Any]
log = logging.getLogger(__name__)
SCHEDULER_NAME = "default-scheduler"
_TERMINAL = ("Succeeded", "Failed")


def _key(pod: Obj) -> str:
    return str(pod["metadata"].get("uid") or pod["metadata"]["name"])


class Scheduler:
    def __init__(self, client: KubeClient, *, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._clock = clock
        self._events = EventRecorder(client, SCHEDULER_NAME, clock=clock)
        self._lock = threading.Condition()
        self._nodes: dict[str, Obj] = {}
        self._pods: dict[str, Obj] = {}  # every pod, for what bound pods request
        self._active: set[str] = set()
        self._unschedulable: set[str] = set()

    def run(self, stop: threading.Event) -> None:
        """Schedule until ``stop`` is set."""
        threads = [
            threading.Thread(
                target=list_and_watch,
                args=(self._client, resource_path("v1", "nodes"), self._on_node, stop),
                name="scheduler-nodes",
                daemon=True,
            ),
            threading.Thread(
                target=list_and_watch,
                args=(self._client, resource_path("v1", "pods"), self._on_pod, stop),
                name="scheduler-pods",
                daemon=True,
            ),
        ]
        for thread in threads:
            thread.start()
        while not stop.is_set():
            with self._lock:
                self._lock.wait_for(lambda: bool(self._active) or stop.is_set(), timeout=1.0)
                batch = sorted(
                    (self._pods[k] for k in self._active if k in self._pods),
                    key=lambda p: (p["metadata"].get("creationTimestamp") or "", _key(p)),
                )
                self._active.clear()
            for pod in batch:
                if stop.is_set():
                    break
                self._schedule(pod)
        for thread in threads:
            thread.join(timeout=10)

    # -- informer callbacks -------------------------------------------------------------------
    def _on_node(self, event: str, node: Obj) -> None:
        name = node["metadata"]["name"]
        with self._lock:
            if event == "DELETED":
                self._nodes.pop(name, None)
            else:
                old = self._nodes.get(name)
                self._nodes[name] = node
                if (
                    old is not None
                    and old.get("spec") == node.get("spec")
                    and (old["metadata"].get("labels") == node["metadata"].get("labels"))
                    and _allocatable(old) == _allocatable(node)
                ):
                    return  # a status heartbeat: nothing a filter looks at changed
            self._move_all_to_active()

    def _on_pod(self, event: str, pod: Obj) -> None:
        key = _key(pod)
        with self._lock:
            if event == "DELETED":
                self._pods.pop(key, None)
                self._active.discard(key)
                self._unschedulable.discard(key)
                self._move_all_to_active()
                return
            old = self._pods.get(key)
            self._pods[key] = pod
            if pod["spec"].get("nodeName"):
                if (pod.get("status") or {}).get("phase") in _TERMINAL and (
                    old is None or (old.get("status") or {}).get("phase") not in _TERMINAL
                ):
                    self._move_all_to_active()
                return
            if not self._ours(pod) or key in self._unschedulable:
                return
            self._active.add(key)
            self._lock.notify_all()

    def _move_all_to_active(self) -> None:
        self._active |= self._unschedulable
        self._unschedulable.clear()
        self._lock.notify_all()

    @staticmethod
    def _ours(pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (
            (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
            and not spec.get("nodeName")
            and not pod["metadata"].get("deletionTimestamp")
        )

    # -- one scheduling cycle -----------------------------------------------------------------
    def _schedule(self, pod: Obj) -> None:
        with self._lock:
            current = self._pods.get(_key(pod))
            if current is None or not self._ours(current):
                return
            pod = current
            nodes = sorted(self._nodes.values(), key=lambda n: n["metadata"]["name"])
            bound: dict[str, list[Obj]] = {n["metadata"]["name"]: [] for n in nodes}
            for other in self._pods.values():
                node_name = other["spec"].get("nodeName")
                if node_name in bound and (other.get("status") or {}).get("phase") not in _TERMINAL:
                    bound[node_name].append(other)
        reasons = {
            n["metadata"]["name"]: filter_node(pod, n, bound[n["metadata"]["name"]]) for n in nodes
        }
        feasible = [name for name, why in reasons.items() if not why]
        if not feasible:
            message = (
                fit_error(len(nodes), reasons) if nodes else "no nodes available to schedule pods"
            )
            self._unschedulable_pod(pod, message)
            return
        chosen = min(feasible, key=lambda name: (len(bound[name]), name))
        self._bind(pod, chosen)

    def _bind(self, pod: Obj, node_name: str) -> None:
        meta = pod["metadata"]
        path = resource_path("v1", "pods", meta["namespace"], meta["name"])
        try:
            updated = self._client.patch(path, {"spec": {"nodeName": node_name}})
        except (ApiError, requests.RequestException) as e:
            log.warning("binding pod %s to %s failed: %s", meta["name"], node_name, e)
            with self._lock:
                self._unschedulable.add(_key(pod))
            return
        with self._lock:  # assume the pod on the node before the watch event arrives
            if _key(pod) in self._pods:
                self._pods[_key(pod)] = updated
        self._events.event(
            pod,
            NORMAL,
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {node_name}",
        )

    def _unschedulable_pod(self, pod: Obj, message: str) -> None:
        meta = pod["metadata"]
        with self._lock:
            self._unschedulable.add(_key(pod))
        self._events.event(pod, WARNING, "FailedScheduling", message)
        conditions = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type")]
        old = next((c for c in conditions if c["type"] == "PodScheduled"), None)
        if old is not None and old.get("message") == message and old.get("status") == "False":
            return
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "lastProbeTime": None,
            "lastTransitionTime": (
                old["lastTransitionTime"]
                if old is not None and old.get("status") == "False"
                else rfc3339(self._clock())
            ),
            "reason": "Unschedulable",
            "message": message,
        }
        others = [c for c in conditions if c["type"] != "PodScheduled"]
        path = resource_path("v1", "pods", meta["namespace"], meta["name"]) + "/status"
        try:
            self._client.patch(
                path, {"status": {"phase": "Pending", "conditions": [condition, *others]}}
            )
        except (ApiError, requests.RequestException) as e:
            log.warning("updating pod %s status failed: %s", meta["name"], e)


def _allocatable(node: Obj) -> object:
    status = node.get("status") or {}
    return status.get("allocatable"), status.get("capacity")
