"""The sandbox's single node: a scheduler and a kubelet, talking to the API server over HTTP.

* Scheduler: a pod without ``spec.nodeName`` is bound to ``node_name`` (``pods/binding``, or a
  merge patch when the server has no binding subresource) with a ``Scheduled`` event, as
  kube-scheduler's ``DefaultBinder`` does.
* Kubelet: one worker thread per pod (``pod_workers.go``), woken by watch events, by container
  exits (the runtime's event stream) and by backoff timers; never by polling. The work itself
  is ``PodSync``. A deleted pod's containers are removed at once; ``stop`` removes every
  container this instance started. Without ``docker_host`` images are only resolved against
  the registry and a resolvable container counts as running and Ready.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import requests

from pipeline.sandbox.controllers.backoff import Backoff
from pipeline.sandbox.controllers.containers import DockerRuntime, Runtime, SimulatedRuntime
from pipeline.sandbox.controllers.eventrecorder import NORMAL, EventRecorder
from pipeline.sandbox.controllers.imagepull import ImageResolver
from pipeline.sandbox.controllers.node import NodeContext
from pipeline.sandbox.controllers.podlogs import LogPublisher
from pipeline.sandbox.controllers.podsync import PodSync
from pipeline.sandbox.kubeclient import ApiError, KubeClient, list_and_watch, resource_path

Obj = dict[str, Any]
log = logging.getLogger(__name__)
_RETRY = 1.0


class PodWorker:
    """Serializes everything that happens to one pod on one thread."""

    def __init__(self, sync: PodSync, name: str) -> None:
        self._sync = sync
        self._pod: Obj | None = None
        self._wake = threading.Event()
        self._ending: str | None = None  # "deleted" or "stopped"
        self._after_end: Callable[[], None] | None = None
        self.thread = threading.Thread(target=self._run, name=f"pod-{name}", daemon=True)

    def update(self, pod: Obj) -> None:
        self._pod = pod
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def end(self, why: str, after: Callable[[], None] | None = None) -> None:
        """Stop the pod's containers on the worker thread, then call ``after``."""
        self._after_end = after
        self._ending = why
        self._wake.set()

    def _run(self) -> None:
        due: float | None = None
        while True:
            self._wake.wait(due)
            self._wake.clear()
            if self._ending is not None:
                self._sync.terminate()
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
    ) -> None:
        self._client = client
        self._docker_host = docker_host
        self.node_name = node_name
        self._instance = instance
        self._clock = clock
        self._resolver = ImageResolver(registry_ca, insecure_registries)
        self._backoff = (backoff_base, backoff_max)
        self._workers: dict[str, PodWorker] = {}
        self._lock = threading.Lock()
        self._node: NodeContext | None = None
        self._scheduler_events = EventRecorder(client, "default-scheduler", clock=clock)

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
        )
        threads = [
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
        stop.wait()
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

    # -- informer callbacks -------------------------------------------------------------------
    def _on_pod(self, event: str, pod: Obj) -> None:
        uid = pod["metadata"].get("uid", "")
        if event == "DELETED":
            self._forget(uid)
            return
        node = pod.get("spec", {}).get("nodeName")
        if node and node != self.node_name:
            return
        if pod["metadata"].get("deletionTimestamp"):  # graceful deletion: kill, then confirm
            self._forget(uid, after=lambda: self._finish_deletion(pod))
            return
        if not node:
            self._bind(pod)
            return  # the binding's MODIFIED event brings the pod back with its node
        with self._lock:
            worker = self._workers.get(uid)
            if worker is None:
                assert self._node is not None
                worker = PodWorker(PodSync(self._node), pod["metadata"]["name"])
                self._workers[uid] = worker
                worker.thread.start()
        worker.update(pod)

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

    def _forget(self, uid: str, after: Callable[[], None] | None = None) -> None:
        with self._lock:
            worker = self._workers.pop(uid, None)
        if worker is not None:
            worker.end("deleted", after)
        elif after is not None:
            after()

    # -- API writes ---------------------------------------------------------------------------
    def _bind(self, pod: Obj) -> None:
        meta = pod["metadata"]
        path = resource_path("v1", "pods", meta["namespace"], meta["name"])
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        try:
            try:
                self._client.create(path + "/binding", binding)
            except ApiError as e:
                if e.status not in (404, 405):
                    raise
                self._client.patch(path, {"spec": {"nodeName": self.node_name}})
        except (ApiError, requests.RequestException) as e:
            log.warning("binding pod %s failed: %s", meta["name"], e)
            return
        self._scheduler_events.event(
            pod,
            NORMAL,
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {self.node_name}",
        )

    def _finish_deletion(self, pod: Obj) -> None:
        """Graceful deletion: once the containers are gone, delete the pod for good."""
        meta = pod["metadata"]
        path = resource_path("v1", "pods", meta["namespace"], meta["name"])
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
        try:
            self._client.request("DELETE", path, body=body)
        except (ApiError, requests.RequestException):
            return
