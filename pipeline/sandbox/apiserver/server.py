"""``APIServer``: the sandbox's Kubernetes API server, in-process, plain HTTP on loopback.

    srv = APIServer(host="127.0.0.1", port=0, state_file=None)
    srv.start()   # listening when it returns
    srv.url       # "http://127.0.0.1:PORT"
    srv.stop()    # ends open watches, persists state_file, closes the socket

On first start it creates the namespaces ``default``, ``kube-system``, ``kube-public`` and
``argocd``, each with its ``default`` ServiceAccount, as a fresh cluster (plus Argo CD) has,
and (on every start, when missing) the bootstrap RBAC policy, the ``default/kubernetes``
Service and Argo CD's ``default`` AppProject.

Every request passes the access gate first (``access.py``): no credentials is the loopback
admin; ``Authorization: Bearer`` tokens are ServiceAccount tokens checked by RBAC.
"""

from __future__ import annotations

import ssl
import threading
import time
from pathlib import Path
from typing import Any

from pipeline.sandbox.apiserver import bootstrappolicy, discovery, openapi
from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.access import AccessControl
from pipeline.sandbox.apiserver.crds import CustomResourceDefinitions
from pipeline.sandbox.apiserver.endpoints import Endpoints
from pipeline.sandbox.apiserver.http import APIHTTPServer, Dispatcher, raise_descriptor_limit
from pipeline.sandbox.apiserver.messages import Request, Response, WatchStream
from pipeline.sandbox.apiserver.operations import NAMESPACES, Operations
from pipeline.sandbox.apiserver.persistence import SAVE_INTERVAL, Snapshotter
from pipeline.sandbox.apiserver.podlogs import write_log
from pipeline.sandbox.apiserver.rbac import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES
from pipeline.sandbox.apiserver.reviews import handle_review
from pipeline.sandbox.apiserver.routing import parse_resource_path, split_group_version
from pipeline.sandbox.apiserver.serviceaccounttokens import TokenIssuer
from pipeline.sandbox.apiserver.services import ServiceAllocator, kubernetes_service
from pipeline.sandbox.apiserver.store import HISTORY_LIMIT, HISTORY_WINDOW, Store
from pipeline.sandbox.apiserver.tokens import TokenSigner, load_or_create_key
from pipeline.sandbox.httpserving import close_listeners, listener, tls_context
from pipeline.services.tls import KeyPair

Obj = dict[str, Any]
BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "argocd")
_HEALTH = ("/healthz", "/livez", "/readyz")
STOP_GRACE = 5.0  # seconds open watches get to write their end before connections close


def _is_sandbox_log(parts: list[str]) -> bool:
    """``/sandbox/v1/namespaces/{ns}/pods/{name}/log`` (the kubelet's write endpoint)."""
    return (
        len(parts) == 7
        and parts[:3] == ["sandbox", "v1", "namespaces"]
        and (parts[4] == "pods" and parts[6] == "log")
    )


