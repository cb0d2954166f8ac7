"""Kubernetes access through the official ``kubernetes`` client (the only module, with
argocd.py, that imports it). Implements the ``Cluster`` port of pipeline/deploy/ports.py.

Every call is made with ``_preload_content=False`` and decoded as plain JSON, so the core sees
objects exactly as the API server sends them (camelCase, unknown fields kept). Watches are read
line by line (``kubernetes.watch.watch.iter_resp_lines``); ``stop()`` shuts the socket down
from another thread, the way ``kubernetes.watch.Watch.stop`` does. Errors map onto
pipeline.errors: 401/403 and unreachable -> KubeAccessError, 404 NotFound, 409 Conflict,
410 (also the ERROR event of a watch) Expired (api-concepts.md "Efficient detection of changes").
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from pipeline.deploy.ports import Conflict, Expired, NotFound, Obj
from pipeline.errors import KubeAccessError, truncate


def connect(kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    """An ApiClient from ``kubeconfig`` ($KUBECONFIG/~/.kube/config) or the in-cluster account."""
    try:
        api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context
        )
    except config.ConfigException as e:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            api = client.ApiClient()
        except config.ConfigException:
            raise KubeAccessError(
                f"no usable kubeconfig: {e}",
                hint="set KUBECONFIG (or --kubeconfig) to a kubeconfig for the cluster",
                reason="kube-config",
            ) from e
    api.configuration.connection_pool_maxsize = 64  # several services x 3 watches each
    api.rest_client.pool_manager.connection_pool_kw["maxsize"] = 64
    return api


class RequestStats:
    """Counts requests by verb; the benchmarks read it (docs/performance.md)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_verb: Counter[str] = Counter()

    def count(self, verb: str) -> None:
        with self.lock:
            self.by_verb[verb] += 1


def _status_error(status: int, body: str, what: str) -> Exception:
    try:
        message = str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        message = body
    message = truncate(message or f"HTTP {status}", 500)
    if status == 404:
        return NotFound(message)
    if status == 409:
        return Conflict(message)
    if status == 410:
        return Expired(message)
    reason = {401: "kube-unauthorized", 403: "kube-forbidden"}.get(status, "kube-access")
    hint = {
        401: "the credentials in the kubeconfig were rejected; refresh the token",
        403: "grant the verbs listed in docs/deploy-canary.md (RBAC) to this identity",
    }.get(status, "check that the API server is reachable and healthy")
    return KubeAccessError(f"{what}: HTTP {status}: {message}", hint=hint, reason=reason)


def call(what: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one API call without model decoding; return the urllib3 response."""
    try:
        resp = func(*args, _preload_content=False, **kwargs)
    except ApiException as e:
        raise _status_error(int(e.status or 0), str(e.body or e.reason or ""), what) from None
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise KubeAccessError(
            f"{what}: API server unreachable: {type(e).__name__}",
            hint="check the kubeconfig's server address and that the cluster is up",
            reason="kube-unreachable",
        ) from None
    if not 200 <= resp.status <= 299:
        body = resp.data.decode("utf-8", "replace")
        raise _status_error(resp.status, body, what)
    return resp


def call_json(what: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Obj:
    data = call(what, func, *args, **kwargs).data
    result: Obj = json.loads(data)
    return result


class WatchLines:
    """An open watch: yields ``(type, object)``; ``stop()`` unblocks the reading thread."""

    def __init__(self, what: str, start: Callable[..., Any]) -> None:
        self.what, self._start = what, start
        self._resp: Any = None
        self._stopped = False

    def __iter__(self) -> Iterator[tuple[str, Obj]]:
        if self._stopped:
            return
        self._resp = call(self.what, self._start)
        try:
            for line in iter_resp_lines(self._resp):  # type: ignore[no-untyped-call]
                if self._stopped:
                    return
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise _status_error(int(status.get("code", 500)), line, self.what)
                yield str(event["type"]), event["object"]
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            if not self._stopped:  # a watch cut short ends like a timeout: the caller re-watches
                return
        finally:
            self._resp.close()
            self._resp.release_conn()

    def stop(self) -> None:
        self._stopped = True
        sock = getattr(getattr(self._resp, "connection", None), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class KubeCluster:
    """Deployments, ReplicaSets, Pods, logs and events in a namespace."""

    def __init__(self, api: client.ApiClient, stats: RequestStats | None = None) -> None:
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.stats = stats or RequestStats()
        self._lists: dict[str, Callable[..., Any]] = {
            "deployments": self.apps.list_namespaced_deployment,
            "replicasets": self.apps.list_namespaced_replica_set,
            "pods": self.core.list_namespaced_pod,
        }

    def list_objects(self, kind: str, namespace: str, selector: str = "") -> tuple[list[Obj], str]:
        self.stats.count("list")
        body = call_json(
            f"list {kind} in {namespace}",
            self._lists[kind],
            namespace,
            label_selector=selector or None,
        )
        return list(body.get("items") or []), str(
            body.get("metadata", {}).get("resourceVersion", "")
        )

    def watch(
        self, kind: str, namespace: str, selector: str, resource_version: str, timeout: float
    ) -> WatchLines:
        self.stats.count("watch")
        func = self._lists[kind]
        return WatchLines(
            f"watch {kind} in {namespace}",
            lambda **kw: func(
                namespace,
                label_selector=selector or None,
                resource_version=resource_version or None,
                allow_watch_bookmarks=True,
                timeout_seconds=max(1, int(timeout)),
                watch=True,
                **kw,
            ),
        )

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int) -> str:
        self.stats.count("get")
        try:
            resp = call(
                f"logs of {pod}",
                self.core.read_namespaced_pod_log,
                pod,
                namespace,
                container=container or None,
                tail_lines=lines,
            )
        except (KubeAccessError, NotFound):
            return ""  # no logs yet (image never pulled) or not allowed: diagnostics only
        return str(resp.data.decode("utf-8", "replace"))

    def pod_events(self, namespace: str, pod: str, limit: int) -> list[str]:
        self.stats.count("list")
        try:
            body = call_json(
                f"events of {pod}",
                self.core.list_namespaced_event,
                namespace,
                field_selector=f"involvedObject.name={pod}",
            )
        except (KubeAccessError, NotFound):
            return []
        items = sorted(body.get("items") or [], key=lambda e: str(e.get("lastTimestamp") or ""))
        return [
            f"{e.get('type', '')} {e.get('reason', '')}: {e.get('message', '')}".strip()
            for e in items[-limit:]
        ]
