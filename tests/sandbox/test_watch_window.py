"""The watch-history window: a resourceVersion older than it gets 410 Expired, as a real API
server answers once etcd compacted it, and the product's list-then-watch helper re-lists
through it (issue 10: "a 410 after the history window with the product's verify still
succeeding through it")."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from pipeline.adapters.kube import KubeCluster, connect
from pipeline.core.watch import ListWatch, Objects, ObjectsSource
from pipeline.errors import DeployTimeoutError
from pipeline.sandbox.apiserver import APIServer
from pipeline.sandbox.apiserver.watchers import Change, History
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration
NS = "window"


def test_history_forgets_changes_older_than_the_window() -> None:
    now = [100.0]
    history = History(limit=1000, window=60.0, clock=lambda: now[0])
    history.append(Change(type="ADDED", obj={}, old=None, rv=5))
    now[0] += 30
    history.append(Change(type="ADDED", obj={}, old=None, rv=6))
    assert history.start == 0  # both still watchable
    now[0] += 31
    history.prune()
    assert history.start == 5 and [c.rv for c in history.since(0)] == [6]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[APIServer, Path]]:
    srv = APIServer(port=0, history_window=0.3)
    srv.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: s\n  cluster: {{server: '{srv.url}'}}\n"
        "users:\n- name: u\n  user: {}\n"
        "contexts:\n- name: s\n  context: {cluster: s, user: u}\ncurrent-context: s\n"
    )
    yield srv, kubeconfig
    srv.stop()


def _pod(server: APIServer, name: str) -> str:
    body = {
        "metadata": {"name": name, "namespace": NS},
        "spec": {"containers": [{"name": "app", "image": "reg/app:1"}]},
    }
    reply = requests.post(f"{server.url}/api/v1/namespaces/{NS}/pods", json=body, timeout=10)
    reply.raise_for_status()
    return str(reply.json()["metadata"]["resourceVersion"])


def _watch_answer(server: APIServer, version: str) -> dict[str, object]:
    with requests.get(
        f"{server.url}/api/v1/namespaces/{NS}/pods",
        params={"watch": "true", "resourceVersion": version, "timeoutSeconds": "1"},
        stream=True,
        timeout=10,
    ) as reply:
        for line in reply.iter_lines():
            return dict(json.loads(line))
    return {}


@dataclass
class ListedLongAgo:
    """A source whose first list answered before the window passed (a stale resourceVersion),
    as an informer that was cut off for longer than the server keeps history."""

    inner: ObjectsSource
    stale: str
    listed: int = 0

    def list(self) -> tuple[Objects, str]:
        self.listed += 1
        if self.listed == 1:
            return {}, self.stale  # what was there back then: nothing yet
        return self.inner.list()

    def watch(self, resource_version: str, timeout: float):  # type: ignore[no-untyped-def]
        return self.inner.watch(resource_version, timeout)

    def apply(self, state: Objects, kind: str, obj: dict[str, object]) -> Objects:
        return self.inner.apply(state, kind, obj)  # type: ignore[arg-type]


def test_an_expired_resource_version_is_410_and_the_helper_relists(
    server: tuple[APIServer, Path],
) -> None:
    srv, kubeconfig = server
    requests.post(
        f"{srv.url}/api/v1/namespaces", json={"metadata": {"name": NS}}, timeout=10
    ).raise_for_status()
    old = _pod(srv, "first")
    _pod(srv, "second")

    def expired() -> dict[str, object] | None:
        answer = _watch_answer(srv, old)
        return answer if answer.get("type") == "ERROR" else None

    error = wait_for("the old resourceVersion to expire", expired, timeout=20)
    assert error["object"]["code"] == 410  # type: ignore[index]
    assert error["object"]["reason"] == "Expired"  # type: ignore[index]

    cluster = KubeCluster(connect(str(kubeconfig)))
    source = ListedLongAgo(ObjectsSource(cluster, "pods", NS), stale=old)
    loop = ListWatch(source, time.monotonic)  # type: ignore[arg-type]
    state = loop.until(
        lambda pods: {"first", "second"} <= set(pods),
        deadline=time.monotonic() + 20,
        on_timeout=lambda pods: DeployTimeoutError(f"saw only {sorted(pods)}"),
    )
    assert set(state) == {"first", "second"}
    assert loop.lists == 2  # the 410 made it list again, then the condition held
    cluster.api.close()  # no idle keep-alive connection for the server's stop to wait out
