"""The Argo CD API server's HTTP/1.1 layer: decode a request, dispatch it to the
:class:`Router`, write the answer as grpc-gateway v1 does.

Request fields are the query parameters (repeated ones as lists) updated with the JSON body.
Unary answers are the message as JSON; server streams are chunked ``application/json`` with
one ``{"result": ...}`` per line (or ``data: ...`` frames with ``Accept: text/event-stream``,
with a ``:`` comment line after a quiet spell); an error before the first message is the
mapped HTTP status with an ``{"error": {...}}`` frame. A handler that fails with anything but
a :class:`GrpcError` answers Unknown. Only request lines are logged, never headers or tokens.
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pipeline.sandbox.argocdapi.applications import Obj, Params
from pipeline.sandbox.argocdapi.errors import INVALID_ARGUMENT, GrpcError
from pipeline.sandbox.argocdapi.routes import Router, Stream

log = logging.getLogger(__name__)
SSE_KEEPALIVE = 15.0  # seconds without a message before a ":" comment line (text/event-stream)
_REPEATED = {"projects", "resources", "fields"}


def _query(raw: str) -> Params:
    params: Params = {}
    for key, values in parse_qs(raw, keep_blank_values=True).items():
        params[key] = values if key in _REPEATED else values[-1]
    return params


class GatewayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 4096  # as the API server's: pending connects wait in the kernel

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
    server: GatewayHTTPServer
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
            poller = select.poll()  # not select(): it fails on descriptors >= 1024
            poller.register(self.connection, select.POLLIN | select.POLLHUP | select.POLLERR)
            ready = poller.poll(0)
            if isinstance(self.connection, ssl.SSLSocket):
                return bool(ready)
            return bool(ready) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True
