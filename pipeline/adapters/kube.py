"""Kubernetes access through the official ``kubernetes`` client (the only module, with
argocd.py, that imports it). Implements the ``Cluster`` port of pipeline/core/ports.py.

Requests go through the ``ApiClient`` (kubeconfig auth, TLS, proxies) by path, without the
generated typed API classes: importing ``CoreV1Api`` and ``AppsV1Api`` alone costs about 0.5 s
of CPU, more than the rest of a deploy's own work (docs/performance.md). Bodies are decoded as
plain JSON, so the core sees objects exactly as the API server sends them (camelCase, unknown
fields kept). Watches are read
line by line (``kubernetes.watch.watch.iter_resp_lines``); ``stop()`` shuts the socket down
from another thread, the way ``kubernetes.watch.Watch.stop`` does. Errors map onto
pipeline.errors: 401/403 and unreachable -> KubeAccessError, 404 NotFound, 409 Conflict,
410 (also the ERROR event of a watch) Expired (api-concepts.md "Efficient detection of changes").

Every request carries connect and read timeouts from the run's one :class:`Deadline` (the
client's ``_request_timeout``), and urllib3 never retries on its own: an API server that
accepts and never answers, or is stopped, ends the run at its deadline (DeployTimeoutError,
naming the server), never later. TLS failures and a server answering something other than
JSON (an HTML page: not a Kubernetes API server) are named as such (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from pipeline.adapters.kubefail import (
    Deadline,
    looks_like_html,
    not_api_server,
    status_error,
    transport_error,
)
from pipeline.core.ports import NotFound, Obj
from pipeline.errors import KubeAccessError


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
            where = kubeconfig or "$KUBECONFIG or ~/.kube/config"
            raise KubeAccessError(
                f"no usable kubeconfig ({where}): {e}",
                hint="set KUBECONFIG (or --kubeconfig) to a kubeconfig for the cluster",
                reason="kube-config",
            ) from e
    api.configuration.connection_pool_maxsize = 64  # several services x 3 watches each
    api.rest_client.pool_manager.connection_pool_kw["maxsize"] = 64
    # no silent retries: a read timeout retried 3 times made a run end minutes late
    api.rest_client.pool_manager.connection_pool_kw["retries"] = urllib3.Retry(
        total=0, connect=0, read=0, redirect=0, status=0, other=0, raise_on_redirect=False
    )
    return api


class RequestStats:
    """Counts requests by verb; the benchmarks read it (docs/performance.md)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_verb: Counter[str] = Counter()

    def count(self, verb: str) -> None:
        with self.lock:
            self.by_verb[verb] += 1


def call(
    what: str, func: Callable[..., Any], *args: Any, deadline: Deadline | None = None,
    **kwargs: Any,
) -> Any:  # fmt: skip
    """Run one typed API call without model decoding; return the urllib3 response."""
    limit = deadline or Deadline()

    def send() -> Any:
        timeout = limit.timeouts(what)
        return func(*args, _preload_content=False, _request_timeout=timeout, **kwargs)

    return _mapped(what, send, limit)


def api_request(
    api: client.ApiClient,
    method: str,
    path: str,
    *,
    query: dict[str, str | None] | None = None,
    body: Any = None,
    content_type: str = "application/json",
    timeout: float | tuple[float, float] | None = None,
) -> Any:
    """One request by path (``/api/v1/...``); returns the unread urllib3 response.

    The same path the generated API methods take (``param_serialize`` adds the kubeconfig's
    bearer token, ``call_api`` sends it), minus model classes; non-2xx raises ApiException as
    the legacy ``_preload_content=False`` mode does.
    """
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    params = [(k, v) for k, v in (query or {}).items() if v is not None]
    request = api.param_serialize(
        method, path, query_params=params, header_params=headers, body=body,
        auth_settings=["BearerToken"],
    )  # fmt: skip
    response = api.call_api(*request, _request_timeout=timeout)
    if not 200 <= response.status <= 299:
        response.read()  # type: ignore[no-untyped-call]
        raise ApiException.from_response(http_resp=response, body=None, data=None)
    return response.response


def request(
    what: str, api: client.ApiClient, method: str, path: str,
    deadline: Deadline | None = None, **kwargs: Any,
) -> Any:  # fmt: skip
    """``api_request`` within the run's deadline, with pipeline.errors mapping."""
    limit = deadline or Deadline()
    return _mapped(
        what,
        lambda: api_request(api, method, path, timeout=limit.timeouts(what), **kwargs),
        limit,
    )


def request_json(
    what: str, api: client.ApiClient, method: str, path: str,
    deadline: Deadline | None = None, **kwargs: Any,
) -> Obj:  # fmt: skip
    resp = request(what, api, method, path, deadline, **kwargs)
    return _decoded(what, resp, deadline)


def _decoded(what: str, resp: Any, deadline: Deadline | None) -> Obj:
    try:
        data = resp.data
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise transport_error(what, e, deadline) from None
    try:
        result = json.loads(data)
    except ValueError:
        raise not_api_server(what, resp, deadline) from None
    if not isinstance(result, dict):
        raise not_api_server(what, resp, deadline)
    return result


def _mapped(what: str, send: Callable[[], Any], deadline: Deadline | None = None) -> Any:
    try:
        resp = send()
    except ApiException as e:
        body = str(e.body or e.reason or "")
        if looks_like_html(body, e.headers):
            raise not_api_server(what, e, deadline) from None
        raise status_error(int(e.status or 0), body, what) from None
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise transport_error(what, e, deadline) from None
    if not 200 <= resp.status <= 299:
        body = resp.data.decode("utf-8", "replace")
        if looks_like_html(body, resp.headers):
            raise not_api_server(what, resp, deadline)
        raise status_error(resp.status, body, what)
    return resp


