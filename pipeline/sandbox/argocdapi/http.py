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
import ssl
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pipeline.sandbox.argocdapi.applications import Obj, Params
from pipeline.sandbox.argocdapi.errors import INVALID_ARGUMENT, GrpcError
from pipeline.sandbox.argocdapi.routes import Router, Stream
from pipeline.sandbox.httpserving import TrackedHandler, TrackedHTTPServer

log = logging.getLogger(__name__)
SSE_KEEPALIVE = 15.0  # seconds without a message before a ":" comment line (text/event-stream)
_REPEATED = {"projects", "resources", "fields"}


def _query(raw: str) -> Params:
    params: Params = {}
    for key, values in parse_qs(raw, keep_blank_values=True).items():
        params[key] = values if key in _REPEATED else values[-1]
    return params


class GatewayHTTPServer(TrackedHTTPServer):
    def __init__(
        self, address: tuple[str, int], router: Router, context: ssl.SSLContext | None
    ) -> None:
        self.router = router
        self.stopping = threading.Event()
        super().__init__(address, _Handler, context)


class _Handler(TrackedHandler):
    server: GatewayHTTPServer

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
                        if self.client_gone():
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
