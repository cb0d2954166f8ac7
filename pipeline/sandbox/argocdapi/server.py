"""``ArgoCDAPIServer``: argocd-server's REST API (grpc-gateway v1) on loopback, HTTP and HTTPS.

    srv = ArgoCDAPIServer(KubeClient(apiserver_url, user_agent="argocd-server"), work_dir,
                          tls=KeyPair(...))
    srv.start()        # bootstraps argocd-cm/-rbac-cm/-secret, the default AppProject
    srv.url            # http://127.0.0.1:PORT
    srv.secure_url     # https://127.0.0.1:PORT (the sandbox CA)
    srv.stop()

Routes follow the ``google.api.http`` options of argo-cd's ``server/*/*.proto``; request
fields are path parameters, query parameters (repeated ones as lists) and, for ``body: "*"``
routes, the JSON body. Unary answers are the message as JSON; server streams are chunked
``application/json`` with one ``{"result": ...}`` per line (or ``data: ...`` frames with
``Accept: text/event-stream``); an error before the first message is the mapped HTTP status
with an ``{"error": {...}}`` frame. Tokens are never logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pipeline.sandbox.argocdapi.applications import ApplicationService
from pipeline.sandbox.argocdapi.errors import INVALID_ARGUMENT, NOT_FOUND, GrpcError
from pipeline.sandbox.argocdapi.policy import ACTIONS, PROJECT_SCOPED, RESOURCES
from pipeline.sandbox.argocdapi.session import Caller, Sessions
from pipeline.sandbox.argocdapi.settings import SettingsStore
from pipeline.sandbox.kubeclient import KubeClient
from pipeline.services.tls import KeyPair

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Params = dict[str, Any]
VERSION = "v3.1.0+sandbox"
SSE_KEEPALIVE = 15.0  # seconds without a message before a ":" comment line (text/event-stream)
_REPEATED = {"projects", "resources", "fields"}

Stream = Iterator[Obj | None]
Handler = Callable[[Caller, dict[str, str], Params, threading.Event], Obj | Stream]


class _Route:
    def __init__(self, method: str, pattern: str, handler: Handler, *, auth: bool = True) -> None:
        self.method = method
        self.stream = pattern.startswith("/api/v1/stream/") or pattern.endswith("/logs")
        regex = re.sub(r"\{(\w+)=\*\*\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self.regex = re.compile(regex + r"\Z")
        self.handler = handler
        self.auth = auth


class Router:
    def __init__(
        self, kube: KubeClient, work_dir: Path, tree_kube: KubeClient | None = None
    ) -> None:
        self.settings = SettingsStore(kube)
        self.sessions = Sessions(self.settings)
        self.apps = ApplicationService(kube, self.sessions, work_dir, tree_kube)
        a = self.apps

        def on_app(fn: Callable[[Caller, str, Params], Obj]) -> Handler:
            return lambda c, p, q, s: fn(c, p["name"], q)

        def on_app_stream(fn: Callable[[Caller, str, Params, threading.Event], Stream]) -> Handler:
            return lambda c, p, q, s: fn(c, p["name"], {**q, **p}, s)

        apps = "/api/v1/applications"
        self.routes = [
            _Route("GET", "/api/version", self._version, auth=False),
            _Route("POST", "/api/v1/session", self._login, auth=False),
            _Route("DELETE", "/api/v1/session", lambda c, p, q, s: {}),
            _Route("GET", "/api/v1/session/userinfo", self._userinfo, auth=False),
            _Route("GET", "/api/v1/account/can-i/{resource}/{action}/{subresource=**}",
                   self._can_i),
            _Route("POST", "/api/v1/account/{name}/token", self._account_token),
            _Route("POST", "/api/v1/projects/{project}/roles/{role}/token", self._project_token),
            _Route("GET", apps, lambda c, p, q, s: a.list_apps(c, q)),
            _Route("GET", apps + "/{name}", on_app(a.get)),
            _Route("PATCH", apps + "/{name}", on_app(a.patch)),
            _Route("POST", apps + "/{name}/sync", on_app(a.sync)),
            _Route("DELETE", apps + "/{name}/operation", on_app(a.terminate)),
            _Route("GET", apps + "/{name}/resource-tree", on_app(a.resource_tree)),
            _Route("GET", apps + "/{name}/resource", on_app(a.resource)),
            _Route("GET", apps + "/{name}/events", on_app(a.events)),
            _Route("GET", apps + "/{name}/manifests", on_app(a.manifests)),
            _Route("GET", apps + "/{name}/pods/{podName}/logs", on_app_stream(a.pod_logs)),
            _Route("GET", apps + "/{name}/logs", on_app_stream(a.pod_logs)),
            _Route("GET", "/api/v1/stream/applications", lambda c, p, q, s: a.watch(c, q, s)),
            _Route("GET", "/api/v1/stream/applications/{name}/resource-tree",
                   on_app_stream(a.watch_tree)),
        ]  # fmt: skip

    def start(self) -> bool:
        return self.settings.bootstrap()

    def find(self, method: str, path: str) -> tuple[_Route, dict[str, str]]:
        for route in self.routes:
            found = route.regex.match(path)
            if found and route.method == method:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
        raise GrpcError(NOT_FOUND, "Not Found")

    def handle(
        self, method: str, path: str, headers: dict[str, str], params: Params, stop: threading.Event
    ) -> Obj | Stream:
        route, path_params = self.find(method, path)

        def call() -> Obj | Stream:
            caller = self.sessions.authenticate(headers)
            if route.auth:
                caller.require()
            return route.handler(caller, path_params, params, stop)

        if not route.stream:
            return call()

        def lazily() -> Stream:
            # a server stream fails on its first receive: errors (authentication included)
            # become the stream's error frame, with the mapped HTTP status
            result = call()
            assert not isinstance(result, dict)
            yield from result

        return lazily()

    # --- small services ------------------------------------------------------------------

    def _version(self, caller: Caller, _p: dict[str, str], _q: Params, _s: threading.Event) -> Obj:
        """``server/version``: only ``Version`` for anonymous callers."""
        if not caller.logged_in:
            return {"Version": VERSION}
        return {
            "Version": VERSION,
            "BuildDate": "2026-01-01T00:00:00Z",
            "GitCommit": "sandbox",
            "GitTreeState": "clean",
            "GoVersion": "n/a (pipeline sandbox)",
            "Compiler": "n/a",
            "Platform": "linux/amd64",
        }

    def _login(self, _c: Caller, _p: dict[str, str], q: Params, _s: threading.Event) -> Obj:
        if q.get("token"):
            raise GrpcError(
                16,
                "token-based session creation no longer supported. please upgrade argocd cli "
                "to v0.7+",
            )
        token = self.sessions.login(str(q.get("username") or ""), str(q.get("password") or ""))
        return {"token": token}

    def _userinfo(self, caller: Caller, _p: dict[str, str], _q: Params, _s: threading.Event) -> Obj:
        if not caller.logged_in:
            return {}
        info: Obj = {"loggedIn": True, "username": caller.username, "iss": caller.issuer}
        if caller.groups:
            info["groups"] = list(caller.groups)
        return info

    def _can_i(self, caller: Caller, p: dict[str, str], _q: Params, _s: threading.Event) -> Obj:
        resource, action, sub = p["resource"], p["action"], p["subresource"]
        if action not in ACTIONS:
            raise GrpcError(INVALID_ARGUMENT, f"[{' '.join(ACTIONS)}] does not contain {action}")
        if resource not in RESOURCES:
            raise GrpcError(
                INVALID_ARGUMENT, f"[{' '.join(RESOURCES)}] does not contain {resource}"
            )
        if resource in PROJECT_SCOPED:
            parts = sub.split("/")
            if len(parts) == 3 and parts[1] == "argocd":
                sub = f"{parts[0]}/{parts[2]}"
        allowed = self.sessions.enforce(caller, resource, action, sub)
        return {"value": "yes" if allowed else "no"}

    def _account_token(
        self, caller: Caller, p: dict[str, str], q: Params, _s: threading.Event
    ) -> Obj:
        token = self.sessions.create_account_token(
            caller, p["name"], _int(q.get("expiresIn")), str(q.get("id") or "")
        )
        return {"token": token}

    def _project_token(
        self, caller: Caller, p: dict[str, str], q: Params, _s: threading.Event
    ) -> Obj:
        token = self.sessions.create_project_token(
            caller, p["project"], p["role"], _int(q.get("expiresIn")), str(q.get("id") or "")
        )
        return {"token": token}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _query(raw: str) -> Params:
    params: Params = {}
    for key, values in parse_qs(raw, keep_blank_values=True).items():
        params[key] = values if key in _REPEATED else values[-1]
    return params


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], router: Router, context: ssl.SSLContext | None
    ) -> None:
        self.router = router
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)
        if context is not None:
            self.socket = context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def close_connections(self) -> None:
        with self.connections_lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    timeout = 600

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def handle(self) -> None:
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                return
        super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        # the request line only: never headers, so tokens stay out of logs
        log.debug("%s " + format, self.address_string(), *args)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        stop = threading.Event()
        try:
            params = _query(parts.query)
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as e:
                    raise GrpcError(
                        INVALID_ARGUMENT, f"invalid character in request body: {e}"
                    ) from e
                if isinstance(body, dict):
                    params.update(body)
            result = self.server.router.handle(self.command, parts.path, headers, params, stop)
        except GrpcError as e:
            self._send(e.http_status, e.body())
            return
        except Exception as e:  # never crash on bad input: Unknown, as a Go error would be
            log.exception("handler failed for %s %s", self.command, parts.path)
            err = GrpcError(2, f"{type(e).__name__}: {e}")
            self._send(err.http_status, err.body())
            return
        if isinstance(result, dict):
            self._send(200, result)
        else:
            self._stream(result, stop, "text/event-stream" in headers.get("accept", ""))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _send(self, code: int, body: Obj) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _frame(self, message: Obj, sse: bool) -> None:
        text = json.dumps(message, separators=(",", ":"))
        self._chunk(f"data: {text}\n\n".encode() if sse else text.encode() + b"\n")

    def _stream(self, stream: Stream, stop: threading.Event, sse: bool) -> None:
        started = False

        def start(code: int = 200) -> None:
            nonlocal started
            started = True
            self.send_response(code)
            self.send_header("Content-Type", "text/event-stream" if sse else "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        last_write = time.monotonic()
        try:
            try:
                for message in stream:
                    if self.server.stopping.is_set():
                        break
                    if not started:
                        start()
                    if message is None:
                        if sse and time.monotonic() - last_write >= SSE_KEEPALIVE:
                            self._chunk(b":\n")  # an SSE comment keeps proxies from closing
                            last_write = time.monotonic()
                        self.wfile.flush()
                        if self._client_gone():
                            break
                        continue
                    self._frame(message, sse)
                    last_write = time.monotonic()
            except GrpcError as e:
                if not started:
                    start(e.http_status)
                self._frame(e.stream_body(), sse)
            except OSError:
                raise  # the client went away
            except Exception as e:
                log.exception("stream failed for %s", self.path)
                err = GrpcError(2, f"{type(e).__name__}: {e}")
                if not started:
                    start(err.http_status)
                self._frame(err.stream_body(), sse)
            if not started:
                start()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        finally:
            stop.set()
            close = getattr(stream, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def _client_gone(self) -> bool:
        try:
            ready, _, _ = select.select([self.connection], [], [], 0)
            if isinstance(self.connection, ssl.SSLSocket):
                return bool(ready)
            return bool(ready) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


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
        self._listeners: list[tuple[_HTTPServer, threading.Thread]] = []
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
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls.cert_path, self.tls.key_path)
            self.secure_port = self._listen(self.secure_port, context)
        for _, thread in self._listeners:
            thread.start()

    def _listen(self, port: int, context: ssl.SSLContext | None) -> int:
        httpd = _HTTPServer((self.host, port), self.router, context)
        bound = int(httpd.server_address[1])
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"argocd-server-{bound}",
            daemon=True,
        )
        self._listeners.append((httpd, thread))
        return bound

    def stop(self) -> None:
        for httpd, thread in self._listeners:
            httpd.stopping.set()
            if thread.is_alive():
                httpd.shutdown()
            httpd.close_connections()
            httpd.server_close()
        for _, thread in self._listeners:
            thread.join(timeout=10)
        self._listeners = []

    def __enter__(self) -> ArgoCDAPIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
