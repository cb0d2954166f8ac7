"""List/watch: resourceVersion rules, 410 Expired, bookmarks, selectors, Python Watch()."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kubernetes import client
from kubernetes import watch as kube_watch

from pipeline.sandbox.apiserver import APIServer

PODS = "/api/v1/namespaces/default/pods"


def new_watch() -> Any:
    return kube_watch.Watch()  # type: ignore[no-untyped-call]


@pytest.fixture
def server() -> Iterator[APIServer]:
    srv = APIServer(history_limit=20)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def core(server: APIServer) -> Iterator[Any]:
    cfg = client.Configuration()
    cfg.host = server.url
    with client.ApiClient(cfg) as api:
        yield client.CoreV1Api(api)


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "reg/app:1"}]},
    }


def raw_watch(url: str, **params: str) -> list[dict[str, Any]]:
    """All events of a watch that the server ends itself (timeoutSeconds or an error)."""
    params = {"watch": "true", **params}
    with requests.get(url, params=params, stream=True, timeout=30) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == "application/json"
        return [json.loads(line) for line in resp.iter_lines() if line]


def test_watch_unset_rv_sends_synthetic_added_then_changes(server: APIServer, core: Any) -> None:
    core.create_namespaced_pod("default", pod("a"))
    core.create_namespaced_pod("default", pod("b"))
    seen: list[tuple[str, str]] = []
    stream = new_watch()
    ready = threading.Event()

    def write_later() -> None:
        ready.wait(10)
        core.delete_namespaced_pod("a", "default")

    writer = threading.Thread(target=write_later)
    writer.start()
    for event in stream.stream(core.list_namespaced_pod, "default", timeout_seconds=10):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            ready.set()
        if event["type"] == "DELETED":
            stream.stop()
    writer.join()
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]


def test_watch_from_rv_replays_only_later_changes(server: APIServer, core: Any) -> None:
    core.create_namespaced_pod("default", pod("a"))
    rv = core.list_namespaced_pod("default").metadata.resource_version
    core.create_namespaced_pod("default", pod("b"))
    core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"x": "1"}}})
    events = raw_watch(server.url + PODS, resourceVersion=rv, timeoutSeconds="1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("MODIFIED", "a"),
    ]


def test_expired_rv_is_200_with_one_error_event(server: APIServer, core: Any) -> None:
    core.create_namespaced_pod("default", pod("a"))
    old_rv = core.list_namespaced_pod("default").metadata.resource_version
    for n in range(25):  # more than the history window of 20
        core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"n": str(n)}}})
    events = raw_watch(server.url + PODS, resourceVersion=old_rv, timeoutSeconds="5")
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"].startswith(f"too old resource version: {old_rv} (")


def test_python_watch_raises_410_for_an_expired_rv(server: APIServer, core: Any) -> None:
    core.create_namespaced_pod("default", pod("a"))
    old_rv = core.list_namespaced_pod("default").metadata.resource_version
    for n in range(25):
        core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"n": str(n)}}})
    with pytest.raises(client.ApiException) as with_timeout:
        list(
            new_watch().stream(
                core.list_namespaced_pod, "default", resource_version=old_rv, timeout_seconds=5
            )
        )
    assert with_timeout.value.status == 410
    # without timeout_seconds it silently re-watches once from the same RV, then raises
    with pytest.raises(client.ApiException) as without:
        list(new_watch().stream(core.list_namespaced_pod, "default", resource_version=old_rv))
    assert without.value.status == 410
    assert without.value.reason.startswith("Expired: too old resource version")


def test_bookmark_on_timeout_and_accepts_python_bool_spelling(server: APIServer, core: Any) -> None:
    core.create_namespaced_pod("default", pod("a"))
    rv = core.list_namespaced_pod("default").metadata.resource_version
    events = raw_watch(
        server.url + PODS,
        watch="True",
        resourceVersion=rv,
        allowWatchBookmarks="true",
        timeoutSeconds="1",
    )
    assert events == [
        {
            "type": "BOOKMARK",
            "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": rv}},
        }
    ]
    assert raw_watch(server.url + PODS, resourceVersion=rv, timeoutSeconds="1") == []


def test_send_initial_events_ends_with_annotated_bookmark(server: APIServer, core: Any) -> None:
    core.create_namespaced_pod("default", pod("a"))
    events = raw_watch(
        server.url + PODS,
        sendInitialEvents="true",
        resourceVersionMatch="NotOlderThan",
        allowWatchBookmarks="true",
        timeoutSeconds="1",
    )
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK", "BOOKMARK"]
    annotations = events[1]["object"]["metadata"]["annotations"]
    assert annotations == {"k8s.io/initial-events-end": "true"}


def test_label_selector_transitions_become_added_and_deleted(server: APIServer, core: Any) -> None:
    core.create_namespaced_pod("default", pod("a", version="v1"))
    rv = core.list_namespaced_pod("default").metadata.resource_version
    core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"version": "v2"}}})
    core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"tier": "x"}}})
    core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"version": "v3"}}})
    events = raw_watch(
        server.url + PODS, resourceVersion=rv, labelSelector="version=v2", timeoutSeconds="1"
    )
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]


def test_watch_on_item_path_and_cross_namespace(server: APIServer, core: Any) -> None:
    core.create_namespace({"metadata": {"name": "auth"}})
    core.create_namespaced_pod("default", pod("a"))
    core.create_namespaced_pod("auth", pod("b"))
    everywhere = raw_watch(server.url + "/api/v1/pods", timeoutSeconds="1")
    assert sorted(e["object"]["metadata"]["name"] for e in everywhere) == ["a", "b"]
    single = raw_watch(server.url + PODS + "/a", timeoutSeconds="1")
    assert [e["object"]["metadata"]["name"] for e in single] == ["a"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"labelSelector": "a in (x"}, None),
        ({"labelSelector": "bad key=1"}, None),
        ({"fieldSelector": "spec.image=x"}, "field label not supported: spec.image"),
        ({"fieldSelector": "nonsense"}, None),
        ({"resourceVersion": "abc", "watch": "true"}, None),
        ({"watch": "maybe"}, None),
    ],
)
def test_invalid_list_parameters_are_400(
    server: APIServer, params: dict[str, str], message: str | None
) -> None:
    resp = requests.get(server.url + PODS, params=params, timeout=5)
    assert resp.status_code == 400
    body = resp.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "BadRequest", 400)
    if message is not None:
        assert body["message"] == message


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("version=v2", ["b"]),
        ("version==v2", ["b"]),
        ("version!=v2", ["a", "c"]),
        ("version in (v1,v2)", ["a", "b"]),
        ("version notin (v1)", ["b", "c"]),
        ("version", ["a", "b"]),
        ("!version", ["c"]),
        ("version,tier=web", ["b"]),
    ],
)
def test_label_selectors(core: Any, selector: str, expected: list[str]) -> None:
    core.create_namespaced_pod("default", pod("a", version="v1"))
    core.create_namespaced_pod("default", pod("b", version="v2", tier="web"))
    core.create_namespaced_pod("default", pod("c"))
    found = core.list_namespaced_pod("default", label_selector=selector)
    assert [p.metadata.name for p in found.items] == expected


def test_pod_field_selectors(core: Any) -> None:
    core.create_namespaced_pod("default", pod("a"))
    core.create_namespaced_pod("default", pod("b"))
    core.patch_namespaced_pod_status("b", "default", {"status": {"phase": "Running"}})
    running = core.list_namespaced_pod("default", field_selector="status.phase=Running")
    assert [p.metadata.name for p in running.items] == ["b"]
    others = core.list_namespaced_pod("default", field_selector="metadata.name!=b")
    assert [p.metadata.name for p in others.items] == ["a"]


def test_limit_and_continue_page_through_a_list(core: Any) -> None:
    for name in ("a", "b", "c"):
        core.create_namespaced_pod("default", pod(name))
    first = core.list_namespaced_pod("default", limit=2)
    assert [p.metadata.name for p in first.items] == ["a", "b"]
    assert first.metadata.remaining_item_count == 1
    rest = core.list_namespaced_pod("default", limit=2, _continue=first.metadata._continue)
    assert [p.metadata.name for p in rest.items] == ["c"]
    assert rest.metadata._continue is None


def test_stop_ends_open_watches_cleanly() -> None:
    srv = APIServer()
    srv.start()
    with requests.get(
        srv.url + PODS, params={"watch": "1", "resourceVersion": "1"}, stream=True, timeout=30
    ) as resp:
        lines = resp.iter_lines()
        srv.stop()
        assert list(lines) == []