def call_json(
    what: str, func: Callable[..., Any], *args: Any, deadline: Deadline | None = None,
    **kwargs: Any,
) -> Obj:  # fmt: skip
    return _decoded(what, call(what, func, *args, deadline=deadline, **kwargs), deadline)


class WatchLines:
    """An open watch: yields ``(type, object)``; ``stop()`` unblocks the reading thread."""

    def __init__(
        self, what: str, start: Callable[..., Any], deadline: Deadline | None = None
    ) -> None:
        self.what, self._start, self.deadline = what, start, deadline
        self._resp: Any = None
        self._stopped = False

    def __iter__(self) -> Iterator[tuple[str, Obj]]:
        if self._stopped:
            return
        self._resp = _mapped(self.what, self._start, self.deadline)
        try:
            for line in iter_resp_lines(self._resp):  # type: ignore[no-untyped-call]
                if self._stopped:
                    return
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise status_error(int(status.get("code", 500)), line, self.what)
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


def namespaced(prefix: str, namespace: str, plural: str, name: str = "", sub: str = "") -> str:
    """``/api/v1/namespaces/ns/pods/name/log``-style paths (names are quoted)."""
    path = f"{prefix}/namespaces/{quote(namespace, safe='')}/{plural}"
    if name:
        path += f"/{quote(name, safe='')}"
    return path + (f"/{sub}" if sub else "")


def watch_query(selector: str, resource_version: str, timeout: float) -> dict[str, str | None]:
    return {
        "labelSelector": selector or None,
        "resourceVersion": resource_version or None,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(max(1, int(timeout))),
        "watch": "true",
    }


class KubeCluster:
    """Deployments, ReplicaSets, Pods, logs, events and Secrets in a namespace."""

    PREFIXES = {"deployments": "/apis/apps/v1", "replicasets": "/apis/apps/v1", "pods": "/api/v1"}

    def __init__(
        self, api: client.ApiClient, stats: RequestStats | None = None,
        deadline: Deadline | None = None,
    ) -> None:  # fmt: skip
        self.api = api
        self.stats = stats or RequestStats()
        self.deadline = deadline or Deadline()
        self.deadline.server = self.deadline.server or str(api.configuration.host)

    @cached_property
    def core(self) -> Any:
        """The typed CoreV1Api, for callers outside the deploy path (imported on first use)."""
        return client.CoreV1Api(self.api)

    @cached_property
    def apps(self) -> Any:
        return client.AppsV1Api(self.api)

    def list_objects(self, kind: str, namespace: str, selector: str = "") -> tuple[list[Obj], str]:
        self.stats.count("list")
        body = request_json(
            f"list {kind} in {namespace}", self.api, "GET",
            namespaced(self.PREFIXES[kind], namespace, kind),
            query={"labelSelector": selector or None}, deadline=self.deadline,
        )  # fmt: skip
        return list(body.get("items") or []), str(
            body.get("metadata", {}).get("resourceVersion", "")
        )

    def watch(
        self, kind: str, namespace: str, selector: str, resource_version: str, timeout: float
    ) -> WatchLines:
        self.stats.count("watch")
        path = namespaced(self.PREFIXES[kind], namespace, kind)
        query = watch_query(selector, resource_version, timeout)
        what, limit = f"watch {kind} in {namespace}", self.deadline
        return WatchLines(
            what,
            lambda: api_request(
                self.api, "GET", path, query=query, timeout=limit.timeouts(what, timeout + 10)
            ),
            limit,
        )

    def can_i(self, verb: str, group: str, resource: str, namespace: str) -> bool | None:
        """One SelfSubjectAccessReview; None when the cluster offers no answer."""
        self.stats.count("create")
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "verb": verb, "group": group, "resource": resource, "namespace": namespace,
                }
            },
        }  # fmt: skip
        try:
            body = request_json(
                f"review access to {verb} {resource}", self.api, "POST",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review,
                deadline=self.deadline,
            )  # fmt: skip
        except (KubeAccessError, NotFound):
            return None
        return bool(body.get("status", {}).get("allowed"))

    def get_secret(self, namespace: str, name: str) -> Obj:
        """A Secret (pull secrets named by image-updater annotations); raises NotFound."""
        self.stats.count("get")
        path = namespaced("/api/v1", namespace, "secrets", name)
        return request_json(f"get Secret {namespace}/{name}", self.api, "GET", path, self.deadline)

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int) -> str:
        self.stats.count("get")
        query = {"container": container or None, "tailLines": str(lines)}
        path = namespaced("/api/v1", namespace, "pods", pod, "log")
        try:
            resp = request(f"logs of {pod}", self.api, "GET", path, self.deadline, query=query)
        except (KubeAccessError, NotFound):
            return ""  # no logs yet (image never pulled) or not allowed: diagnostics only
        return str(resp.data.decode("utf-8", "replace"))

    def pod_events(self, namespace: str, pod: str, limit: int) -> list[str]:
        self.stats.count("list")
        query = {"fieldSelector": f"involvedObject.name={pod}"}
        try:
            body = request_json(
                f"events of {pod}", self.api, "GET", namespaced("/api/v1", namespace, "events"),
                self.deadline, query=query,
            )  # fmt: skip
        except (KubeAccessError, NotFound):
            return []
        items = sorted(body.get("items") or [], key=lambda e: str(e.get("lastTimestamp") or ""))
        return [
            f"{e.get('type', '')} {e.get('reason', '')}: {e.get('message', '')}".strip()
            for e in items[-limit:]
        ]
