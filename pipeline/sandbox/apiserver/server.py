"""``APIServer``: the sandbox's Kubernetes API server, in-process, plain HTTP on loopback.

    srv = APIServer(host="127.0.0.1", port=0, state_file=None)
    srv.start()   # listening when it returns
    srv.url       # "http://127.0.0.1:PORT"
    srv.stop()    # ends open watches, persists state_file, closes the socket

On first start it creates the namespaces ``default``, ``kube-system``, ``kube-public`` and
``argocd``, each with its ``default`` ServiceAccount, as a fresh cluster (plus Argo CD) has.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pipeline.sandbox.apiserver import discovery, openapi
from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.endpoints import Endpoints
from pipeline.sandbox.apiserver.http import APIHTTPServer, Dispatcher
from pipeline.sandbox.apiserver.messages import Request, Response, WatchStream
from pipeline.sandbox.apiserver.operations import NAMESPACES, Operations
from pipeline.sandbox.apiserver.persistence import Snapshotter
from pipeline.sandbox.apiserver.podlogs import write_log
from pipeline.sandbox.apiserver.routing import parse_resource_path, split_group_version
from pipeline.sandbox.apiserver.store import HISTORY_LIMIT, Store

Obj = dict[str, Any]
BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "argocd")
_HEALTH = ("/healthz", "/livez", "/readyz")


def _is_sandbox_log(parts: list[str]) -> bool:
    """``/sandbox/v1/namespaces/{ns}/pods/{name}/log`` (the kubelet's write endpoint)."""
    return (
        len(parts) == 7
        and parts[:3] == ["sandbox", "v1", "namespaces"]
        and (parts[4] == "pods" and parts[6] == "log")
    )


class Router(Dispatcher):
    def __init__(self, store: Store, address: str) -> None:
        self.store = store
        self.ops = Operations(store)
        self.endpoints = Endpoints(self.ops)
        self.address = address

    def current_rv(self) -> int:
        return self.store.rv

    def end_watch(self, stream: WatchStream) -> None:
        if stream.watcher is not None:
            self.store.unwatch(stream.rt, stream.watcher)

    def dispatch(self, req: Request) -> Response | WatchStream:
        path = req.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        fixed = self._fixed(path, parts, req)
        if fixed is not None:
            return fixed
        split = split_group_version(parts)
        if split is None:
            raise st.no_such_resource()
        group, version, rest = split
        if not rest:
            doc = discovery.resource_list(group, version)
            if doc is None:
                raise st.no_such_resource()
            return Response.json(200, doc)
        return self.endpoints.handle(req, parse_resource_path(group, version, rest))

    def _fixed(self, path: str, parts: list[str], req: Request) -> Response | None:
        if path == "/version":
            return Response.json(200, discovery.version())
        if path == "/api":
            return Response.json(200, discovery.core_versions(self.address))
        if path == "/apis":
            return Response.json(200, discovery.group_list())
        if len(parts) == 2 and parts[0] == "apis":
            doc = discovery.group(parts[1])
            if doc is None:
                raise st.no_such_resource()
            return Response.json(200, doc)
        if path in _HEALTH:
            return Response(200, b"ok", content_type="text/plain")
        if parts[:2] == ["openapi", "v3"]:
            return openapi.serve(parts[2:], req)
        if parts[:1] == ["openapi"]:
            raise st.no_such_resource()
        if _is_sandbox_log(parts) and req.method in ("PUT", "POST"):
            return write_log(self.store, req, parts[3], parts[5])
        return None


class APIServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: Path | None = None,
        *,
        history_limit: int = HISTORY_LIMIT,
    ) -> None:
        """``history_limit``: watch events kept per resource type (older RVs get 410)."""
        self.host = host
        self.port = port
        self.state_file = state_file
        self.store = Store(history_limit)
        self._httpd: APIHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._snapshotter: Snapshotter | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        if self.state_file is not None:
            self._snapshotter = Snapshotter(self.store, self.state_file)
            self._snapshotter.load()
        router = Router(self.store, "")
        self._bootstrap(router.ops)
        self._httpd = APIHTTPServer((self.host, self.port), router)
        self.port = self._httpd.server_address[1]
        router.address = f"{self.host}:{self.port}"
        if self._snapshotter is not None:
            self._snapshotter.start()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"apiserver-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def _bootstrap(self, ops: Operations) -> None:
        assert NAMESPACES is not None
        for name in BOOTSTRAP_NAMESPACES:
            if self.store.find(NAMESPACES, "", name) is None:
                ops.create(NAMESPACES, "", {"metadata": {"name": name}})

    def stop(self) -> None:
        self.store.close()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.close_connections()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._snapshotter is not None:
            self._snapshotter.stop()
            self._snapshotter = None

    def __enter__(self) -> APIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
