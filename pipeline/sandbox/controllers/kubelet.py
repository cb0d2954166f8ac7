"""The sandbox's kubelet: registers its Node and runs the pods bound to the nodes it serves.

* Node: at start the kubelet creates (or adopts) the Node ``node_name`` with the well-known
  labels (``kubernetes.io/hostname``, ``kubernetes.io/os``, ``kubernetes.io/arch``) and posts
  its status (``kubelet_node_status.go``: ``Ready=True`` ``KubeletReady``, the pressure
  conditions, addresses, nodeInfo, capacity/allocatable from this machine). With
  ``manage_other_nodes`` it also serves every other Node created through the API, as kwok's
  fake nodes, all backed by the same container runtime: their status is posted the same way,
  keeping any capacity/allocatable given at creation. Pods are bound by the scheduler
  (``scheduler.py``); the kubelet runs only pods whose ``spec.nodeName`` it serves.
* Pods: one worker thread per pod (``pod_workers.go``), woken by watch events, by container
  exits (the runtime's event stream) and by backoff and probe timers; never by polling. The work
  itself is ``PodSync``. A pod with a ``deletionTimestamp`` is stopped gracefully and then
  deleted for good; ``stop`` removes every container this instance started. Without
  ``docker_host`` images are only resolved against the registry and a resolvable container
  counts as running and Ready.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

from pipeline.sandbox.controllers.backoff import Backoff
from pipeline.sandbox.controllers.containers import DockerRuntime, Runtime, SimulatedRuntime
from pipeline.sandbox.controllers.eventrecorder import EventRecorder
from pipeline.sandbox.controllers.imagepull import ImageResolver
from pipeline.sandbox.controllers.loadedimages import LoadedImages
from pipeline.sandbox.controllers.node import (
    NodeContext,
    PodIPs,
    machine_capacity,
    needs_status,
    node_status,
)
from pipeline.sandbox.controllers.podlogs import LogPublisher
from pipeline.sandbox.controllers.podsync import PodSync
from pipeline.sandbox.kubeclient import ApiError, KubeClient, list_and_watch, resource_path

Obj = dict[str, Any]
log = logging.getLogger(__name__)
_RETRY = 1.0
NODE_STATUS_UPDATE = 10.0  # nodeStatusUpdateFrequency


class PodWorker:
    """Serializes everything that happens to one pod on one thread."""

    def __init__(self, sync: PodSync, name: str) -> None:
        self._sync = sync
        self._pod: Obj | None = None
        self._wake = threading.Event()
        self._ending: str | None = None  # "deleted" or "stopped"
        self._grace = 0.0
        self._after_end: Callable[[], None] | None = None
        self.thread = threading.Thread(target=self._run, name=f"pod-{name}", daemon=True)

    def update(self, pod: Obj) -> None:
        self._pod = pod
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def end(self, why: str, after: Callable[[], None] | None = None, grace: float = 0.0) -> None:
        """Stop the pod's containers on the worker thread, then call ``after``."""
        self._after_end = after
        self._grace = grace
        self._ending = why
        self._wake.set()

    def _run(self) -> None:
        due: float | None = None
        while True:
            self._wake.wait(due)
            self._wake.clear()
            if self._ending is not None:
                self._sync.terminate(self._grace)
                if self._after_end is not None:
                    self._after_end()
                return
            pod = self._pod
            if pod is None:
                continue
            try:
                due = self._sync.sync(pod)
            except (ApiError, requests.RequestException) as e:
                log.warning("syncing pod %s failed: %s", pod["metadata"].get("name"), e)
                due = _RETRY


