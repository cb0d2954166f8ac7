"""The canary's workloads through the Argo CD API: the ``Cluster`` port, read from the
resource trees of the Applications that deploy into a namespace.

Argo CD's API shows an Application's live objects through Argo CD RBAC alone, whatever cluster
they run in (reference B): the resource tree (``/resource-tree``: managed Deployments, the
ReplicaSets they own and those ReplicaSets' Pods, each node with ``uid`` and
``resourceVersion``), one live object (``/resource``: its full JSON, with
``status.containerStatuses[].imageID``), pod logs and events. So:

* ``list_objects`` reads the trees of the Applications in :class:`Scope` for the namespace
  (those this run has read; else every Application the token may list), then each matching
  node's live object, cached by (uid, resourceVersion) so an unchanged object is read once;
  label selectors are matched here (core/selectors.py), as the API server would.
* ``watch`` follows ``/api/v1/stream/applications/<app>/resource-tree``: each new tree is
  compared with the objects last seen, and a changed resourceVersion re-reads that object.
  It yields ADDED/MODIFIED/DELETED as a Kubernetes watch does, resuming from the
  resourceVersion the caller last saw; an unknown one is ``Expired`` (re-list), as 410 is.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from itertools import count
from typing import Any
from urllib.parse import quote

from pipeline.adapters.argocd_api import APPS, ArgoApiApplications
from pipeline.core.ports import Expired, NotFound, Obj
from pipeline.core.selectors import matches_selector
from pipeline.errors import KubeAccessError

KINDS = {"deployments": ("apps", "Deployment"), "replicasets": ("apps", "ReplicaSet"),
         "pods": ("", "Pod")}  # fmt: skip
CACHE = 1024  # live objects kept, by (uid, resourceVersion)
SNAPSHOTS = 64  # watch resume points kept
Seen = dict[str, tuple[tuple[str, str], str, Obj]]  # uid -> (app, resourceVersion, object)


class ArgoApiCluster:
    """Deployments, ReplicaSets and Pods of the Applications in scope, with logs and events."""

    def __init__(self, apps: ArgoApiApplications, argocd_namespace: str = "argocd") -> None:
        self.apps, self.conn, self.argocd_namespace = apps, apps.conn, argocd_namespace
        self.deadline, self.stats = self.conn.deadline, self.conn
        self._lock = threading.Lock()
        self._live: OrderedDict[tuple[str, str], Obj | None] = OrderedDict()
        self._snapshots: OrderedDict[tuple[str, ...], Seen] = OrderedDict()
        self._tokens = count(1)

    # -- reads -----------------------------------------------------------------------------
    def _scope(self, namespace: str) -> list[tuple[str, str]]:
        found = self.apps.scope.apps_in(namespace)
        if found:
            return found
        self.apps.list_applications(self.argocd_namespace)
        return self.apps.scope.apps_in(namespace)

    def _tree(self, app: tuple[str, str]) -> Obj:
        namespace, name = app
        return self.conn.request(
            f"get the resource tree of {namespace}/{name}", "GET",
            f"{APPS}/{quote(name, safe='')}/resource-tree", query={"appNamespace": namespace},
            verb="get",
        )  # fmt: skip

    def _object(self, app: tuple[str, str], node: Obj) -> Obj | None:
        """The live object of a tree node (None once it is gone), read once per version."""
        key = (str(node.get("uid") or ""), str(node.get("resourceVersion") or ""))
        with self._lock:
            if key in self._live:
                self._live.move_to_end(key)
                return self._live[key]
        namespace, name = app
        try:
            body = self.conn.request(
                f"get {node.get('kind')} {node.get('namespace')}/{node.get('name')}", "GET",
                f"{APPS}/{quote(name, safe='')}/resource",
                query={"appNamespace": namespace, "namespace": node.get("namespace"),
                       "resourceName": node.get("name"), "group": node.get("group") or "",
                       "version": node.get("version"), "kind": node.get("kind")},
                verb="get",
            )  # fmt: skip
            obj: Obj | None = json.loads(str(body.get("manifest") or "null"))
        except NotFound:
            obj = None
        except KubeAccessError as e:
            if e.reason != "argocd-refused" or "not found as part of" not in e.message:
                raise
            obj = None  # gone between the tree and the read
        with self._lock:
            self._live[key] = obj
            while len(self._live) > CACHE:
                self._live.popitem(last=False)
        return obj

    def _matching(self, app: tuple[str, str], tree: Obj, kind: str, namespace: str) -> list[Obj]:
        group, name = KINDS[kind]
        return [
            n for n in tree.get("nodes") or []
            if n.get("kind") == name and (n.get("group") or "") == group
            and n.get("namespace") == namespace and n.get("uid")
        ]  # fmt: skip

    def _read(
        self, app: tuple[str, str], tree: Obj, kind: str, namespace: str, selector: str
    ) -> Seen:
        seen: Seen = {}
        for node in self._matching(app, tree, kind, namespace):
            obj = self._object(app, node)
            if obj is not None and matches_selector(selector, _labels(obj)):
                seen[str(node["uid"])] = (app, str(node.get("resourceVersion") or ""), obj)
        return seen

    def list_objects(self, kind: str, namespace: str, selector: str = "") -> tuple[list[Obj], str]:
        seen: Seen = {}
        for app in self._scope(namespace):
            seen.update(self._read(app, self._tree(app), kind, namespace, selector))
        token = f"argocd-tree-{next(self._tokens)}"
        self._keep((kind, namespace, selector, token), seen)
        return [obj for _, _, obj in seen.values()], token

    def _keep(self, key: tuple[str, ...], seen: Seen) -> None:
        with self._lock:
            self._snapshots[key] = dict(seen)
            while len(self._snapshots) > SNAPSHOTS:
                self._snapshots.popitem(last=False)

    def _resume(self, key: tuple[str, ...]) -> Seen | None:
        with self._lock:
            found = self._snapshots.get(key)
            return None if found is None else dict(found)

    def watch(
        self, kind: str, namespace: str, selector: str, resource_version: str, timeout: float
    ) -> TreeWatch:
        return TreeWatch(self, kind, namespace, selector, resource_version, timeout)

    # -- diagnostics and access ------------------------------------------------------------
    def _pod_app(self, namespace: str, pod: str) -> tuple[tuple[str, str], str] | None:
        with self._lock:
            live = [o for o in self._live.values() if o is not None]
        for obj in reversed(live):
            meta = obj.get("metadata") or {}
            if obj.get("kind") == "Pod" and meta.get("name") == pod and (
                meta.get("namespace") == namespace
            ):  # fmt: skip
                for app in self._scope(namespace):
                    return app, str(meta.get("uid") or "")
        return None

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int) -> str:
        found = self._pod_app(namespace, pod)
        if found is None:
            return ""
        (app_ns, app), _ = found
        stream = self.conn.stream(
            f"logs of {pod}", f"{APPS}/{quote(app, safe='')}/pods/{quote(pod, safe='')}/logs",
            {"appNamespace": app_ns, "namespace": namespace, "container": container,
             "tailLines": str(lines), "follow": "false"},
            min(30.0, self.deadline.remaining() or 30.0), verb="get",
        )  # fmt: skip
        out: list[str] = []
        try:
            for result in stream.results():
                if result.get("last"):
                    break
                out.append(str(result.get("content") or ""))
        except KubeAccessError:
            return ""  # not allowed (`logs, get`) or not started: diagnostics only
        return "".join(line + "\n" for line in out)

    def pod_events(self, namespace: str, pod: str, limit: int) -> list[str]:
        found = self._pod_app(namespace, pod)
        if found is None:
            return []
        (app_ns, app), uid = found
        try:
            body = self.conn.request(
                f"events of {pod}", "GET", f"{APPS}/{quote(app, safe='')}/events",
                query={"appNamespace": app_ns, "resourceNamespace": namespace,
                       "resourceName": pod, "resourceUID": uid},
                verb="list",
            )  # fmt: skip
        except KubeAccessError:
            return []
        items = sorted(body.get("items") or [], key=lambda e: str(e.get("lastTimestamp") or ""))
        return [
            f"{e.get('type', '')} {e.get('reason', '')}: {e.get('message', '')}".strip()
            for e in items[-limit:]
        ]

    def can_i(self, verb: str, group: str, resource: str, namespace: str) -> bool | None:
        return None  # workloads are read through the Application (``applications, get``)

    def get_secret(self, namespace: str, name: str) -> Obj:
        raise KubeAccessError(
            f"Secret {namespace}/{name} cannot be read through the Argo CD API (it shows Secret "
            "values masked)",
            hint="give the pipeline registry credentials of its own (docker login, or "
            "DOCKER_CONFIG), or use the Kubernetes backend (--kubeconfig) to read pull secrets",
            reason="argocd-no-secrets",
        )


def _labels(obj: Obj) -> dict[str, str]:
    return {str(k): str(v) for k, v in ((obj.get("metadata") or {}).get("labels") or {}).items()}


class TreeWatch:
    """Kubernetes-style watch events from resource-tree streams (see the module docstring)."""

    def __init__(
        self, cluster: ArgoApiCluster, kind: str, namespace: str, selector: str,
        resource_version: str, timeout: float,
    ) -> None:  # fmt: skip
        self.cluster, self.kind, self.namespace, self.selector = cluster, kind, namespace, selector
        self.version, self.timeout = resource_version, timeout
        self._stream: Any = None
        self._stopped = False

    def _key(self, version: str) -> tuple[str, ...]:
        return (self.kind, self.namespace, self.selector, version)

    def __iter__(self) -> Iterator[tuple[str, Obj]]:
        known = self.cluster._resume(self._key(self.version))
        if known is None:
            raise Expired(f"resourceVersion {self.version} is not one this watch can resume")
        apps = self.cluster._scope(self.namespace)
        if not apps or self._stopped:
            return
        app = apps[0]  # one Application deploys a canary; more share a namespace rarely
        last = self.version
        self._stream = self.cluster.conn.stream(
            f"watch the resource tree of {app[0]}/{app[1]}",
            f"/api/v1/stream/applications/{quote(app[1], safe='')}/resource-tree",
            {"appNamespace": app[0]}, self.timeout,
        )  # fmt: skip
        try:
            for tree in self._stream.results():
                now = self.cluster._read(app, tree, self.kind, self.namespace, self.selector)
                for uid, (_, version, obj) in now.items():
                    before = known.get(uid)
                    if before is None or before[1] != version:
                        known[uid] = (app, version, obj)
                        last = _version(obj) or last
                        yield ("ADDED" if before is None else "MODIFIED"), obj
                for uid in [u for u, (a, _, _) in known.items() if a == app and u not in now]:
                    _, _, gone = known.pop(uid)
                    yield "DELETED", gone
                if self._stopped:
                    return
        finally:
            self.cluster._keep(self._key(last), known)

    def stop(self) -> None:
        self._stopped = True
        if self._stream is not None:
            self._stream.stop()


def _version(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
