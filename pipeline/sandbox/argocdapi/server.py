"""``ArgoCDAPIServer``: argocd-server's REST API (grpc-gateway v1) on loopback, HTTP and HTTPS.

    srv = ArgoCDAPIServer(KubeClient(apiserver_url, user_agent="argocd-server"), work_dir,
                          tls=KeyPair(...))
    srv.start()        # bootstraps argocd-cm/-rbac-cm/-secret, the default AppProject
    srv.url            # http://127.0.0.1:PORT
    srv.secure_url     # https://127.0.0.1:PORT (the sandbox CA)
    srv.stop()

The routes and the handlers behind them are :mod:`.routes`; requests, answers and server
streams on the wire are :mod:`.http`. This module starts and stops the listeners: one for
HTTP and, with ``tls``, one for HTTPS, each serving on its own thread.
"""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

from pipeline.sandbox.argocdapi.http import GatewayHTTPServer
from pipeline.sandbox.argocdapi.routes import Router
from pipeline.sandbox.httpserving import close_listeners, listener, tls_context
from pipeline.sandbox.kubeclient import KubeClient
from pipeline.services.tls import KeyPair


class ArgoCDAPIServer:
    def __init__(
        self,
        kube: KubeClient,
        work_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: KeyPair | None = None,
        secure_port: int = 0,
        tree_kube: KubeClient | None = None,
    ) -> None:
        """``kube``: the server's client of the Kubernetes API (its ServiceAccount, see
        :mod:`.identity`). ``tree_kube``: the client resource trees are read with, standing in
        for the application-controller's cache (default: ``kube``)."""
        self.host = host
        self.port = port
        self.secure_port = secure_port
        self.tls = tls
        self.router = Router(kube, work_dir, tree_kube)
        self._listeners: list[tuple[GatewayHTTPServer, threading.Thread]] = []
        self.bootstrapped = False  # start() created settings objects (a fresh state)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def secure_url(self) -> str:
        if self.tls is None:
            raise RuntimeError("this ArgoCDAPIServer was started without tls")
        return f"https://{self.host}:{self.secure_port}"

    def start(self) -> None:
        self.bootstrapped = self.router.start()
        self.port = self._listen(self.port, None)
        if self.tls is not None:
            context = tls_context(self.tls.cert_path, self.tls.key_path)
            self.secure_port = self._listen(self.secure_port, context)
        for _, thread in self._listeners:
            thread.start()

    def _listen(self, port: int, context: ssl.SSLContext | None) -> int:
        httpd = GatewayHTTPServer((self.host, port), self.router, context)
        bound = int(httpd.server_address[1])
        self._listeners.append(listener(httpd, f"argocd-server-{bound}"))
        return bound

    def stop(self) -> None:
        for httpd, _ in self._listeners:
            httpd.stopping.set()
        close_listeners(self._listeners)
        self._listeners = []

    def __enter__(self) -> ArgoCDAPIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