def default_app_project() -> Obj:
    """The ``default`` AppProject argocd-server creates at start when it is missing
    (``server/server.go`` initializeDefaultProject): any repository, any destination, every
    cluster-scoped kind."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "default", "namespace": "argocd"},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    }


class Router(Dispatcher):
    def __init__(
        self,
        store: Store,
        address: str,
        signer: TokenSigner,
        root_ca: bytes | None = None,
        crds: CustomResourceDefinitions | None = None,
    ) -> None:
        self.store = store
        self.ops = Operations(store)
        crds = crds or CustomResourceDefinitions(store)
        services = ServiceAllocator(store)
        self.ops.admission += [crds.on_create, services.on_create]
        self.ops.update_admission += [crds.on_update, services.on_update]
        self.ops.lifecycle.finalizers.append(crds.finalize)
        store.observers.append(crds.observe)
        self.endpoints = Endpoints(self.ops)
        self.address = address
        self.access = AccessControl(store, signer)
        self.tokens = TokenIssuer(store, signer, root_ca)
        self.ops.admission.append(self.tokens.populate_token_secret)
        self.ops.lifecycle.cascades.append(self.tokens.token_secrets_of)

    def current_rv(self) -> int:
        return self.store.rv

    def end_watch(self, stream: WatchStream) -> None:
        if stream.watcher is not None:
            self.store.unwatch(stream.rt, stream.watcher)

    def dispatch(self, req: Request) -> Response | WatchStream:
        """Route ``req``; a mutating request returns only once its writes are durable."""
        try:
            return self._dispatch(req)
        finally:
            if req.method not in ("GET", "HEAD", "OPTIONS"):
                self.store.durable()

    def _dispatch(self, req: Request) -> Response | WatchStream:
        user = self.access.admit(req)
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
            doc = discovery.resource_list(self.store.catalog, group, version)
            if doc is None:
                raise st.no_such_resource()
            return Response.json(200, doc)
        route = parse_resource_path(self.store.catalog, group, version, rest)
        if route.subresource == "token":
            return self.tokens.token_request(req, route)
        if not route.rt.stored:
            return handle_review(req, route.rt, user, self.access.authorize, self.access.rbac)
        return self.endpoints.handle(req, route)

    def _fixed(self, path: str, parts: list[str], req: Request) -> Response | None:
        if path == "/version":
            return Response.json(200, discovery.version())
        if path == "/api":
            return Response.json(200, discovery.core_versions(self.address))
        if path == "/apis":
            return Response.json(200, discovery.group_list(self.store.catalog))
        if len(parts) == 2 and parts[0] == "apis":
            doc = discovery.group(self.store.catalog, parts[1])
            if doc is None:
                raise st.no_such_resource()
            return Response.json(200, doc)
        if path in _HEALTH:
            return Response(200, b"ok", content_type="text/plain")
        if parts[:2] == ["openapi", "v3"]:
            return openapi.serve(self.store.catalog, parts[2:], req)
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
        history_window: float | None = HISTORY_WINDOW,
        tls: KeyPair | None = None,
        secure_port: int = 0,
        root_ca: bytes | None = None,
        compact_interval: float = SAVE_INTERVAL,
    ) -> None:
        """``history_limit``: watch events kept per resource type, ``history_window``: for how
        many seconds (older resourceVersions get 410; None: no time limit).
        ``tls``: also serve HTTPS on ``secure_port`` with this certificate (kubectl sends
        kubeconfig credentials only over TLS). ``root_ca``: the PEM bundle clients trust, put
        into legacy token Secrets as ``ca.crt`` (omitted without one). The token signing key
        is kept in ``<state_file>.sa-key`` (random per start without a state file).
        ``compact_interval``: seconds between compactions of the journal into ``state_file``."""
        self.host = host
        self.port = port
        self.secure_port = secure_port
        self.state_file = state_file
        self.tls = tls
        self.root_ca = root_ca
        self.store = Store(history_limit, history_window)
        self.compact_interval = compact_interval
        self._listeners: list[tuple[APIHTTPServer, threading.Thread]] = []
        self._snapshotter: Snapshotter | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def secure_url(self) -> str:
        """``https://HOST:PORT`` of the TLS listener (only with ``tls``)."""
        if self.tls is None:
            raise RuntimeError("this APIServer was started without tls")
        return f"https://{self.host}:{self.secure_port}"

    def start(self) -> None:
        raise_descriptor_limit()
        crds = CustomResourceDefinitions(self.store)
        self.store.on_load_definitions = crds.serve_loaded
        if self.state_file is not None:
            self._snapshotter = Snapshotter(self.store, self.state_file, self.compact_interval)
            self._snapshotter.load()
            self._snapshotter.start()  # journal from here on, bootstrap objects included
        key_file = None
        if self.state_file is not None:
            key_file = self.state_file.with_name(self.state_file.name + ".sa-key")
        signer = TokenSigner(load_or_create_key(key_file))
        router = Router(self.store, "", signer, self.root_ca, crds)
        self._bootstrap(router.ops)
        self.store.durable()
        self.port = self._listen(router, self.port, None)
        router.address = f"{self.host}:{self.port}"
        if self.tls is not None:
            context = tls_context(self.tls.cert_path, self.tls.key_path)
            self.secure_port = self._listen(router, self.secure_port, context)
        for _, thread in self._listeners:
            thread.start()

    def _listen(self, router: Router, port: int, context: ssl.SSLContext | None) -> int:
        httpd = APIHTTPServer((self.host, port), router, context)
        bound = int(httpd.server_address[1])
        self._listeners.append(listener(httpd, f"apiserver-{bound}"))
        return bound

    def _bootstrap(self, ops: Operations) -> None:
        assert NAMESPACES is not None
        for name in BOOTSTRAP_NAMESPACES:
            if self.store.find(NAMESPACES, "", name) is None:
                ops.create(NAMESPACES, "", {"metadata": {"name": name}})
        projects = ops.store.catalog.find("argoproj.io", "v1alpha1", "appprojects")
        assert projects is not None
        if self.store.find(projects, "argocd", "default") is None:
            ops.create(projects, "argocd", default_app_project())
        services = ops.store.catalog.find("", "v1", "services")
        assert services is not None
        if self.store.find(services, "default", "kubernetes") is None:
            ops.create(services, "default", kubernetes_service())
        for rt, objects in (
            (CLUSTER_ROLES, bootstrappolicy.cluster_roles()),
            (CLUSTER_ROLE_BINDINGS, bootstrappolicy.cluster_role_bindings()),
        ):
            for obj in objects:
                if self.store.find(rt, "", obj["metadata"]["name"]) is None:
                    ops.create(rt, "", obj)

    def stop(self) -> None:
        self.store.close()  # every open watch ends: let each write its last chunk first
        deadline = time.monotonic() + STOP_GRACE
        for httpd, _ in self._listeners:
            httpd.wait_for_streams(max(deadline - time.monotonic(), 0))
        close_listeners(self._listeners)
        self._listeners = []
        if self._snapshotter is not None:
            self._snapshotter.stop()
            self._snapshotter = None

    def __enter__(self) -> APIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
