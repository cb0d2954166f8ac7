"""Wait until the canary runs our digest, by watching (never polling) the namespace.

Three small informers (list, then watch from the list's resourceVersion, re-list on 410 Gone;
client-go ``tools/cache/reflector.go`` does the same) keep Deployments, ReplicaSets and the
canary pods in memory. Every change re-runs the pure classifier (rollout.judge_rollout); the
loop ends on done, on the first terminal failure, or at the deadline. Request count is
therefore a constant per deploy (3 lists + 3 watches), whatever the rollout's length.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.core.events import Emit, PodObserved
from pipeline.core.ports import Cluster, Expired, Obj, WatchStream
from pipeline.core.rollout import PodObservation, Verdict, judge_rollout

Clock = Callable[[], float]


class Informer(threading.Thread):
    """Mirror of one kind in one namespace; signals ``changes`` after every update."""

    def __init__(
        self,
        cluster: Cluster,
        kind: str,
        namespace: str,
        selector: str,
        changes: queue.Queue[BaseException | None],
        deadline: float,
        clock: Clock,
    ) -> None:
        super().__init__(name=f"informer-{kind}-{namespace}", daemon=True)
        self.cluster, self.kind, self.namespace, self.selector = cluster, kind, namespace, selector
        self.changes, self.deadline, self.clock = changes, deadline, clock
        self.objects: dict[str, Obj] = {}
        self.lock = threading.Lock()
        self._stream: WatchStream | None = None
        self._stopped = threading.Event()
        self.synced = threading.Event()

    def snapshot(self) -> list[Obj]:
        with self.lock:
            return list(self.objects.values())

    def stop(self) -> None:
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            stream.stop()

    def _relist(self) -> str:
        items, version = self.cluster.list_objects(self.kind, self.namespace, self.selector)
        with self.lock:
            self.objects = {o["metadata"]["name"]: o for o in items}
        self.synced.set()
        self.changes.put(None)
        return version

    def run(self) -> None:
        try:
            version = self._relist()
            while not self._stopped.is_set() and self.clock() < self.deadline:
                remaining = max(1.0, self.deadline - self.clock())
                self._stream = self.cluster.watch(
                    self.kind, self.namespace, self.selector, version, remaining
                )
                try:
                    for kind, obj in self._stream:
                        version = obj.get("metadata", {}).get("resourceVersion") or version
                        if kind == "BOOKMARK":
                            continue
                        name = obj["metadata"]["name"]
                        with self.lock:
                            if kind == "DELETED":
                                self.objects.pop(name, None)
                            else:
                                self.objects[name] = obj
                        self.changes.put(None)
                except Expired:
                    version = self._relist()
        except BaseException as e:  # handed to the waiting thread, which re-raises it
            if not self._stopped.is_set():
                self.changes.put(e)


@dataclass
class Outcome:
    verdict: Verdict
    pods: list[PodObservation]
    deployment: Obj | None


def watch_rollout(
    cluster: Cluster,
    *,
    service: str,
    namespace: str,
    selector: str,
    deployment_name: str,
    digest: str,
    container: str | None,
    deadline: float,
    clock: Clock,
    emit: Emit,
    crash_restarts: int = 2,
    settle: float = 0.0,
) -> Outcome:
    """Block until done/failed (verdict state) or the deadline (state "waiting").

    "done" needs every ready replica of ours to have been running, without a restart, for
    ``settle`` seconds: a container that exits right after starting is briefly Ready (no
    readiness probe) and must not be reported as a success. The time counts from when this
    watch first saw the container running (our clock, never the cluster's), so time spent
    running before Ready (a readiness probe's delay, the kubelet's next status sync) counts.
    """
    changes: queue.Queue[BaseException | None] = queue.Queue()
    informers = {
        kind: Informer(cluster, kind, namespace, sel, changes, deadline, clock)
        for kind, sel in (("deployments", ""), ("replicasets", ""), ("pods", selector))
    }
    for informer in informers.values():
        informer.start()
    seen: dict[str, PodObservation] = {}
    running_since: dict[tuple[str, int], float] = {}  # (pod, restarts) -> first seen running
    outcome = Outcome(Verdict("waiting", "", "no rollout observed yet"), [], None)
    settled_at: float | None = None
    try:
        while True:
            now = clock()
            if settled_at is not None and now >= settled_at:
                return outcome
            remaining = (settled_at if settled_at is not None else deadline) - now
            if remaining <= 0:
                return outcome
            try:
                item = changes.get(timeout=remaining)
            except queue.Empty:
                continue
            if item is not None:
                raise item
            if not all(i.synced.is_set() for i in informers.values()):
                continue
            deployments = {d["metadata"]["name"]: d for d in informers["deployments"].snapshot()}
            deployment = deployments.get(deployment_name)
            verdict, pods = judge_rollout(
                deployment,
                informers["replicasets"].snapshot(),
                informers["pods"].snapshot(),
                digest,
                container,
                crash_restarts,
            )
            now = clock()
            for pod in pods:
                if seen.get(pod.name) != pod:
                    seen[pod.name] = pod
                    emit(PodObserved(service, pod))
                if pod.running:
                    running_since.setdefault((pod.name, pod.restarts), now)
            outcome = Outcome(verdict, pods, deployment)
            if verdict.state == "failed":
                return outcome
            if verdict.state == "done":
                started = [running_since.get((p.name, p.restarts), now) for p in pods if p.ready]
                settled_at = max(started, default=now) + settle
            else:
                settled_at = None
    finally:
        for informer in informers.values():
            informer.stop()