class Kubelet:
    def __init__(
        self,
        client: KubeClient,
        *,
        docker_host: str | None,
        node_name: str = "sandbox",
        registry_ca: str | None = None,
        insecure_registries: Iterable[str] = (),
        backoff_base: float = 10.0,
        backoff_max: float = 300.0,
        instance: str = "default",
        clock: Callable[[], float] = time.time,
        manage_other_nodes: bool = False,
        loaded_images: Path | None = None,
        max_pods: int = 110,
    ) -> None:
        self._client = client
        self._max_pods = max_pods
        self._docker_host = docker_host
        self.node_name = node_name
        self._instance = instance
        self._clock = clock
        self._resolver = ImageResolver(registry_ca, insecure_registries)
        self._backoff = (backoff_base, backoff_max)
        self._workers: dict[str, PodWorker] = {}
        self._lock = threading.Lock()
        self._node: NodeContext | None = None
        self._manage_other_nodes = manage_other_nodes
        self._loaded = LoadedImages(loaded_images)
        self._recorders: dict[str, EventRecorder] = {}
        self._served: set[str] = {node_name}
        self._parked: dict[str, Obj] = {}  # pods bound to a node not (yet) seen

    @staticmethod
    def cleanup(docker_host: str, instance: str) -> None:
        """Remove containers an earlier (killed) kubelet ``instance`` left behind."""
        runtime = DockerRuntime(docker_host, instance)
        try:
            runtime.remove_instance(instance)
        finally:
            runtime.close()

    def run(self, stop: threading.Event) -> None:
        """Serve the node until ``stop`` is set; then remove every container started."""
        runtime: Runtime = (
            DockerRuntime(self._docker_host, self._instance)
            if self._docker_host
            else SimulatedRuntime(self._clock)
        )
        base, cap = self._backoff
        self._node = NodeContext(
            client=self._client,
            runtime=runtime,
            resolver=self._resolver,
            recorder=EventRecorder(self._client, "kubelet", self.node_name, self._clock),
            logs=LogPublisher(self._client, runtime),
            crash_backoff=Backoff(base, cap, self._clock),
            pull_backoff=Backoff(base, cap, self._clock),
            clock=self._clock,
            instance=self._instance,
            pod_ips=PodIPs(),
            probes=isinstance(runtime, DockerRuntime),
            loaded=self._loaded,
        )
        self._register_node()
        threads = [
            threading.Thread(
                target=list_and_watch,
                args=(self._client, resource_path("v1", "nodes"), self._on_node, stop),
                name="kubelet-nodes",
                daemon=True,
            ),
            threading.Thread(
                target=list_and_watch,
                args=(self._client, resource_path("v1", "pods"), self._on_pod, stop),
                kwargs={"on_relist": self._on_relist},
                name="kubelet-pods",
                daemon=True,
            ),
            threading.Thread(
                target=runtime.watch_exits,
                args=(self._on_exit, stop),
                name="kubelet-exits",
                daemon=True,
            ),
        ]
        for thread in threads:
            thread.start()
        while not stop.wait(NODE_STATUS_UPDATE):
            self._heartbeat()
        runtime.stop_watch()
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            worker.end("stopped")
        for worker in workers:
            worker.thread.join(timeout=30)
        runtime.remove_instance(self._instance)
        for thread in threads:
            thread.join(timeout=10)
        runtime.close()

    # -- nodes ---------------------------------------------------------------------------------
    def _register_node(self) -> None:
        """``registerWithAPIServer``: create the Node, or adopt an existing one of that name."""
        labels = {
            "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
        }
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.node_name, "labels": labels},
            "spec": {},
        }
        try:
            try:
                node = self._client.create(resource_path("v1", "nodes"), node)
            except ApiError as e:
                if e.status != 409:
                    raise
                node = self._client.get(resource_path("v1", "nodes", name=self.node_name))
            self._post_status(node)
        except (ApiError, requests.RequestException) as e:
            log.warning("registering node %s failed: %s", self.node_name, e)

    def _on_node(self, event: str, node: Obj) -> None:
        name = node["metadata"]["name"]
        if name != self.node_name and not self._manage_other_nodes:
            return
        if event == "DELETED":
            with self._lock:
                self._served.discard(name)
            return
        with self._lock:
            self._served.add(name)
            parked = [p for p in self._parked.values() if p["spec"].get("nodeName") == name]
        for pod in parked:
            self._on_pod("MODIFIED", pod)
        if needs_status(node, self._clock()):
            try:
                self._post_status(node)
            except (ApiError, requests.RequestException) as e:
                log.warning("posting status of node %s failed: %s", name, e)

    def _heartbeat(self) -> None:
        """``syncNodeStatus`` every ``nodeStatusUpdateFrequency``: a write only when the last
        one is older than ``nodeStatusReportFrequency`` or the Ready condition is off."""
        with self._lock:
            served = sorted(self._served)
        for name in served:
            try:
                node = self._client.get_or_none(resource_path("v1", "nodes", name=name))
                if node is not None and needs_status(node, self._clock()):
                    self._post_status(node)
            except (ApiError, requests.RequestException) as e:
                log.warning("posting status of node %s failed: %s", name, e)

    def _post_status(self, node: Obj) -> None:
        path = resource_path("v1", "nodes", name=node["metadata"]["name"]) + "/status"
        own = (
            machine_capacity(self._max_pods) if node["metadata"]["name"] == self.node_name else None
        )
        status = node_status(node, self._clock(), "127.0.0.1", own)
        self._client.patch(path, {"status": status})

    # -- informer callbacks -------------------------------------------------------------------
    def _on_pod(self, event: str, pod: Obj) -> None:
        uid = pod["metadata"].get("uid", "")
        if event == "DELETED":
            with self._lock:
                self._parked.pop(uid, None)
            self._forget(uid)
            return
        node = pod.get("spec", {}).get("nodeName")
        if not node:
            return  # the scheduler binds it; the binding's MODIFIED event brings it back
        with self._lock:
            if node not in self._served:
                if self._manage_other_nodes:
                    self._parked[uid] = pod
                return
            self._parked.pop(uid, None)
        if pod["metadata"].get("deletionTimestamp"):  # graceful deletion: kill, then confirm
            grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
            self._forget(uid, after=lambda: self._finish_deletion(pod), grace=grace)
            return
        with self._lock:
            worker = self._workers.get(uid)
            if worker is None:
                assert self._node is not None
                worker = PodWorker(PodSync(self._context(node)), pod["metadata"]["name"])
                self._workers[uid] = worker
                worker.thread.start()
        worker.update(pod)

    def _context(self, node_name: str) -> NodeContext:
        """The shared context, with events from this node (``source.host``); caller locks."""
        assert self._node is not None
        if node_name == self.node_name:
            return self._node
        recorder = self._recorders.get(node_name)
        if recorder is None:
            recorder = EventRecorder(self._client, "kubelet", node_name, self._clock)
            self._recorders[node_name] = recorder
        return dataclasses.replace(self._node, recorder=recorder)

    def _on_relist(self, pods: list[Obj]) -> None:
        alive = {p["metadata"].get("uid") for p in pods}
        with self._lock:
            gone = [uid for uid in self._workers if uid not in alive]
        for uid in gone:
            self._forget(uid)

    def _on_exit(self, uid: str) -> None:
        with self._lock:
            workers = list(self._workers.values()) if not uid else [self._workers.get(uid)]
        for worker in workers:
            if worker is not None:
                worker.wake()

    def _forget(
        self, uid: str, after: Callable[[], None] | None = None, grace: float = 0.0
    ) -> None:
        with self._lock:
            worker = self._workers.pop(uid, None)
        if worker is not None:
            worker.end("deleted", after, grace)
        elif after is not None:
            after()

    # -- API writes ---------------------------------------------------------------------------
    def _finish_deletion(self, pod: Obj) -> None:
        """Graceful deletion: once the containers are gone, delete the pod for good."""
        meta = pod["metadata"]
        path = resource_path("v1", "pods", meta["namespace"], meta["name"])
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
        try:
            self._client.request("DELETE", path, body=body)
        except (ApiError, requests.RequestException):
            return
