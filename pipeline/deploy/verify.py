"""Wait until the canary runs our digest, by watching (never polling) the namespace.

Three small informers (core/watch.py: list, then watch from the list's resourceVersion, re-list
on 410 Gone, resume when the server ends a watch; client-go ``tools/cache/reflector.go`` does
the same) keep Deployments, ReplicaSets and the canary pods in memory. Every change re-runs
the pure classifier (rollout.judge_rollout); the loop ends on done, on the first terminal
failure, or at the deadline. Request count is therefore a constant per deploy (3 lists + 3
watches, plus one watch each time the server ends one), whatever the rollout's length.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.core.events import Emit, PodObserved
from pipeline.core.ports import Cluster, Obj
from pipeline.core.rollout import PodObservation, Verdict, judge_rollout
from pipeline.core.watch import ListWatch, ObjectsSource
from pipeline.errors import DeployTimeoutError, PipelineError

Clock = Callable[[], float]


class Informer(threading.Thread):
    """Mirror of one kind in one namespace, kept by core/watch.py's list+watch+re-list loop;
    signals ``changes`` after the list and after every update."""

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
        self.changes, self.deadline = changes, deadline
        self.watch = ListWatch(ObjectsSource(cluster, kind, namespace, selector), clock)
        self.objects: dict[str, Obj] = {}
        self.lock = threading.Lock()
        self.synced = threading.Event()

    def snapshot(self) -> list[Obj]:
        with self.lock:
            return list(self.objects.values())

    def stop(self) -> None:
        self.watch.stop()

    def _publish(self, objects: dict[str, Obj]) -> bool:
        with self.lock:
            self.objects = objects
        self.synced.set()
        self.changes.put(None)
        return False  # never done: the waiting thread judges, then stops us

    def _ended(self, objects: dict[str, Obj]) -> PipelineError:
        return DeployTimeoutError(f"{self.name} reached the deadline")

    def run(self) -> None:
        try:
            self.watch.until(self._publish, deadline=self.deadline, on_timeout=self._ended)
        except DeployTimeoutError:
            pass  # the waiting thread owns the deadline and reports it with the verdict
        except BaseException as e:  # handed to the waiting thread, which re-raises it
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
    config_digest: str = "",
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
                config_digest,
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
