"""The verify loop (pipeline/deploy/verify.py) over a scripted in-memory cluster: it ends on the
first terminal state, and "done" needs the container to have been running for --settle seconds
(time running before Ready counts; a restart starts the count again)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.core.events import Event, PodObserved
from pipeline.deploy.verify import watch_rollout

DATA = Path(__file__).parent / "data" / "rollout"
DIGEST = "sha256:" + "a" * 64
Obj = dict[str, Any]


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Stream:
    """Delivers scripted pod updates, each once the loop has reported the previous state of the
    pod (so the loop sees every state), advancing the clock first; then blocks until stopped."""

    def __init__(
        self, steps: list[tuple[float, Obj]], clock: Clock, seen: threading.Semaphore
    ) -> None:
        self.steps, self.clock, self.seen = steps, clock, seen
        self.stopped = threading.Event()

    def __iter__(self) -> Iterator[tuple[str, Obj]]:
        for advance, pod in self.steps:
            if not self.seen.acquire(timeout=5):
                return
            self.clock.now += advance
            yield "MODIFIED", pod
        self.stopped.wait(5)

    def stop(self) -> None:
        self.stopped.set()


class ScriptedCluster:
    def __init__(self, first_pod: Obj, updates: list[tuple[float, Obj]], clock: Clock) -> None:
        self.objects = {
            "deployments": [load("deployment-pinned.json")],
            "replicasets": load("replicasets.json"),
            "pods": [first_pod],
        }
        self.updates, self.clock = updates, clock
        self.streams: list[Stream] = []
        self.seen = threading.Semaphore(0)  # released for every pod state the loop reports

    def list_objects(self, kind: str, namespace: str, selector: str = "") -> tuple[list[Obj], str]:
        return copy.deepcopy(self.objects[kind]), "1"

    def watch(self, kind: str, namespace: str, selector: str, rv: str, timeout: float) -> Stream:
        steps, self.updates = (self.updates, []) if kind == "pods" else ([], self.updates)
        stream = Stream(steps, self.clock, self.seen)
        self.streams.append(stream)
        return stream

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int) -> str:
        return ""

    def pod_events(self, namespace: str, pod: str, limit: int) -> list[str]:
        return []


def pod(ready: bool, restarts: int = 0, waiting: str = "") -> Obj:
    obj = load("pod-ready-ours.json")
    status = obj["status"]["containerStatuses"][0]
    status.update(ready=ready, restartCount=restarts)
    if waiting:
        status["state"] = {"waiting": {"reason": waiting, "message": "back-off"}}
        status["lastState"] = {"terminated": {"exitCode": 1}}
    return dict(obj)


def verify(cluster: ScriptedCluster, clock: Clock, settle: float) -> tuple[str, list[Event]]:
    events: list[Event] = []

    def emit(event: Event) -> None:
        events.append(event)
        if isinstance(event, PodObserved):
            cluster.seen.release()

    outcome = watch_rollout(
        cluster, service="auth", namespace="auth", selector="app=auth-api,version=v2",
        deployment_name="auth-api-canary", digest=DIGEST, container="auth-api",
        deadline=60.0, clock=clock, emit=emit, crash_restarts=2, settle=settle,
    )  # fmt: skip
    return outcome.verdict.state + (
        f":{outcome.verdict.reason}" if outcome.verdict.reason else ""
    ), events


def test_running_before_ready_counts_toward_settle() -> None:
    clock = Clock()
    cluster = ScriptedCluster(pod(ready=False), [(1.5, pod(ready=True))], clock)
    state, _ = verify(cluster, clock, settle=1.0)
    assert state == "done"
    assert clock.now == 1.5  # ended on the Ready update itself, no extra wait


def test_a_crash_after_ready_is_a_failure_not_a_success() -> None:
    clock = Clock()
    updates = [
        (0.2, pod(ready=True)),
        (0.1, pod(ready=False, restarts=1, waiting="CrashLoopBackOff")),
        (0.1, pod(ready=False, restarts=2, waiting="CrashLoopBackOff")),
    ]
    cluster = ScriptedCluster(pod(ready=False), updates, clock)
    state, _ = verify(cluster, clock, settle=1.0)
    assert state == "failed:crash-loop"


def test_every_watch_is_stopped_when_the_loop_ends() -> None:
    clock = Clock()
    cluster = ScriptedCluster(pod(ready=False), [(1.0, pod(ready=True))], clock)
    verify(cluster, clock, settle=0.5)
    assert len(cluster.streams) == 3 and all(s.stopped.is_set() for s in cluster.streams)
