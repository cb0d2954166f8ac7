"""The list+watch helper (pipeline/core/watch.py) over scripted ports: when it is done, how it
recovers from 410 and from a watch the server ended, and how it fails."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline.core.ports import Expired
from pipeline.core.watch import ApplicationSource, ListWatch, ObjectsSource, wait_for
from pipeline.errors import DeployTimeoutError, KubeAccessError, SyncFailedError
from tests.unit.fake_argocd import FakeApplications, FakeClock

Obj = dict[str, Any]
EXPIRE = ("EXPIRE", {})  # a scripted watch that raises Expired at this point


def pod(name: str, rv: str, phase: str = "Pending") -> Obj:
    return {"metadata": {"name": name, "resourceVersion": rv}, "status": {"phase": phase}}


def bookmark(rv: str) -> Obj:
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}


class Stream:
    def __init__(self, events: list[tuple[str, Obj]], clock: FakeClock, tick: float) -> None:
        self.events, self.clock, self.tick = events, clock, tick
        self.stopped = False

    def __iter__(self) -> Iterator[tuple[str, Obj]]:
        for kind, obj in self.events:
            if kind == "EXPIRE":
                raise Expired("too old resource version: 1 (9)")
            yield kind, copy.deepcopy(obj)
        self.clock.now += self.tick  # the server ended the watch some time later

    def stop(self) -> None:
        self.stopped = True


class ScriptedCluster:
    """``list_objects`` answers the current list; each ``watch`` plays the next script."""

    def __init__(self, lists: list[tuple[list[Obj], str]], watches: list[list[tuple[str, Obj]]]):
        self.lists, self.scripts = lists, watches
        self.clock = FakeClock()
        self.tick = 1.0
        self.listed = 0
        self.watched_from: list[str] = []
        self.streams: list[Stream] = []

    def list_objects(self, kind: str, namespace: str, selector: str = "") -> tuple[list[Obj], str]:
        items, version = self.lists[min(self.listed, len(self.lists) - 1)]
        self.listed += 1
        return copy.deepcopy(items), version

    def watch(self, kind: str, namespace: str, selector: str, rv: str, timeout: float) -> Stream:
        self.watched_from.append(rv)
        stream = Stream(self.scripts.pop(0) if self.scripts else [], self.clock, self.tick)
        self.streams.append(stream)
        return stream

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int) -> str:
        return ""

    def pod_events(self, namespace: str, pod: str, limit: int) -> list[str]:
        return []

    def can_i(self, verb: str, group: str, resource: str, namespace: str) -> bool | None:
        return True


def running(pods: dict[str, Obj]) -> bool:
    return bool(pods) and all(p["status"]["phase"] == "Running" for p in pods.values())


def timed_out(pods: dict[str, Obj]) -> DeployTimeoutError:
    return DeployTimeoutError(f"still waiting on {sorted(pods)}")


def run(cluster: ScriptedCluster, condition: Any = running, deadline: float = 1060.0) -> Any:
    watch = ListWatch(ObjectsSource(cluster, "pods", "auth", "app=auth"), cluster.clock)
    state = watch.until(condition, deadline=deadline, on_timeout=timed_out)
    return state, watch


def test_a_condition_met_by_the_list_opens_no_watch() -> None:
    cluster = ScriptedCluster([([pod("a", "3", "Running")], "5")], [])
    state, watch = run(cluster)
    assert set(state) == {"a"}
    assert (watch.lists, watch.watches, cluster.watched_from) == (1, 0, [])


def test_a_condition_met_after_events_stops_the_watch_there() -> None:
    script = [
        ("ADDED", pod("b", "6")),
        ("MODIFIED", pod("a", "7", "Running")),
        ("MODIFIED", pod("b", "8", "Running")),
        ("MODIFIED", pod("b", "9", "Failed")),
    ]
    cluster = ScriptedCluster([([pod("a", "3")], "5")], [script])
    seen: list[list[str]] = []

    def condition(pods: dict[str, Obj]) -> bool:
        seen.append(sorted(p["metadata"]["resourceVersion"] for p in pods.values()))
        return running(pods)

    state, _ = run(cluster, condition)
    assert seen == [["3"], ["3", "6"], ["6", "7"], ["7", "8"]]  # the list, then each event
    assert state["b"]["metadata"]["resourceVersion"] == "8"
    assert cluster.watched_from == ["5"] and cluster.streams[0].stopped


def test_deleted_objects_leave_the_state() -> None:
    script = [("DELETED", pod("a", "6")), ("ADDED", pod("b", "7", "Running"))]
    cluster = ScriptedCluster([([pod("a", "3")], "5")], [script])
    state, _ = run(cluster)
    assert set(state) == {"b"}


def test_410_re_lists_and_watches_from_the_new_list() -> None:
    lists = [([pod("a", "3")], "5"), ([pod("a", "40")], "42")]
    cluster = ScriptedCluster(lists, [[EXPIRE], [("MODIFIED", pod("a", "43", "Running"))]])
    state, watch = run(cluster)
    assert state["a"]["metadata"]["resourceVersion"] == "43"
    assert (watch.lists, cluster.watched_from) == (2, ["5", "42"])


def test_an_error_event_with_code_410_also_re_lists() -> None:
    expired = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    lists = [([pod("a", "3")], "5"), ([pod("a", "40", "Running")], "42")]
    cluster = ScriptedCluster(lists, [[("ERROR", expired)]])
    _, watch = run(cluster)
    assert (watch.lists, cluster.watched_from) == (2, ["5"])


def test_another_error_event_fails_as_kube_access() -> None:
    status = {"kind": "Status", "code": 500, "message": "etcd is sad"}
    cluster = ScriptedCluster([([pod("a", "3")], "5")], [[("ERROR", status)]])
    with pytest.raises(KubeAccessError, match="etcd is sad"):
        run(cluster)


def test_a_watch_the_server_ended_resumes_from_the_last_version_seen() -> None:
    first = [("MODIFIED", pod("a", "6")), ("BOOKMARK", bookmark("9"))]
    second = [("MODIFIED", pod("a", "11", "Running"))]
    cluster = ScriptedCluster([([pod("a", "3")], "5")], [first, [], second])
    _, watch = run(cluster)
    assert cluster.watched_from == ["5", "9", "9"]  # bookmarks count; no re-list
    assert (watch.lists, watch.watches) == (1, 3)


def test_the_deadline_raises_the_callers_error_with_the_last_state() -> None:
    cluster = ScriptedCluster([([pod("a", "3")], "5")], [[("ADDED", pod("b", "6"))]])
    cluster.tick = 20.0  # each watch ends 20 s later with nothing new
    with pytest.raises(DeployTimeoutError, match=r"still waiting on \['a', 'b'\]"):
        run(cluster, deadline=cluster.clock.now + 50)
    assert len(cluster.watched_from) == 3  # 0 s, 20 s, 40 s; at 60 s the deadline passed


def test_the_deadline_is_checked_between_events_too() -> None:
    cluster = ScriptedCluster([([pod("a", "3")], "5")], [])

    class Busy(Stream):  # a watch that never ends: every event is a change
        def __iter__(self) -> Iterator[tuple[str, Obj]]:
            for n in range(6, 1000):
                self.clock.now += 1
                yield "MODIFIED", pod("a", str(n))

    cluster.watch = lambda *a: Busy([], cluster.clock, 0)  # type: ignore[method-assign]
    with pytest.raises(DeployTimeoutError):
        run(cluster, deadline=cluster.clock.now + 10)
    assert cluster.clock.now == 1010.0


def test_a_condition_returning_an_error_fails_with_it() -> None:
    script = [("MODIFIED", pod("a", "6", "Failed"))]
    cluster = ScriptedCluster([([pod("a", "3")], "5")], [script])

    def condition(pods: dict[str, Obj]) -> bool | SyncFailedError:
        if any(p["status"]["phase"] == "Failed" for p in pods.values()):
            return SyncFailedError("pod a failed")
        return running(pods)

    with pytest.raises(SyncFailedError, match="pod a failed"):
        run(cluster, condition)


def test_stop_from_another_thread_ends_the_wait_with_the_state() -> None:
    released = threading.Event()
    started = threading.Event()

    class Blocking(Stream):
        def __iter__(self) -> Iterator[tuple[str, Obj]]:
            started.set()
            released.wait(10)
            return iter(())

        def stop(self) -> None:
            released.set()

    cluster = ScriptedCluster([([pod("a", "3")], "5")], [])
    cluster.watch = lambda *a: Blocking([], cluster.clock, 0)  # type: ignore[method-assign]
    watch = ListWatch(ObjectsSource(cluster, "pods", "auth"), cluster.clock)
    result: list[dict[str, Obj]] = []
    thread = threading.Thread(
        target=lambda: result.append(watch.until(running, deadline=2000.0, on_timeout=timed_out))
    )
    thread.start()
    assert started.wait(10)
    watch.stop()
    thread.join(10)
    assert not thread.is_alive() and set(result[0]) == {"a"}


def application(rv: str, **annotations: str) -> Obj:
    return {"metadata": {"name": "app", "resourceVersion": rv, "annotations": annotations}}


def no_refresh(app: Obj) -> bool:
    return "refresh" not in app["metadata"].get("annotations", {})


def app_timeout(app: Obj) -> DeployTimeoutError:
    return DeployTimeoutError("app still refreshing")


def test_one_application_watched_from_the_initial_object_without_a_get() -> None:
    apps = FakeApplications(application("10", refresh="hard"))
    apps.on_watch = [
        lambda a: a.controller_writes({"metadata": {"annotations": {"refresh": None}}})
    ]
    source = ApplicationSource(apps, "argocd", "app", initial=application("10", refresh="hard"))
    app = wait_for(source, no_refresh, deadline=1060, clock=FakeClock(), on_timeout=app_timeout)
    assert app["metadata"]["resourceVersion"] == "11"
    assert (apps.gets, apps.watched_from) == (0, ["10"])


def test_one_application_is_read_again_after_a_410() -> None:
    apps = FakeApplications(application("10", refresh="hard"))
    apps.expire_next_watch = True
    apps.on_watch = [
        lambda a: a.controller_writes({"metadata": {"annotations": {"refresh": None}}})
    ]
    source = ApplicationSource(apps, "argocd", "app")
    wait_for(source, no_refresh, deadline=1060, clock=FakeClock(), on_timeout=app_timeout)
    assert (apps.gets, apps.watched_from) == (2, ["10", "10"])
