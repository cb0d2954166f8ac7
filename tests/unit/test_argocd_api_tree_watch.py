"""The Argo CD API backend's cluster view: resource trees as Kubernetes lists and watches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline.adapters.argocd_api import ArgoApiApplications
from pipeline.adapters.argocd_api_cluster import ArgoApiCluster
from pipeline.adapters.kubefail import Deadline
from pipeline.core.ports import Expired

Obj = dict[str, Any]
APP = {"metadata": {"name": "dev-api-auth", "namespace": "argocd", "resourceVersion": "1"},
       "spec": {"project": "default", "destination": {"namespace": "auth"}}}  # fmt: skip


def pod(name: str, version: str, labels: dict[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "auth", "uid": f"uid-{name}",
                         "resourceVersion": version, "labels": labels}}  # fmt: skip


def node(obj: Obj) -> Obj:
    meta = obj["metadata"]
    return {"group": "", "version": "v1", "kind": "Pod", "namespace": meta["namespace"],
            "name": meta["name"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"]}  # fmt: skip


class FakeStream:
    def __init__(self, trees: list[Obj]) -> None:
        self.trees = trees

    def results(self) -> Iterator[Obj]:
        yield from self.trees

    def stop(self) -> None:
        pass


class FakeConnection:
    """Trees and live objects as argocd-server would serve them; counts the reads."""

    def __init__(self, pods: list[Obj]) -> None:
        self.deadline = Deadline()
        self.live = {(p["metadata"]["name"], p["metadata"]["resourceVersion"]): p for p in pods}
        self.tree: Obj = {"nodes": [node(p) for p in pods]}
        self.streamed: list[Obj] = []
        self.reads = 0
        self.by_verb: dict[str, int] = {}

    def request(self, what: str, method: str, path: str, *, query: Any = None,
                body: Any = None, verb: str = "") -> Obj:  # fmt: skip
        if path.endswith("/resource-tree"):
            return self.tree
        if path.endswith("/resource"):
            self.reads += 1
            obj = self.live[(query["resourceName"], self.version_of(query["resourceName"]))]
            return {"manifest": json.dumps(obj)}
        return APP

    def version_of(self, name: str) -> str:
        all_nodes = self.tree["nodes"] + [n for t in self.streamed for n in t["nodes"]]
        return next(n["resourceVersion"] for n in reversed(all_nodes) if n["name"] == name)

    def stream(self, what: str, path: str, query: Obj, seconds: float, verb: str = "") -> Any:
        return FakeStream(self.streamed)


def cluster_of(conn: FakeConnection) -> ArgoApiCluster:
    apps = ArgoApiApplications(conn)  # type: ignore[arg-type]
    apps.scope.remember(APP)
    return ArgoApiCluster(apps)


def test_a_watch_turns_tree_changes_into_kubernetes_events() -> None:
    canary, stable = pod("c1", "10", {"version": "v2"}), pod("s1", "11", {"version": "v1"})
    conn = FakeConnection([canary, stable])
    cluster = cluster_of(conn)
    items, version = cluster.list_objects("pods", "auth", "version=v2")
    assert [p["metadata"]["name"] for p in items] == ["c1"]

    ready, newer = pod("c1", "12", {"version": "v2"}), pod("c2", "13", {"version": "v2"})
    conn.live.update({("c1", "12"): ready, ("c2", "13"): newer})
    conn.streamed = [
        {"nodes": [node(canary), node(stable)]},  # the current tree first: nothing new
        {"nodes": [node(ready), node(stable), node(newer)]},
        {"nodes": [node(newer), node(stable)]},
    ]
    reads = conn.reads
    events = [(kind, o["metadata"]["name"], o["metadata"]["resourceVersion"])
              for kind, o in cluster.watch("pods", "auth", "version=v2", version, 30)]  # fmt: skip
    assert events == [("MODIFIED", "c1", "12"), ("ADDED", "c2", "13"), ("DELETED", "c1", "12")]
    assert conn.reads - reads == 2  # only the new versions were read

    conn.streamed = [{"nodes": [node(newer), node(stable)]}]
    assert list(cluster.watch("pods", "auth", "version=v2", "12", 30)) == []  # resumed


def test_a_watch_from_an_unknown_version_is_expired_so_the_caller_lists_again() -> None:
    cluster = cluster_of(FakeConnection([pod("c1", "10", {})]))
    with pytest.raises(Expired):
        list(cluster.watch("pods", "auth", "", "999", 30))
