"""What the sandbox's two HTTP servers (the Kubernetes API server and the Argo CD API server)
share: a threaded listener that knows its open connections, with a deep backlog, optional
TLS whose handshakes run in the handler threads, and a way to end every connection on stop.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)
BACKLOG = 4096  # pending connections the listen queue holds (capped by somaxconn)


class TrackedHTTPServer(ThreadingHTTPServer):
    """One thread per connection; ``connections`` are the open ones (``close_connections``
    shuts them all, e.g. idle keep-alive clients at stop). With ``ssl_context`` it speaks
    HTTPS and ``secure`` is True."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)
        self.secure = ssl_context is not None
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def close_connections(self) -> None:
        with self.connections_lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class TrackedHandler(BaseHTTPRequestHandler):
    """Registers its connection with the server, and completes the TLS handshake here."""

    protocol_version = "HTTP/1.1"
    server: TrackedHTTPServer
    timeout = 600

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every response
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
            except (ssl.SSLError, OSError) as e:
                log.debug("TLS handshake with %s failed: %s", self.address_string(), e)
                return
        super().handle()

    def client_gone(self) -> bool:
        """True when the client closed its end (so an idle stream stops holding a watcher)."""
        try:
            poller = select.poll()  # not select(): it fails on descriptors >= 1024
            poller.register(self.connection, select.POLLIN | select.POLLHUP | select.POLLERR)
            ready = poller.poll(0)
            if isinstance(self.connection, ssl.SSLSocket):
                return bool(ready)  # a streaming client sends nothing more: readable = closing
            return bool(ready) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


S = TypeVar("S", bound=TrackedHTTPServer)


def tls_context(cert_path: str | Path, key_path: str | Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def listener(httpd: S, name: str) -> tuple[S, threading.Thread]:
    """``httpd`` with the (not yet started) thread that serves it."""
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name=name, daemon=True
    )
    return httpd, thread


def close_listeners(listeners: Sequence[tuple[TrackedHTTPServer, threading.Thread]]) -> None:
    """Stop accepting, end every open connection, release the sockets, join the threads."""
    for httpd, thread in listeners:
        if thread.is_alive():
            httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
    for _, thread in listeners:
        thread.join(timeout=10)
